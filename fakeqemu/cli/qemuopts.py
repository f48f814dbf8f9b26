"""QEMU's option syntax: ``-opt value`` command lines and ``key=value,...`` option strings (QemuOpts),
including JSON-valued ``-device``/``-object`` as libvirt passes them."""

from __future__ import annotations

from typing import Any

from fakeqemu.machine.config import size_bytes
from fakeqemu.protocols.qemuopts import flag_warnings, keyval_help, split_opts

__all__ = [
    "UsageError",
    "device_opts",
    "flag_warnings",
    "keyval_help",
    "parse_bytes",
    "parse_memory",
    "parse_size_mb",
    "split_opts",
]


class UsageError(Exception):
    """A command-line error; ``str(exc)`` is the text after ``qemu-system-x86_64: ``."""


def device_opts(text: str, option: str = "-device") -> dict[str, Any]:
    """``-device`` (or another option libvirt writes as JSON) in either syntax, as the dict the QMP
    command would receive."""
    if text.startswith("{"):  # as QEMU tells the syntaxes apart: a blank first is the QemuOpts syntax
        from fakeqemu.qmp.jsonstream import parse_one

        try:
            value = parse_one(text.encode())  # QEMU's own parser: its texts, its quirks (single quotes, duplicates)
        except ValueError as exc:
            raise UsageError(f"{option} {text}: {exc}") from None
        if not isinstance(value, dict):
            raise UsageError(f"{option} {text}: Invalid parameter type, expected: object")
        return value
    return dict(split_opts(text, implied="driver"))


def parse_size_mb(text: str) -> int:
    """``-m`` sizes: a plain number is MiB; suffixes K, M, G, T."""
    opts = split_opts(text, implied="size")
    size = opts.get("size", "128").strip()
    units = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
    suffix = size[-1:].lower()
    try:
        if suffix in units:
            return max(1, int(float(size[:-1]) * units[suffix]))
        return int(size)
    except ValueError:
        raise UsageError(f"-m {text}: Parameter 'size' expects a non-negative number below 2^64") from None


def parse_memory(text: str) -> tuple[int, int, int]:
    """``-m [size=]SIZE[,slots=N][,maxmem=SIZE]``: (RAM in MiB, slots, maxmem in bytes; 0 when not given)."""
    mb = parse_size_mb(text)
    opts = split_opts(text, implied="size")
    slots_text = opts.get("slots", "0").strip()
    if not slots_text.isdigit():
        raise UsageError(f"-m {text}: Parameter 'slots' expects a number")
    slots = int(slots_text)
    maxmem = 0
    if "maxmem" in opts:
        try:
            maxmem = size_bytes(opts["maxmem"])
        except ValueError:
            raise UsageError(f"-m {text}: Parameter 'maxmem' expects a non-negative number below 2^64") from None
        if maxmem < mb << 20:
            raise UsageError(
                f"-m {text}: invalid value of maxmem: maximum memory size (0x{maxmem:x}) must be at least the "
                f"initial memory size (0x{mb << 20:x})"
            )
        if slots and maxmem == mb << 20:
            raise UsageError(
                f"-m {text}: invalid value of maxmem: memory slots were specified but maximum memory size "
                f"(0x{maxmem:x}) is equal to the initial memory size (0x{mb << 20:x})"
            )
    elif slots:
        raise UsageError(f"-m {text}: slots specified but no max-size")
    return mb, slots, maxmem


def parse_bytes(text: str, what: str) -> int:
    """A size in bytes: a plain number, or with a suffix K, M, G (powers of 1024): the traffic limit."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    size = text.strip().lower().removesuffix("b").removesuffix("i")
    try:
        value = int(float(size[:-1]) * units[size[-1]]) if size[-1:] in units else int(size)
    except ValueError:
        value = -1
    if value < 0:
        raise UsageError(f"{what} must be a size in bytes (e.g. 1048576 or 1M), not '{text}'")
    return value
