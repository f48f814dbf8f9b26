"""A minimal, valid, empty qcow2 image (version 3, 64 KiB clusters), as ``qemu-img create -f qcow2`` writes
one: header, refcount table, one refcount block and an L1 table, every cluster counted. Tests use it so
that they need no qemu-img."""

from __future__ import annotations

import struct
from pathlib import Path

CLUSTER = 1 << 16


def write_qcow2(path: Path, size: int) -> None:
    l2_entries = CLUSTER // 8
    l1_size = max(1, -(-size // (CLUSTER * l2_entries)))
    refcount_table, refcount_block, l1_table = CLUSTER, 2 * CLUSTER, 3 * CLUSTER
    header = struct.pack(
        ">4sIQIIQIIQQIIQQQQII",
        b"QFI\xfb", 3, 0, 0, 16, size, 0, l1_size, l1_table, refcount_table, 1, 0, 0, 0, 0, 0, 4, 112,
    )  # fmt: skip
    header += b"\x00" * 8  # compression type zlib, padding to header_length
    header += struct.pack(">II", 0, 0)  # end of header extensions
    image = bytearray(4 * CLUSTER)
    image[: len(header)] = header
    struct.pack_into(">Q", image, refcount_table, refcount_block)
    for n in range(4):  # header, refcount table, refcount block, L1 table: refcount 1 each (16-bit)
        struct.pack_into(">H", image, refcount_block + 2 * n, 1)
    path.write_bytes(bytes(image))
