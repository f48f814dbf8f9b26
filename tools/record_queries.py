#!/usr/bin/env python3
"""Record QEMU 7.2's answers to the queries that describe a fresh VM's fixed parts, into
fakeqemu/data/queries.json: per board (``none``, ``pc-i440fx-7.2``, ``pc-q35-7.2``, and the machine
types built without a board: ``isapc``, ``microvm``, ``x-remote``; ``-S -nodefaults``, 128 MiB, as the
differential tests start QEMU) and per accelerator where the answer depends on it
(``tcg``; ``kvm`` where /dev/kvm can be opened), the reply of each command in QUERIES.

Usage: python -m tools.record_queries [--binary qemu-system-x86_64] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.qemu_link import Qemu
from tools.record_probe import kvm_usable, reply_of, unwire

OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "queries.json"
BOARDS = {
    "none": "none", "pc": "pc-i440fx-7.2", "q35": "pc-q35-7.2", "isapc": "isapc", "microvm": "microvm",
    "x-remote": "x-remote",
}  # fmt: skip
QUERIES = (
    "query-pr-managers", "x-debug-query-block-graph", "query-block-exports", "query-chardev-backends",
    "query-dump", "query-dump-guest-memory-capability", "query-mice", "query-display-options",
    "query-xen-replication-status", "query-colo-status", "query-dirty-rate", "query-vm-generation-id",
    "query-memdev", "x-query-irq", "x-query-jit", "x-query-numa", "x-query-opcount", "x-query-profile",
    "x-query-ramblock", "x-query-rdma", "x-query-roms", "x-query-usb", "query-replay",
    "query-acpi-ospm-status", "query-stats-schemas",
)  # fmt: skip
#: the queries whose answer depends on the accelerator
BY_ACCEL = ("x-query-jit", "x-query-opcount", "query-stats-schemas")


def record(binary: str, machine: str, accel: str, queries: tuple[str, ...]) -> dict[str, Any]:
    vm = Qemu(binary, ["-M", machine, "-accel", accel, "-display", "none", "-nodefaults", "-S"])
    try:
        return {q: reply_of(vm, q) for q in queries}
    finally:
        vm.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="qemu-system-x86_64")
    ap.add_argument("--out", type=Path, default=OUT)
    opts = ap.parse_args()
    version = subprocess.run([opts.binary, "--version"], capture_output=True, text=True, check=True).stdout
    data: dict[str, Any] = {"qemu": version.splitlines()[0], "boards": {}, "accel": {}}
    for kind, machine in BOARDS.items():
        data["boards"][kind] = record(opts.binary, machine, "tcg", QUERIES)
    for accel in (["kvm"] if kvm_usable() else []) + ["tcg"]:
        data["accel"][accel] = record(opts.binary, "none", accel, BY_ACCEL)
    opts.out.write_text(json.dumps(unwire(data), indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {opts.out} ({opts.out.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
