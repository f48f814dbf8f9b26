"""announce-self (QMP) and announce_self (HMP), QEMU 7.2's net/announce.c and hmp_announce_self, over
the VM's fakeqemu.machine.net.announce.Announcer. QEMU checks nothing beyond the QAPI types (done by the
schema); HMP takes its timings from the migration announce parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.commands.hmp_args import C_SPACE, ArgError, get_str, usage
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.net.announce import AnnounceParameters

if TYPE_CHECKING:
    from fakeqemu.commands.hmp import HmpHandler
    from fakeqemu.machine.machine import Machine


@command("announce-self")
def announce_self(ctx: Context, args: dict[str, Any]) -> Any:
    ctx.machine.announcer.announce_self(AnnounceParameters.from_args(args))
    return {}


def _comma_list(text: str | None) -> list[str] | None:
    """strList_from_comma_list: None for no text (or an empty one); a trailing comma adds nothing."""
    if not text:
        return None
    out = text.split(",")
    if out[-1] == "":
        out.pop()
    return out


def hmp_announce_self(machine: Machine, args: str) -> str:
    """``announce_self [interfaces] [id]``: two optional words (args_type ``interfaces:s?,id:s?``)."""
    words: list[str | None] = []
    rest = args
    for _ in range(2):
        rest = rest.lstrip(C_SPACE)
        if not rest:
            words.append(None)
            continue
        try:
            word, rest = get_str(rest)
        except ArgError:
            return "announce_self: string expected\r\n" + usage("announce_self")
        words.append(word)
    if rest.strip(C_SPACE):
        return "announce_self: extraneous characters at the end of line\r\n" + usage("announce_self")
    params = AnnounceParameters.migration(machine.migration.parameters)
    params.interfaces = _comma_list(words[0])
    params.id = words[1]
    machine.announcer.announce_self(params)
    return ""


def register(hmp_commands: dict[str, HmpHandler]) -> None:
    hmp_commands["announce_self"] = hmp_announce_self
