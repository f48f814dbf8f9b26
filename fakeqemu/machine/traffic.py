"""The QMP traffic record of one VM: every message in and out, per connection, with timestamps.

Off unless asked: a VM records only when given a size limit in bytes (``--traffic-limit``,
``-fakeqemu traffic-limit=``, the HTTP plane's default, the testing API). The record keeps the newest
messages whose sizes (plus a fixed per-record cost) fit the limit; older ones are dropped and counted in
``dropped``; one message larger than the limit is kept cut to it (``size`` keeps its real length).
Subscribers (the HTTP plane's live stream) see each record as it is made. What a test asserts on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: bytes kept per VM when recording is turned on without a limit (the HTTP plane, the testing API)
DEFAULT_LIMIT = 1 << 20
#: what one record costs beside its data (the tuple, the floats, the names), counted against the limit
RECORD_COST = 160


def decode_messages(data: bytes) -> list[Any]:
    """The JSON values in one chunk of traffic (a client may send several, or a part of one)."""
    import json  # here (and orjson): a VM that records nothing need not load them at start-up

    import orjson

    try:
        return [orjson.loads(data)]
    except orjson.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    text = data.decode("utf-8", "replace")
    out: list[Any] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return out
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return out  # not JSON (a note, QEMU's lenient syntax, a partial message): no message
        out.append(value)


@dataclass(frozen=True, slots=True)
class Record:
    """One recorded QMP message (or note) of a connection."""

    seq: int
    time: float
    connection: str  # e.g. "monitor0#3": monitor name and connection number
    direction: str  # "in" (client -> fakeqemu), "out" (fakeqemu -> client), or "note" (a fault, a close)
    data: bytes
    size: int  # the message's length; more than len(data) when it was cut to the limit

    def messages(self) -> list[Any]:
        return [] if self.direction == "note" or self.size != len(self.data) else decode_messages(self.data)

    @property
    def message(self) -> Any:
        """The first JSON value of the record (a request, a reply, an event), or None."""
        found = self.messages()
        return found[0] if found else None

    def commands(self) -> list[str]:
        """The commands an ``in`` record asks for (``execute`` or ``exec-oob``)."""
        if self.direction != "in":
            return []
        return [
            str(m.get("execute", m.get("exec-oob")))
            for m in self.messages()
            if isinstance(m, dict) and ("execute" in m or "exec-oob" in m)
        ]

    def events(self) -> list[str]:
        if self.direction != "out":
            return []
        return [str(m["event"]) for m in self.messages() if isinstance(m, dict) and "event" in m]

    def is_reply(self) -> bool:
        return self.direction == "out" and any(
            isinstance(m, dict) and ("return" in m or "error" in m) for m in self.messages()
        )

    def to_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "time": self.time,
            "connection": self.connection,
            "direction": self.direction,
            "data": self.data.decode("utf-8", "replace"),
            "size": self.size,
            "message": self.message,
        }


@dataclass
class TrafficFilter:
    """Which records to keep: every filter given must pass. ``command`` keeps the requests for that
    command and the replies to them (a monitor answers a connection's requests in order), so the
    filter keeps state: feed it the records in order (the record, then live ones as they come)."""

    connection: str | None = None
    direction: str | None = None
    command: str | None = None
    event: str | None = None
    since_time: float | None = None
    until_time: float | None = None
    #: per connection: whether each request not yet answered was for ``command``
    _pending: dict[str, deque[bool]] = field(default_factory=dict, repr=False)

    def __call__(self, r: Record) -> bool:
        if self.command is not None and not self._about_command(r, self.command):
            return False
        if self.connection is not None and r.connection != self.connection:
            return False
        if self.direction is not None and r.direction != self.direction:
            return False
        if self.event is not None and self.event not in r.events():
            return False
        if self.since_time is not None and r.time < self.since_time:
            return False
        return self.until_time is None or r.time <= self.until_time

    def _about_command(self, r: Record, command: str) -> bool:
        queue = self._pending.setdefault(r.connection, deque())
        if r.direction == "in":
            names = r.commands()
            queue.extend(name == command for name in names)
            return command in names
        if r.is_reply():
            return queue.popleft() if queue else False
        return False


def select(records: Iterable[Record], **filters: Any) -> Iterator[Record]:
    """The records that pass a TrafficFilter(**filters)."""
    keep = TrafficFilter(**filters)
    return (r for r in records if keep(r))


class TrafficLog:
    __slots__ = ("_bytes", "_clock", "_records", "_seq", "_subscribers", "dropped", "limit")

    def __init__(self, clock: Callable[[], float], limit: int = 0) -> None:
        """``limit``: bytes kept (0: recording off)."""
        self._clock = clock
        self._records: deque[tuple[int, float, str, str, bytes, int]] = deque()
        self._bytes = 0
        self._seq = 0
        self._subscribers: list[Callable[[Record], None]] = []
        self.dropped = 0
        self.limit = max(0, limit)

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    @property
    def kept_bytes(self) -> int:
        """What the kept records count against the limit."""
        return self._bytes

    def set_limit(self, limit: int) -> None:
        """Turn recording on with ``limit`` bytes (dropping the oldest records to fit) or off (0)."""
        self.limit = max(0, limit)
        self._trim()

    def add(self, connection: str, direction: str, data: bytes) -> None:
        if not self.limit:
            return
        self._seq += 1
        size = len(data)
        if size + RECORD_COST > self.limit:
            data = data[: max(0, self.limit - RECORD_COST)]
        # a plain tuple on the hot path; Records are made when someone looks
        raw = (self._seq, self._clock(), connection, direction, data, size)
        self._records.append(raw)
        self._bytes += len(data) + RECORD_COST
        self._trim()
        if self._subscribers:
            record = Record(*raw)
            for fn in self._subscribers:
                fn(record)

    def _trim(self) -> None:
        records = self._records
        while records and self._bytes > self.limit:
            self._bytes -= len(records.popleft()[4]) + RECORD_COST
            self.dropped += 1

    def subscribe(self, fn: Callable[[Record], None]) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def since(self, seq: int = 0) -> Iterator[Record]:
        return (Record(*r) for r in self._records if r[0] > seq)

    @property
    def last_seq(self) -> int:
        return self._seq

    def clear(self) -> None:
        self._records.clear()
        self._bytes = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._records)
