"""QEMU_CLOCK_VIRTUAL as far as device timers see it: it runs only while the VM runs (vm_stop stops it,
vm_start starts it again where it was), so a watchdog armed before ``stop`` fires only after ``cont``.
Under the qtest accelerator it moves only with qtest's clock_step/clock_set (``advance``).

Sans-IO: a virtual timer that is due while the clock runs is a timer on the VM's real timers
(fakeqemu.machine.core.timers); stopping the clock cancels those and keeps each deadline.
"""

from __future__ import annotations

from collections.abc import Callable

from fakeqemu.machine.core.timers import TimerHandle, Timers


class VirtualTimer:
    """timer_new_ns(QEMU_CLOCK_VIRTUAL, fn): ``mod`` (re)arms it at a virtual deadline, ``delete`` disarms."""

    __slots__ = ("_handle", "clock", "deadline_ns", "fn")

    def __init__(self, clock: VirtualClock, fn: Callable[[], object]) -> None:
        self.clock = clock
        self.fn = fn
        self.deadline_ns: int | None = None
        self._handle: TimerHandle | None = None

    @property
    def pending(self) -> bool:
        return self.deadline_ns is not None

    def mod(self, deadline_ns: int) -> None:
        self.delete()
        self.deadline_ns = deadline_ns
        self.clock.armed.add(self)
        self.clock.schedule(self)

    def delete(self) -> None:
        self.deadline_ns = None
        self.clock.armed.discard(self)
        self.cancel_real()

    def cancel_real(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def fire(self) -> None:
        self._handle = None
        self.deadline_ns = None
        self.clock.armed.discard(self)
        self.fn()


class VirtualClock:
    __slots__ = ("_base_ns", "_manual", "_monotonic", "_since", "armed", "timers")

    def __init__(self, timers: Timers, monotonic: Callable[[], float], manual: bool = False) -> None:
        self.timers = timers
        self._monotonic = monotonic
        #: virtual ns accumulated while the VM ran, up to ``_since`` (None: the clock is stopped)
        self._base_ns = 0
        self._since: float | None = None
        #: the qtest accelerator: only ``advance`` moves the clock
        self._manual = manual
        self.armed: set[VirtualTimer] = set()

    def now_ns(self) -> int:
        if self._since is None:
            return self._base_ns
        return self._base_ns + int((self._monotonic() - self._since) * 1e9)

    @property
    def running(self) -> bool:
        return self._since is not None

    def timer(self, fn: Callable[[], object]) -> VirtualTimer:
        return VirtualTimer(self, fn)

    def start(self) -> None:
        """cpu_enable_ticks: the VM runs."""
        if self._since is not None or self._manual:
            return
        self._since = self._monotonic()
        for t in list(self.armed):
            self.schedule(t)

    def stop(self) -> None:
        """cpu_disable_ticks: the VM stopped; armed timers keep their virtual deadlines."""
        if self._since is None:
            return
        self._base_ns = self.now_ns()
        self._since = None
        for t in self.armed:
            t.cancel_real()

    def schedule(self, t: VirtualTimer) -> None:
        if self._since is None or t.deadline_ns is None:
            return
        t.cancel_real()
        t._handle = self.timers.call_later(max(0, t.deadline_ns - self.now_ns()) / 1e9, t.fire)

    def next_deadline_ns(self) -> int | None:
        deadlines = [t.deadline_ns for t in self.armed if t.deadline_ns is not None]
        return min(deadlines) if deadlines else None

    def advance(self, ns: int) -> None:
        """The qtest accelerator's clock moved to ``ns``: run the virtual timers due by then, in order."""
        self._base_ns = max(self._base_ns, ns)
        while True:
            due = [t for t in self.armed if t.deadline_ns is not None and t.deadline_ns <= self._base_ns]
            if not due:
                return
            min(due, key=lambda t: t.deadline_ns or 0).fire()
