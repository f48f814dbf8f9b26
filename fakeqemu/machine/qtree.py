"""``info qtree``: the board's recorded text, with the plugged devices written in where QEMU lists them.

QEMU prints each bus's devices newest first. The board's own devices are in its recorded text; each
plugged device is written from its driver's recorded block, with what differs filled in: its id, its
address, the property values its user set (and the MAC fakeqemu gave it), and for a bridge its bus name
and the devices behind it.
"""

from __future__ import annotations

import re
from typing import Any

from fakeqemu.machine.board import Board, recorded
from fakeqemu.machine.core.qdev import Bus, Device, PCIBus, PCIDevice
from fakeqemu.machine.core.sizes import size_to_str
from fakeqemu.machine.devices import usbport

_PROP = re.compile(r"^(\s+)([\w.-]+) = (.*)$")
#: a size property's value in ``info qtree``: ``4096 (4 KiB)``
_SIZE = re.compile(r"\d+ \([\d.]+ [KMGTPE]?i?B\)")


def _format(template: str, value: Any) -> str:
    """A property value written the way the template's line writes its value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and _SIZE.fullmatch(template):
        return f"{value} ({size_to_str(value)})"
    if isinstance(value, int):
        return f"{value} (0x{value & 0xFFFFFFFFFFFFFFFF:x})" if "(0x" in template else str(value)
    if template.startswith('"'):
        return f'"{value}"'
    return str(value)


_CLASS_ADDR = re.compile(r"addr [0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")
_PCI_ID = re.compile(r"pci id [0-9a-f]{4}:[0-9a-f]{4} \(sub [0-9a-f]{4}:[0-9a-f]{4}\)")
_MASK64 = 0xFFFFFFFFFFFFFFFF


def pci_lines(template: str, bars: list[str], dev: PCIDevice, bus_number: int) -> list[str]:
    """pcibus_dev_print: the class line (address, IDs) and a line per BAR: the recorded ones (``template``,
    ``bars``) until the device has a configuration space, then from it (what the guest or the firmware
    programmed), through its query-pci entry."""
    line = _CLASS_ADDR.sub(f"addr {bus_number:02x}:{dev.slot:02x}.{dev.function:x}", template)
    if dev.pci_function is None:
        return [line, *(b for b in bars if dev.has_rom or not b.lstrip().startswith("bar 6:"))]
    info = dev.query_pci(bus_number)
    ident = info["id"]
    sub = f"{ident.get('subsystem-vendor', 0):04x}:{ident.get('subsystem', 0):04x}"
    line = _PCI_ID.sub(f"pci id {ident['vendor']:04x}:{ident['device']:04x} (sub {sub})", line)
    indent = template[: len(template) - len(template.lstrip())]
    out = [line]
    for r in info.get("regions", []):
        addr, end = r["address"] & _MASK64, (r["address"] + r["size"] - 1) & _MASK64
        out.append(f"{indent}bar {r['bar']}: {'i/o' if r['type'] == 'io' else 'mem'} at 0x{addr:x} [0x{end:x}]")
    return out


def secondary_number(dev: Device) -> int:
    """pci_bus_num of a bridge's bus: its secondary bus number as programmed (0 until then)."""
    fn = dev.pci_function if isinstance(dev, PCIDevice) else None
    return fn.config.bus_numbers()[1] if fn is not None else 0


def _live(board: Board, owner: str, name: str) -> int | None:
    """A property the firmware changes (PIIX4's SMBus base, q35's MMCONFIG base), from the VM's tree."""
    obj = board.tree.resolve("/machine/q35") if owner == "q35" else None
    if owner != "q35":
        obj = next((d for d in board.root_bus.pci_devices if d.type == owner), None)
    return None if obj is None else int(board.tree.get(obj, name))


def live_board_lines(board: Board, lines: list[str]) -> list[str]:
    """The board's own PCI devices (all on the root bus) in its recorded text, with their live lines (and
    PIIX4's SMBus base, which the firmware moves)."""
    live = {"smb_io_base": _live(board, "PIIX4_PM", "smb_io_base"), "MCFG": _live(board, "q35", "MCFG")}
    for n, line in enumerate(lines):
        m = _PROP.match(line)
        value = live.get(m.group(2)) if m is not None else None
        if m is not None and value is not None:
            signed = value - (1 << 64) if value >= 1 << 63 else value
            lines[n] = f"{m.group(1)}{m.group(2)} = {signed} (0x{value:x})"
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.search(r"class .*, addr 00:([0-9a-f]{2})\.([0-7]), pci id", line)
        dev = board.root_bus.find_devfn(int(m.group(1), 16) << 3 | int(m.group(2))) if m else None
        if dev is None:
            out.append(line)
            i += 1
            continue
        i += 1
        bars = []
        while i < len(lines) and lines[i].lstrip().startswith("bar "):
            bars.append(lines[i])
            i += 1
        out += pci_lines(line, bars, dev, 0)
    return out


def device_lines(dev: Device, bus_number: int = 0) -> list[str]:
    out: list[str] = []
    props = dict(dev.user_props)
    resolved = getattr(dev.model, "resolved_props", None)
    if callable(resolved):  # what the device's realize set (virtio-blk: geometry, queues, vectors)
        props.update(resolved())
    pci = dev if isinstance(dev, PCIDevice) else None
    if pci is not None:
        props["multifunction"] = pci.multifunction
    child_buses = {b.template_name: b for b in dev.child_buses}
    usb_bus = dev.parent_bus if dev.usb_port is not None and isinstance(dev.parent_bus, Bus) else None
    nested: dict[str, Any] = {}
    if dev.type == "usb-storage":
        # realize hands the drive to the SCSI disk it makes (usb_msd_storage_realize); that disk's
        # device_id is the drive's BlockBackend name (a -drive's id; none for a -blockdev node)
        drive = props.get("drive", "")
        nested = {"drive": drive, "device_id": _blk_name(dev, drive)}
        props["drive"] = ""
    lines = list(dev.qtree or ())
    i = 0
    while i < len(lines):
        line = lines[i]
        template_bus = line.strip().removeprefix("bus: ") if line.strip().startswith("bus: ") else None
        if i == 0:
            out.append(f'dev: {dev.type}, id "{dev.id or ""}"')
        elif pci is not None and re.fullmatch(r"  addr = [0-9a-f]{2}\.[0-7]", line):
            out.append(f"  addr = {pci.slot:02x}.{pci.function:x}")
        elif pci is not None and line.startswith("  class ") and ", addr " in line:
            bars = []
            while i + 1 < len(lines) and lines[i + 1].startswith("  bar "):
                bars.append(lines[i + 1])
                i += 1
            out += pci_lines(line, bars, pci, bus_number)
        elif usb_bus is not None and line.lstrip().startswith("addr 0.0, port "):
            out.append(usbport.qtree_line(line, usb_bus, dev))
        elif template_bus is not None and template_bus in child_buses:
            indent = line[: len(line) - len(line.lstrip())]
            bus = child_buses[template_bus]
            out.append(f"{indent}bus: {bus.bus_name}")
            if i + 1 < len(lines) and lines[i + 1].strip().startswith("type "):
                out.append(lines[i + 1])
                i += 1
            number = secondary_number(dev) if isinstance(bus, PCIBus) else bus_number
            out.extend(f"{indent}  {sub}" for sub in bus_lines(bus, number))
        else:
            m = _PROP.match(line)
            if m is not None and len(m.group(1)) > 2 and m.group(2) in nested:
                out.append(f"{m.group(1)}{m.group(2)} = {_format(m.group(3), nested[m.group(2)])}")
            elif m is not None and m.group(2) in props:
                out.append(f"{m.group(1)}{m.group(2)} = {_format(m.group(3), props[m.group(2)])}")
            else:
                out.append(line)
        i += 1
    return out


def _blk_name(dev: Device, drive: Any) -> str:
    entry = dev.machine.backends.blockdevs.get(str(drive), {}) if dev.machine is not None else {}
    name = entry.get("options", {}).get("id")
    return name if isinstance(name, str) and not entry.get("anonymous") else ""


def bus_lines(bus: Bus, bus_number: int = 0) -> list[str]:
    """The plugged devices of ``bus``, newest first, indented from the bus's device level."""
    out: list[str] = []
    for dev in reversed(bus.devices):
        if dev.qtree is not None:
            out.extend(device_lines(dev, bus_number))
    return out


def info_qtree(board: Board) -> str:
    text: str = recorded()["boards"][board.kind]["info-qtree"]
    lines = live_board_lines(board, text.split("\r\n"))
    # the board's own buses (pci.0 or pcie.0, isa.0) are in the recorded text: write in what was plugged
    board_buses = [b for b in board.buses() if not b.path.startswith("/machine/peripheral")]
    for bus in board_buses:
        head = f"bus: {bus.bus_name}"
        for n, line in enumerate(lines):
            if line.strip() == head:
                indent = len(line) - len(line.lstrip()) + 2
                at = n + 2 if n + 1 < len(lines) and lines[n + 1].strip().startswith("type ") else n + 1
                lines[at:at] = [" " * indent + sub for sub in bus_lines(bus)]
                break
    return "\r\n".join(lines)
