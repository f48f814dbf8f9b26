"""The command table: QMP command name -> handler.

A handler is a plain synchronous function ``handler(ctx, args) -> result``. ``args`` has already been
checked against the QAPI schema (fakeqemu.qmp.schema), so a handler reads it without re-validating types;
it raises fakeqemu.qmp.errors.QMPError for QEMU's semantic errors. ``result`` is the value of
``"return"``: dicts must be built in the QAPI schema's member order (see fakeqemu.qmp.encode).

The table itself is immutable code, shared by every VM in the process; all state lives on the machine
reached through ``ctx``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine


@dataclass(slots=True)
class Context:
    """What a command sees: the VM's machine and the monitor (connection) it came from."""

    machine: Machine
    #: file descriptors received with SCM_RIGHTS on this connection and not yet claimed (getfd)
    received_fds: list[int] = field(default_factory=list)
    #: name of the monitor, for fd bookkeeping and the traffic record
    monitor: str = ""


Handler = Callable[[Context, dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Command:
    """A QMP command: its handler and how QEMU dispatches it."""

    name: str
    handler: Handler
    allow_oob: bool = False
    #: commands QEMU generates without argument checking (device_add): handler checks arguments itself
    any_args: bool = False


COMMANDS: dict[str, Command] = {}


def command(name: str, *, allow_oob: bool = False, any_args: bool = False) -> Callable[[Handler], Handler]:
    """Register ``handler`` as the QMP command ``name``."""

    def register(handler: Handler) -> Handler:
        if name in COMMANDS:
            raise RuntimeError(f"QMP command {name} registered twice")
        COMMANDS[name] = Command(name, handler, allow_oob, any_args)
        return handler

    return register
