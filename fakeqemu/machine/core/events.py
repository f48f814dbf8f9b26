"""The event bus: one per VM. A QAPI event is stamped once, encoded once, and fanned out to every
subscriber (QMP sessions, the HTTP plane) in the order it was emitted."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakeqemu.qmp.encode import encode_message


@dataclass(slots=True)
class Event:
    """One QAPI event as QEMU sends it: name, optional data, wall-clock timestamp."""

    name: str
    data: dict[str, Any] | None
    seconds: int
    microseconds: int
    _wire: bytes | None = field(default=None, repr=False)

    def to_qobject(self) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "event": self.name,
            "timestamp": {"seconds": self.seconds, "microseconds": self.microseconds},
        }
        if self.data is not None:
            msg["data"] = self.data
        return msg

    @property
    def wire(self) -> bytes:
        """The event as QEMU writes it, CRLF included; encoded at most once."""
        if self._wire is None:
            self._wire = encode_message(self.to_qobject())
        return self._wire


Subscriber = Callable[[Event], None]


class EventBus:
    """Fans events out to subscribers synchronously, in emission order.

    Subscribers must not block: a QMP session only appends the bytes to its own outgoing queue.
    """

    __slots__ = ("_clock", "_limits", "_subscribers")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._subscribers: list[Subscriber] = []
        #: rate-limited events: name -> the event waiting for the end of the period (None: the period runs
        #: with nothing waiting)
        self._limits: dict[str, Event | None] = {}

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

        return unsubscribe

    def emit(self, name: str, data: dict[str, Any] | None = None) -> Event:
        event = self._stamp(name, data)
        self._publish(event)
        return event

    def _stamp(self, name: str, data: dict[str, Any] | None) -> Event:
        now = self._clock()
        seconds = int(now)
        return Event(name, data, seconds, int((now - seconds) * 1_000_000))

    def _publish(self, event: Event) -> None:
        for fn in list(self._subscribers):
            fn(event)

    def emit_limited(
        self,
        name: str,
        data: dict[str, Any] | None,
        call_later: Callable[[float, Callable[[], None]], object],
        rate_s: float = 1.0,
    ) -> None:
        """monitor_qapi_event_queue for an event QEMU limits to one per ``rate_s`` (WATCHDOG, ...): the first
        goes out at once and starts the period; one that comes during the period waits for its end (a later
        one replaces it), goes out then, stamped when it came, and starts another period."""
        if name not in self._limits:
            self._publish(self._stamp(name, data))
            self._limits[name] = None
            call_later(rate_s, lambda: self._period_end(name, call_later, rate_s))
            return
        self._limits[name] = self._stamp(name, data)

    def _period_end(self, name: str, call_later: Callable[[float, Callable[[], None]], object], rate_s: float) -> None:
        waiting = self._limits.pop(name, None)
        if waiting is not None:
            self._publish(waiting)
            self._limits[name] = None
            call_later(rate_s, lambda: self._period_end(name, call_later, rate_s))
