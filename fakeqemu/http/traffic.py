"""The traffic record over HTTP as NDJSON: one JSON record per line, the kept ones first, then (with
``follow``) each new one as it is made, until the client goes away."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import trio

from fakeqemu.http.jsonio import dumps
from fakeqemu.machine.traffic import Record, TrafficFilter

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM

#: records a follower may fall behind before it loses the oldest (it is told: a {"dropped": n} line)
FOLLOW_LIMIT = 4096
#: a blank line this often, so a client gone is noticed
KEEPALIVE_S = 15.0


def line(record: Record) -> bytes:
    return dumps(record.to_json()) + b"\n"


async def ndjson(vm: VM, since: int, keep: TrafficFilter, follow: bool) -> AsyncIterator[bytes]:
    live: deque[Record] = deque(maxlen=FOLLOW_LIMIT)
    lost = 0
    wake = trio.Event()

    def push(kind: str, item: object) -> None:
        nonlocal lost
        if kind == "traffic" and isinstance(item, Record):
            if len(live) == live.maxlen:
                lost += 1
            live.append(item)
            wake.set()

    if follow:
        vm.feed.append(push)
    try:
        last = since
        chunk = []
        for r in vm.machine.traffic.since(since):
            last = r.seq
            if keep(r):
                chunk.append(line(r))
        yield b"".join(chunk)
        while follow:
            with trio.move_on_after(KEEPALIVE_S):
                await wake.wait()
            wake = trio.Event()
            out = []
            if lost:
                out.append(dumps({"dropped": lost}) + b"\n")
                lost = 0
            while live:
                r = live.popleft()
                if r.seq > last and keep(r):
                    out.append(line(r))
            yield b"".join(out) or b"\n"
    finally:
        if push in vm.feed:
            vm.feed.remove(push)
