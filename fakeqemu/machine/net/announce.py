"""Self-announce, QEMU 7.2's net/announce.c: RARP frames from every NIC on a timer, for announce-self
(named timers: ``id``, "" when none is given), HMP announce_self (the migration announce parameters)
and the incoming side of a migration (its own timer, with the migration parameters).

A round sends, from each NIC in creation order (or those ``interfaces`` names), a 60-byte RARP frame
through the NIC's netdev (fakeqemu.machine.net.sockets) and calls the NIC's own announce hook (a
virtio-net whose guest negotiated GUEST_ANNOUNCE and CTRL_VQ: its config's ANNOUNCE status bit and a
configuration interrupt). The next round is due ``initial + (rounds - round - 1) * step`` ms later (``max``
when that is negative or larger) on QEMU_CLOCK_REALTIME: the machine's timers. ``rounds`` 0 stops and
forgets the timer of that id. QEMU checks nothing: a negative ``rounds`` announces until it is stopped,
a negative ``max`` as fast as the main loop turns (here: every millisecond).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeqemu.machine.backends import NicClient
    from fakeqemu.machine.core.timers import TimerHandle, Timers
    from fakeqemu.machine.core.trace import Trace

ETH_P_RARP = 0x8035
#: the shortest delay between two rounds (QEMU's main loop turns as fast as it can)
MIN_DELAY_MS = 1


def rarp_frame(mac: bytes) -> bytes:
    """announce_self_create: broadcast RARP request "who is MAC", padded to 60 bytes."""
    header = b"\xff" * 6 + mac + ETH_P_RARP.to_bytes(2, "big")
    rarp = b"\x00\x01\x08\x00\x06\x04\x00\x03" + mac + b"\x00" * 4 + mac + b"\x00" * 4
    return (header + rarp).ljust(60, b"\x00")


def mac_bytes(mac: str) -> bytes:
    return bytes(int(b, 16) for b in mac.split(":"))


@dataclass
class AnnounceParameters:
    """AnnounceParameters: the self-announce timer's schedule (initial, max, step in ms; rounds)."""

    initial: int
    max: int
    rounds: int
    step: int
    interfaces: list[str] | None = None
    id: str | None = None

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> AnnounceParameters:
        return cls(args["initial"], args["max"], args["rounds"], args["step"], args.get("interfaces"), args.get("id"))

    @classmethod
    def migration(cls, params: dict[str, Any]) -> AnnounceParameters:
        """migrate_announce_params: the announce-* migration parameters, no interfaces, no id."""
        return cls(
            params["announce-initial"], params["announce-max"], params["announce-rounds"], params["announce-step"]
        )


class AnnounceTimer:
    """struct AnnounceTimer: the parameters, the rounds left, the pending timer."""

    __slots__ = ("handle", "params", "round")

    def __init__(self) -> None:
        self.params: AnnounceParameters | None = None
        self.round = 0
        self.handle: TimerHandle | None = None


class Announcer:
    """One VM's announce timers. ``nics`` lists the NICs in creation order; ``send`` delivers a frame
    through a NIC's netdev; ``hook`` runs the NIC's own announce (virtio-net's guest announce)."""

    __slots__ = ("hook", "migration", "named", "nics", "send", "timers", "trace")

    def __init__(
        self,
        timers: Timers,
        trace: Trace,
        nics: Callable[[], list[NicClient]],
        send: Callable[[NicClient, bytes], None],
        hook: Callable[[NicClient], None],
    ) -> None:
        self.timers = timers
        self.trace = trace
        self.nics = nics
        self.send = send
        self.hook = hook
        #: qmp_announce_self's named timers, by id ("" for none)
        self.named: dict[str, AnnounceTimer] = {}
        #: the incoming migration's (MigrationIncomingState.announce_timer)
        self.migration = AnnounceTimer()

    def announce_self(self, params: AnnounceParameters) -> None:
        """qmp_announce_self: the timer of that id (made on first use) restarts with ``params``."""
        if params.id is None:
            params.id = ""
        timer = self.named.setdefault(params.id, AnnounceTimer())
        self.start(timer, params)

    def start(self, timer: AnnounceTimer, params: AnnounceParameters) -> None:
        """qemu_announce_self: reset the timer, then one round now (or stop it: rounds 0)."""
        self._delete(timer, False)
        timer.params = params
        timer.round = params.rounds
        if params.rounds:
            self._once(timer)
        else:
            self._delete(timer, True)

    def _once(self, timer: AnnounceTimer) -> None:
        params = timer.params
        assert params is not None
        timer.handle = None
        for nic in self.nics():
            skip = params.interfaces is not None and nic.name not in params.interfaces
            tid = "_" if params.id is None else params.id
            mac = mac_bytes(nic.mac)
            self.trace("qemu_announce_self_iter", tid, nic.name, mac.hex(":"), int(skip))
            if not skip:
                self.send(nic, rarp_frame(mac))
                self.hook(nic)
        timer.round -= 1
        if timer.round:
            step = params.initial + (params.rounds - timer.round - 1) * params.step
            if step < 0 or step > params.max:
                step = params.max
            timer.handle = self.timers.call_later(max(step, MIN_DELAY_MS) / 1000.0, lambda: self._once(timer))
        else:
            self._delete(timer, True)

    def _delete(self, timer: AnnounceTimer, free_named: bool) -> None:
        """qemu_announce_timer_del: stop it; ``free_named`` forgets a named timer too."""
        if timer.handle is not None:
            timer.handle.cancel()
            timer.handle = None
        params = timer.params
        tid = None if params is None else params.id
        freed = free_named and tid is not None
        if freed:
            del self.named[str(tid)]
        self.trace("qemu_announce_timer_del", int(free_named), int(freed), "(null)" if tid is None else tid)
        timer.params = None

    def nic_timer(self, dev_type: str) -> None:
        """A virtio-net's realize and unrealize reset its own announce timer (for the guest announce after
        a migration; never started here, it has no id)."""
        if dev_type.startswith("virtio-net"):
            self.trace("qemu_announce_timer_del", 0, 0, "(null)")

    def close(self) -> None:
        for timer in [*self.named.values(), self.migration]:
            if timer.handle is not None:
                timer.handle.cancel()
                timer.handle = None
        self.named.clear()
