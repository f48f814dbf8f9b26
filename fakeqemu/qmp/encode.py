"""Encode Python values as QEMU 7.2 writes them on a QMP monitor, byte for byte.

QEMU builds every reply and event as a QDict, a hash table of 512 buckets keyed by ``tdb_hash``, with
new entries put at the head of their bucket; its JSON writer walks the buckets in order. So the keys of
an object come out in bucket order, and keys that share a bucket in reverse insertion order. Build each
dict in the order QEMU inserts (the QAPI schema's member order) and this module reproduces the bytes.

Separators are ``", "`` and ``": "``; strings escape ``"``, ``\\``, the C escapes ``\\b \\f \\n \\r \\t``
and any code point outside 0x20..0x7e as ``\\uXXXX`` (upper-case hex, surrogate pairs beyond the BMP).
Every message ends with CRLF.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

_BUCKETS = 512  # QDICT_BUCKET_MAX


def tdb_hash(key: str) -> int:
    """qobject/qdict.c's tdb_hash, in 32-bit unsigned arithmetic."""
    raw = key.encode("utf-8", "surrogatepass")
    value = (0x238F13AF * len(raw)) & 0xFFFFFFFF
    for i, byte in enumerate(raw):
        value = (value + (byte << (i * 5 % 24))) & 0xFFFFFFFF
    return (1103515243 * value + 12345) & 0xFFFFFFFF


@lru_cache(maxsize=4096)
def qdict_order(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The order in which QEMU writes the keys of a QDict filled in the order ``keys``."""
    buckets: dict[int, list[str]] = {}
    for key in keys:
        buckets.setdefault(tdb_hash(key) % _BUCKETS, []).insert(0, key)
    return tuple(k for b in sorted(buckets) for k in buckets[b])


_C_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(s: str) -> str:
    out = []
    for ch in s:
        esc = _C_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
            continue
        cp = ord(ch)
        if 0x20 <= cp <= 0x7E:
            out.append(ch)
        elif 0xD800 <= cp <= 0xDFFF:
            out.append("\\uFFFD")  # QEMU writes invalid UTF-8 as the replacement character
        elif cp > 0xFFFF:
            cp -= 0x10000
            out.append(f"\\u{0xD800 + (cp >> 10):04X}\\u{0xDC00 + (cp & 0x3FF):04X}")
        else:
            out.append(f"\\u{cp:04X}")
    return "".join(out)


def _float(x: float) -> str:
    # QEMU's JSON writer prints doubles with "%.17g" (inf and nan included, though not JSON)
    return f"{x:.17g}"


def _string(s: str) -> str:
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    return '"' + _escape(s) + '"'


@lru_cache(maxsize=4096)
def _dict_plan(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """For a QDict filled in this key order: (key, '"key": ') pairs in the order QEMU writes them."""
    return tuple((k, _string(k) + ": ") for k in qdict_order(keys))


class Encoded:
    """A value encoded already (in a worker thread: a client's huge ``id``), written as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _encode(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is dict:
        if not value:
            return "{}"
        parts = []
        for key, prefix in _dict_plan(tuple(value)):
            item = value[key]
            # the common scalars inline: this is the hot path of every reply and event
            if item is True:
                parts.append(prefix + "true")
            elif item is False:
                parts.append(prefix + "false")
            elif type(item) is str and item.isascii() and item.isprintable() and '"' not in item and "\\" not in item:
                parts.append(prefix + '"' + item + '"')
            else:
                parts.append(prefix + _encode(item))
        return "{" + ", ".join(parts) + "}"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if kind is int:
        return str(value)
    if kind is list or kind is tuple:
        return "[" + ", ".join(_encode(item) for item in value) + "]" if value else "[]"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, dict):
        return _encode(dict(value))
    if kind is Encoded:
        return value.text  # type: ignore[no-any-return]
    raise TypeError(f"cannot encode {kind.__name__} as QMP JSON")


def encode(value: Any) -> str:
    """The JSON text QEMU writes for ``value`` (no line ending)."""
    try:
        return _encode(value)
    except RecursionError:  # nested deeper than Python's default limit allows (QEMU takes 1024 levels)
        return deep_recursion(_encode, value)


def encode_message(value: Any) -> bytes:
    """One QMP message as it goes on the wire: JSON then CRLF."""
    return (encode(value) + "\r\n").encode("ascii")


#: the recursion the recursive parts of the codec need for the deepest message QEMU takes (1024 levels,
#: up to three frames a level), with room to spare
DEEP_RECURSION = 4 * 1024 + 100

T = TypeVar("T")


def deep_recursion(fn: Callable[[Any], T], arg: Any) -> T:
    """``fn(arg)`` with the recursion limit raised for the call and put back after it (never left
    raised: the process's other code keeps Python's default)."""
    limit = sys.getrecursionlimit()
    if limit >= DEEP_RECURSION:
        return fn(arg)
    sys.setrecursionlimit(DEEP_RECURSION)
    try:
        return fn(arg)
    finally:
        sys.setrecursionlimit(limit)
