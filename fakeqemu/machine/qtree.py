"""``info qtree``: the board's recorded text, with the plugged devices written in where QEMU lists them.

QEMU prints each bus's devices newest first. The board's own devices are in its recorded text; each
plugged device is written from its driver's recorded block, with what differs filled in: its id, its
address, the property values its user set (and the MAC fakeqemu gave it), and for a bridge its bus name
and the devices behind it.
"""

from __future__ import annotations

import re
from typing import Any

from fakeqemu.machine.board import TEMPLATE_ID, Board, recorded
from fakeqemu.machine.core.qdev import PCIBus, PCIDevice

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


def device_lines(dev: PCIDevice, bus_number: int = 0) -> list[str]:
    out: list[str] = []
    props = dict(dev.user_props)
    props["multifunction"] = dev.multifunction
    child_buses = {b.bus_name: b for b in dev.child_buses}
    lines = list(dev.qtree or ())
    i = 0
    while i < len(lines):
        line = lines[i]
        if i == 0:
            out.append(f'dev: {dev.type}, id "{dev.id or ""}"')
        elif line == "  addr = 04.0" or re.fullmatch(r"  addr = [0-9a-f]{2}\.[0-7]", line):
            out.append(f"  addr = {dev.slot:02x}.{dev.function:x}")
        elif line.startswith("  class ") and ", addr " in line:
            out.append(
                re.sub(
                    r"addr [0-9a-f]{2}:[0-9a-f]{2}\.[0-7]",
                    f"addr {bus_number:02x}:{dev.slot:02x}.{dev.function:x}",
                    line,
                )
            )
        elif line.strip() == f"bus: {TEMPLATE_ID}" and child_buses:
            indent = line[: len(line) - len(line.lstrip())]
            bus = next(iter(child_buses.values()))
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


def bus_lines(bus: PCIBus, bus_number: int = 0) -> list[str]:
    """The plugged devices of ``bus``, newest first, indented from the bus's device level."""
    out: list[str] = []
    for dev in reversed(bus.devices):
        if dev.qtree is not None:
            out.extend(device_lines(dev, bus_number))
    return out


def info_qtree(board: Board) -> str:
    text: str = recorded()["boards"][board.kind]["info-qtree"]
    lines = text.split("\r\n")
    head = f"bus: {board.root_bus.bus_name}"
    for n, line in enumerate(lines):
        if line.strip() == head:
            indent = len(line) - len(line.lstrip()) + 2
            at = n + 2 if n + 1 < len(lines) and lines[n + 1].strip().startswith("type ") else n + 1
            lines[at:at] = [" " * indent + sub for sub in bus_lines(board.root_bus)]
            break
    return "\r\n".join(lines)
