#!/usr/bin/env python3
"""Record Debian's QEMU 7.2 trace-event catalogue into fakeqemu/data/trace-events.json.

QEMU answers ``trace-event-get-state {"name": "*"}`` with every event its build knows, prepended while it
walks its event groups, so the reply is the walk reversed. The file keeps the walk's order (the order of
``-trace help`` too), the events a build left out (``unavailable``) and the vCPU-specific ones: what
fakeqemu.machine.core.trace needs to answer the trace commands as QEMU does. What each event prints is
not recorded here: the events fakeqemu emits carry their format in fakeqemu.machine.core.trace.

Usage: python -m tools.record_trace [--binary qemu-system-x86_64] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from tools.qemu_link import Qemu

OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "trace-events.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="qemu-system-x86_64")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    help_order = subprocess.run([args.binary, "-trace", "help"], capture_output=True, text=True, check=True)
    qemu = Qemu(args.binary, ["-M", "none", "-display", "none", "-nodefaults"])
    try:
        states = list(reversed(qemu.ok("trace-event-get-state", {"name": "*"})))
    finally:
        qemu.close()
    names = [e["name"] for e in states]
    if names != help_order.stdout.split():
        raise SystemExit("trace-event-get-state and -trace help disagree on the events' order")
    data = {
        "events": names,
        "unavailable": [e["name"] for e in states if e["state"] == "unavailable"],
        "vcpu": [e["name"] for e in states if e["vcpu"]],
    }
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"{args.out}: {len(names)} events, {len(data['unavailable'])} unavailable, {len(data['vcpu'])} vCPU")


if __name__ == "__main__":
    main()
