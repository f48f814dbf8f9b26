"""The VM state a migration stream carries, and the destination's checks: the user devices (by QEMU's
section names), pending unplugs and the pcihp registers, the guest's policies, the block graph and its
dirty bitmaps, the balloon (target, actual), the guest agent (policy, frozen filesystems, files, users).
Plain JSON-able dicts: fakeqemu.protocols.migration frames them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.machine.block.bitmaps import Bitmap
from fakeqemu.machine.core.qdev import PCIDevice
from fakeqemu.machine.devices import storage
from fakeqemu.machine.devices.balloon import Balloon, DeviceNotActive, find_balloon

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: QEMU's vmstate names of the modelled drivers: a section is "0000:BB:SS.F/NAME"
VMSD_NAMES = {
    "virtio-net-pci": "virtio-net",
    "virtio-blk-pci": "virtio-blk",
    "virtio-scsi-pci": "virtio-scsi",
    "virtio-serial-pci": "virtio-console",
    "virtio-balloon-pci": "virtio-balloon",
    "e1000": "e1000",
    "e1000e": "e1000e",
    "rtl8139": "rtl8139",
    "pci-bridge": "pci_bridge",
    "pcie-root-port": "pcie-root-port",
    "pcie-pci-bridge": "pcie-pci-bridge",
}


class MismatchError(Exception):
    """The destination cannot load the stream; ``args`` is QEMU's message."""


def _user_devices(m: Machine) -> list[tuple[Any, PCIDevice]]:
    board = m.board
    if board is None:
        return []
    out = []
    for bus in board.pci_buses():
        for dev in bus.pci_devices:
            if dev.path.startswith(("/machine/peripheral/", "/machine/peripheral-anon/")):
                out.append((bus, dev))
    return out


def section(bus: Any, dev: PCIDevice) -> str:
    bus_no = 0 if bus.bus_name in ("pci.0", "pcie.0") else int(getattr(bus, "bsel", 0) or 0)
    return f"0000:{bus_no:02x}:{dev.slot:02x}.{dev.function:x}/{VMSD_NAMES.get(dev.type, dev.type)}"


def _balloon(m: Machine) -> Balloon | None:
    try:
        return find_balloon(m)
    except DeviceNotActive:
        return None


def snapshot(m: Machine) -> dict[str, Any]:
    devices = []
    for bus, dev in _user_devices(m):
        devices.append({"section": section(bus, dev), "id": dev.id, "type": dev.type, "path": dev.path,
                        "pending": bool(dev.pending_deleted_event)})  # fmt: skip
    hp = m.pcihp
    balloon = _balloon(m)
    return {
        "devices": devices,
        "pcihp": {}
        if hp is None
        else {
            "up": {str(k): v for k, v in hp.up.items()},
            "down": {str(k): v for k, v in hp.down.items()},
        },
        "guest": {"policy": m.guest.policy, "devices": dict(m.guest.device_policy)},
        "blockdevs": {
            n: {"options": e["options"], "backing": e.get("backing")} for n, e in m.backends.blockdevs.items()
        },
        "bitmaps": {n: [vars(b) for b in bms] for n, bms in m.bitmaps.nodes.items()},
        "balloon": None if balloon is None else {"target": balloon.target, "actual": balloon.actual},
        # ide-cd's and scsi-cd's tray state subsections
        "trays": {storage.qdev_name(b.dev): [b.tray_open, b.locked] for b in m.backends.blks if b.removable},
        "agent": None
        if m.agent is None
        else {
            "policy": m.agent.policy,
            "frozen": m.agent.frozen,
            "fs": {path: bytes(data).decode("latin-1") for path, data in m.agent.fs.items()},
            "passwords": {user: list(pw) for user, pw in m.agent.passwords.items()},
            "users": list(m.agent.users),
        },
    }


def check(m: Machine, state: dict[str, Any]) -> None:
    """QEMU's qemu_loadvm_state: every section of the stream needs its device here."""
    here = {section(bus, dev) for bus, dev in _user_devices(m)}
    for dev in state.get("devices", []):
        if dev["section"] not in here:
            raise MismatchError(
                f"Unknown savevm section or instance '{dev['section']}' 0. Make sure that your current VM setup "
                "matches your saved VM setup, including any hotplugged devices"
            )


def apply(m: Machine, state: dict[str, Any]) -> None:
    """Load the state into the destination's machine (after ``check``)."""
    guest = state.get("guest", {})
    m.guest.policy = str(guest.get("policy", m.guest.policy))
    m.guest.device_policy = dict(guest.get("devices", {}))
    table = m.backends.blockdevs
    for name, entry in state.get("blockdevs", {}).items():
        if name not in table:
            table[name] = {"options": entry["options"], "attached": None, "backing": entry.get("backing")}
        elif entry.get("backing") in table or entry.get("backing") is None:
            table[name]["backing"] = entry.get("backing")
    for node, bms in state.get("bitmaps", {}).items():
        if node in table:
            m.bitmaps.nodes[node] = [Bitmap(**b) for b in bms]
    trays = state.get("trays", {})
    for blk in m.backends.blks:
        if blk.removable and storage.qdev_name(blk.dev) in trays:
            blk.tray_open, blk.locked = (bool(v) for v in trays[storage.qdev_name(blk.dev)])
    carried, balloon = state.get("balloon"), _balloon(m)
    if carried is not None and balloon is not None:
        balloon.target, balloon.actual = int(carried["target"]), int(carried["actual"])
    agent = state.get("agent")
    if agent is not None and m.agent is not None:
        m.agent.policy = str(agent["policy"])
        m.agent.frozen = bool(agent["frozen"])
        m.agent.fs = {path: bytearray(text.encode("latin-1")) for path, text in agent["fs"].items()}
        m.agent.passwords = {user: (str(pw[0]), bool(pw[1])) for user, pw in agent["passwords"].items()}
        m.agent.users = [str(u) for u in agent["users"]]
    hp = m.pcihp
    if hp is None:
        return
    by_section = {section(bus, dev): (bus, dev) for bus, dev in _user_devices(m)}
    for dev_state in state.get("devices", []):
        _bus, dev = by_section[dev_state["section"]]
        if dev_state["pending"] and not dev.pending_deleted_event:
            dev.pending_deleted_event = True
            dev.pending_deleted_expires_ms = hp.virtual_clock_ms()
    regs = state.get("pcihp", {})
    hp.up = {int(k): int(v) for k, v in regs.get("up", {}).items()}
    hp.down = {int(k): int(v) for k, v in regs.get("down", {}).items()}
    if any(hp.down.values()):
        hp.send_event()  # the GPE status the guest finds when it runs again
