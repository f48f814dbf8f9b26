from __future__ import annotations

from fakeqemu.machine.core.rcu import RcuQueue
from fakeqemu.machine.core.timers import Timers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_timers_run_in_deadline_order_and_only_when_due() -> None:
    clock = Clock()
    timers = Timers(clock)
    ran: list[str] = []
    timers.call_later(0.02, lambda: ran.append("b"))
    timers.call_later(0.01, lambda: ran.append("a"))
    cancelled = timers.call_later(0.015, lambda: ran.append("x"))
    cancelled.cancel()
    assert timers.next_deadline() == 100.01
    assert timers.run_due() == 0
    clock.now = 100.03
    assert timers.run_due() == 2
    assert ran == ["a", "b"]
    assert timers.next_deadline() is None


def test_on_change_only_when_the_earliest_deadline_moves() -> None:
    clock = Clock()
    timers = Timers(clock)
    changes: list[float | None] = []
    timers.on_change = lambda: changes.append(timers.next_deadline())
    timers.call_later(1.0, lambda: None)
    timers.call_later(2.0, lambda: None)
    timers.call_later(0.5, lambda: None)
    assert changes == [101.0, 100.5]


def test_rcu_batches_callbacks_after_the_grace_period() -> None:
    clock = Clock()
    timers = Timers(clock)
    rcu = RcuQueue(timers, grace=0.01)
    done: list[int] = []
    rcu.call_rcu(lambda: done.append(1))

    def second() -> None:
        done.append(2)
        rcu.call_rcu(lambda: done.append(3))

    rcu.call_rcu(second)
    assert len(rcu) == 2 and done == []
    clock.now += 0.01
    timers.run_due()
    assert done == [1, 2]  # the callback queued from inside waits for the next batch
    clock.now += 0.01
    timers.run_due()
    assert done == [1, 2, 3]
    assert len(rcu) == 0
