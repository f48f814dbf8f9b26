#!/usr/bin/env python3
"""Record the QOM tree of every machine type of Debian's QEMU 7.2 that fakeqemu does not record whole,
into fakeqemu/data/machine-types.json.

tools/record_machine.py records the 7.2 boards (pc-i440fx-7.2, pc-q35-7.2) whole. Every older
pc-i440fx-* / pc-q35-* type is the same board with compat properties: for each, only what differs from
its 7.2 board is kept (per object: the qom-list reply where it changed, changed or gone property values,
the errors; objects added and dropped). Machine types that are other boards (none, isapc, microvm,
x-remote) are kept whole. Each is walked as the boards are (``-S -nodefaults`` under ``-qtest``).

Values that change from run to run (the RTC's time, the monitors' socket paths) are not compared.

Usage: python -m tools.record_machine_types [--binary qemu-system-x86_64] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.record_machine import start, walk

OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "machine-types.json"
BOARDS = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "machine.json"
#: property values that differ between any two runs
VOLATILE = frozenset({"rtc-time", "date", "addr"})
#: the machine types recorded whole (not a version of pc or q35)
WHOLE = ("none", "isapc", "microvm", "x-remote")


def base_of(machine: str) -> str | None:
    if machine.startswith("pc-i440fx-"):
        return "pc"
    if machine.startswith("pc-q35-"):
        return "q35"
    return None


def diff(base: dict[str, Any], objects: dict[str, Any]) -> dict[str, Any]:
    """What turns ``base`` (path -> {"props", "values", "errors"}) into ``objects``."""
    out: dict[str, Any] = {"change": {}, "add": {}, "drop": [p for p in base if p not in objects]}
    for path, obj in objects.items():
        old = base.get(path)
        if old is None:
            out["add"][path] = obj
            continue
        patch: dict[str, Any] = {}
        if obj["props"] != old["props"]:
            patch["props"] = obj["props"]
        was = old["values"]
        values = {k: v for k, v in obj["values"].items() if k not in VOLATILE and (k not in was or was[k] != v)}
        if values:
            patch["values"] = values
        unset = [k for k in old["values"] if k not in obj["values"]]
        if unset:
            patch["unset"] = unset
        if obj["errors"] != old["errors"]:
            patch["errors"] = obj["errors"]
        if patch:
            out["change"][path] = patch
    return {k: v for k, v in out.items() if v}


def deprecation(binary: str, machine: str) -> str:
    """The warning QEMU prints when it starts a deprecated machine type (not under -qtest), without its
    ``qemu-system-x86_64: warning: `` prefix."""
    res = subprocess.run(
        [binary, "-M", machine, "-display", "none", "-nodefaults", "-S", "-monitor", "stdio"],
        input="quit\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    return res.stderr.strip().split("warning: ", 1)[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="qemu-system-x86_64")
    ap.add_argument("--out", type=Path, default=OUT)
    opts = ap.parse_args()
    boards = json.loads(BOARDS.read_text())["boards"]
    probe = start(opts.binary, "none", [])
    try:
        listed = probe.ok("query-machines")
    finally:
        probe.close()
    machines = [m["name"] for m in listed]
    version = subprocess.run([opts.binary, "--version"], capture_output=True, text=True, check=True).stdout
    data: dict[str, Any] = {"qemu": version.splitlines()[0], "diffs": {}, "trees": {}}
    for machine in sorted(machines):
        base = base_of(machine)
        if machine in ("pc-i440fx-7.2", "pc-q35-7.2") or (base is None and machine not in WHOLE):
            continue
        print(f"  {machine}", file=sys.stderr)
        vm = start(opts.binary, machine, [])
        try:
            objects = walk(vm, "/")
        finally:
            vm.close()
        if base is None:
            data["trees"][machine] = objects
        else:
            data["diffs"][machine] = {"base": base, **diff(boards[base]["objects"], objects)}
    data["deprecated"] = {m["name"]: deprecation(opts.binary, m["name"]) for m in listed if m["deprecated"]}
    opts.out.write_text(json.dumps(data, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {opts.out} ({opts.out.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
