"""The guest's watchdog daemon (Linux's ``watchdog`` service over the ib700wdt / i6300esb drivers), a policy
per VM (``-fakeqemu watchdog=``, ``x-fakeqemu-watchdog {"policy": ...}``), switchable while it runs:

- ``off`` (default): the guest never opens the watchdog; the device stays disarmed.
- ``pet[:<s>]``: once the guest runs it arms the watchdog for ``s`` seconds (30, Linux's default
  heartbeat) and pets it every ``s / 2`` seconds, so it never fires.
- ``hang[:<s>]``: it arms the watchdog and then stops petting it (a hung guest): after ``s`` seconds of
  the VM running the watchdog fires and QEMU's action follows (watchdog-set-action). Switching a petting
  guest to ``hang`` stops the petting there.

The drivers write what Linux's write: ib700wdt the time index to port 0x443 (30 - 2 * index seconds),
i6300esb the 1 kHz clock to configuration register 0x60, the two stage preloads (``s << 9`` each) behind
BAR 0 and the enable bit to 0x68; a pet is the unlock sequence and the reload bit. After a reset the
guest boots again and, unless ``off``, arms it again.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fakeqemu.machine.core.events import Event
from fakeqemu.machine.core.qdev import PCIDevice
from fakeqemu.machine.core.timers import TimerHandle
from fakeqemu.machine.devices.watchdog import I6300esb, Ib700, find_watchdog

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

_POLICY = re.compile(r"(off)|(pet|hang)(?::(\d{1,4}))?")
DEFAULT_TIMEOUT_S = 30


class WatchdogPolicyError(ValueError):
    pass


def check_watchdog_policy(policy: str) -> str:
    m = _POLICY.fullmatch(policy)
    if m is None or (m.group(3) is not None and int(m.group(3)) == 0):
        raise WatchdogPolicyError(f"invalid watchdog policy '{policy}' (off, pet[:<seconds>], hang[:<seconds>])")
    return policy


class WatchdogDaemon:
    def __init__(self, machine: Machine, policy: str = "off") -> None:
        self.machine = machine
        self.policy = check_watchdog_policy(policy)
        #: the guest has armed the device since it last booted
        self.armed = False
        self._pet: TimerHandle | None = None
        self._boot: TimerHandle | None = None
        machine.events.subscribe(self._on_event)
        if machine.running:
            self._schedule_boot()

    @property
    def mode(self) -> str:
        return self.policy.partition(":")[0]

    @property
    def timeout_s(self) -> int:
        _, _, seconds = self.policy.partition(":")
        return int(seconds) if seconds else DEFAULT_TIMEOUT_S

    def set_policy(self, policy: str) -> None:
        check_watchdog_policy(policy)
        before = self.policy
        self.policy = policy
        if self.mode == "off":
            self._cancel_pet()
            return
        if not self.armed or policy.partition(":")[2] != before.partition(":")[2]:
            self.armed = False
            if self.machine.running:
                self._schedule_boot()
            return
        if self.mode == "pet":
            self._start_petting()
        else:
            self._cancel_pet()

    def describe(self) -> dict[str, object]:
        dev = find_watchdog(self.machine)
        return {
            "policy": self.policy,
            "device": dev.device.type if dev is not None else "",
            "guest-armed": self.armed,
            "device-armed": dev.armed if dev is not None else False,
        }

    # --- the guest's side ---------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.name == "RESET":  # the device was reset: the guest boots again
            self.armed = False
            self._cancel_pet()
            if self.machine.running:
                self._schedule_boot()
        elif event.name == "RESUME" and not self.armed:
            self._schedule_boot()

    def _schedule_boot(self) -> None:
        if self._boot is None and self.mode != "off":
            self._boot = self.machine.timers.call_later(0, self._arm)

    def _arm(self) -> None:
        self._boot = None
        dev = find_watchdog(self.machine)
        if dev is None or self.mode == "off" or self.armed or not self.machine.running:
            return
        seconds = self.timeout_s
        if isinstance(dev, Ib700):
            index = max(0, min(15, (30 - seconds) // 2))
            self.machine.ioports.write(0x443, 1, index)
        elif isinstance(dev, I6300esb):
            host = self.machine.pci_host
            if host is None or not isinstance(dev.device, PCIDevice):
                return
            fn = host.function(dev.device)
            fn.config_write(0x60, 2, 0)  # 1 kHz, reboot on expiry, IRQ at stage 1
            for offset in (0x0, 0x4):
                fn.bar_write(0, 0xC, 1, 0x80)
                fn.bar_write(0, 0xC, 1, 0x86)
                fn.bar_write(0, offset, 4, (seconds << 9) & 0xFFFFF)
            fn.config_write(0x68, 1, 0x2)
        self.armed = True
        if self.mode == "pet":
            self._start_petting()

    def _start_petting(self) -> None:
        self._cancel_pet()
        self._pet = self.machine.timers.call_later(self.timeout_s / 2, self._do_pet)

    def _do_pet(self) -> None:
        self._pet = None
        dev = find_watchdog(self.machine)
        if dev is None or self.mode != "pet" or not self.armed:
            return
        if self.machine.running:
            if isinstance(dev, Ib700):
                index = max(0, min(15, (30 - self.timeout_s) // 2))
                self.machine.ioports.write(0x443, 1, index)
            else:
                dev.pet()
        self._start_petting()

    def _cancel_pet(self) -> None:
        if self._pet is not None:
            self._pet.cancel()
            self._pet = None

    def stop(self) -> None:
        """The guest stopped running its code (a panic): no more petting."""
        self._cancel_pet()
