"""The live feed as server-sent events, kept off the QMP path.

The VM calls ``Listener.push`` synchronously for each QMP event and traffic record (fakeqemu.server.vm,
``VM.feed``): it only appends to a bounded deque and, at most once per batch, wakes the stream task. The
stream task sends what has gathered at most every ``interval`` seconds, as one write, so a busy QMP
connection costs the HTTP side one small write per interval rather than one per message. A reader that
falls ``limit`` items behind loses the oldest ones and is told how many (a ``dropped`` event).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import trio

from fakeqemu.http.jsonio import dumps
from fakeqemu.machine.core.events import Event
from fakeqemu.machine.traffic import Record

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM

#: items buffered per stream client
FEED_LIMIT = 4096
#: the longest the feed holds items back to send them together
FLUSH_INTERVAL_S = 0.05
#: a comment line this often keeps proxies from closing an idle stream and notices a client gone
KEEPALIVE_S = 15.0


class Listener:
    """One stream client's share of ``vm.feed``."""

    def __init__(self, limit: int = FEED_LIMIT) -> None:
        self.items: deque[tuple[str, object]] = deque(maxlen=limit)
        self.dropped = 0
        self._wake = trio.Event()

    def push(self, kind: str, item: object) -> None:
        if len(self.items) == self.items.maxlen:
            self.dropped += 1
        self.items.append((kind, item))
        if not self._wake.is_set():
            self._wake.set()

    async def wait(self, at_most: float) -> None:
        with trio.move_on_after(at_most):
            await self._wake.wait()

    def take(self) -> list[bytes]:
        """Everything gathered so far, encoded; the next ``push`` wakes the stream again."""
        self._wake = trio.Event()
        chunks = []
        if self.dropped:
            chunks.append(encode("dropped", {"count": self.dropped}))
            self.dropped = 0
        items = self.items
        while items:
            chunks.append(encode(*items.popleft()))
        return chunks


def encode(kind: str, item: object) -> bytes:
    """One SSE message: ``qmp-event`` (a QMP event as QMP clients get it), ``traffic`` (a record) or
    ``kind`` with a JSON body (``reset``, ``dropped``)."""
    data: Any
    if isinstance(item, Event):
        kind, data = "qmp-event", item.to_qobject()
    elif isinstance(item, Record):
        data = item.to_json()
    else:
        data = item
    return b"event: " + kind.encode() + b"\ndata: " + dumps(data) + b"\n\n"


async def sse(vm: VM, interval: float = FLUSH_INTERVAL_S) -> AsyncIterator[bytes]:
    listener = Listener()
    vm.feed.append(listener.push)
    try:
        yield b": fakeqemu live feed\nretry: 1000\n\n"
        while True:
            await listener.wait(KEEPALIVE_S)
            if not listener.items and not listener.dropped:
                yield b": keepalive\n\n"
                continue
            await trio.sleep(interval)  # let a burst gather: one write for all of it
            yield b"".join(listener.take())
    finally:
        if listener.push in vm.feed:
            vm.feed.remove(listener.push)
