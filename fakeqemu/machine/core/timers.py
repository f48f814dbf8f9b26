"""A VM's timers: callbacks due at a time on the VM's clock.

Sans-IO: the machine only records what is due; the runtime (fakeqemu.server.vm) sleeps until
``next_deadline()`` and calls ``run_due()``. ``on_change`` tells it that the earliest deadline moved.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable


class TimerHandle:
    __slots__ = ("cancelled", "deadline", "fn")

    def __init__(self, deadline: float, fn: Callable[[], object]) -> None:
        self.deadline = deadline
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    __slots__ = ("_clock", "_heap", "_seq", "on_change")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self.on_change: Callable[[], None] | None = None

    def call_later(self, delay: float, fn: Callable[[], object]) -> TimerHandle:
        handle = TimerHandle(self._clock() + max(delay, 0.0), fn)
        first = not self._heap or handle.deadline < self._heap[0][0]
        heapq.heappush(self._heap, (handle.deadline, next(self._seq), handle))
        if first and self.on_change is not None:
            self.on_change()
        return handle

    def next_deadline(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def run_due(self) -> int:
        """Run every callback whose deadline has passed, in deadline order; return how many ran."""
        now = self._clock()
        ran = 0
        while self._heap and self._heap[0][0] <= now:
            _, _, handle = heapq.heappop(self._heap)
            if not handle.cancelled:
                ran += 1
                handle.fn()
        return ran

    def __len__(self) -> int:
        return sum(1 for _, _, h in self._heap if not h.cancelled)
