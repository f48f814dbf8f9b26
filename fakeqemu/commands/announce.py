"""announce-self (QMP) and announce_self (HMP), QEMU 7.2's net/announce.c and hmp_announce_self, over
the VM's fakeqemu.machine.net.announce.Announcer. QEMU checks nothing beyond the QAPI types (done by the
schema); HMP takes its timings from the migration announce parameters. And set_link (QMP and HMP): a NIC
or netdev whose link is down passes no frame."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.commands.hmp_args import C_SPACE, ArgError, get_str, usage
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.net.announce import AnnounceParameters
from fakeqemu.qmp.errors import QMPError

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
    hmp_commands["set_link"] = hmp_set_link


@command("set_link")
def set_link(ctx: Context, args: dict[str, Any]) -> Any:
    ctx.machine.set_link(args["name"], args["up"])
    return {}


def hmp_set_link(machine: Machine, args: str) -> str:
    """``set_link name on|off`` (args_type ``name:s,up:b``)."""
    rest = args.lstrip(C_SPACE)
    if not rest:
        return "set_link: string expected\r\n" + usage("set_link")
    try:
        name, rest = get_str(rest)
    except ArgError:
        return "set_link: string expected\r\n" + usage("set_link")
    rest = rest.lstrip(C_SPACE)
    end = next((i for i, ch in enumerate(rest) if not "!" <= ch <= "~"), len(rest))  # qemu_isgraph
    word = rest[:end]
    if word not in ("on", "off"):
        return "Expected 'on' or 'off'\r\n" + usage("set_link")
    if rest[len(word) :].strip(C_SPACE):
        return "set_link: extraneous characters at the end of line\r\n" + usage("set_link")
    try:
        machine.set_link(name, word == "on")
    except QMPError as exc:
        return f"Error: {exc.desc}\r\n"
    return ""
