"""The watchdog devices libvirt adds for ``<watchdog>`` (hw/watchdog/wdt_ib700.c, wdt_i6300esb.c) and what
QEMU does when one expires (hw/watchdog/watchdog.c: the WATCHDOG event, then the action).

Their timers run on QEMU_CLOCK_VIRTUAL (fakeqemu.machine.core.vclock): only while the VM runs.

- ib700 (ISA): a write to port 0x443 arms it for 30 - 2 * (value & 0xf) seconds, a write to 0x441
  disarms it; it fires once.
- i6300esb (PCI): configuration register 0x60 (16-bit writes) selects the clock (bit 2: 1 MHz, else
  1 kHz) and whether expiry reboots (bit 5 clear); register 0x68 (8-bit writes) enables it (bit 1), makes
  it free-running (bit 2) and locks it (bit 0). Behind BAR 0, after the unlock sequence (0x80, 0x86 written
  to 0xc), a 32-bit write at 0x0/0x4 sets the timer1/timer2 preload (20 bits) and a 16-bit write of bit 8
  at 0xc pets it (stage 1 again). A stage lasts preload << 15 (1 kHz) or << 5 (1 MHz) ticks of 30 ns;
  stage 1 expiry prints QEMU's "I would send APIC 1 INT 10" line and starts stage 2, stage 2 expiry
  performs the action (when reboot is enabled) and resets the device.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from fakeqemu.machine.core.ioport import PortRegion

if TYPE_CHECKING:
    from fakeqemu.machine.core.qdev import Device
    from fakeqemu.machine.machine import Machine

ACTIONS = ("reset", "shutdown", "poweroff", "pause", "debug", "none", "inject-nmi")
WATCHDOG_DRIVERS = ("ib700", "i6300esb")
NS = 1_000_000_000


def perform_action(machine: Machine) -> None:
    """watchdog_perform_action: the WATCHDOG event, then what the action does."""
    action = machine.actions["watchdog"]
    # rate-limited to one a second (QEMU_CLOCK_REALTIME): a second expiry within it is told at its end
    machine.events.emit_limited("WATCHDOG", {"action": action}, machine.timers.call_later)
    if action == "reset":
        machine.guest_reset()
    elif action == "shutdown":
        machine.system_powerdown()
    elif action == "poweroff":
        machine.request_exit()  # exit(0): no SHUTDOWN event
    elif action == "pause":
        machine.stop("watchdog")
    elif action == "debug":
        print("watchdog: timer fired", file=sys.stderr, flush=True)
    # none: nothing; inject-nmi: an NMI on every vCPU, which no modelled guest code sees


class Ib700:
    """One ib700 device (ports 0x441-0x444)."""

    TIME_MAP = (30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0)

    def __init__(self, machine: Machine, device: Device) -> None:
        self.machine = machine
        self.device = device
        self.timer = machine.vclock.timer(self._expired)
        machine.ioports.map(PortRegion("ib700-disable", 0x441, 2, _read_none, self._disable))
        machine.ioports.map(PortRegion("ib700-enable", 0x443, 2, _read_none, self._enable))

    @property
    def armed(self) -> bool:
        return self.timer.pending

    def _enable(self, offset: int, size: int, value: int) -> None:
        timeout = self.TIME_MAP[value & 0xF] * NS
        self.timer.mod(self.machine.vclock.now_ns() + timeout)

    def _disable(self, offset: int, size: int, value: int) -> None:
        self.timer.delete()

    def _expired(self) -> None:
        perform_action(self.machine)
        self.timer.delete()

    def reset(self) -> None:
        self.timer.delete()

    def remove(self) -> None:
        self.timer.delete()
        self.machine.ioports.unmap("ib700-disable")
        self.machine.ioports.unmap("ib700-enable")


def _read_none(offset: int, size: int) -> int:
    return (1 << (8 * size)) - 1  # the ports have no read handler: an unassigned read


CONFIG_REG, LOCK_REG = 0x60, 0x68
WDT_REBOOT, WDT_FREQ, WDT_INTTYPE = 0x20, 0x04, 0x11
WDT_FUNC, WDT_ENABLE, WDT_LOCK = 0x04, 0x02, 0x01
INT_TYPE_IRQ, INT_TYPE_SMI = 0, 2


class I6300esb:
    """One i6300esb device: its configuration registers and the registers behind BAR 0."""

    def __init__(self, machine: Machine, device: Device) -> None:
        self.machine = machine
        self.device = device
        self.timer = machine.vclock.timer(self._expired)
        self.previous_reboot_flag = False
        self.reset()

    def reset(self) -> None:
        self.timer.delete()
        self.reboot_enabled = True
        self.clock_1mhz = False
        self.int_type = INT_TYPE_IRQ
        self.free_run = False
        self.locked = False
        self.enabled = False
        self.preload = [0xFFFFF, 0xFFFFF]
        self.stage = 1
        self.unlock_state = 0

    remove = reset

    @property
    def armed(self) -> bool:
        return self.timer.pending

    def stage_ns(self, stage: int) -> int:
        ticks = self.preload[0 if stage <= 1 else 1] << (5 if self.clock_1mhz else 15)
        return ticks * 30

    def _restart(self, stage: int) -> None:
        if not self.enabled:
            return
        self.stage = stage
        self.timer.mod(self.machine.vclock.now_ns() + self.stage_ns(stage))

    def _expired(self) -> None:
        if self.stage == 1:
            if self.int_type == INT_TYPE_IRQ:
                print("i6300esb_timer_expired: I would send APIC 1 INT 10 here if I knew how (XXX)", file=sys.stderr)
            elif self.int_type == INT_TYPE_SMI:
                print("i6300esb_timer_expired: I would send SMI here if I knew how (XXX)", file=sys.stderr)
            self._restart(2)
            return
        if self.reboot_enabled:
            self.previous_reboot_flag = True
            perform_action(self.machine)
            self.reset()
        if self.free_run:
            self._restart(1)

    # --- configuration space (i6300esb_config_read/write); None: the default handler's -------------

    def config_read(self, addr: int, size: int) -> int | None:
        if addr == CONFIG_REG and size == 2:
            return (0 if self.reboot_enabled else WDT_REBOOT) | (WDT_FREQ if self.clock_1mhz else 0) | self.int_type
        if addr == LOCK_REG and size == 1:
            return (
                (WDT_FUNC if self.free_run else 0)
                | (WDT_LOCK if self.locked else 0)
                | (WDT_ENABLE if self.enabled else 0)
            )
        return None

    def config_write(self, addr: int, size: int, value: int) -> bool:
        if addr == CONFIG_REG and size == 2:
            self.reboot_enabled = not value & WDT_REBOOT
            self.clock_1mhz = bool(value & WDT_FREQ)
            self.int_type = value & WDT_INTTYPE
            return True
        if addr == LOCK_REG and size == 1:
            if not self.locked:
                self.locked = bool(value & WDT_LOCK)
                self.free_run = bool(value & WDT_FUNC)
                old, self.enabled = self.enabled, bool(value & WDT_ENABLE)
                if not old and self.enabled:
                    self._restart(1)
                elif not self.enabled:
                    self.timer.delete()
            return True
        return False

    # --- BAR 0 ---------------------------------------------------------------------------------------

    def bar_read(self, bar: int, offset: int, size: int) -> int:
        if size == 2 and offset == 0xC:
            return 0x1200 if self.previous_reboot_flag else 0
        return 0

    def bar_write(self, bar: int, offset: int, size: int, value: int) -> None:
        if offset == 0xC and value == 0x80:
            self.unlock_state = 1
            return
        if offset == 0xC and value == 0x86 and self.unlock_state == 1:
            self.unlock_state = 2
            return
        if size == 1 or self.unlock_state != 2:
            return
        if size == 2 and offset == 0xC:
            if value & 0x100:
                self._restart(1)  # the guest's ping
            if value & 0x1200:
                self.previous_reboot_flag = False
        elif size == 4 and offset in (0, 4):
            self.preload[offset // 4] = value & 0xFFFFF
        self.unlock_state = 0

    def pet(self) -> None:
        """What a guest driver writes to reload the timer: the unlock sequence, then bit 8 at 0xc."""
        self.bar_write(0, 0xC, 1, 0x80)
        self.bar_write(0, 0xC, 1, 0x86)
        self.bar_write(0, 0xC, 2, 0x100)


def find_watchdog(machine: Machine) -> Ib700 | I6300esb | None:
    return next((m for m in machine.device_models if isinstance(m, Ib700 | I6300esb)), None)
