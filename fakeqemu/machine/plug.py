"""device_add / -device and device_del, with QEMU 7.2's checks in QEMU's order and its error texts
(softmmu/qdev-monitor.c, hw/core/qdev.c, hw/pci/pci.c, util/qemu-option.c).

The hotplug handler of a PCI bus is the VM's pcihp block (fakeqemu.machine.acpi.pcihp), as in QEMU: plugging
sets the "up" bit and raises GPE0, unplugging requests removal ("down" bit); the guest's eject write does
the rest.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.acpi.pcihp import unplug_in_progress
from fakeqemu.machine.backends import has_medium
from fakeqemu.machine.board import DeviceModel, device_model, is_virtio_pci, recorded
from fakeqemu.machine.config import IDENTIFIER
from fakeqemu.machine.core.qdev import Bus, Device, PCIBus, PCIDevice, is_pcie_port
from fakeqemu.machine.devices import storage, usbport
from fakeqemu.machine.devices.dimm import DIMM_PROP_TYPES, DIMM_TYPE
from fakeqemu.machine.devices.models import attach_model, check_realize
from fakeqemu.machine.pci.native import PcieSlot, native_handler
from fakeqemu.qmp.cnum import strtoi64, strtosz, strtou64
from fakeqemu.qmp.errors import DeviceNotFound, GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: the options qdev itself consumes; the rest are device properties
_QDEV_KEYS = ("driver", "bus", "id")


def option_string(value: Any) -> str | None:
    """qemu_opts_from_qdict_entry: how a JSON value becomes a QemuOpts string (None: the entry is dropped)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    return None


def _parse_devfn(driver: str, value: str) -> int:
    """set_pci_devfn: ``slot[.fn]`` in hex (sscanf %x), slot <= 31, fn <= 7."""
    m = re.fullmatch(r"\s*([+-]?(?:0[xX])?[0-9a-fA-F]+)(?:\.\s*([+-]?(?:0[xX])?[0-9a-fA-F]+))?", value)
    if m is not None:
        slot = int(m.group(1), 16) & 0xFFFFFFFF
        fn = int(m.group(2), 16) & 0xFFFFFFFF if m.group(2) is not None else 0
        if slot <= 31 and fn <= 7:
            return slot << 3 | fn
    raise GenericError(f"Property '{driver}.addr' doesn't take value '{value}'")


def device_add(machine: Machine, args: dict[str, Any], *, hotplug: bool = True, from_json: bool = False) -> Device:
    """qmp_device_add / qdev_device_add: create, check, realize and plug a device; returns it.

    ``from_json``: a JSON ``-device`` (qdev_device_add_from_qdict with from_json): no QemuOpts in between,
    so the id is any string, a driver or bus that is not a string is absent, and property values are
    checked against their types strictly (json_text)."""
    if hotplug:
        machine.pci_now()  # the firmware's set-up comes before what the guest's OS does with a new device
    dev_id = args.get("id")
    if dev_id is not None and not isinstance(dev_id, str):
        dev_id = None
    if dev_id is not None and not from_json and not IDENTIFIER.fullmatch(dev_id):
        raise GenericError("Parameter 'id' expects an identifier")
    opts: dict[str, str] = {}
    for key, value in args.items():
        if key == "id" or (from_json and key in ("driver", "bus") and not isinstance(value, str)):
            continue
        text = option_string(value)
        if text is not None or from_json:  # from JSON, a null, list or object is checked (and refused) below
            opts[key] = text or ""
    raw = args if from_json else None
    driver = opts.get("driver")
    if driver is None:
        raise GenericError("Parameter 'driver' is missing")
    board = machine.board
    if board is None:
        raise GenericError(f"No 'PCI' bus found for device '{driver}'")
    if driver == DIMM_TYPE:
        return _dimm_add(machine, dev_id, opts, hotplug)
    model = device_model(board.kind, driver)
    if model is None:
        _unmodelled(machine, driver, opts, hotplug)
        raise AssertionError("unreachable")
    if hotplug and model.hotplug_error is not None and "pluggable device type" in model.hotplug_error["desc"]:
        raise GenericError(model.hotplug_error["desc"])
    if not model.on_pci:
        return bus_device_add(machine, model, dev_id, opts, hotplug, raw)
    bus_name = opts.get("bus")
    if bus_name is not None:
        bus = board.find_bus(bus_name)
        if bus is None:
            raise GenericError(f"Bus '{bus_name}' not found")
    else:
        bus = board.root_bus
    if board.kind == "q35" and bus.type == "PCI":
        # behind a PCIe-to-PCI bridge a device is conventional PCI, as on pc (virtio keeps its legacy
        # interface: disable-legacy resolves to off, the legacy I/O BAR is there)
        model = device_model("pc", driver) or model
    if hotplug and bus.hotplug_handler is None:
        raise GenericError(f"Bus '{bus.bus_name}' does not support hotplugging")
    if hotplug and not model.hotpluggable:
        raise GenericError(f"Device '{driver}' does not support hotplugging")
    if dev_id is not None and dev_id in board.peripheral.children:
        raise GenericError(f"Duplicate device ID '{dev_id}'")
    devfn = -1
    known = {p["name"]: p["type"] for p in model.properties}
    typed: dict[str, Any] = {}
    for key, text in opts.items():
        if key in _QDEV_KEYS:
            continue
        if key == "addr":
            strict = raw is not None and not isinstance(raw[key], str)
            devfn = _json_devfn(raw[key]) if raw is not None and strict else _parse_devfn(driver, text)
        elif key not in known:
            raise GenericError(f"Property '{driver}.{key}' not found")
        else:
            text = text if raw is None else json_text(key, known[key], raw[key])
            typed[key] = _check_value(model, key, known[key], text)
    legacy = typed.get("disable-legacy", "auto") != "on"
    if legacy and model.behind_port and not is_pcie_port(bus, board.root_bus) and is_virtio_pci(driver):
        # virtio_pci_realize: where the bus is not a PCIe port's (pcie.0, a bridge's) a virtio device is a
        # conventional function and disable-legacy=auto is off (transitional): as recorded on pc's root bus
        model = device_model("pc", driver) or model
    multifunction = opts.get("multifunction", "off") in _TRUE
    if driver == "pci-bridge" and int(opts.get("chassis_nr", "0") or 0) == 0:
        raise GenericError(
            "Bridge chassis not specified. Each bridge is required to be assigned a unique chassis id > 0."
        )
    check_backends(machine, model, {**opts, **({"id": dev_id} if dev_id else {})})
    if devfn < 0:
        devfn = _free_devfn(bus, driver)
    dev = board.create(model, dev_id, devfn, hotplug, typed)
    assert isinstance(dev, PCIDevice)
    dev.machine = machine
    handler = bus.hotplug_handler
    if handler is not None:
        handler.pre_plug(bus, dev)
    _check_devfn(bus, dev, multifunction)
    check_realize(machine, dev, typed)
    _attach(machine, dev, bus, opts)
    _child_bus_handlers(machine, dev, hotplug)
    if handler is not None:
        try:
            handler.plug(bus, dev, hotplug)
        except GenericError:
            _realize_failed(machine, dev, bus)
            raise
    return dev


def _realize_failed(machine: Machine, dev: Device, bus: Bus) -> None:
    """device_set_realized's failure path when the hotplug handler's plug refuses the device: it leaves
    its bus, the tree and its backends; the devices inside it that had been realized (a virtio proxy's
    backend) send DEVICE_DELETED as they are unrealized, the device itself (never realized) does not."""
    path = dev.path
    bus.remove(dev)
    if dev.model is not None:
        machine.forget_model(dev.model)
    if dev.parent is not None:
        dev.parent.remove_child(dev)
    machine.backends.detach(dev)
    for sub in dev.deleted_paths:
        machine.events.emit("DEVICE_DELETED", {"path": path + sub})


def _dimm_add(machine: Machine, dev_id: str | None, opts: dict[str, str], hotplug: bool) -> Device:
    """qdev_device_add of a pc-dimm (no bus: the machine is its hotplug handler); the memory model does the
    rest (fakeqemu.machine.devices.dimm)."""
    board = machine.board
    assert board is not None
    bus_name = opts.get("bus")
    if bus_name is not None:
        bus = board.find_any_bus(bus_name, "")
        if bus is None:
            raise GenericError(f"Bus '{bus_name}' not found")
        kind = "PCI" if isinstance(bus, PCIBus) else bus.type
        raise GenericError(f"Device '{DIMM_TYPE}' can't go on {kind} bus")
    if dev_id is not None and dev_id in board.peripheral.children:
        raise GenericError(f"Duplicate device ID '{dev_id}'")
    typed: dict[str, Any] = {}
    for key, text in opts.items():
        if key in _QDEV_KEYS:
            continue
        if key not in DIMM_PROP_TYPES:
            raise GenericError(f"Property '{DIMM_TYPE}.{key}' not found")
        typed[key] = _check_value(None, key, DIMM_PROP_TYPES[key], text)
    return machine.memdevs.device_add(dev_id, typed, hotplug)


def _attach(machine: Machine, dev: Device, bus: Bus, opts: dict[str, str], unattached: bool = False) -> None:
    """The device joins the QOM tree (by its id, or anonymously; one the board made under
    /machine/unattached), its bus and its backends."""
    board = machine.board
    assert board is not None
    if unattached:
        board.tree.must("/machine/unattached").add_child("device[*]", dev, listed=False)
    elif dev.id is not None:
        board.peripheral.add_child(dev.id, dev)
    else:
        board.peripheral_anon.add_child(f"device[{board.anon_count}]", dev)
        board.anon_count += 1
    bus.add(dev)
    claim_backends(machine, dev, opts)
    attach_model(machine, dev)
    storage.attach(machine, dev, dev.type)


def _child_bus_handlers(machine: Machine, dev: Device, hotplug: bool) -> None:
    """A bridge's realize makes its own (SHPC / PCIe native) hotplug controller the handler of its
    secondary bus (ACPI pcihp takes over a cold-plugged one's afterwards, in its plug, where the machine
    has ACPI hotplug behind bridges); a USB controller or virtio-serial device is the hotplug handler of
    its bus (where QEMU records one)."""
    for sub in dev.child_buses:
        if isinstance(sub, PCIBus):
            native = native_handler(dev, machine.compat) if isinstance(dev, PCIDevice) else None
            sub.hotplug_handler = native
            if hotplug and native is not None:
                native.bus_reset(sub)  # a hot-added device is reset as it is realized
        elif sub.values.get("hotplug-handler"):
            sub.hotplug_handler = BusHotplug()


def _typed_props(model: DeviceModel, opts: dict[str, str], raw: dict[str, Any] | None) -> dict[str, Any]:
    known = {p["name"]: p["type"] for p in model.properties}
    typed: dict[str, Any] = {}
    for key, text in opts.items():
        if key in _QDEV_KEYS:
            continue
        if key not in known:
            raise GenericError(f"Property '{model.driver}.{key}' not found")
        text = text if raw is None else json_text(key, known[key], raw[key])
        typed[key] = _check_value(model, key, known[key], text)
    return typed


def board_device_add(machine: Machine, opts: dict[str, str]) -> Device:
    """A device the board makes itself (the ide-hd / ide-cd of a -drive if=ide)."""
    board = machine.board
    assert board is not None
    model = device_model(board.kind, opts["driver"])
    assert model is not None
    return bus_device_add(machine, model, None, opts, False, unattached=True)


def bus_device_add(
    machine: Machine,
    model: DeviceModel,
    dev_id: str | None,
    opts: dict[str, str],
    hotplug: bool,
    raw: dict[str, Any] | None = None,
    unattached: bool = False,
) -> Device:
    """qdev_device_add for a device on a bus that is not PCI (USB, virtio-serial, HDA, ISA)."""
    board = machine.board
    assert board is not None
    bus_name = opts.get("bus")
    if bus_name is None and model.bus_type == "IDE":
        # qbus_find_recursive meets a controller's newest bus first (ide.1 on PIIX, ide.5 on AHCI)
        bus = next((b for b in reversed(board.buses()) if b.type == "IDE"), None)
    else:
        bus = board.find_any_bus(bus_name, model.bus_type)
    if bus is None:
        if bus_name is not None:
            raise GenericError(f"Bus '{bus_name}' not found")
        raise GenericError(f"No '{model.bus_type}' bus found for device '{model.driver}'")
    if bus.type != model.bus_type:
        raise GenericError(f"Device '{model.driver}' can't go on {bus.type} bus")
    if hotplug and bus.hotplug_handler is None:
        raise GenericError(f"Bus '{bus.bus_name}' does not support hotplugging")
    if dev_id is not None and dev_id in board.peripheral.children:
        raise GenericError(f"Duplicate device ID '{dev_id}'")
    typed = _typed_props(model, opts, raw)
    if model.driver == "isa-serial" and typed.get("index") in range(len(ISA_SERIAL_PORTS)):
        # isa_serial_realize: the index picks the COM port's I/O base and IRQ
        iobase, irq = ISA_SERIAL_PORTS[typed["index"]]
        typed.setdefault("iobase", iobase)
        typed.setdefault("irq", irq)
    if bus.type == "IndustryPack":
        typed["slot"] = _ipack_slot(bus, int(typed.get("slot", -1)))
    check_backends(machine, model, {**opts, **({"id": dev_id} if dev_id else {})})
    if model.bus_type in ("IDE", "SCSI"):
        storage.prepare(machine, model, bus, typed, opts)
    port = usbport.claim(bus, model.driver, opts) if bus.type == "usb-bus" else None
    dev = board.create(model, dev_id, -1, hotplug, typed)
    dev.machine = machine
    dev.usb_port = port
    if model.driver == "usb-storage":
        # its SCSI disk is finalized first (measured)
        dev.deleted_paths = (*(f"/{sub.bus_name}/legacy[0]" for sub in dev.child_buses), *dev.deleted_paths)
    _attach(machine, dev, bus, opts, unattached)
    _child_bus_handlers(machine, dev, hotplug)
    machine.inputs.register(model.driver, dev)
    return dev


class BusHotplug:
    """The hotplug handler of a USB or virtio-serial bus (the controller, the virtio-serial device): no
    guest takes part, an unplug request removes the device at once."""

    qom_path = ""

    def unplug_request(self, bus: Any, dev: Any) -> None:
        dev.unparent()


def _free_devfn(bus: PCIBus, driver: str) -> int:
    for devfn in range(0, 256, 8):
        if bus.find_devfn(devfn) is None:
            return devfn
    raise GenericError(f"PCI: no slot/function available for {driver}, all in use or reserved")


_TRUE = ("on", "yes", "true", "y")
#: COM1-COM4: I/O base and IRQ by isa-serial index (hw/char/serial-isa.c)
ISA_SERIAL_PORTS = ((0x3F8, 4), (0x2F8, 3), (0x3E8, 4), (0x2E8, 3))
_BOOL = ("on", "off", "yes", "no", "true", "false", "y", "n")
_INT_RANGES = {
    "uint8": (0, 0xFF),
    "uint16": (0, 0xFFFF),
    "uint32": (0, 0xFFFFFFFF),
    "int32": (-(1 << 31), (1 << 31) - 1),
    "uint64": (0, (1 << 64) - 1),
    "int": (-(1 << 63), (1 << 63) - 1),
}
_MAC = re.compile(r"[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2}){5}")


def parse_size(key: str, text: str) -> int:
    """qemu_strtosz: bytes, or a (fractional) number with a B/K/M/G/T/P/E suffix, below 2^64."""
    value = strtosz(text)
    if value is None:
        raise GenericError(f"Parameter '{key}' expects size")
    return value


#: the QAPI enums device properties use, and their values
_ENUMS = {
    "OnOffAuto": ("auto", "on", "off"),
    "BlockdevOnError": ("report", "ignore", "enospc", "stop", "auto"),
    "PCIELinkSpeed": ("2_5", "5", "8", "16"),
    "PCIELinkWidth": ("1", "2", "4", "8", "12", "16", "32"),
}
_UINT_BITS = {"uint8": 8, "uint16": 16, "uint32": 32}


def json_text(key: str, typ: str, value: Any) -> str:
    """The strict qobject input visitor (a JSON -device) on a property value: its type checks and errors;
    returns the value as the text _check_value takes."""
    if typ == "bool":
        if not isinstance(value, bool):
            raise GenericError(f"Invalid parameter type for '{key}', expected: boolean")
    elif typ in _UINT_BITS or typ in ("uint64", "size"):
        if not isinstance(value, int) or isinstance(value, bool) or not -(1 << 63) <= value < 1 << 64:
            raise GenericError(f"Parameter '{key}' expects uint64")
        value &= (1 << 64) - 1  # a negative number is taken for backward compatibility, modulo 2^64
        if typ in _UINT_BITS and value >> _UINT_BITS[typ]:
            raise GenericError(f"Parameter '{key}' expects {typ}_t")
    elif typ in ("int32", "int", "int64"):
        if not isinstance(value, int) or isinstance(value, bool) or not -(1 << 63) <= value < 1 << 63:
            raise GenericError(f"Invalid parameter type for '{key}', expected: integer")
    elif (typ in ("str", "string") or typ in _ENUMS or typ.startswith("link<")) and not isinstance(value, str):
        raise GenericError(f"Invalid parameter type for '{key}', expected: string")
    text = option_string(value)
    return "" if text is None else text


def _json_devfn(value: Any) -> int:
    """set_pci_devfn on a JSON ``addr`` that is not a string: a devfn number from -1 (any) to 255."""
    if isinstance(value, float):
        raise GenericError("Invalid parameter type for 'addr', expected: integer")
    if not isinstance(value, int) or isinstance(value, bool):
        raise GenericError("Invalid parameter type for 'addr', expected int or str")
    if not -(1 << 31) <= value < 1 << 31:
        raise GenericError("Parameter 'addr' expects int32_t")
    if not -1 <= value <= 255:
        raise GenericError("Parameter 'addr' expects a value between -1 and 255")
    return value


def _check_value(model: DeviceModel | None, key: str, typ: str, text: str) -> Any:
    """The keyval visitor's checks of a property value given as a string; returns the typed value."""
    if typ == "bool":
        if text not in _BOOL:
            raise GenericError(f"Parameter '{key}' expects 'on' or 'off'")
        return text in _TRUE
    if typ in _INT_RANGES:
        lo, hi = _INT_RANGES[typ]
        value = (strtou64 if typ.startswith("uint") else strtoi64)(text)  # base 0, as C reads it
        if value is None:
            raise GenericError(f"Parameter '{key}' expects integer")
        if not lo <= value <= hi:
            raise GenericError(f"Parameter '{key}' expects {typ if typ != 'int' else 'int64'}_t")
        return value
    if typ in _ENUMS and text not in _ENUMS[typ]:
        raise GenericError(f"Parameter '{key}' does not accept value '{text}'")
    if typ == "size":
        return parse_size(key, text)
    if typ.startswith("link<"):
        return f"/objects/{text}"  # a backend object named by its id (-object rng-random,id=...)
    if key == "mac" and model is not None:
        if not _MAC.fullmatch(text):
            raise GenericError(f"Property '{model.backend_type or model.driver}.mac' doesn't take value '{text}'")
        return ":".join(f"{int(b, 16):02x}" for b in text.split(":"))
    return text


#: a tpci200's IndustryPack bus: N_MODULES
IPACK_SLOTS = 4


def _ipack_slot(bus: Bus, slot: int) -> int:
    """ipack_device_realize: a slot not given is the one after the last realized device's."""
    if slot < 0:
        slot = next((int(d.get("slot")) + 1 for d in reversed(bus.devices)), 0)
    if slot >= IPACK_SLOTS:
        raise GenericError(f"Only {IPACK_SLOTS} slots available.")
    return slot


def _check_devfn(bus: PCIBus, dev: PCIDevice, multifunction: bool) -> None:
    """do_pci_register_device's and pci_init_multifunction's checks."""
    used = bus.find_devfn(dev.devfn)
    if used is not None:
        raise GenericError(
            f"PCI: slot {dev.slot} function {dev.function} not available for {dev.type}, "
            f"in use by {used.type},id={used.id if used.id is not None else '(null)'}"
        )
    fn0 = bus.find_devfn(dev.devfn & ~7)
    if dev.hotplugged and dev.function != 0 and fn0 is not None:
        raise GenericError(
            f"PCI: slot {dev.slot} function 0 already occupied by {fn0.type}, "
            f"new func {dev.type} cannot be exposed to guest."
        )
    if dev.function != 0:
        if fn0 is not None and not fn0.multifunction:
            raise GenericError(
                f"PCI: single function device can't be populated in function {dev.slot:x}.{dev.function:x}"
            )
        return
    if multifunction:
        dev.multifunction = True
        return
    for fn in range(1, 8):
        if bus.find_devfn(dev.devfn | fn) is not None:
            raise GenericError(
                f"PCI: {dev.slot:x}.0 indicates single function, but {dev.slot:x}.{fn:x} is already populated."
            )


def _unmodelled(machine: Machine, driver: str, opts: dict[str, str], hotplug: bool) -> None:
    """A driver fakeqemu has no model of: QEMU's own error where QEMU refuses it, else a clear one. QEMU's
    answer was recorded for a bare ``device_add driver=T`` on pc: it stands only for that (a -device, or
    one with a bus or other options, can be refused for another reason or not at all)."""
    types: dict[str, Any] = recorded().get("device-types", {})
    info = types.get(driver)
    if info is None:
        raise GenericError(f"'{driver}' is not a valid device model name")
    err = info.get("error")
    board = machine.board
    if err and hotplug and board is not None and board.kind == "pc" and set(opts) <= {"driver"}:
        raise GenericError(str(err))
    modelled = ", ".join(sorted(d for d in recorded()["devices"]["pc"]))
    raise GenericError(f"fakeqemu does not model device '{driver}' (modelled: {modelled})")


def check_backends(machine: Machine, model: DeviceModel, opts: dict[str, str]) -> None:
    """The backend a device names must exist (and be free): drive=, netdev=. QEMU names the property's
    owner, which for a virtio proxy is its virtio backend device."""
    owner = model.backend_type or model.driver
    backends = machine.backends
    drive = opts.get("drive")
    if drive is not None:
        node = backends.blockdevs.get(drive)
        if node is None or node.get("anonymous"):
            raise GenericError(f"Property '{owner}.drive' can't find value '{drive}'")
        if not has_medium(node) and model.driver not in storage.REMOVABLE:
            raise GenericError("Device needs media, but drive is empty")
        user = node.get("attached")
        if user is not None and node.get("options", {}).get("if") == "none":
            # a -drive's BlockBackend takes one device (set_drive_helper: blk_attach_dev fails)
            raise GenericError(f"Drive '{drive}' is already in use by another device")
        if user is not None:
            new = f"{_future_path(machine, opts)}/virtio-backend" if model.backend_type else opts.get("id")
            raise GenericError(
                f"Permission conflict on node '{drive}': permissions 'write' are both required by block device "
                f"'{storage.qdev_name(user)}' (uses node '{drive}' as 'root' child) and unshared by block device "
                f"'{new or _future_path(machine, opts)}' (uses node '{drive}' as 'root' child)."
            )
    elif model.driver in storage.NEEDS_DRIVE:
        raise GenericError(storage.NEEDS_DRIVE[model.driver])
    netdev = opts.get("netdev")
    if netdev is not None:
        nd = backends.netdevs.get(netdev)
        if nd is None:
            raise GenericError(f"Property '{owner}.netdev' can't find value '{netdev}'")
        if nd.get("attached") is not None:
            raise GenericError(f"Property '{owner}.netdev' can't take value '{netdev}', it's in use")


def _future_path(machine: Machine, opts: dict[str, str]) -> str:
    dev_id = opts.get("id")
    return f"/machine/peripheral/{dev_id}" if dev_id else "/machine/peripheral-anon/device[0]"


def claim_backends(machine: Machine, dev: Device, opts: dict[str, str]) -> None:
    backends = machine.backends
    for key, table in (("drive", backends.blockdevs), ("netdev", backends.netdevs)):
        name = opts.get(key)
        if name is not None and name in table:
            table[name]["attached"] = dev
    mac = dev.user_props.get("mac")
    if mac is not None:  # a NIC (the board gave it a MAC): its net client
        backends.add_nic(dev.id, dev.type, str(mac), dev, opts.get("netdev"))
        machine.announcer.nic_timer(dev.type)


def find_device_state(machine: Machine, dev_id: str) -> Device:
    """qmp_device_del's lookup: an id under /machine/peripheral, or an absolute QOM path."""
    board = machine.board
    if board is None:
        raise DeviceNotFound(f"Device '{dev_id}' not found")
    if dev_id.startswith("/"):
        obj = board.tree.resolve(dev_id)
    else:
        obj = board.tree._resolve_abs(board.peripheral, [p for p in dev_id.split("/") if p])
    if obj is None:
        raise DeviceNotFound(f"Device '{dev_id}' not found")
    if not isinstance(obj, Device):
        raise GenericError(f"{dev_id} is not a hotpluggable device")
    return obj


def device_del(machine: Machine, dev_id: str) -> None:
    """qmp_device_del + qdev_unplug: ask the bus's hotplug handler to unplug (the guest ejects)."""
    dev = find_device_state(machine, dev_id)
    dimm = machine.memdevs.find(dev)
    if dimm is not None:
        machine.memdevs.device_del(dimm)
        return
    if isinstance(dev, PCIDevice) and unplug_in_progress(dev, _virtual_ms(machine, dev)):
        raise GenericError(f"Device {dev_id} is already in the process of unplug")
    bus = dev.parent_bus
    if isinstance(bus, Bus) and not isinstance(bus, PCIBus) and bus.hotplug_handler is not None:
        bus.hotplug_handler.unplug_request(bus, dev)
        return
    if isinstance(bus, Bus) and bus.hotplug_handler is None:
        raise GenericError(f"Bus '{bus.bus_name}' does not support hotplugging")
    if not isinstance(dev, PCIDevice) or not isinstance(bus, PCIBus):
        parent_bus = str(dev.values.get("parent_bus", ""))
        if dev.type.endswith("-cpu"):
            raise GenericError("Boot CPU is unpluggable")
        if parent_bus.endswith("/sysbus"):
            raise GenericError("Bus 'main-system-bus' does not support hotplugging")
        if parent_bus:
            raise GenericError(f"Bus '{parent_bus.rsplit('/', 1)[-1]}' does not support hotplugging")
        raise GenericError(f"Device '{dev.type}' does not support hotplugging")
    if not dev.hotpluggable:
        raise GenericError(f"Device '{dev.type}' does not support hotplugging")
    handler = bus.hotplug_handler
    assert handler is not None  # checked above
    handler.unplug_request(bus, dev)


def _virtual_ms(machine: Machine, dev: PCIDevice) -> int:
    """The virtual clock the pending unplug of ``dev`` is timed by: a PCIe slot's 5 s window runs on the
    VM's virtual clock; ACPI pcihp's repeat needs only that the clock has started."""
    hp = machine.pcihp
    bus = dev.parent_bus
    if hp is None or (isinstance(bus, PCIBus) and isinstance(bus.hotplug_handler, PcieSlot)):
        return machine.virtual_ms()
    return hp.virtual_clock_ms()
