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
from fakeqemu.machine.core.qdev import Bus, Device, PCIDevice

_PROP = re.compile(r"^(\s+)([\w.-]+) = (.*)$")


def _format(template: str, value: Any) -> str:
    """A property value written the way the template's line writes its value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value} (0x{value & 0xFFFFFFFFFFFFFFFF:x})" if "(0x" in template else str(value)
    if template.startswith('"'):
        return f'"{value}"'
    return str(value)


def device_lines(dev: Device, bus_number: int = 0) -> list[str]:
    out: list[str] = []
    props = dict(dev.user_props)
    pci = dev if isinstance(dev, PCIDevice) else None
    if pci is not None:
        props["multifunction"] = pci.multifunction
    child_buses = {b.template_name: b for b in dev.child_buses}
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
            out.append(
                re.sub(
                    r"addr [0-9a-f]{2}:[0-9a-f]{2}\.[0-7]",
                    f"addr {bus_number:02x}:{pci.slot:02x}.{pci.function:x}",
                    line,
                )
            )
        elif template_bus is not None and template_bus in child_buses:
            indent = line[: len(line) - len(line.lstrip())]
            bus = child_buses[template_bus]
            out.append(f"{indent}bus: {bus.bus_name}")
            if i + 1 < len(lines) and lines[i + 1].strip().startswith("type "):
                out.append(lines[i + 1])
                i += 1
            out.extend(f"{indent}  {sub}" for sub in bus_lines(bus, bus_number))
        else:
            m = _PROP.match(line)
            if m is not None and m.group(2) in props:
                out.append(f"{m.group(1)}{m.group(2)} = {_format(m.group(3), props[m.group(2)])}")
            else:
                out.append(line)
        i += 1
    return out


def bus_lines(bus: Bus, bus_number: int = 0) -> list[str]:
    """The plugged devices of ``bus``, newest first, indented from the bus's device level."""
    out: list[str] = []
    for dev in reversed(bus.devices):
        if dev.qtree is not None:
            out.extend(device_lines(dev, bus_number))
    return out


def info_qtree(board: Board) -> str:
    text: str = recorded()["boards"][board.kind]["info-qtree"]
    lines = text.split("\r\n")
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
