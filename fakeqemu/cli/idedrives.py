"""``-drive`` on the board's IDE interface (``if=ide``, the default), ``-cdrom`` and ``-hda``..``-hdd``: QEMU's
drive_new numbering (``index``, or ``bus``/``unit``, or the first free unit), the drive's name
(``ide<bus>-<cd|hd><unit>``) and the ide-hd / ide-cd device the board makes for it (pc_init1 /
pc_q35_init: PIIX IDE has two buses of two units, ICH9 AHCI six ports of one)."""

from __future__ import annotations

from typing import Any

from fakeqemu.cli.qemuopts import UsageError
from fakeqemu.machine.config import MachineConfig

#: the shorthands: option -> (index, media)
SHORTHANDS = {"cdrom": (2, "cdrom"), "hda": (0, "disk"), "hdb": (1, "disk"), "hdc": (2, "disk"), "hdd": (3, "disk")}
#: drive_new's own keys (the rest are the backend's)
_PLACE = ("if", "index", "bus", "unit", "media")


def is_ide(drive: dict[str, str]) -> bool:
    return drive.get("if", "ide") == "ide"


def shorthand(name: str, value: str) -> dict[str, str]:
    index, media = SHORTHANDS[name]
    return {"file": value, "index": str(index), "media": media}


def resolve(cfg: MachineConfig, pending: list[tuple[int, str, dict[str, str]]]) -> None:
    """Number the IDE drives (``pending``: where each goes among the block backends, its option text,
    its options), add them as legacy drives and ask the board for their devices."""
    if cfg.machine_type not in ("pc", "q35"):  # no board IDE: kept as drives, as before
        for shift, (pos, _, drive) in enumerate(d for d in pending if "id" in d[2]):
            cfg.blockdevs.insert(pos + shift, {**drive, "node-name": drive["id"]})
        return
    units, buses = (2, 2) if cfg.machine_type == "pc" else (1, 6)
    taken: set[tuple[int, int]] = set()
    for shift, (pos, text, drive) in enumerate(pending):
        try:
            if "index" in drive:
                bus, unit = divmod(int(drive["index"]), units)
            elif "bus" in drive or "unit" in drive:
                bus = int(drive.get("bus", 0))
                unit = (
                    int(drive["unit"])
                    if "unit" in drive
                    else next(u for u in range(units + 64) if (bus, u) not in taken)
                )
            else:
                bus, unit = divmod(next(n for n in range(units * buses + 1) if divmod(n, units) not in taken), units)
        except ValueError:
            raise UsageError(f"-drive {text}: invalid drive index, bus or unit") from None
        if "unit" in drive and unit >= units:
            raise UsageError(f"-drive {text}: unit {unit} too big (max is {units - 1})")
        if bus >= buses or unit >= units:
            raise UsageError(f"-drive {text}: machine type does not support if=ide,bus={bus},unit={unit}")
        if (bus, unit) in taken:
            raise UsageError(f"-drive {text}: drive with bus={bus}, unit={unit} (index={bus * units + unit}) exists")
        taken.add((bus, unit))
        cdrom = drive.get("media") == "cdrom"
        drive_id = drive.get("id") or f"ide{bus}-{'cd' if cdrom else 'hd'}{unit}"
        opts: dict[str, Any] = {k: v for k, v in drive.items() if k not in _PLACE}
        if cdrom:
            opts["readonly"] = "on"  # drive_new: a cdrom is read-only
        cfg.blockdevs.insert(pos + shift, {**opts, "id": drive_id, "node-name": drive_id})
        cfg.board_drives.append(
            {"driver": "ide-cd" if cdrom else "ide-hd", "bus": f"ide.{bus}", "unit": str(unit), "drive": drive_id}
        )
