"""QOM commands: qom-list, qom-get, qom-set, qom-list-types, device-list-properties."""

from __future__ import annotations

import functools
from typing import Any

from fakeqemu.commands.probe import recorded_device_properties
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.board import device_model, modelled_drivers, recorded
from fakeqemu.machine.core.qdev import PCIDevice
from fakeqemu.machine.core.qom import Obj, Tree
from fakeqemu.machine.devices import balloon
from fakeqemu.machine.devices.dimm import DIMM_TYPE
from fakeqemu.machine.pci import regions
from fakeqemu.qmp.errors import DeviceNotFound, GenericError


def _tree(ctx: Context, path: str) -> Tree:
    return ctx.machine.qom_tree()


@command("qom-list")
def qom_list(ctx: Context, args: dict[str, Any]) -> Any:
    path = args["path"]
    obj = _tree(ctx, path).must(path)
    return [{"name": name, "type": typ} for name, typ in obj.list_props()]


@command("qom-get")
def qom_get(ctx: Context, args: dict[str, Any]) -> Any:
    path, prop = args["path"], args["property"]
    tree = _tree(ctx, path)
    obj = tree.must(path)
    if obj.type == "memory-region" and prop in regions.QOM_PROPERTIES:
        value = _pci_region(ctx, tree, obj, prop)
        if value is not None:
            return value
    return tree.get(obj, prop)


def _pci_region(ctx: Context, tree: Tree, obj: Obj, prop: str) -> Any:
    """A PCI function's BAR or window region as the function's registers place it now."""
    dev = obj.parent  # the function, or an object of its own (xhci's core)
    while dev is not None and not isinstance(dev, PCIDevice):
        dev = dev.parent
    if dev is None or not regions.may_place(dev, obj.name):
        return None
    lay = regions.of_machine(ctx.machine)
    if lay is None:
        return None
    return regions.qom_property(lay, dev, obj.name, lambda name: tree.get(obj, name), prop)


#: properties QOM gives a getter only (object and device base classes)
_READ_ONLY = frozenset({"type", "hotplugged", "hotpluggable"})
_INTS = frozenset({"int", "int8", "int16", "int32", "int64"})
#: the input visitor reads these as uint64 (a value error, not a type error, when it is not one)
_UINTS = frozenset({"uint8", "uint16", "uint32", "uint64", "size"})


def _check_type(name: str, typ: str, value: Any) -> None:
    """The QObject input visitor's type check of a qom-set value."""
    if typ == "bool" and not isinstance(value, bool):
        raise GenericError(f"Invalid parameter type for '{name}', expected: boolean")
    if typ in _INTS and (isinstance(value, bool) or not isinstance(value, int)):
        raise GenericError(f"Invalid parameter type for '{name}', expected: integer")
    if typ in _UINTS and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise GenericError(f"Parameter '{name}' expects uint64")
    if typ in ("str", "string") and not isinstance(value, str):
        raise GenericError(f"Invalid parameter type for '{name}', expected: string")


@command("qom-set")
def qom_set(ctx: Context, args: dict[str, Any]) -> Any:
    path, name = args["path"], args["property"]
    tree = _tree(ctx, path)
    obj = tree.must(path)
    typ = obj.prop_type(name)
    if typ is None:
        raise GenericError(f"Property '{obj.type}.{name}' not found")
    if name in _READ_ONLY or typ.startswith(("child<", "link<")):
        raise GenericError(f"Property '{obj.type}.{name}' is not writable")
    if balloon.qom_set(ctx.machine, obj, name, args["value"]):
        return {}
    if "realized" in obj.values:
        if name == "realized":
            raise GenericError(f"fakeqemu does not model changing 'realized' of a device ('{obj.type}')")
        dev_id = getattr(obj, "id", None)
        label = f"device '{dev_id}'" if dev_id else "anonymous device"
        raise GenericError(f"Attempt to set property '{name}' on {label} (type '{obj.type}') after it was realized")
    _check_type(name, typ, args["value"])
    tree.set(obj, name, args["value"])
    return {}


def _type_table() -> dict[str, Any]:
    table: dict[str, Any] = recorded().get("types", {})
    return table


@functools.cache
def _built_in_types() -> frozenset[str]:
    """Device types fakeqemu has: the boards' own devices and the drivers it can plug (pc-dimm among them)."""
    names = {str(o["values"].get("type", "")) for b in recorded()["boards"].values() for o in b["objects"].values()}
    return frozenset(names | set(modelled_drivers()) | {DIMM_TYPE})


def instantiable(name: str, info: dict[str, Any]) -> bool:
    """Whether a concrete type is listed: QEMU's types, less the devices fakeqemu does not model. CPU
    models stay (query-cpu-definitions lists them), and so do the -transitional / -non-transitional
    variants of the modelled virtio devices: libvirt takes their presence as the sign that virtio devices
    are PCI Express devices (it puts them on root ports of q35); device_add refuses the variants
    themselves with fakeqemu's "does not model" error."""
    if "device" not in info.get("ancestors", ()) or info.get("abstract"):
        return True
    base = name.removesuffix("-non-transitional").removesuffix("-transitional")
    return base in _built_in_types() or "cpu" in info.get("ancestors", ())


@command("qom-list-types")
def qom_list_types(ctx: Context, args: dict[str, Any]) -> Any:
    ctx.machine.qom_modules_loaded = True  # QEMU loads every module to list the types
    types = _type_table()
    implements = args.get("implements")
    abstract = bool(args.get("abstract", False))
    out = []
    for name, info in types.items():
        if info.get("abstract") and not abstract:
            continue
        if not instantiable(name, info):
            continue
        if implements is not None and implements not in info.get("ancestors", ()):
            continue
        entry: dict[str, Any] = {"name": name}
        if info.get("abstract"):
            entry["abstract"] = True
        if info.get("parent") is not None:
            entry["parent"] = info["parent"]
        out.append(entry)
    return out


@command("device-list-properties")
def device_list_properties(ctx: Context, args: dict[str, Any]) -> Any:
    name = args["typename"]
    model = device_model("pc", name)
    if model is not None:
        return model.properties
    types = _type_table()
    info = types.get(name)
    if info is None or not instantiable(name, info):
        raise DeviceNotFound(f"Device '{name}' not found")  # QEMU's answer for a type it does not have
    props = recorded_device_properties(name)
    if props is not None:
        return props
    raise GenericError(f"fakeqemu has no record of the properties of device '{name}'")
