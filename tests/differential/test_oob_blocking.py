"""Differential: an in-band command that blocks (blockdev-add of blkdebug whose config is a FIFO) holds the
in-band queue while out-of-band commands are answered; then the queue is answered in order (qmp-test's
/qmp/oob)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from tests.oracle import Call, Expect, Script, Send, cmd, differential_tests, script

FIFO = Path(f"/tmp/fakeqemu-oob-{os.getpid()}/fifo")


def make_fifo() -> bytes:
    shutil.rmtree(FIFO.parent, ignore_errors=True)
    FIFO.parent.mkdir()
    os.mkfifo(FIFO)
    return b"fifo made"


def unblock() -> bytes:
    """Open the FIFO for writing once the emulator reads it (the condition), and close it."""
    deadline = time.monotonic() + 20
    while True:
        try:
            fd = os.open(FIFO, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: nobody reads it yet
            if time.monotonic() > deadline:
                return b"nobody read the fifo"
            time.sleep(0.01)
            continue
        os.close(fd)
        return b"fifo written and closed"


def cleanup() -> bytes:
    shutil.rmtree(FIFO.parent, ignore_errors=True)
    return b"fifo removed"


def blocks(node: str) -> bytes:
    args = {"driver": "blkdebug", "node-name": node, "config": str(FIFO), "image": {"driver": "null-co"}}
    return cmd("blockdev-add", args, id=node)


SCRIPTS: list[Script] = [
    script(
        "oob-overtakes-blocked-in-band",
        Send(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}'),
        Expect(1),
        Send(b'{"exec-oob": "query-cpus-fast", "id": "not-oob"}'),
        Expect(1),
        Call(make_fifo),
        Send(blocks("blocks-1")),
        Send(cmd("query-name", id="quick-1")),
        Send(cmd("migrate-pause", id="oob-1", oob=True)),
        Expect(1),
        Call(unblock),
        Expect(2),
        Send(blocks("blocks-2")),
        Send(b'{"id": "err-2"}'),
        Send(cmd("migrate-pause", id="oob-2", oob=True)),
        Expect(1),
        Call(unblock),
        Expect(2),
        Call(cleanup),
        negotiate=False,
        must=[
            ("call<", b"fifo written and closed"),
            b'{"return": {}, "id": "blocks-1"}',
            b'{"return": {}, "id": "quick-1"}',
        ],
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
