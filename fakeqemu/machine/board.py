"""The boards (pc, q35) and the device models, built from what QEMU 7.2 shows of them.

fakeqemu/data/machine.json (tools/record_machine.py) holds, per board, every object of the cold machine
with its qom-list reply and property values, and, per modelled driver, a hot-added instance's subtree, its
query-pci entry and the DEVICE_DELETED events of its finalize. The recorded facts are read once per
process and shared, read-only, by every VM: a VM owns only its Obj instances and what differs from the
record.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fakeqemu.machine import machine_types
from fakeqemu.machine.core.qdev import Bus, Device, PCIBus, PCIDevice
from fakeqemu.machine.core.qom import Obj, Tree
from fakeqemu.machine.pci.shpc import Shpc
from fakeqemu.recorded import document

TEMPLATE_ID = "dev0"
TEMPLATE_PATH = "/machine/peripheral/dev0"
BUS_TYPES = frozenset({"PCI", "PCIE"})
#: the board's other buses that devices are plugged into (isa-serial)
BOARD_BUS_TYPES = frozenset({"ISA", "IDE"})
#: a driver that is not a PCI device sits on a bus of this type (by the abstract type it derives from)
BUS_OF = {"usb-device": "usb-bus", "virtio-serial-port": "virtio-serial-bus", "isa-device": "ISA", "hda-codec": "HDA",
          "ide-device": "IDE", "scsi-device": "SCSI", "ipack-device": "IndustryPack"}  # fmt: skip
#: the containers that gain and lose children at run time
DYNAMIC_CONTAINERS = frozenset({"/machine/peripheral", "/machine/peripheral-anon"})
ROOT_BUS = {"pc": "/machine/i440fx/pci.0", "q35": "/machine/q35/pcie.0"}


@functools.cache
def recorded() -> Mapping[str, Any]:
    """The recorded facts (each part parsed once per process, when first looked at; never modified)."""
    return document("machine.json")


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """A modelled driver on one board: its recorded instance, ready to stamp out copies."""

    driver: str
    board: str
    objects: Mapping[str, Any]  # relative path -> {"props", "values", "errors"}
    pci_info: Mapping[str, Any]
    deleted_paths: tuple[str, ...]
    properties: list[Any]  # device-list-properties
    #: (relative path, property) whose recorded value is a path inside the template device
    path_values: tuple[tuple[str, str], ...]
    is_nic: bool
    is_bridge: bool
    #: the type of the virtio backend child (virtio-net-device, ...), which owns the backend properties
    backend_type: str | None
    #: the device's lines in ``info qtree``, indented from its ``dev:`` line
    qtree: tuple[str, ...]
    #: the type of bus it plugs into ("PCI" for a PCI device; "usb-bus", "virtio-serial-bus", ...)
    bus_type: str
    #: QEMU's answer to hot-adding it where it was recorded (None: it plugs; only for cold records)
    hotplug_error: Mapping[str, Any] | None
    #: properties whose backend realize takes over and QEMU then shows empty (usb-storage's drive)
    consumed: frozenset[str] = frozenset()
    #: the recorded instance was made with these options: their defaults, for an instance made without
    #: them (a hot-added usb-kbd has port "" where the recorded one was given port=1)
    arg_defaults: Mapping[str, Any] | None = None

    @property
    def on_pci(self) -> bool:
        return self.bus_type == "PCI"

    #: DeviceClass.hotpluggable: a PCI device's as recorded on pc's root bus, which is hotpluggable (the
    #: property reads false on a bus without a hotplug handler, q35's pcie.0)
    class_hotpluggable: bool = True
    #: recorded behind q35's root port rp1 (a PCIe port's bus), not on a root bus
    behind_port: bool = False

    @property
    def hotpluggable(self) -> bool:
        return self.class_hotpluggable


#: QAPI member order of query-pci's types: QEMU's output visitor inserts members in this order, which
#: decides the order of keys that share a QDict bucket (fakeqemu.qmp.encode)
_PCI_ORDER: dict[str, tuple[str, ...]] = {
    "device": ("bus", "slot", "function", "class_info", "id", "irq", "irq_pin", "qdev_id", "pci_bridge", "regions"),
    "class_info": ("desc", "class"),
    "id": ("device", "vendor", "subsystem", "subsystem-vendor"),
    "region": ("bar", "type", "address", "size", "prefetch", "mem_type_64"),
    "pci_bridge": ("bus", "devices"),
    "bus": ("number", "secondary", "subordinate", "io_range", "memory_range", "prefetchable_range"),
    "range": ("base", "limit"),
}


def _ordered(d: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {k: d[k] for k in _PCI_ORDER[kind] if k in d}


def pci_entry_in_schema_order(dev: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded query-pci device entry, rebuilt in QAPI member order."""
    out = _ordered(dev, "device")
    out["class_info"] = _ordered(dev["class_info"], "class_info")
    out["id"] = _ordered(dev["id"], "id")
    out["regions"] = [_ordered(r, "region") for r in dev.get("regions", [])]
    if "pci_bridge" in dev:
        br = dev["pci_bridge"]
        bus = _ordered(br["bus"], "bus")
        for key in ("io_range", "memory_range", "prefetchable_range"):
            bus[key] = _ordered(br["bus"][key], "range")
        bridge: dict[str, Any] = {"bus": bus}
        if "devices" in br:
            bridge["devices"] = [pci_entry_in_schema_order(d) for d in br["devices"]]
        out["pci_bridge"] = bridge
    return out


#: The order in which a bridge's realize adds its child properties (qbus_init of the secondary bus named
#: after the id, pci_bridge_initfn's regions, the bridge windows, then SHPC or MSI-X), with ``{id}`` for
#: the bus. A hot-added device gets "bus master" at registration, a cold-plugged one when the machine is
#: done. Checked against QEMU's qom-list for many ids (tests/machine/test_board.py).
_BRIDGE_WINDOWS = (
    "pci_bridge_pref_mem[0]",
    "pci_bridge_mem[0]",
    "pci_bridge_io[1]",
    "pci_bridge_vga_io_lo[0]",
    "pci_bridge_vga_io_hi[0]",
    "pci_bridge_vga_mem[0]",
)
#: pci-bridge and pcie-pci-bridge: pci_bridge_initfn, then the SHPC BAR and shpc_init's MMIO region
_SHPC_BRIDGE = ("{id}", "pci_bridge_pci[0]", "pci_bridge_io[0]", *_BRIDGE_WINDOWS, "shpc-bar[0]", "shpc-mmio[0]")
BRIDGE_CHILD_ORDER: dict[str, tuple[str, ...]] = {
    "pci-bridge": _SHPC_BRIDGE,
    "pcie-pci-bridge": _SHPC_BRIDGE,
    "pcie-root-port": (
        "{id}",
        "pci_bridge_pci[0]",
        "pci_bridge_io[0]",
        *_BRIDGE_WINDOWS,
        "pcie-root-port-msix[0]",
        "msix-table[0]",
        "msix-pba[0]",
    ),
}


def bridge_child_order(driver: str, bus_name: str, hotplugged: bool) -> list[str]:
    core = [bus_name if n == "{id}" else n for n in BRIDGE_CHILD_ORDER[driver]]
    if hotplugged:
        return ["bus master container[0]", "bus master[0]", *core]
    return ["bus master container[0]", *core, "bus master[0]"]


def _find_pci_entry(entries: list[Any], qdev_id: str) -> Mapping[str, Any] | None:
    for bus in entries:
        for dev in bus.get("devices", []):
            if dev.get("qdev_id") == qdev_id:
                return dev  # type: ignore[no-any-return]
            sub = dev.get("pci_bridge", {}).get("devices")
            if sub:
                found = _find_pci_entry([{"devices": sub}], qdev_id)
                if found is not None:
                    return found
    return None


@functools.cache
def device_model(board: str, driver: str) -> DeviceModel | None:
    rec = recorded()["devices"].get(board, {}).get(driver)
    pc = recorded()["devices"]["pc"].get(driver)
    if rec is None or "error" in rec or pc is None or "error" in pc:
        return None
    info = _find_pci_entry(rec["query-pci"], TEMPLATE_ID) or _find_pci_entry(pc["query-pci"], TEMPLATE_ID)
    info = pci_entry_in_schema_order(info) if info is not None else {}
    deleted = tuple(
        d["path"][len(TEMPLATE_PATH) :]
        for d in pc.get("deleted", [])
        if "device" not in d and d["path"] != TEMPLATE_PATH
    )
    if "deleted" not in pc and "/virtio-backend" in rec["objects"]:
        # recorded cold (never unplugged): a virtio proxy's backend device is unparented with its bus first
        deleted = ("/virtio-backend",)
    path_values = []
    for rel, obj in rec["objects"].items():
        for key, val in obj["values"].items():
            if isinstance(val, str) and val.startswith(TEMPLATE_PATH):
                path_values.append((rel, key))
    root_values = rec["objects"][""]["values"]
    ancestors = recorded().get("types", {}).get(driver, {}).get("ancestors", ())
    bus_type = "PCI" if "addr" in root_values else next((BUS_OF[a] for a in ancestors if a in BUS_OF), "?")
    hp_err = rec.get("hotplug-error")
    return DeviceModel(
        driver=driver,
        board=board,
        objects=rec["objects"],
        pci_info=info,
        deleted_paths=deleted,
        properties=pc.get("device-list-properties", []),
        path_values=tuple(path_values),
        is_nic="mac" in root_values,
        is_bridge=any(o["values"].get("type") in BUS_TYPES for o in rec["objects"].values()),
        backend_type=rec["objects"].get("/virtio-backend", {}).get("values", {}).get("type"),
        qtree=tuple(rec.get("qtree") or pc.get("qtree") or ()),
        bus_type=bus_type,
        hotplug_error=hp_err if isinstance(hp_err, dict) and "desc" in hp_err else None,
        consumed=frozenset(k for k, v in rec.get("args", {}).items() if root_values.get(k) == "" and v != ""),
        arg_defaults=_arg_defaults(rec, pc.get("device-list-properties", [])),
        class_hotpluggable=bool((pc if bus_type == "PCI" else rec)["objects"][""]["values"].get("hotpluggable", True)),
        behind_port=board == "q35" and rec.get("args", {}).get("bus") == "rp1",
    )


#: "not set: pick one at realize" (a port number, a codec address): the realized value is not the default
_AUTO = 4294967295


def _arg_defaults(rec: Mapping[str, Any], props: list[Any]) -> dict[str, Any]:
    known = {p["name"]: p for p in props}
    out: dict[str, Any] = {}
    for key in rec.get("args", {}):
        prop = known.get(key)
        if key in ("driver", "id", "bus", "addr") or prop is None:
            continue
        if "default-value" in prop:
            if prop["default-value"] != _AUTO:
                out[key] = prop["default-value"]
        elif prop["type"] == "str":
            out[key] = ""
    return out


def is_virtio_pci(driver: str) -> bool:
    """A virtio-pci proxy (TYPE_VIRTIO_PCI among its recorded ancestors)."""
    return "virtio-pci" in recorded().get("types", {}).get(driver, {}).get("ancestors", ())


def modelled_drivers() -> list[str]:
    return [d for d in recorded()["devices"]["pc"] if device_model("pc", d) is not None]


def _make(path: str, rec: Mapping[str, Any], pci: Mapping[tuple[int, int], Any], buses: frozenset[str]) -> Obj:
    values = rec["values"]
    typ = values.get("type", "")
    props = rec["props"]
    names = {p[0] for p in props}
    if typ in BUS_TYPES:
        return PCIBus(typ, path.rsplit("/", 1)[-1])
    if typ in BOARD_BUS_TYPES:
        return Bus(typ, path.rsplit("/", 1)[-1])
    if "parent_bus" in names and "hotplugged" in names:
        if values.get("parent_bus") in buses and "addr" in values:
            devfn = int(values["addr"])
            return PCIDevice(typ, props, values, rec["errors"], devfn, pci.get((devfn >> 3, devfn & 7), {}))
        return Device(typ, props, values, rec["errors"])
    if path in DYNAMIC_CONTAINERS:
        fixed = [p for p in props if not p[1].startswith("child<")]
        return Obj(typ, fixed, values, rec["errors"], dynamic=[])
    return Obj(typ, props, values, rec["errors"])


def _parent(path: str) -> str:
    return path.rpartition("/")[0] or "/"


@dataclass(frozen=True, slots=True)
class _Layout:
    """How a board's recorded objects split between each VM's own and the process's shared ones."""

    buses: frozenset[str]
    pci: Mapping[tuple[int, int], Any]
    #: paths each VM builds for itself, parents before children
    private: tuple[str, ...]
    #: shared subtrees (built once, never modified), by the path where each hangs
    shared_roots: Mapping[str, Obj]


#: what only exists under -qtest (the board was recorded with it): the qtest object and its chardev
QTEST_PATHS = ("/machine/qtest", "/chardevs/qtest")


@functools.cache
def board_objects(kind: str, qtest: bool = True, mtype: str = "") -> Mapping[str, Any]:
    """The recorded objects of board ``kind`` (of its older machine type ``mtype``, see machine_types);
    without ``qtest``, less /machine/qtest and /chardevs/qtest (and their child properties), as QEMU
    started without -qtest has them."""
    objects: Mapping[str, Any] = recorded()["boards"][kind]["objects"]
    if mtype:
        objects = machine_types.patched(objects, mtype)
    return objects if qtest else without_qtest(objects, recorded()["boards"][kind]["without-qtest"])


def without_qtest(objects: Mapping[str, Any], orders: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """Recorded objects (recorded under -qtest) as QEMU has them without -qtest. Their parents' property
    tables never held the qtest objects, so other properties may sit elsewhere in them: ``orders`` has the
    qom-list replies of those parents recorded without -qtest (tools/record_machine.py), taken where they
    list the same properties."""
    out = {p: o for p, o in objects.items() if not any(p == q or p.startswith(q + "/") for q in QTEST_PATHS)}
    for path in QTEST_PATHS:
        parent, _, name = path.rpartition("/")
        props = [pr for pr in out[parent]["props"] if pr[0] != name]
        order = (orders or {}).get(parent)
        if order is not None and sorted(map(tuple, order)) == sorted(map(tuple, props)):
            props = order
        out[parent] = {**out[parent], "props": props}
    return out


@functools.cache
def _layout(kind: str, qtest: bool = True, mtype: str = "") -> _Layout:
    """Built once per process and board kind: the objects no VM ever changes (memory regions, the CPU,
    ISA and system-bus devices, ...) are shared by every VM, so an idle VM owns a dozen objects."""
    objects = board_objects(kind, qtest, mtype)
    pci = {
        (d["slot"], d["function"]): pci_entry_in_schema_order(d)
        for b in recorded()["boards"][kind]["query-pci"]
        for d in b["devices"]
    }
    buses = frozenset(p for p, o in objects.items() if o["values"].get("type") in BUS_TYPES | BOARD_BUS_TYPES)
    live = set(DYNAMIC_CONTAINERS) | buses
    live |= {p for p, o in objects.items() if o["values"].get("parent_bus") in buses}
    private: set[str] = set()
    for path in live:
        while path not in private:
            private.add(path)
            if path == "/":
                break
            path = _parent(path)
    shared = {p: _make(p, o, pci, buses) for p, o in objects.items() if p not in private}
    roots: dict[str, Obj] = {}
    for path, obj in shared.items():
        parent = _parent(path)
        if parent in private:
            roots[path] = obj
            obj.name = path.rpartition("/")[2]
            obj.mount = parent
        else:
            shared[parent].add_child(path.rpartition("/")[2], obj)
        obj.shared = True
    return _Layout(buses, pci, tuple(p for p in objects if p in private), roots)


def static_tree(mtype: str, qtest: bool) -> Tree:
    """The QOM tree of a machine type fakeqemu builds no board for (none, isapc, microvm, x-remote):
    QEMU's recorded objects, which nothing changes but qom-set."""
    objects = machine_types.tree_objects(mtype)
    if not qtest:
        objects = without_qtest(objects)
    made = {p: Obj(o["values"].get("type", ""), o["props"], o["values"], o["errors"]) for p, o in objects.items()}
    for path, obj in made.items():
        if path != "/":
            parent, _, name = path.rpartition("/")
            made[parent or "/"].add_child(name, obj)
    return Tree(made["/"])


class Board:
    """One VM's device tree: the board's built-in objects, then cold- and hot-plugged devices."""

    __slots__ = (
        "anon_count",
        "bus_ids",
        "created",
        "kind",
        "next_mac",
        "peripheral",
        "peripheral_anon",
        "root_bus",
        "tree",
        "type_bus_ids",
    )

    def __init__(self, kind: str, qtest: bool = True, mtype: str = "") -> None:
        self.kind = kind
        objects = board_objects(kind, qtest, mtype)
        layout = _layout(kind, qtest, mtype)
        buses = layout.buses
        # the VM's own objects: what can change (buses, PCI devices, containers) and their ancestors;
        # every other subtree is built once per process and shared, read-only (see _layout)
        made: dict[str, Obj] = {p: _make(p, objects[p], layout.pci, buses) for p in layout.private}
        for path in layout.private:
            if path != "/":
                parent, _, name = path.rpartition("/")
                made[parent or "/"].add_child(name, made[path])
        for root in layout.shared_roots.values():
            made[root.mount].attach_shared(root)
        for path in buses:
            bus = made[path]
            assert isinstance(bus, Bus)
            links = [
                (int(n[6:-1]), objects[path]["values"][n])
                for n, t in objects[path]["props"]
                if n.startswith("child[") and t.startswith("link<")
            ]
            for _, target in sorted(links):
                dev = made[target]
                assert isinstance(dev, Device)
                bus.add(dev)
            bus.values = {k: v for k, v in objects[path]["values"].items() if not k.startswith("child[")}
            bus.values.pop("acpi-pcihp-bsel", None)
        self.tree = Tree(made["/"])
        root_bus = made[ROOT_BUS[kind]]
        assert isinstance(root_bus, PCIBus)
        self.root_bus = root_bus
        self.peripheral = made["/machine/peripheral"]
        self.peripheral_anon = made["/machine/peripheral-anon"]
        self.next_mac = 0x56
        #: per bus class, QEMU's automatic bus ids (pci.N for a bridge without an id)
        self.bus_ids = 1
        #: per bus type, the next number of a bus whose device has no id (usb-bus.0, usb-bus.1, ...)
        self.type_bus_ids: dict[str, int] = {}
        #: qdev_set_id's counter for devices without an id (device[N] never reuses an N)
        self.anon_count = 0
        #: devices made so far (each device's ``created``: the order QEMU realizes them in)
        self.created = 0

    # --- devices ----------------------------------------------------------------------------------

    def pci_buses(self) -> list[PCIBus]:
        """Every PCI bus of the VM (none lives in the shared, unchangeable subtrees: skip them)."""
        out: list[PCIBus] = []
        todo = [self.tree.root]
        while todo:
            obj = todo.pop()
            if isinstance(obj, PCIBus):
                out.append(obj)
            # depth first, children in order, as Obj.walk lists them
            todo.extend(reversed([child for child in obj.children.values() if not child.shared]))
        return out

    def reset(self) -> None:
        """A system reset, as bridges' own hotplug controllers see it: a bus's handler, and the SHPC of its
        bridge where ACPI handles the bus (shpc_reset runs in the bridge's reset whoever handles the bus)."""
        for bus in self.pci_buses():
            if bus.hotplug_handler is not None:
                bus.hotplug_handler.bus_reset(bus)
            owner = bus.parent_device
            if owner is not None and isinstance(owner.model, Shpc) and owner.model is not bus.hotplug_handler:
                owner.model.bus_reset(bus)

    def find_bus(self, name: str) -> PCIBus | None:
        for bus in self.pci_buses():
            if bus.bus_name == name:
                return bus
        return None

    def buses(self) -> list[Bus]:
        """Every bus of the VM a device can be plugged into (PCI, ISA, and those of plugged devices)."""
        out: list[Bus] = []
        todo = [self.tree.root]
        while todo:
            obj = todo.pop()
            if isinstance(obj, Bus):
                out.append(obj)
            todo.extend(reversed([child for child in obj.children.values() if not child.shared]))
        return out

    def find_any_bus(self, name: str | None, bus_type: str) -> Bus | None:
        """qdev_find_bus by name, or the first bus of the type a device needs (qbus_find_recursive)."""
        for bus in self.buses():
            if (bus.bus_name == name) if name is not None else (bus.type == bus_type):
                return bus
        return None

    def _bus_name(self, model: DeviceModel, dev_id: str | None, template: str, typ: str) -> str:
        """qbus_init: a bridge's bus is named after the device's id (``pci.N`` without one); other buses
        ``ID.N`` (``usb.0``), or after their type without an id (``usb-bus.0``)."""
        if template == TEMPLATE_ID:
            if dev_id is not None:
                return dev_id
            if typ not in BUS_TYPES:
                # nvme names its bus after its id: without one, the bus type's automatic id (nvme-bus.0)
                return self._type_bus_name(typ)
            name = f"pci.{self.bus_ids}"
            self.bus_ids += 1
            return name
        if dev_id is not None:
            return f"{dev_id}.{template[len(TEMPLATE_ID) + 1 :]}"
        return self._type_bus_name(typ)

    def _type_bus_name(self, typ: str) -> str:
        n = self.type_bus_ids.get(typ, 0)
        self.type_bus_ids[typ] = n + 1
        return f"{typ.lower()}.{n}"

    def find_device(self, dev_id: str) -> Device | None:
        obj = self.peripheral.children.get(dev_id)
        return obj if isinstance(obj, Device) else None

    def create(
        self,
        model: DeviceModel,
        dev_id: str | None,
        devfn: int,
        hotplugged: bool,
        user: Mapping[str, Any] | None = None,
    ) -> Device:
        """A new instance of ``model`` (not yet in the tree or on a bus); ``props``: property values the
        user set (already converted to their types), which replace the recorded defaults wherever the
        property lives (a virtio proxy forwards many to its backend)."""
        user = dict(user or {})
        bus_names: dict[str, str] = {}
        for rel, rec in model.objects.items():
            template = rel.rpartition("/")[2]
            if rel and _is_template_bus(template, rec):
                bus_names[template] = self._bus_name(model, dev_id, template, rec["values"].get("type", ""))
        bus_name = bus_names.get(TEMPLATE_ID, dev_id)
        made: dict[str, Obj] = {}
        dev: Device
        # a link the user set (virtio-rng's rng=ID) replaces the default backend the device makes itself
        root_values = model.objects[""]["values"]
        defaults = {
            str(root_values[k])[len(TEMPLATE_PATH) :]
            for k in user
            if str(root_values.get(k, "")).startswith(TEMPLATE_PATH + "/")
        }
        for rel, rec in model.objects.items():
            if any(rel == d or rel.startswith(d + "/") for d in defaults):
                continue
            values = rec["values"]
            typ = values.get("type", "")
            props = rec["props"]
            if defaults:
                props = [p for p in props if f"{rel}/{p[0]}" not in defaults]
            if any(p[0] in bus_names and p[1].startswith("child<") for p in props) and not model.is_bridge:
                props = _named_bus_props(self.kind, model.driver, dev_id, rel, props, bus_names)
            obj: Obj
            if rel == "":
                fixed, dynamic = props, None
                if model.is_bridge and model.driver in BRIDGE_CHILD_ORDER:
                    # the secondary bus is a child named after the id: its place in the instance table
                    # (GLib order) depends on the name, so replay the table in QEMU's insertion order
                    fixed = [p for p in props if not p[1].startswith("child<")]
                    types = {str(bus_name) if n == TEMPLATE_ID else n: t for n, t in props if t.startswith("child<")}
                    dynamic = [(n, types[n]) for n in bridge_child_order(model.driver, str(bus_name), hotplugged)]
                if model.on_pci:
                    obj = dev = PCIDevice(typ, fixed, values, rec["errors"], devfn, model.pci_info, dynamic)
                else:
                    obj = dev = Device(typ, fixed, values, rec["errors"], dynamic)
            elif rel.rpartition("/")[2] in bus_names:
                template = rel.rpartition("/")[2]
                obj = (PCIBus if typ in BUS_TYPES else Bus)(typ, bus_names[template])
                obj.template_name = template
                obj.values = {k: v for k, v in values.items() if not k.startswith("child[")}
                obj.values.pop("acpi-pcihp-bsel", None)
            elif "parent_bus" in values and "hotplugged" in values:
                obj = Device(typ, props, values, rec["errors"])
                obj.hotplugged = hotplugged
            else:
                obj = Obj(typ, props, values, rec["errors"])
            made[rel] = obj
            if rel:
                parent, _, name = rel.rpartition("/")
                if isinstance(obj, Bus):
                    name = obj.bus_name
                    dev.child_buses.append(obj)
                    obj.parent_device = dev
                made[parent].add_child(name, obj, listed=not (parent == "" and model.driver in BRIDGE_CHILD_ORDER))
        dev.id = dev_id
        dev.hotplugged = hotplugged
        dev.class_hotpluggable = model.class_hotpluggable
        dev.deleted_paths = model.deleted_paths
        if model.is_nic and "mac" not in user:
            # qemu_macaddr_default_if_unset: the next address of a per-VM counter
            user["mac"] = f"52:54:00:12:34:{self.next_mac & 0xFF:02x}"
            self.next_mac += 1
        if user.get("romfile") == "" and "romsize" not in user and model.on_pci:
            user["romsize"] = 0xFFFFFFFF  # no ROM loaded: romsize keeps its default (QEMU sets it on load)
        dev.user_props = {**(model.arg_defaults or {}), **user}
        dev.qtree = model.qtree
        for rel, obj in made.items():
            if isinstance(obj, Bus) and rel:
                # the device's own devices on its internal bus (usb-storage's scsi-hd)
                links = model.objects[rel]["values"]
                for _, target in sorted((int(k[6:-1]), v) for k, v in links.items() if k.startswith("child[")):
                    inner = made.get(target[len(TEMPLATE_PATH) :])
                    if isinstance(inner, Device):
                        obj.add(inner)
        for key, value in {**(model.arg_defaults or {}), **user}.items():
            for rel, obj in made.items():
                if key in obj.values and not (rel == "" and key in model.consumed):
                    obj.set_own(key, value)
        for rel, key in model.path_values:
            if key in user or rel not in made:
                continue
            suffix = model.objects[rel]["values"][key][len(TEMPLATE_PATH) :]
            suffix = "/".join(bus_names.get(part, part) for part in suffix.split("/"))
            made[rel].set_own(key, functools.partial(_live_path, dev, suffix))
        self.created += 1
        dev.created = self.created
        return dev


def _named_bus_props(
    kind: str, driver: str, dev_id: str | None, rel: str, props: list[Any], bus_names: Mapping[str, str]
) -> list[Any]:
    """The property list of an object that holds a bus named after the device: its place in the table
    (GLib order) depends on the name. QEMU's own list where it was recorded for this id (libvirt's ids:
    usb, virtio-serial0, sound0, ...); else the recorded one with the name replaced in place."""
    renamed = [[bus_names.get(n, n), t] if t.startswith("child<") else [n, t] for n, t in props]
    order = recorded().get("named-buses", {}).get(kind, {}).get(driver, {}).get(dev_id or "", {}).get(rel)
    if order is None:
        return renamed
    types = {n: t for n, t in renamed}
    return [[n, types[n]] for n in order]


def _is_template_bus(name: str, rec: Mapping[str, Any]) -> bool:
    """A bus of the recorded instance that is named after its device (``dev0``, ``dev0.0``): a bus other
    devices plug into (a virtio proxy's internal ``virtio-bus`` is not)."""
    if name != TEMPLATE_ID and not (name.startswith(TEMPLATE_ID + ".") and name[len(TEMPLATE_ID) + 1 :].isdigit()):
        return False
    names = {p[0] for p in rec["props"]}
    return "hotplug-handler" in names and "parent_bus" not in names


def _live_path(dev: Obj, suffix: str) -> str:
    """A recorded value that named a path inside the template device, for the live device."""
    return dev.path + suffix
