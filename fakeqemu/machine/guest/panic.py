"""The guest kernel panics (``x-fakeqemu-panic``, or the HTTP plane's ``POST /vms/NAME/guest/panic``).

Linux's pvpanic driver writes PVPANIC_PANICKED to the device's register (the ISA port or BAR 0 of
pvpanic-pci), or PVPANIC_CRASH_LOADED when a crash kernel takes over (kdump); QEMU then does what its
panic action says (fakeqemu.machine.devices.pvpanic). Without a pvpanic device nothing reaches QEMU: the
VM keeps running a dead kernel. Either way the guest's code stops: the watchdog daemon stops petting (its
watchdog fires, if armed), ACPI events go unanswered (guest policy ``never``) and the agent hangs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakeqemu.machine.devices.pvpanic import CRASH_LOADED, PANICKED, find_pvpanic

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine


def panic(machine: Machine, kdump: bool = False) -> bool:
    """The guest panics; True when a pvpanic device told QEMU."""
    machine.watchdog_daemon.stop()
    machine.guest.set_policy("never")
    if machine.agent is not None:
        machine.agent.set_policy("hung")
    dev = find_pvpanic(machine)
    if dev is None:
        return False
    value = CRASH_LOADED if kdump else PANICKED
    if not dev.events & value:
        return False  # the device does not offer that event: the driver does not write it
    dev.write(0, 1, value)
    return True
