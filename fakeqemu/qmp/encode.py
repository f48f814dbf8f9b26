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

import re
from functools import lru_cache
from typing import Any

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


_PLAIN = re.compile(r"[ !#-\[\]-~]*\Z")  # printable ASCII but '"' and '\'
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


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append('"' + (value if _PLAIN.match(value) else _escape(value)) + '"')
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        out.append("{")
        first = True
        for key in qdict_order(tuple(value)):
            if not first:
                out.append(", ")
            first = False
            out.append('"' + (key if _PLAIN.match(key) else _escape(key)) + '": ')
            _encode(value[key], out)
        out.append("}")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(", ")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as QMP JSON")


def encode(value: Any) -> str:
    """The JSON text QEMU writes for ``value`` (no line ending)."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out)


def encode_message(value: Any) -> bytes:
    """One QMP message as it goes on the wire: JSON then CRLF."""
    return (encode(value) + "\r\n").encode("ascii")
