"""The guest OS side of ACPI hotplug and power button, acting only through the real I/O registers.

Policies (per VM, and per device id; switchable while running):

- ``auto``: passive under qtest (the test plays the guest), otherwise ``prompt``.
- ``prompt``: like Linux acpiphp. On the SCI for GPE0 bit 1 the guest reads GPE0 status, clears the bit
  (write 1: QEMU's DSDT uses the edge-triggered _E01, so ACPICA clears before running it), then for each bus
  selector writes ``sel``, reads ``up`` (clears it) and ``down``; each slot in ``down`` is ejected by
  writing ``sel`` then the slot bit to ``eject`` (the _EJ0 method).
- ``delay:<ms>``: as ``prompt``, but the eject writes happen ``ms`` later (a VM timer).
- ``never``: a guest that does not answer at all (no ACPI driver, hung): no register access, GPE status
  stays set, device_del hangs.
- ``refuse``: the guest handles the event (reads status, clears GPE, reads up/down) but never runs _EJ0,
  as a Windows guest that vetoes the removal; the device stays, ``down`` stays set.
- ``passive``: the guest model does nothing (set internally by ``auto`` under qtest; may be set explicitly).

A device's own policy overrides the VM's for the slots it occupies. The guest acts only while the VM runs;
events that arrive while paused are handled on RESUME. Non-passive guests also power off on
system_powerdown (SHUTDOWN guest=true reason guest-shutdown) shortly after the POWERDOWN event, except
``never``, which answers no ACPI event at all.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.acpi.cpuhp import CPU_HOTPLUG_STATUS
from fakeqemu.machine.acpi.memhp import FLAG_EJECT, FLAG_INSERTING, FLAG_REMOVING, FLAGS, MEMORY_HOTPLUG_STATUS
from fakeqemu.machine.acpi.pcihp import DOWN, EJECT, PCI_HOTPLUG_STATUS, SEL, UP, AcpiPciHp
from fakeqemu.machine.core.events import Event
from fakeqemu.machine.core.qdev import Device, PCIBus, PCIDevice
from fakeqemu.machine.guest import pciassign

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine
    from fakeqemu.machine.pci.native import PcieSlot


def is_native_slot(bus: PCIBus) -> bool:
    """Whether ``bus`` is a PCIe port's, hot-plugged natively (its slot registers, pciehp)."""
    from fakeqemu.machine.pci.native import PcieSlot

    return isinstance(bus.hotplug_handler, PcieSlot)


POLICIES = ("auto", "prompt", "never", "refuse", "passive")
_DELAY = re.compile(r"delay:(\d{1,9})")
#: how long the modelled guest takes to act on the power button
POWERDOWN_DELAY_S = 0.05
POWER_POLICIES = ("prompt", "ignore", "hang")


class PolicyError(ValueError):
    pass


def check_policy(policy: str, names: tuple[str, ...] = POLICIES, what: str = "guest") -> str:
    """``policy`` if it is one of ``names`` or ``delay:<ms>``; else PolicyError naming the choices."""
    if policy in names or _DELAY.fullmatch(policy):
        return policy
    choices = ", ".join([*names[:2], "delay:<ms>", *names[2:]])
    raise PolicyError(f"invalid {what} policy '{policy}' ({choices})")


def delay_ms(policy: str) -> int | None:
    """The milliseconds of a ``delay:<ms>`` policy."""
    m = _DELAY.fullmatch(policy)
    return int(m.group(1)) if m else None


class Guest:
    """One VM's guest model. ``pcihp`` may be None (ACPI off): then only powerdown is modelled."""

    def __init__(self, machine: Machine, pcihp: AcpiPciHp | None, policy: str | None = None) -> None:
        self.machine = machine
        self.pcihp = pcihp
        self.policy = check_policy(policy if policy is not None else machine.config.guest)
        self.device_policy: dict[str, str] = {}
        self.booted = False
        self.pending_gpe = False
        self.pending_powerdown = False
        #: what the OS does on shutdown: prompt, delay:<ms>, ignore (the button), hang
        self.power = check_policy(machine.config.power, POWER_POLICIES, "power")
        #: an SCI is raised and the guest's handler is due on the next tick
        self.sci_scheduled = False
        #: log of what the guest did, for x-fakeqemu-query-guest: (action, detail)
        self.actions: list[tuple[str, str]] = []
        #: PCIe slots with an event the guest's pciehp driver has not answered yet
        self.pending_slots: list[PcieSlot] = []
        if pcihp is not None:
            pcihp.notify = self.on_gpe
        machine.events.subscribe(self._on_event)
        if self.active:
            self.boot()

    # --- policy -------------------------------------------------------------------------------------

    @property
    def effective_policy(self) -> str:
        if self.policy == "auto":
            return "passive" if self.machine.config.qtest else "prompt"
        return self.policy

    @property
    def active(self) -> bool:
        return self.effective_policy != "passive"

    def set_policy(self, policy: str, device: str | None = None) -> None:
        check_policy(policy)
        if device is None:
            self.policy = policy
        elif policy == "auto":
            self.device_policy.pop(device, None)
        else:
            self.device_policy[device] = policy
        if self.active and not self.booted:
            self.boot()
        self.kick()
        if self.pcihp is not None and self.booted and self.machine.running and self.active:
            self.handle_sci(self.pcihp, rescan=True)

    def policy_for_devices(self, devices: list[PCIDevice]) -> str:
        for dev in devices:
            pol = self.device_policy.get(dev.id or "")
            if pol is not None:
                return "passive" if pol == "auto" else pol
        return self.effective_policy

    # --- "boot": what firmware + OS set up before hotplug works ----------------------------------

    def boot(self) -> None:
        """The OS enables the hotplug GPE (GPE0_EN bit 1); on q35 firmware has programmed PMBASE."""
        self.booted = True
        hp = self.pcihp
        if hp is None:
            return
        if hp.gpe.base is None:
            from fakeqemu.machine.acpi.pcihp import ICH9_PMBASE_DEFAULT, map_ich9_pmbase

            map_ich9_pmbase(self.machine, hp, ICH9_PMBASE_DEFAULT)
        base = hp.gpe.base
        assert base is not None
        en_port = base + hp.gpe.half
        cur = self.machine.ioports.read(en_port, 1)
        bits = PCI_HOTPLUG_STATUS | CPU_HOTPLUG_STATUS  # the DSDT has _E01 (PCI) and _E02 (CPU)
        if self.machine.memdevs.memhp is not None:
            bits |= MEMORY_HOTPLUG_STATUS  # and _E03 (memory) when the machine has DIMM slots
        self.machine.ioports.write(en_port, 1, cur | bits)
        self.actions.append(("boot", f"GPE0_EN |= 0x{bits:x}"))
        cpuhp = self.machine.cpus.cpuhp
        if cpuhp is not None and not self.machine.compat.legacy_cpu_hotplug:
            # the ACPI tables switch CPU hotplug to its modern interface: 0 into the legacy bitmap (not
            # those of a machine type with legacy CPU hotplug, <= 2.6)
            self.machine.ioports.write(cpuhp.base, 1, 0)

    # --- events ---------------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.name == "RESUME":
            self.kick()
        elif event.name == "POWERDOWN":
            self.pending_powerdown = True
            self.kick()
        elif event.name == "RESET":
            self.on_reset()

    def on_pcie_slot(self, slot: PcieSlot) -> None:
        """A PCIe port signalled a slot event (native hotplug): Linux's pciehp answers it."""
        from fakeqemu.machine.guest import pciehp

        pciehp.on_slot(self, slot)

    def on_reset(self) -> None:
        """system_reset: pcihp executes pending removals and the GPE registers are cleared; the guest
        boots again."""
        self.pending_slots = []
        if self.pcihp is not None:
            self.pcihp.reset()
            self.pcihp.gpe.reset()
        self.pending_gpe = False
        self.booted = False
        if self.active:
            self.boot()

    def kick(self) -> None:
        if not self.machine.running:
            return
        if self.pending_powerdown and self.effective_policy not in ("never", "passive"):  # never: no ACPI driver
            self.pending_powerdown = False
            self.power_down(button=True)
        hp = self.pcihp
        raised = hp is not None and bool(hp.gpe.sts[0] & hp.gpe.en[0] & PCI_HOTPLUG_STATUS)
        if hp is not None and hp.gpe.sts[0] & hp.gpe.en[0] & CPU_HOTPLUG_STATUS:
            self.on_cpu_gpe()
        if hp is not None and hp.gpe.sts[0] & hp.gpe.en[0] & MEMORY_HOTPLUG_STATUS:
            self.on_mem_gpe()
        if self.pending_slots:
            from fakeqemu.machine.guest import pciehp

            pciehp.handle(self)
        if self.pending_gpe or raised:
            # a GPE still raised (a guest that ignored it and now answers) is handled like a new one
            self.pending_gpe = False
            self.on_gpe()

    def set_power(self, policy: str) -> None:
        self.power = check_policy(policy, POWER_POLICIES, "power")

    def power_down(self, button: bool) -> None:
        """The OS shuts down: on the ACPI power button (``button``), or asked to (the agent's
        guest-shutdown). ``power`` policy: ``prompt`` powers off shortly after, ``delay:<ms>`` later,
        ``ignore`` ignores the button (no acpid) but not a shutdown command, ``hang`` starts the shutdown
        (its agent stops) and never gets to power off."""
        if self.power == "ignore" and button:
            self._note("guest power=ignore: the power button is ignored")
            return
        if self.power == "hang":
            self._note("guest power=hang: the shutdown hangs before power off")
            agent = self.machine.agent
            if agent is not None:  # the OS stops its services, its agent among them, then hangs
                self.machine.timers.call_later(POWERDOWN_DELAY_S, agent.stop)
            return
        ms = delay_ms(self.power)
        self.machine.timers.call_later(POWERDOWN_DELAY_S if ms is None else ms / 1000.0, self._power_off)

    def _power_off(self) -> None:
        if self.machine.exiting:
            return
        self.actions.append(("poweroff", ""))
        self.machine.shutdown("guest-shutdown", guest=True)

    def on_gpe(self) -> None:
        """Called by pcihp after it raised GPE0 status bit 1. The guest's interrupt handler runs on the next
        tick, not inside the command that raised the GPE: the command's reply is queued first, as with
        QEMU, whose guest runs on its own vCPU."""
        if not self.sci_scheduled:
            self.sci_scheduled = True
            self.machine.timers.call_later(0, self._sci)

    def _sci(self) -> None:
        self.sci_scheduled = False
        hp = self.pcihp
        if hp is None or not self.booted:
            return
        if not self.machine.running:
            self.pending_gpe = True
            return
        if self.effective_policy in ("never", "passive") and not self.device_policy:
            if self.effective_policy == "never":
                self._note("guest never: hotplug GPE not answered")
            return
        self.handle_sci(hp)

    def handle_sci(self, hp: AcpiPciHp, rescan: bool = False) -> None:
        """The guest's GPE handler; ``rescan``: the guest looks at the slots without a new GPE (its policy
        changed while a removal it did not answer is pending)."""
        io = self.machine.ioports
        base = hp.gpe.base
        if base is None:
            return
        sts = io.read(base, 1)
        en = io.read(base + hp.gpe.half, 1)
        if not (sts & en & PCI_HOTPLUG_STATUS) and not rescan:
            return
        scan = hp.known_bsels()
        work: list[tuple[int, int, str]] = []
        added: list[tuple[int, int]] = []
        for bsel in scan:
            io.write(hp.base + SEL, 4, bsel)
            up = io.read(hp.base + UP, 4)
            added += [(bsel, slot) for slot in range(32) if up & (1 << slot)]
            down = io.read(hp.base + DOWN, 4)
            for slot in range(32):
                if down & (1 << slot):
                    bus = hp.find_bus(bsel)
                    devs = [] if bus is None else bus.devices_in_slot(slot)
                    work.append((bsel, slot, self.policy_for_devices(devs)))
        if all(pol in ("never", "passive") for _, _, pol in work) and self.effective_policy in (
            "never",
            "passive",
        ):
            if work and any(pol == "never" for _, _, pol in work):
                self._note(f"guest never: removal of {self._slots(work)} not answered")
                for bsel, slot, _ in work:
                    self._step(hp, bsel, slot, "not answered", "guest policy never")
            return  # nobody answers: leave the GPE status set
        for bsel, slot in added:  # the OS scans a new slot and enables what is in it
            bus = hp.find_bus(bsel)
            devs = [] if bus is None else bus.devices_in_slot(slot)
            if bus is not None and devs and self.policy_for_devices(devs) not in ("never", "passive"):
                pciassign.assign(self.machine, bus, devs)
        if sts & PCI_HOTPLUG_STATUS:
            io.write(base, 1, PCI_HOTPLUG_STATUS)  # _E01: ACPICA clears the edge GPE first
        self.actions.append(("gpe", f"cleared GPE0_STS bit 1; down slots {[(b, s) for b, s, _ in work]}"))
        for bsel, slot, pol in work:
            m = _DELAY.fullmatch(pol)
            if pol == "prompt":
                self.eject(bsel, slot)
            elif m is not None:
                ms = int(m.group(1))
                self._note(f"guest {pol}: eject of bsel {bsel} slot {slot} delayed {ms} ms")
                self._step(hp, bsel, slot, "eject delayed", f"guest policy {pol}")
                self.machine.timers.call_later(ms / 1000.0, functools.partial(self.eject, bsel, slot))
            elif pol == "refuse":
                self.actions.append(("refuse", f"bsel {bsel} slot {slot}"))
                self._note(f"guest refuse: eject of bsel {bsel} slot {slot} vetoed")
                self._step(hp, bsel, slot, "vetoed", "guest policy refuse: _EJ0 not run")
            elif pol == "never":
                self._note(f"guest never: removal of bsel {bsel} slot {slot} not answered")
                self._step(hp, bsel, slot, "not answered", "guest policy never")

    def _step(self, hp: AcpiPciHp, bsel: int, slot: int, step: str, detail: str) -> None:
        bus = hp.find_bus(bsel)
        for dev in [] if bus is None else bus.devices_in_slot(slot):
            self.machine.timeline.add(dev.id or dev.path, step, detail)

    # --- CPU hotplug (the DSDT's _E02 -> \_SB.CPUS.CSCN, and each CPU's _EJ0) ------------------------

    def _answer_gpe(self, bit: int, devices: list[Any], what: str) -> str | None:
        """The policy that answers a raised CPU or memory hotplug GPE (``devices``: those with a removal
        request); the guest clears the GPE first. None: nothing raised, or the guest does not answer."""
        hp = self.pcihp
        if hp is None or not self.booted or not self.machine.running or hp.gpe.base is None:
            return None
        io = self.machine.ioports
        base = hp.gpe.base
        if not (io.read(base, 1) & io.read(base + hp.gpe.half, 1) & bit):
            return None
        pol = self.policy_for_devices(devices) if devices else self.effective_policy
        if pol in ("never", "passive"):
            if pol == "never":
                self._note(f"guest never: {what} hotplug GPE not answered")
            return None
        io.write(base, 1, bit)
        return pol

    def on_cpu_gpe(self) -> None:
        """Called after the CPU hotplug block raised GPE0 status bit 2."""
        cpuhp = self.machine.cpus.cpuhp
        if cpuhp is None:
            return
        removing = [s.cpu.device for s in cpuhp.slots if s.is_removing and s.cpu is not None and s.cpu.device]
        pol = self._answer_gpe(CPU_HOTPLUG_STATUS, removing, "CPU")
        if pol is None:
            return
        io = self.machine.ioports
        if cpuhp.legacy:  # the legacy tables' PRSC: read the present-CPU bitmap, Notify the CPUs that came
            bitmap = [io.read(cpuhp.base + i, 1) for i in range(32)]
            self.actions.append(("cpu-online", f"legacy bitmap {bytes(bitmap).hex()}"))
            return
        for _ in range(len(cpuhp.slots) + 1):
            io.write(cpuhp.base + 5, 1, 0)  # command: the next CPU with an event
            sel = io.read(cpuhp.base + 8, 4)
            flags = io.read(cpuhp.base + 4, 1)
            if flags & 2:
                io.write(cpuhp.base + 4, 1, 2)  # Notify(CPUn, 1): the OS onlines it; clear the insert event
                self.actions.append(("cpu-online", f"cpu {sel}"))
            elif flags & 4:
                io.write(cpuhp.base + 4, 1, 4)  # Notify(CPUn, 3): eject request; clear the remove event
                self._eject_request(f"cpu {sel}", pol, functools.partial(self.cpu_eject, sel))
            else:
                break

    def _eject_request(self, what: str, pol: str, eject: Callable[[], None]) -> None:
        """A CPU's or DIMM's eject request (Notify 3), answered as ``pol`` says: ``eject`` is its _EJ0."""
        ms = delay_ms(pol)
        if pol == "prompt":
            eject()
        elif ms is not None:
            self._note(f"guest {pol}: eject of {what} delayed {ms} ms")
            self.machine.timers.call_later(ms / 1000.0, eject)
        elif pol == "refuse":
            self._note(f"guest refuse: eject of {what} vetoed")

    def cpu_eject(self, sel: int) -> None:
        """The CPU's _EJ0: select it, write the eject flag."""
        cpuhp = self.machine.cpus.cpuhp
        if cpuhp is None:
            return
        io = self.machine.ioports
        io.write(cpuhp.base, 4, sel)
        io.write(cpuhp.base + 4, 1, 8)
        self.actions.append(("cpu-eject", f"cpu {sel}"))

    # --- memory hotplug (the DSDT's _E03 -> \\_SB.PCI0.MHPD.MSCN, and each DIMM's _EJ0) -----------------

    def on_mem_gpe(self) -> None:
        """Called after the memory hotplug block raised GPE0 status bit 3: MSCN looks at every slot; an
        inserted DIMM is onlined (Notify 1, its insert event cleared), a removal request (Notify 3, its
        remove event cleared) is answered as the policy says, by _EJ0."""
        memhp = self.machine.memdevs.memhp
        if memhp is None:
            return
        removing = [s.dimm for s in memhp.slots if s.is_removing and s.dimm is not None]
        pol = self._answer_gpe(MEMORY_HOTPLUG_STATUS, removing, "memory")
        if pol is None:
            return
        io = self.machine.ioports
        for i in range(len(memhp.slots)):
            io.write(memhp.base, 4, i)  # MSEL
            flags = io.read(memhp.base + FLAGS, 1)
            if flags & FLAG_INSERTING:
                io.write(memhp.base + FLAGS, 1, FLAG_INSERTING)  # Notify(MPxx, 1): the OS onlines it
                self.actions.append(("memory-online", f"dimm slot {i}"))
            elif flags & FLAG_REMOVING:
                io.write(memhp.base + FLAGS, 1, FLAG_REMOVING)  # Notify(MPxx, 3): eject request
                self._eject_request(f"dimm slot {i}", pol, functools.partial(self.mem_eject, i))

    def mem_eject(self, slot: int) -> None:
        """The DIMM's _EJ0 (MEJ0): the OS has offlined its memory; select the slot, write the eject bit."""
        memhp = self.machine.memdevs.memhp
        if memhp is None:
            return
        io = self.machine.ioports
        io.write(memhp.base, 4, slot)
        io.write(memhp.base + FLAGS, 1, FLAG_EJECT)
        self.actions.append(("memory-eject", f"dimm slot {slot}"))

    def _note(self, text: str) -> None:
        """A guest-side fault, in the traffic record beside the QMP messages it explains."""
        self.machine.traffic.add("guest", "note", f"fault: {text}".encode())

    @staticmethod
    def _slots(work: list[tuple[int, int, str]]) -> str:
        return ", ".join(f"bsel {b} slot {s}" for b, s, _ in work)

    def eject(self, bsel: int, slot: int) -> None:
        """_EJ0 of one slot: select the bus, write the slot bit to the eject register."""
        hp = self.pcihp
        if hp is None:
            return
        io = self.machine.ioports
        io.write(hp.base + SEL, 4, bsel)
        io.write(hp.base + EJECT, 4, 1 << slot)
        self.actions.append(("eject", f"bsel {bsel} slot {slot}"))

    def eject_device(self, dev: Device) -> None:
        """Eject the slot holding ``dev`` now (x-fakeqemu-eject), whatever the policy."""
        vcpu = self.machine.cpus.find(dev)
        if vcpu is not None:
            self.cpu_eject(vcpu.index)
            return
        dimm = self.machine.memdevs.find(dev)
        if dimm is not None:
            self.mem_eject(dimm.slot)
            return
        bus = dev.parent_bus
        if isinstance(dev, PCIDevice) and isinstance(bus, PCIBus) and is_native_slot(bus):
            from fakeqemu.machine.guest import pciehp

            pciehp.power_off(self, bus.hotplug_handler)  # pciehp powers the slot off now
            return
        if not isinstance(dev, PCIDevice) or not isinstance(bus, PCIBus) or bus.bsel is None:
            raise PolicyError("device is not on an ACPI hotplug bus")
        self.eject(bus.bsel, dev.slot)

    def describe(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "effective-policy": self.effective_policy,
            "devices": [{"id": k, "policy": v} for k, v in sorted(self.device_policy.items())],
            "booted": self.booted,
            "power": self.power,
            "powerdown-pending": self.pending_powerdown,
            "sci-pending": self.sci_scheduled,
        }
