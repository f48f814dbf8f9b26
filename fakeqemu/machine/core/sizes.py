"""QEMU's size_to_str (util/cutils.c): a byte count in three significant digits and a binary unit, as
``info qtree``, ``info block`` and ``info snapshots`` print sizes."""

from __future__ import annotations

import math

SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def size_to_str(value: int) -> str:
    """The exponent of ``value * 1024 / 1000`` picks the unit (C's division truncates toward zero)."""
    exp = math.frexp(value / (1000.0 / 1024.0))[1]
    i = int((exp - 1) / 10)
    return f"{value / (1 << (i * 10)):.3g} {SUFFIXES[i]}B"
