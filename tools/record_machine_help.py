#!/usr/bin/env python3
"""Record what Debian's QEMU 7.2 prints for ``-M help``, ``-M TYPE,help``, ``-accel help`` and ``-cpu help``
into fakeqemu/data/machine-help.json.

* ``list``: the machine listing (machine_help_func: ``Supported machines are:``, sorted by family, newest
  first, aliases before the type they name), byte for byte;
* ``machines``: for every machine type (query-machines), the index of its property listing in ``bodies``
  (what type_print_class_properties prints after its first line ``TYPE-machine options:``); the pc and q35
  versions share a handful of listings;
* ``aliases``: ``pc`` -> ``pc-i440fx-7.2``, ``q35`` -> ``pc-q35-7.2`` (find_machine resolves them);
* ``accel``: ``-accel help``; ``cpu``: ``-cpu help`` (list_cpus; the same before any accelerator is set up).

The recorder checks that ``-M ?`` and ``-machine help`` print the list, and ``-cpu ?`` the CPU list.

Usage: python -m tools.record_machine_help [--binary qemu-system-x86_64] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from tools.qemu_link import Qemu

OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "machine-help.json"


def _run(binary: str, *args: str) -> str:
    res = subprocess.run([binary, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    if res.returncode != 0 or res.stderr:
        raise SystemExit(f"{args}: status {res.returncode}, stderr {res.stderr!r}")
    return res.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="qemu-system-x86_64")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    listing = _run(args.binary, "-M", "help")
    for spelling in (("-M", "?"), ("-machine", "help")):
        if _run(args.binary, *spelling) != listing:
            raise SystemExit(f"{spelling} differs from -M help")
    qemu = Qemu(args.binary, ["-M", "none", "-display", "none", "-nodefaults"])
    try:
        machines = qemu.ok("query-machines")
    finally:
        qemu.close()
    bodies: dict[str, int] = {}
    by_type: dict[str, int] = {}
    aliases: dict[str, str] = {}
    for m in sorted(machines, key=lambda m: str(m["name"])):
        name = m["name"]
        if "alias" in m:
            aliases[m["alias"]] = name
        first, _, body = _run(args.binary, "-M", f"{name},help").partition("\n")
        if first != f"{name}-machine options:":
            raise SystemExit(f"-M {name},help: unexpected first line {first!r}")
        by_type[name] = bodies.setdefault(body, len(bodies))
    cpu = _run(args.binary, "-cpu", "help")
    if _run(args.binary, "-cpu", "?") != cpu:
        raise SystemExit("-cpu ? differs from -cpu help")
    data = {
        "list": listing,
        "machines": by_type,
        "bodies": list(bodies),
        "aliases": aliases,
        "accel": _run(args.binary, "-accel", "help"),
        "cpu": cpu,
    }
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"{args.out}: {len(by_type)} machine types, {len(bodies)} listings")


if __name__ == "__main__":
    main()
