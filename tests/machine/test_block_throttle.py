"""-drive throttling.* and throttle groups of -drive backends as query-block shows them (QEMU's answers for
devices' backends are compared in tests/differential/test_block_io.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fakeqemu.commands import all as _all  # noqa: F401  (registers the commands)
from fakeqemu.commands.dispatch import run
from fakeqemu.commands.registry import Context
from fakeqemu.machine.machine import Machine, MachineConfig


def drive(path: Path, drive_id: str, **throttling: str) -> dict[str, Any]:
    opts = {"file": str(path), "format": "raw", "if": "none", "id": drive_id, "node-name": drive_id}
    return {**opts, **{f"throttling.{k.replace('_', '-')}": v for k, v in throttling.items()}}


def limits(m: Machine) -> dict[str, Any]:
    out = {}
    for info in run(Context(m), "query-block", {}):
        inserted = info["inserted"]
        out[info["device"]] = {k: v for k, v in inserted.items() if k.startswith(("bps", "iops", "group")) and v}
    return out


def test_drive_options_make_groups_and_the_command_changes_the_group(tmp_path: Path) -> None:
    img = tmp_path / "d.raw"
    img.write_bytes(b"\0" * 4096)
    cfg = MachineConfig(
        blockdevs=[
            drive(img, "drv9", bps_total="1000", iops_read="7", group="gx"),
            drive(img, "drv8", iops_total="5", iops_total_max="10", iops_total_max_length="3"),
        ]
    )
    m = Machine(cfg)
    try:
        assert limits(m) == {
            "drv9": {"bps": 1000, "iops_rd": 7, "group": "gx"},
            "drv8": {"iops": 5, "iops_max": 10, "iops_max_length": 3, "group": "drv8"},
        }
        zero = {"bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": 0, "iops_rd": 0, "iops_wr": 0}
        run(Context(m), "block_set_io_throttle", {**zero, "device": "drv8", "bps_wr": 100, "group": "gx"})
        assert limits(m) == {"drv9": {"bps_wr": 100, "group": "gx"}, "drv8": {"bps_wr": 100, "group": "gx"}}
        run(Context(m), "block_set_io_throttle", {**zero, "device": "drv9"})
        assert limits(m) == {"drv9": {}, "drv8": {"bps_wr": 100, "group": "gx"}}
    finally:
        m.close()
