"""Every hot-plug and unplug of a VM as a timeline of steps, per device.

The steps are the ones QEMU runs (the seed's trace): the request (device_add / device_del), the GPE the
hotplug block raises, the guest's reads of the up/down registers, the eject write (and who wrote it: the
guest model, qtest, HMP, the HTTP plane, an x-fakeqemu command), the unparent (the device leaves the tree),
the RCU grace period, the finalize of each object and each DEVICE_DELETED with the clients it went to; and
what the guest policy did instead (vetoed, delayed, not answered).

Times are the VM's monotonic clock (``t``, seconds since the VM started) and the wall clock (``wall``).
Steps are kept per VM, at most ``LIMIT``; a VM that never hot-plugs pays for one empty attribute.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

#: steps kept per VM (the oldest go first)
LIMIT = 2000

#: what a device whose last step is the key waits for next
WAITING = {
    "unplug requested": "waiting for the guest to write the eject register",
    "GPE raised": "waiting for the guest to handle the GPE",
    "read down": "waiting for the guest to write the eject register",
    "plugged": "waiting for the guest to handle the GPE",
    "eject delayed": "waiting for the guest's delayed eject",
    "unparented": "waiting for the RCU grace period (finalize, then DEVICE_DELETED)",
    "finalized": "waiting for DEVICE_DELETED",
}
#: steps after which a device is waiting on nobody (done, or the guest will not answer)
FINAL = frozenset({"DEVICE_DELETED", "vetoed", "not answered", "read up"})


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a device's hot-plug or unplug, with its monotonic and wall times."""

    device: str  # the device's id, or its QOM path when it has none
    step: str
    t: float
    wall: float
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return {"device": self.device, "step": self.step, "t": self.t, "wall": self.wall, "detail": self.detail}


class Timeline:
    __slots__ = ("_monotonic", "_start", "_steps", "_wall")

    def __init__(self, monotonic: Callable[[], float], wall: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self._start = monotonic()
        self._steps: deque[Step] | None = None

    def add(self, device: str, step: str, detail: str = "") -> None:
        if self._steps is None:
            self._steps = deque(maxlen=LIMIT)
        self._steps.append(Step(device, step, self._monotonic() - self._start, self._wall(), detail))

    def steps(self, device: str | None = None) -> list[Step]:
        steps = self._steps or ()
        return [s for s in steps if device is None or s.device == device]

    def devices(self) -> list[str]:
        """Devices with steps, in the order they first appear."""
        return list(dict.fromkeys(s.device for s in self._steps or ()))

    def waiting(self, device: str) -> str | None:
        """What ``device`` waits for now, from its last step (None: nothing pending)."""
        mine = self.steps(device)
        if not mine or mine[-1].step in FINAL:
            return None
        return WAITING.get(mine[-1].step)

    def clear(self) -> None:
        self._steps = None
