"""human-monitor-command: the HMP commands management tools pass through QMP.

``HMP_COMMANDS`` maps a command name to ``fn(machine, argstring) -> output``; output uses CRLF line ends,
as QEMU's monitor writes them. ``info`` has its own table of subcommands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fakeqemu.commands import (
    announce,
    hmp_basic,
    hmp_block,
    hmp_blockinfo,
    hmp_blockio,
    hmp_help,
    hmp_io,
    hmp_mtree,
    hmp_net,
    media,
    snapshots,
)
from fakeqemu.commands.qdev import pci_bus_info
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine import qtree
from fakeqemu.machine.core.trace import pointer
from fakeqemu.machine.devices import usbport

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

HmpHandler = Callable[["Machine", str], str]


def _pci_device_text(d: dict[str, Any]) -> str:
    """hmp_info_pci_device."""
    lines = [f"  Bus {d['bus']:2d}, device {d['slot']:3d}, function {d['function']}:"]
    cls = d["class_info"]
    label = cls.get("desc") or f"Class {cls['class']:04d}"
    ident = d["id"]
    lines.append(f"    {label}: PCI device {ident['vendor']:04x}:{ident['device']:04x}")
    if "subsystem-vendor" in ident:
        lines.append(f"      PCI subsystem {ident['subsystem-vendor']:04x}:{ident['subsystem']:04x}")
    if d.get("irq_pin"):
        lines.append(f"      IRQ {d.get('irq', 0)}, pin {chr(ord('A') + d['irq_pin'] - 1)}")
    bridge = d.get("pci_bridge")
    if bridge is not None:
        b = bridge["bus"]
        lines.append(f"      BUS {b['number']}.")
        lines.append(f"      secondary bus {b['secondary']}.")
        lines.append(f"      subordinate bus {b['subordinate']}.")
        io, mem, pref = b["io_range"], b["memory_range"], b["prefetchable_range"]
        lines.append(f"      IO range [0x{io['base']:04x}, 0x{io['limit']:04x}]")
        lines.append(f"      memory range [0x{mem['base']:08x}, 0x{mem['limit']:08x}]")
        lines.append(f"      prefetchable memory range [0x{pref['base']:08x}, 0x{pref['limit']:08x}]")
    for r in d.get("regions", []):
        addr = r["address"] & 0xFFFFFFFFFFFFFFFF
        end = (r["address"] + r["size"] - 1) & 0xFFFFFFFFFFFFFFFF
        if r["type"] == "io":
            lines.append(f"      BAR{r['bar']}: I/O at 0x{addr:04x} [0x{end:04x}].")
        else:
            width = "64 bit" if r.get("mem_type_64") else "32 bit"
            pref_s = " prefetchable" if r.get("prefetch") else ""
            lines.append(f"      BAR{r['bar']}: {width}{pref_s} memory at 0x{addr:08x} [0x{end:08x}].")
    lines.append(f'      id "{d["qdev_id"]}"')
    below = "".join(_pci_device_text(c) for c in (bridge or {}).get("devices", []))
    return "".join(line + "\r\n" for line in lines) + below


def info_pci(machine: Machine, args: str) -> str:
    board = machine.board
    if board is None:
        return ""
    machine.pci_now()
    return "".join(_pci_device_text(d) for d in pci_bus_info(board.root_bus, 0))


def info_status(machine: Machine, args: str) -> str:
    state = machine.runstate
    if machine.running:
        return "VM status: running\r\n"
    if state == "paused":
        return "VM status: paused\r\n"
    return f"VM status: paused ({state})\r\n"


def info_name(machine: Machine, args: str) -> str:
    name = machine.config.name
    return "" if name is None else f"{name}\r\n"


def info_version(machine: Machine, args: str) -> str:
    major, minor, micro = machine.config.qemu_version
    return f"{major}.{minor}.{micro}{machine.config.package}\r\n"


def info_qtree(machine: Machine, args: str) -> str:
    board = machine.board
    machine.pci_now()
    return "" if board is None else qtree.info_qtree(board)


def info_usb(machine: Machine, args: str) -> str:
    board = machine.board
    buses = [] if board is None else [b for b in reversed(board.buses()) if b.type == "usb-bus"]
    return usbport.info_usb(buses)


INFO_COMMANDS: dict[str, HmpHandler] = {
    "usb": info_usb,
    "pci": info_pci,
    "qtree": info_qtree,
    "status": info_status,
    "name": info_name,
    "version": info_version,
    "mtree": hmp_mtree.info_mtree,
    "network": hmp_net.info_network,
    "block": hmp_blockinfo.info_block,
}


def hmp_info(machine: Machine, args: str) -> str:
    sub, _, rest = args.strip().partition(" ")
    if not sub:
        return hmp_help.info_help()
    handler = INFO_COMMANDS.get(sub)
    if handler is None:
        return f"unknown command: 'info {sub}'\r\n"
    return handler(machine, rest)


HMP_COMMANDS: dict[str, HmpHandler] = {
    "info": hmp_info,
    "help": hmp_help.hmp_help,
    "?": hmp_help.hmp_help,
    "netdev_add": hmp_net.hmp_netdev_add,
    "netdev_del": hmp_net.hmp_netdev_del,
    "drive_add": hmp_block.hmp_drive_add,
    "drive_del": hmp_block.hmp_drive_del,
}
#: C's isspace(): what QEMU's command-line parsing skips
C_SPACE = " \t\n\v\f\r"
hmp_io.register(HMP_COMMANDS)
hmp_basic.register(HMP_COMMANDS, INFO_COMMANDS)
snapshots.register(HMP_COMMANDS, INFO_COMMANDS)
media.register(HMP_COMMANDS)
hmp_blockio.register(HMP_COMMANDS)
announce.register(HMP_COMMANDS)


def run(machine: Machine, line: str, monitor: object = None) -> str:
    """One HMP command line (``monitor``: the human monitor it came from; human-monitor-command makes a
    monitor of its own for each line, as QEMU does)."""
    if "handle_hmp_command" in machine.trace.enabled:
        machine.trace("handle_hmp_command", pointer(monitor if monitor is not None else object()), line)
    # get_command_name: past C isspace, up to a '/' or a space; the error quotes the line up to there
    body = line.lstrip(C_SPACE)
    if not body:
        return ""
    end = next((i for i, ch in enumerate(body) if ch == "/" or ch in C_SPACE), len(body))
    cmd = body[:end][:255]
    handler = HMP_COMMANDS.get(cmd)
    if handler is None:
        return f"unknown command: '{line[: len(line) - len(body) + end]}'\r\n"
    with machine.io_from("hmp"):
        return handler(machine, body[end:].rstrip(C_SPACE))


@command("human-monitor-command")
def human_monitor_command(ctx: Context, args: dict[str, Any]) -> Any:
    return run(ctx.machine, args["command-line"])
