"""A real VM for the hotplug unit tests: fakeqemu's Machine (its board, pcihp block, guest model and
device_add) on a clock the test moves. Cold-plugged devices are given as QEMU's -device options."""

from __future__ import annotations

from typing import Any

from fakeqemu.machine.acpi.pcihp import AcpiPciHp
from fakeqemu.machine.core.qdev import PCIBus, PCIDevice
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.machine.plug import device_add, device_del


class Rig:
    def __init__(
        self,
        machine_type: str = "pc",
        *devices: dict[str, str],
        qtest: bool = True,
        acpi: bool = True,
        guest: str = "auto",
        paused: bool = True,
        machine_name: str = "",
    ) -> None:
        self.now = 0.0
        cfg = MachineConfig(
            machine_type=machine_type,
            machine_name=machine_name,
            qtest=qtest,
            acpi=acpi,
            guest=guest,
            paused=paused,
            devices=list(devices),
        )
        self.machine = Machine(cfg, clock=lambda: 1000.0 + self.now, monotonic=lambda: self.now)
        self.events: list[tuple[str, Any]] = []
        self.machine.events.subscribe(lambda e: self.events.append((e.name, e.data)))

    @property
    def hp(self) -> AcpiPciHp:
        assert self.machine.pcihp is not None
        return self.machine.pcihp

    @property
    def root(self) -> PCIBus:
        assert self.machine.board is not None
        return self.machine.board.root_bus

    def bus(self, name: str) -> PCIBus:
        assert self.machine.board is not None
        bus = self.machine.board.find_bus(name)
        assert bus is not None, name
        return bus

    def device(self, dev_id: str) -> PCIDevice:
        assert self.machine.board is not None
        dev = self.machine.board.find_device(dev_id)
        assert isinstance(dev, PCIDevice), dev_id
        return dev

    @staticmethod
    def plugged(dev: PCIDevice) -> bool:
        """Still on its bus (an eject unparents it at once; it finalizes later)."""
        bus = dev.parent_bus
        return isinstance(bus, PCIBus) and dev in bus.devices

    def add(self, dev_id: str, addr: str, bus: str | None = None, driver: str = "virtio-net-pci") -> PCIDevice:
        """QMP device_add."""
        args: dict[str, Any] = {"driver": driver, "id": dev_id, "addr": addr}
        if bus is not None:
            args["bus"] = bus
        dev = device_add(self.machine, args)
        assert isinstance(dev, PCIDevice)
        return dev

    def delete(self, dev_id: str) -> None:
        """QMP device_del."""
        device_del(self.machine, dev_id)

    def read(self, port: int, size: int = 4) -> int:
        return self.machine.ioports.read(port, size)

    def write(self, port: int, value: int, size: int = 4) -> None:
        self.machine.ioports.write(port, size, value)

    def advance(self, seconds: float = 0.0) -> None:
        """Move the clock and run what is due (``advance()``: the next tick)."""
        self.now += seconds
        self.machine.timers.run_due()

    def deleted(self) -> list[Any]:
        return [d for n, d in self.events if n == "DEVICE_DELETED"]


def bridge(dev_id: str, addr: str, bus: str | None = None, chassis: int = 1) -> dict[str, str]:
    """-device pci-bridge,id=...,addr=...,chassis_nr=..."""
    opts = {"driver": "pci-bridge", "id": dev_id, "addr": addr, "chassis_nr": str(chassis)}
    return opts if bus is None else {**opts, "bus": bus}


def root_port(dev_id: str, addr: str, chassis: int) -> dict[str, str]:
    """-device pcie-root-port,id=...,bus=pcie.0,addr=...,chassis=..."""
    return {"driver": "pcie-root-port", "id": dev_id, "bus": "pcie.0", "addr": addr, "chassis": str(chassis)}


def nic(dev_id: str, addr: str, bus: str | None = None) -> dict[str, str]:
    opts = {"driver": "virtio-net-pci", "id": dev_id, "addr": addr}
    return opts if bus is None else {**opts, "bus": bus}
