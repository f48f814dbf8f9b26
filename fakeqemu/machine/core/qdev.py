"""qdev on top of QOM: devices, PCI buses and PCI devices, the unparent / deferred finalize split.

A device's lifetime is QEMU's: plugged into a bus (``child[N]`` link on the bus), unplugged by
``unparent()`` (it leaves the tree and the bus at once, as object_unparent / bus_remove_child do), and
finalized later from the VM's RCU queue, which sends DEVICE_DELETED for each device in its subtree that
finalizes with it (virtio-backend first, path only), then its own (``device`` and ``path``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from fakeqemu.machine.core.pciconfig import ConfigSpace
from fakeqemu.machine.core.qom import Obj

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine
    from fakeqemu.machine.pci.function import PciFunction


class HotplugHandler(Protocol):
    """QEMU's HotplugHandler interface, as a PCI bus's handler implements it (the VM's ACPI pcihp block,
    or a hot-added bridge's own SHPC / PCIe-native controller)."""

    def pre_plug(self, bus: PCIBus, dev: PCIDevice) -> None: ...

    def plug(self, bus: PCIBus, dev: PCIDevice, hotplugged: bool) -> None: ...

    def unplug_request(self, bus: PCIBus, dev: PCIDevice) -> None: ...

    def bus_reset(self, bus: PCIBus) -> None: ...


class Device(Obj):
    """A qdev device (anything with ``parent_bus``/``realized``/``hotplugged`` properties)."""

    __slots__ = (
        "child_buses",
        "class_hotpluggable",
        "created",
        "deleted_paths",
        "hotplugged",
        "id",
        "machine",
        "model",
        "parent_bus",
        "pinned",
        "qtree",
        "usb_port",
        "user_props",
    )

    def __init__(
        self,
        type_name: str,
        props: Sequence[Sequence[str]],
        values: Mapping[str, Any],
        errors: Mapping[str, Any],
        dynamic: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(type_name, props, values, errors, dynamic=dynamic)
        self.id: str | None = None
        #: when it was made among the VM's devices (0: the board's own, made first)
        self.created = 0
        #: a reference nothing will drop holds it (QEMU 7.2's ``info mtree -f`` leaks one on a flat view
        #: several address spaces share, and the view holds its regions' owners): never finalized
        self.pinned = False
        self.parent_bus: Bus | Obj | None = None
        self.hotplugged = bool(values.get("hotplugged", False))
        #: DeviceClass.hotpluggable (the recorded value, taken where the device sat on a hotpluggable bus)
        self.class_hotpluggable = bool(values.get("hotpluggable", True))
        self.child_buses: list[Bus] = []
        #: the property values the user set (device_add / -device), typed; the mac fakeqemu assigned
        self.user_props: dict[str, Any] = {}
        #: its ``info qtree`` lines as recorded (None for the board's own devices, which are in the
        #: board's recorded text)
        self.qtree: tuple[str, ...] | None = None
        #: the USB port it was attached to (usb_claim_port), on a USB bus
        self.usb_port: str | None = None
        self.machine: Machine | None = None
        #: what the device does beyond its QOM properties (a watchdog's timer, pvpanic's register):
        #: fakeqemu.machine.devices; None for most devices
        self.model: Any = None
        #: paths (relative to this device) of the descendant devices that send DEVICE_DELETED before it
        self.deleted_paths: tuple[str, ...] = ()

    @property
    def pci_child_buses(self) -> list[PCIBus]:
        """A bridge's secondary PCI buses (a USB controller's or virtio-serial device's buses are not PCI)."""
        return [b for b in self.child_buses if isinstance(b, PCIBus)]

    @property
    def hotpluggable(self) -> bool:
        """device_get_hotpluggable: the class's flag, and a bus that has a hotplug handler."""
        bus = self.parent_bus
        return self.class_hotpluggable and (not isinstance(bus, Bus) or bus.hotplug_handler is not None)

    def dynamic_value(self, name: str) -> Any:
        if name == "type":
            return self.type
        if name == "hotplugged":
            return self.hotplugged
        if name == "hotpluggable" and isinstance(self.parent_bus, PCIBus):
            return self.hotpluggable
        if name == "parent_bus" and isinstance(self.parent_bus, Bus):
            return self.parent_bus.path
        return None

    def unparent(self) -> None:
        """object_unparent: leave the bus and the tree now; finalize (and DEVICE_DELETED) after a grace
        period, on the VM's RCU queue."""
        path = self.path
        for sub in self.child_buses:
            for child in reversed(list(sub.devices)):
                child.unparent()
        bus = self.parent_bus
        if isinstance(bus, Bus):
            bus.remove(self)
        if self.model is not None and self.machine is not None:
            self.machine.forget_model(self.model)
        if self.parent is not None:
            self.parent.remove_child(self)
        machine = self.machine
        if machine is not None:
            machine.announcer.nic_timer(self.type)  # a virtio-net's unrealize deletes its announce timer
            machine.timeline.add(
                self.id or path, "unparented", f"left the tree; finalize after {machine.rcu.grace * 1000:g} ms"
            )
            machine.rcu.call_rcu(lambda: self.finalize(machine, path))

    def finalize(self, machine: Machine, path: str) -> None:
        machine.backends.release(self)
        name = self.id or path
        for sub in self.deleted_paths:
            machine.timeline.add(name, "finalized", path + sub)
            machine.events.emit("DEVICE_DELETED", {"path": path + sub})
            machine.timeline.add(name, "DEVICE_DELETED", f"{path + sub} to {_clients(machine)}")
        if self.pinned:
            machine.timeline.add(name, "not finalized", "a leaked flat view holds it")
            return
        machine.timeline.add(name, "finalized", path)
        data: dict[str, Any] = {"path": path} if self.id is None else {"device": self.id, "path": path}
        machine.events.emit("DEVICE_DELETED", data)
        machine.timeline.add(name, "DEVICE_DELETED", f"{path} to {_clients(machine)}")


def _clients(machine: Machine) -> str:
    clients = machine.clients()
    return ", ".join(clients) if clients else "no QMP client"


class PCIDevice(Device):
    __slots__ = (
        "acpi_index",
        "devfn",
        "multifunction",
        "pci_function",
        "pci_info",
        "pending_deleted_event",
        "pending_deleted_expires_ms",
    )

    def __init__(
        self,
        type_name: str,
        props: Sequence[Sequence[str]],
        values: Mapping[str, Any],
        errors: Mapping[str, Any],
        devfn: int,
        pci_info: Mapping[str, Any],
        dynamic: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(type_name, props, values, errors, dynamic)
        self.devfn = devfn
        #: this device's query-pci entry as QEMU gives it (bus/slot/function/qdev_id are filled in live)
        self.pci_info = pci_info
        self.acpi_index = int(values.get("acpi-index", 0) or 0)
        self.pending_deleted_event = False
        self.pending_deleted_expires_ms = 0
        self.multifunction = bool(values.get("multifunction", False))
        #: its configuration space and transport registers, made on the first guest access (fakeqemu.machine.pci)
        self.pci_function: PciFunction | None = None

    @property
    def slot(self) -> int:
        return self.devfn >> 3

    @property
    def function(self) -> int:
        return self.devfn & 7

    def dynamic_value(self, name: str) -> Any:
        if name == "addr":
            return self.devfn
        if name == "multifunction":
            return self.multifunction
        if name == "legacy-addr":
            return f"{self.slot:02x}.{self.function:x}"
        return super().dynamic_value(name)

    def describe(self) -> str:
        """How QEMU names a device in its slot-in-use error: ``e1000,id=nic0`` or ``e1000``."""
        return self.type if self.id is None else f"{self.type},id={self.id}"

    def query_pci(self, bus_number: int) -> dict[str, Any]:
        info = dict(self.pci_info)
        info["bus"] = bus_number
        info["slot"] = self.slot
        info["function"] = self.function
        info["qdev_id"] = self.id or ""
        fn = self.pci_function
        if fn is not None:  # what a guest (or the firmware) programmed: qmp_query_pci_device reads it live
            self._programmed(info, fn.config)
        elif not self.has_rom and "regions" in info:
            info["regions"] = [r for r in info["regions"] if r["bar"] != 6]
        return info

    @property
    def has_rom(self) -> bool:
        """Whether the function shows its option ROM as a BAR (``romfile=`` empty or ``rombar=0``: not)."""
        props = self.user_props
        return props.get("romfile") != "" and str(props.get("rombar", 1)) not in ("0", "False")

    def _programmed(self, info: dict[str, Any], config: ConfigSpace) -> None:
        """The entry's live parts from the function's configuration space: IDs, interrupt line, BARs
        (with their addresses), a bridge's bus numbers and windows and the devices behind it."""
        ident = dict(info["id"])
        ident.update(vendor=config.u16(0), device=config.u16(2))
        if "subsystem" in ident:
            ident.update({"subsystem-vendor": config.u16(0x2C), "subsystem": config.u16(0x2E)})
        info["id"] = ident
        if "irq" in info:
            info["irq"] = config.u8(0x3C)
        regions: list[dict[str, Any]] = []
        for bar in config.bars():
            region: dict[str, Any] = {"bar": bar.index, "type": "io" if bar.io else "memory"}
            region.update(address=bar.address, size=bar.size)
            if not bar.io:
                region.update(prefetch=bar.prefetch, mem_type_64=bar.mem64)
            regions.append(region)
        rom = config.rom_size()
        if rom:
            regions.append(
                {"bar": 6, "type": "memory", "address": config.rom_address(rom), "size": rom}
                | {"prefetch": False, "mem_type_64": False}
            )
        if "regions" in info:
            info["regions"] = regions
        bridge = info.get("pci_bridge")
        if bridge is None:
            return
        primary, secondary, subordinate = config.bus_numbers()
        io, mem, pref = config.ranges()
        bus = dict(bridge["bus"])
        bus.update(number=primary, secondary=secondary, subordinate=subordinate)
        for key, (base, limit) in (("io_range", io), ("memory_range", mem), ("prefetchable_range", pref)):
            bus[key] = {**bus[key], "base": base, "limit": limit}
        new_bridge: dict[str, Any] = {"bus": bus}
        child = next((b for b in self.child_buses if isinstance(b, PCIBus)), None)
        if secondary and child is not None:
            devices = sorted(child.pci_devices, key=lambda d: d.devfn)
            new_bridge["devices"] = [d.query_pci(secondary) for d in devices]
        info["pci_bridge"] = new_bridge


class Bus(Obj):
    """A qdev bus (USB, virtio-serial, HDA, ISA, PCI, ...): its instance properties (hotplug-handler,
    realized, child[N] links) come and go, so they live in the GLib-ordered table."""

    __slots__ = (
        "bus_name",
        "devices",
        "hotplug_handler",
        "links",
        "next_index",
        "parent_device",
        "template_name",
        "usb_free",
    )

    def __init__(self, type_name: str, name: str) -> None:
        super().__init__(type_name, (("type", "string"),), dynamic=(
            ("hotplug-handler", "link<hotplug-handler>"),
            ("realized", "bool"),
        ))  # fmt: skip
        self.bus_name = name
        #: its name in the recorded driver instance (``dev0``, ``dev0.0``): how the record refers to it
        self.template_name = name
        #: devices in plug order (QEMU's list is head-inserted: see pcihp._bus_children)
        self.devices: list[Device] = []
        self.hotplug_handler: Any = None
        self.parent_device: Device | None = None
        self.next_index = 0
        #: child[N] link name -> device
        self.links: dict[str, Device] = {}
        #: a USB bus's free ports, in the order they are handed out (a freed port goes last); made on
        #: the first claim
        self.usb_free: list[str] | None = None

    def add(self, dev: Device) -> None:
        """bus_add_child: the device joins the bus with a ``child[N]`` link."""
        name = f"child[{self.next_index}]"
        self.next_index += 1
        self.devices.append(dev)
        self.links[name] = dev
        self.add_dynamic(name, f"link<{dev.type}>")
        dev.parent_bus = self

    def remove(self, dev: Device) -> None:
        if dev in self.devices:
            self.devices.remove(dev)
            if dev.usb_port is not None and self.usb_free is not None:
                self.usb_free.append(dev.usb_port)
        for name, d in list(self.links.items()):
            if d is dev:
                del self.links[name]
                self.remove_dynamic(name)

    def dynamic_value(self, name: str) -> Any:
        if name == "type":
            return self.type
        dev = self.links.get(name)
        if dev is not None:
            return dev.path
        return None


class PCIBus(Bus):
    """A PCI (or PCIe) bus: a bus whose devices sit in slots, with the pcihp block's bus selector."""

    __slots__ = ("_bsel",)

    def __init__(self, type_name: str, name: str) -> None:
        super().__init__(type_name, name)
        self._bsel: int | None = None

    @property
    def pci_devices(self) -> list[PCIDevice]:
        return [d for d in self.devices if isinstance(d, PCIDevice)]

    @property
    def bsel(self) -> int | None:
        return self._bsel

    @bsel.setter
    def bsel(self, value: int | None) -> None:
        if value is not None and self._bsel is None:
            self.add_dynamic("acpi-pcihp-bsel", "uint32")
        self._bsel = value

    def devices_in_slot(self, slot: int) -> list[PCIDevice]:
        return [d for d in self.pci_devices if d.slot == slot]

    def find_devfn(self, devfn: int) -> PCIDevice | None:
        for d in self.pci_devices:
            if d.devfn == devfn:
                return d
        return None

    def dynamic_value(self, name: str) -> Any:
        if name == "acpi-pcihp-bsel":
            return self._bsel
        return super().dynamic_value(name)


def is_pcie_port(bus: object, root: object) -> bool:
    """``pcie_port`` of virtio_pci_realize: an express bus that is not a root bus (a root port's, a switch's
    downstream port's), where a device is a PCIe endpoint (and virtio is modern-only by default); on a root
    bus (q35's pcie.0) or a conventional one behind a bridge it is a conventional function."""
    return isinstance(bus, PCIBus) and bus.type == "PCIE" and bus is not root
