"""Small stand-ins for qdev/PCI devices and buses (fakeqemu.machine.core.qdev), for unit tests of the hotplug
parts (pcihp, guest, qtest, hmp_io, fakeqemu_ext) that place devices at exact slots and bridges without the
board; the same parts run on the real tree in tests/machine/test_plug.py and the differential tests."""

from __future__ import annotations

from typing import Any

from fakeqemu.machine.acpi.pcihp import AcpiPciHp, install
from fakeqemu.machine.machine import Machine, MachineConfig


def attach(machine: Machine, name: str, value: Any) -> None:
    """Hang a part on the machine (the lead adds typed fields for pcihp/guest to Machine)."""
    setattr(machine, name, value)


class FakeBus:
    def __init__(self, name: str, parent_device: FakeDev | None = None) -> None:
        self.name = name
        self.devices: list[FakeDev] = []
        self.hotplug_handler: Any = None
        self.parent_device = parent_device
        self.bsel: int | None = None

    def devices_in_slot(self, slot: int) -> list[FakeDev]:
        return [d for d in self.devices if d.slot == slot]


class FakeDev:
    def __init__(
        self,
        machine: Machine,
        bus: FakeBus,
        devfn: int,
        dev_id: str | None = None,
        *,
        hotpluggable: bool = True,
        hotplugged: bool = False,
        bridge: str | None = None,
        type_name: str = "virtio-net-pci",
    ) -> None:
        self.machine = machine
        self.id = dev_id
        self.name = dev_id
        self.type_name = type_name
        self.devfn = devfn
        self.hotpluggable = hotpluggable
        self.hotplugged = hotplugged
        self.realized = True
        self.parent_bus: FakeBus | None = bus
        self.child_buses: list[FakeBus] = [FakeBus(bridge, self)] if bridge else []
        self.pending_deleted_event = False

    @property
    def slot(self) -> int:
        return self.devfn >> 3

    @property
    def function(self) -> int:
        return self.devfn & 7

    def path(self) -> str:
        return f"/machine/peripheral/{self.id}"

    def unparent(self) -> None:
        bus = self.parent_bus
        assert bus is not None
        bus.devices.remove(self)
        self.parent_bus = None
        self.machine.rcu.call_rcu(self._finalize)

    def _finalize(self) -> None:
        self.machine.events.emit("DEVICE_DELETED", {"path": f"{self.path()}/virtio-backend"})
        self.machine.events.emit("DEVICE_DELETED", {"device": self.id, "path": self.path()})


def plug(machine: Machine, bus: FakeBus, devfn: int, dev_id: str, *, hotplug: bool = True, **kw: Any) -> FakeDev:
    """What qdev's device_add / cold plug does with the bus's hotplug handler."""
    dev = FakeDev(machine, bus, devfn, dev_id, hotplugged=hotplug, **kw)
    handler = bus.hotplug_handler
    if hotplug and handler is None:
        raise AssertionError(f"Bus '{bus.name}' does not support hotplugging")
    if handler is not None:
        handler.pre_plug(bus, dev)
    bus.devices.append(dev)
    if handler is not None:
        handler.plug(bus, dev, hotplug)
    return dev


class Board:
    """pc: pci.0 with the host bridge (00.0) and PIIX3 functions (01.0, 01.1, 01.3) not hotpluggable;
    q35: pcie.0 with the host bridge (00.0) and ICH9 functions at 1f (not hotpluggable)."""

    def __init__(
        self,
        machine_type: str = "pc",
        *,
        qtest: bool = True,
        acpi: bool = True,
        guest: str = "auto",
        paused: bool = True,
        now: list[float] | None = None,
    ) -> None:
        self.now = now if now is not None else [0.0]
        # "none": the real board stays out of the way; the fakes below stand in for it
        cfg = MachineConfig(machine_type="none", qtest=qtest, acpi=acpi, guest=guest, paused=paused)
        self.machine = m = Machine(cfg, clock=lambda: 1000.0 + self.now[0], monotonic=lambda: self.now[0])
        self.events: list[tuple[str, Any]] = []
        m.events.subscribe(lambda e: self.events.append((e.name, e.data)))
        self.root = FakeBus("pcie.0" if machine_type == "q35" else "pci.0")
        self.hp: AcpiPciHp | None = install(m, self.root, machine_type)
        attach(m, "pcihp", self.hp)
        slots = [0x00, 0xF8, 0xFA, 0xFB] if machine_type == "q35" else [0x00, 0x08, 0x09, 0x0B]
        for devfn in slots:
            self.root.devices.append(FakeDev(m, self.root, devfn, None, hotpluggable=False))

    def cold(self, bus: FakeBus, devfn: int, dev_id: str, **kw: Any) -> FakeDev:
        return plug(self.machine, bus, devfn, dev_id, hotplug=False, **kw)

    def done(self) -> None:
        """Machine creation finished: QEMU's first system reset."""
        if self.hp is not None:
            self.hp.reset()

    def advance(self, seconds: float) -> None:
        self.now[0] += seconds
        self.machine.timers.run_due()

    def deleted(self) -> list[Any]:
        return [d for n, d in self.events if n == "DEVICE_DELETED"]
