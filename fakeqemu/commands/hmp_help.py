"""HMP ``help``/``?`` and ``info`` without a subcommand, from QEMU 7.2's own help texts (recorded by
tools/record_hmp.py into fakeqemu/data/hmp.json: every command's ``name params -- help`` entry, the
``info`` table and ``help log``; ``device_add help`` lists what fakeqemu.commands.devicehelp has).

The listing is QEMU's whole table, commands fakeqemu does not answer included (they answer ``unknown
command``): the help is what QEMU 7.2 prints, not a list of what fakeqemu models.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from fakeqemu import data_text
from fakeqemu.commands.hmp_args import C_SPACE, ArgError, get_str

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine


@functools.cache
def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(data_text("hmp.json"))
    return data


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def _matches(word: str, names: str) -> bool:
    """hmp_compare_cmd: ``word`` is one of the ``|``-separated names."""
    return word in names.split("|")


def _parse_cmdline(text: str) -> list[str]:
    """parse_cmdline: get_str's words (a double-quoted one may hold spaces and escapes)."""
    args: list[str] = []
    rest = text
    while rest.strip(C_SPACE):
        word, rest = get_str(rest)
        args.append(word)
    return args


def _dump(table: list[list[str]], prefix: list[str], args: list[str]) -> str:
    """help_cmd_dump over ``table`` (the entries after ``prefix``), for the words ``args``."""
    lead = "".join(p + " " for p in prefix)
    index = len(prefix)
    if index >= len(args):
        return "".join(lead + text for _, text in table)
    for name, text in table:
        if _matches(args[index], name):
            if name == "info":
                return _dump(recorded()["info"], [*prefix, args[index]], args)
            return lead + text
    return "unknown command: '" + " ".join(args[: index + 1]) + "'\n"


def hmp_help(machine: Machine, args: str) -> str:
    args = args.lstrip(C_SPACE)
    if args == "log":  # help_cmd's special case: the log items
        return crlf(recorded()["log"])
    try:
        words = _parse_cmdline(args)
    except ArgError:
        return ""  # an unterminated string: parse_cmdline fails, help prints nothing
    return crlf(_dump(recorded()["commands"], [], words))


def info_help() -> str:
    """``info`` alone: hmp_info_help, the info table."""
    return crlf(_dump(recorded()["commands"], [], ["info"]))


def device_list() -> str:
    """``device_add help``: the device types by category (qdev_device_help's listing, as ``-device help``)."""
    from fakeqemu.commands.devicehelp import device_help

    return crlf(device_help("help")[0])
