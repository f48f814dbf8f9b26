"""The deferred finalize queue, modelled on QEMU's call_rcu thread.

QEMU frees an unparented device later, from its call_rcu thread, after a grace period; only then is
DEVICE_DELETED sent. ``call_rcu`` records the callback; the batch queued within one grace period runs
together, in order, when the period ends (QEMU's thread also works in batches). Sans-IO: the delay is a
timer on the VM's Timers, which the runtime drives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from fakeqemu.machine.core.timers import Timers

#: QEMU's call_rcu thread sleeps 10 ms between batches; the whole unplug cycle measures about 10.6 ms.
DEFAULT_GRACE_S = 0.010


class RcuQueue:
    __slots__ = ("_callbacks", "_timers", "grace")

    def __init__(self, timers: Timers, grace: float = DEFAULT_GRACE_S) -> None:
        self.grace = grace
        self._timers = timers
        self._callbacks: deque[Callable[[], None]] = deque()

    def call_rcu(self, fn: Callable[[], None]) -> None:
        if not self._callbacks:
            self._timers.call_later(self.grace, self.run_pending)
        self._callbacks.append(fn)

    def __len__(self) -> int:
        return len(self._callbacks)

    def run_pending(self) -> int:
        """Run the callbacks queued so far, in order (those they queue wait for the next batch)."""
        n = len(self._callbacks)
        for _ in range(n):
            self._callbacks.popleft()()
        if self._callbacks:
            self._timers.call_later(self.grace, self.run_pending)
        return n
