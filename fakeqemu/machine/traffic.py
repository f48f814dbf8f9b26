"""The QMP traffic record of one VM: every message in and out, per connection, with timestamps.

Bounded (a ring of the last ``limit`` messages), so a long-running VM stays small; subscribers (the
HTTP plane's live stream) see each record as it is made. What a test asserts on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: messages kept per VM; older ones are dropped (counted in ``dropped``)
DEFAULT_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    time: float
    connection: str  # e.g. "monitor0#3": monitor name and connection number
    direction: str  # "in" (client -> fakeqemu), "out" (fakeqemu -> client), or "note" (a fault, a close)
    data: bytes

    def to_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "time": self.time,
            "connection": self.connection,
            "direction": self.direction,
            "data": self.data.decode("utf-8", "replace"),
        }


class TrafficLog:
    __slots__ = ("_clock", "_records", "_seq", "_subscribers", "dropped", "enabled")

    def __init__(self, clock: Callable[[], float], limit: int = DEFAULT_LIMIT) -> None:
        self._clock = clock
        self._records: deque[tuple[int, float, str, str, bytes]] = deque(maxlen=limit)
        self._seq = 0
        self._subscribers: list[Callable[[Record], None]] = []
        self.dropped = 0
        self.enabled = True

    def add(self, connection: str, direction: str, data: bytes) -> None:
        if not self.enabled:
            return
        self._seq += 1
        if len(self._records) == self._records.maxlen:
            self.dropped += 1
        # a plain tuple on the hot path; Records are made when someone looks
        raw = (self._seq, self._clock(), connection, direction, data)
        self._records.append(raw)
        if self._subscribers:
            record = Record(*raw)
            for fn in self._subscribers:
                fn(record)

    def subscribe(self, fn: Callable[[Record], None]) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def since(self, seq: int = 0) -> Iterator[Record]:
        return (Record(*r) for r in self._records if r[0] > seq)

    def clear(self) -> None:
        self._records.clear()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._records)
