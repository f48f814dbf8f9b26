"""QEMU's number parsers (util/cutils.c) as its option visitors call them with no end pointer (the whole
text must be the number): qemu_strtoi64 and qemu_strtou64 with base 0 (C's strtoll/strtoull: leading
blanks, a sign, 0x hex, 0 octal), qemu_strtod_finite (strtod, no inf/nan) and qemu_strtosz (a size: a
decimal number, a fraction only with a unit, or 0x hex; units B K M G T P E in powers of 1024, a half byte
rounded up). Each returns None where QEMU's returns an error (no number, characters left, out of range)."""

from __future__ import annotations

import functools
import re

_BLANKS = "[ \t\n\v\f\r]*"
#: the patterns, compiled when first used (a VM's start-up parses few numbers, if any)
_PATTERNS = {
    "c_int": _BLANKS + r"([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)",
    "dec": _BLANKS + r"([+-]?)([0-9]+)",
    "hex": _BLANKS + r"([+-]?)0[xX]([0-9a-fA-F]+)",
    "float": _BLANKS
    + r"[+-]?(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    + r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)",
    "nonfinite": "(?i)" + _BLANKS + r"[+-]?(?:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)",
}


@functools.cache
def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(_PATTERNS[name])


_U64 = 1 << 64
_UNITS = {"B": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}


def _c_int(text: str) -> tuple[bool, int] | None:
    m = _pattern("c_int").fullmatch(text)
    return None if m is None else _c_value(m)


def _c_value(m: re.Match[str]) -> tuple[bool, int]:
    """A C integer's sign and magnitude from a match of the ``c_int`` pattern."""
    digits = m.group(2)
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif digits[0] == "0" and len(digits) > 1:
        value = int(digits[1:], 8)
    else:
        value = int(digits)
    return m.group(1) == "-", value


def strtol_prefix(text: str) -> int | None:
    """qemu_strtol with an end pointer: the number at the start of ``text`` (base 0; what follows is
    left), None if there is none or it is out of a long's range."""
    m = _pattern("c_int").match(text)
    if m is None:
        return None
    negative, value = _c_value(m)
    value = -value if negative else value
    return value if -(1 << 63) <= value < (1 << 63) else None


def strtoi64(text: str) -> int | None:
    """qemu_strtoi64(text, NULL, 0)."""
    parsed = _c_int(text)
    if parsed is None:
        return None
    value = -parsed[1] if parsed[0] else parsed[1]
    return value if -(1 << 63) <= value < 1 << 63 else None


def strtou64(text: str) -> int | None:
    """qemu_strtou64(text, NULL, 0): a leading '-' wraps modulo 2^64."""
    parsed = _c_int(text)
    if parsed is None or parsed[1] >= _U64:
        return None
    return (-parsed[1]) % _U64 if parsed[0] else parsed[1]


def _strtod_prefix(text: str) -> tuple[float, int] | None:
    """strtod on a prefix of ``text``: (value, characters used), None for no conversion or inf/nan."""
    if _pattern("nonfinite").match(text):
        return None
    m = _pattern("float").match(text)
    if m is None:
        return None
    body = m.group(0).strip(" \t\n\v\f\r")
    try:
        value = float.fromhex(body) if "x" in body.lower() else float(body)
    except (ValueError, OverflowError):
        return None
    if value in (float("inf"), float("-inf")):
        return None  # ERANGE
    return value, m.end()


def strtod_finite(text: str) -> float | None:
    """qemu_strtod_finite(text, NULL, &value)."""
    parsed = _strtod_prefix(text)
    if parsed is None or parsed[1] != len(text):
        return None
    return parsed[0]


def strtosz(text: str) -> int | None:
    """qemu_strtosz(text, NULL, &value) (do_strtosz with default unit B and 1024)."""
    m = _pattern("dec").match(text)
    if m is None or m.group(1) == "-" or int(m.group(2)) >= _U64:
        return None
    value, end, fraction = int(m.group(2)), m.end(), 0
    rest = text[end:]
    if value == 0 and rest[:1] in ("x", "X"):
        h = _pattern("hex").match(text)
        if h is None or h.group(1) == "-" or int(h.group(2), 16) >= _U64:
            return None
        value, end = int(h.group(2), 16), h.end()
        if text[end : end + 1] == ".":
            return None
    elif rest[:1] == ".":
        parsed = _strtod_prefix(rest)
        if parsed is None:
            end += 1  # "1.k": no fraction digits
        else:
            used = rest[: parsed[1]]
            if "e" in used or "E" in used:
                return None
            fraction = int(parsed[0] * 2.0**64)
            end += parsed[1]
    unit = _UNITS.get(text[end : end + 1].upper()) if end < len(text) else None
    if unit is not None:
        end += 1
    shift = unit or 0
    if end != len(text):
        return None
    if shift == 0:
        return None if fraction else value
    scaled = fraction << shift
    total = (value << shift) + (scaled >> 64) + ((scaled % _U64) >> 63)
    return total if total < _U64 else None
