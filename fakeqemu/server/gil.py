"""Interpreter settings while Python code runs in a thread beside the runtime's (trio's) thread.

A thread that runs Python keeps the GIL until the switch interval (5 ms by default) has passed since another
thread asked for it, and the trio thread asks at every wake-up and after every system call: a client's
round trip can wait several intervals while a worker parses another client's heavy input (or while the
early greeter serves beside the importing main thread). A cyclic collection, which a worker's many new
objects start, holds the GIL all along (tens of ms). So while such a thread runs, the interval is short
and (for the parsing workers) collection waits; with one thread running, the interval costs nothing, and
what a parse allocates is freed by reference counting.

These are the process's interpreter settings, shared by every VM of the process: not a VM's state.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable
from types import TracebackType

#: the switch interval while a worker runs Python beside the runtime's thread (the default is 5 ms)
QUICK_S = 0.0005


class Held:
    """A process setting changed while at least one holder needs it, restored after the last one."""

    def __init__(self, change: Callable[[], Callable[[], None]]) -> None:
        self._change = change  # makes the change, returns what restores it
        self._lock = threading.Lock()
        self._holders = 0
        self._restore: Callable[[], None] = lambda: None

    def acquire(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._restore = self._change()
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                self._restore()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _quick_switches() -> Callable[[], None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(QUICK_S)
    return lambda: sys.setswitchinterval(before)


def _no_collection() -> Callable[[], None]:
    if not gc.isenabled():  # paused already (start-up): left as it is
        return lambda: None
    gc.disable()
    return gc.enable


QUICK_SWITCHES = Held(_quick_switches)
NO_COLLECTION = Held(_no_collection)
