"""Image locking as QEMU's file driver does it (block/file-posix.c), so that fakeqemu and QEMU see each
other's images in use: open file description (OFD) locks on single bytes of the image, byte 100 + bit for
each permission held, byte 200 + bit for each permission not shared with other users. A node opened for
writing (a format node that is not read-only over a file node) holds consistent-read, write and resize
and shares neither write nor resize; a second user that wants to write then fails with QEMU's
``Failed to get "write" lock`` / ``Is another process using the image [PATH]?``.
"""

from __future__ import annotations

import fcntl
import os
import struct
from typing import Any

#: the permission bits QEMU 7.2 locks, in order (BLK_PERM_CONSISTENT_READ ... BLK_PERM_RESIZE)
PERMS = ("consistent read", "write", "write unchanged", "resize")
PERM_BASE, SHARED_BASE = 100, 200
#: what a writer holds and what it does not share
WRITER_HOLDS = (0, 1, 3)
WRITER_UNSHARES = (1, 3)
F_OFD_GETLK, F_OFD_SETLK = 36, 37


class LockError(OSError):
    """QEMU's message for an image another process uses."""


def _flock(kind: int, start: int) -> bytes:
    return struct.pack("hhqqi4x", kind, os.SEEK_SET, start, 1, 0)


def _held_by_other(fd: int, byte: int) -> bool:
    got = fcntl.fcntl(fd, F_OFD_GETLK, _flock(fcntl.F_WRLCK, byte))
    return bool(struct.unpack("hhqqi4x", got)[0] != fcntl.F_UNLCK)


def lock_for_writing(path: str) -> int:
    """Open ``path`` and take a writer's locks; the fd holds them (close it to release them)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for bit in WRITER_HOLDS:  # someone else does not share what we want
            if _held_by_other(fd, SHARED_BASE + bit):
                raise LockError(f'Failed to get "{PERMS[bit]}" lock\nIs another process using the image [{path}]?')
        for bit in WRITER_UNSHARES:  # someone else holds what we will not share
            if _held_by_other(fd, PERM_BASE + bit):
                raise LockError(
                    f'Failed to get shared "{PERMS[bit]}" lock\nIs another process using the image [{path}]?'
                )
        for byte in [PERM_BASE + b for b in WRITER_HOLDS] + [SHARED_BASE + b for b in WRITER_UNSHARES]:
            fcntl.fcntl(fd, F_OFD_SETLK, _flock(fcntl.F_RDLCK, byte))
    except BaseException:
        os.close(fd)
        raise
    return fd


def writer_image(table: dict[str, dict[str, Any]], opts: dict[str, Any]) -> str | None:
    """The image file a new node writes to: a format node that is not read-only over a file node."""
    if opts.get("read-only") is True:
        return None
    child = opts.get("file")
    if not isinstance(child, str) or child not in table:
        return None
    file_opts = table[child]["options"]
    if file_opts.get("driver") not in ("file", "host_device") or file_opts.get("read-only") is True:
        return None
    filename = file_opts.get("filename")
    return filename if isinstance(filename, str) else None


def lock_node(table: dict[str, dict[str, Any]], name: str) -> None:
    """Take the writer's locks for node ``name`` (already in ``table``) if it writes an image."""
    entry = table[name]
    path = writer_image(table, entry["options"])
    child = entry["options"].get("file")
    if any(e is not entry and "lock-fd" in e and e["options"].get("file") == child for e in table.values()):
        return  # the file node's image is locked once, by the process, whatever its parents
    if path is not None and os.path.exists(path):
        entry["lock-fd"] = lock_for_writing(path)


def release(entry: dict[str, Any]) -> None:
    fd = entry.pop("lock-fd", None)
    if isinstance(fd, int):
        os.close(fd)
