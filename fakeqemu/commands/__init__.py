"""QMP commands: small functions over the machine model, registered in one table.

Importing this package registers every command module's commands.
"""

from fakeqemu.commands import registry

__all__ = ["registry"]
