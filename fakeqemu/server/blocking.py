"""In-band commands that block the monitor's in-band queue, as QEMU's do while the main loop is busy.

QEMU 7.2 reads a ``blkdebug`` node's ``config`` file synchronously while ``blockdev-add`` runs: a FIFO there
holds the in-band queue until a writer has opened it and closed it again (qmp-test's /qmp/oob uses that).
Out-of-band commands are still read and answered meanwhile; the queued in-band input is then answered in
order. fakeqemu waits for the FIFO's end without a thread: opened non-blocking, it polls readable once a
writer has come and gone (or sent data), and reads to end of file.
"""

from __future__ import annotations

import os
import stat

import trio

from fakeqemu.qmp.session import Item, Request


def blocking_config(item: Item) -> str | None:
    """The FIFO an in-band ``blockdev-add`` of ``blkdebug`` would read its ``config`` from, or None."""
    if not isinstance(item, Request) or item.oob or item.command != "blockdev-add":
        return None
    args = item.arguments
    config = args.get("config") if isinstance(args, dict) and args.get("driver") == "blkdebug" else None
    if not isinstance(config, str):
        return None
    try:
        return config if stat.S_ISFIFO(os.stat(config).st_mode) else None
    except OSError:
        return None


async def read_to_end(path: str) -> None:
    """Read the FIFO at ``path`` until its writers have closed it (QEMU's fopen and read of the config)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # gone meanwhile: the command reports what it finds
    try:
        while True:
            await trio.lowlevel.wait_readable(fd)
            try:
                if not os.read(fd, 65536):
                    return
            except BlockingIOError:
                continue
    finally:
        os.close(fd)
