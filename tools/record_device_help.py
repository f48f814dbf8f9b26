#!/usr/bin/env python3
"""Record what Debian's QEMU 7.2 prints for ``-device help`` and ``-device TYPE,help`` into
fakeqemu/data/device-help.json.

* ``list``: the categorised device listing (``-device help``, qdev_print_devinfos), byte for byte;
* ``devices``: for every concrete device type (qom-list-types implements=device), the property listing
  ``-device TYPE,help`` prints after its first line (``TYPE options:``, or ``There are no options for
  TYPE.`` when the listing is empty). Many types share a listing (the CPU models, PCI devices with the same
  properties), so listings are kept once (``bodies``, as indexes into ``lines``) and each type names its
  listing's index;
* ``aliases``: the short names the listing gives (``virtio-net`` for virtio-net-pci), which ``-device
  ALIAS,help`` resolves as QEMU does;
* ``others``: every other QOM type (abstract or not a device), for which QEMU answers ``Parameter
  'typename' expects a non-abstract device type``.

The recorder checks that each listing rebuilt from the file is what QEMU printed.

Usage: python -m tools.record_device_help [--binary qemu-system-x86_64] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

from fakeqemu.commands.devicehelp import first_line, listing
from tools.qemu_link import Qemu

#: QEMU 7.2 sometimes aborts while it lists a type's properties (acpi-ged-x86: GLib "failed to allocate"
#: a size read from uninitialised memory); the listing is what it prints when it does not
ATTEMPTS = 40

OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "device-help.json"


def _run(binary: str, value: str) -> str:
    for _ in range(ATTEMPTS):
        res = subprocess.run(
            [binary, "-M", "none", "-display", "none", "-device", value],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if res.returncode >= 0:
            break
    if res.returncode != 0 or res.stderr:
        raise SystemExit(f"-device {value}: status {res.returncode}, stderr {res.stderr!r}")
    return res.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="qemu-system-x86_64")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    catalogue = _run(args.binary, "help")
    if _run(args.binary, "?") != catalogue:
        raise SystemExit("-device help and -device ? differ")
    qemu = Qemu(args.binary, ["-M", "none", "-display", "none", "-nodefaults"])
    try:
        version = qemu.ok("query-version")["qemu"]
        every = {t["name"]: t for t in qemu.ok("qom-list-types", {"abstract": True})}
        devices = {t["name"] for t in qemu.ok("qom-list-types", {"implements": "device"})}
    finally:
        qemu.close()
    lines: dict[str, int] = {}
    bodies: dict[tuple[int, ...], int] = {}
    by_type: dict[str, int] = {}
    texts: dict[str, str] = {}
    for driver in sorted(devices):
        text = texts[driver] = _run(args.binary, f"{driver},help")
        first, _, body = text.partition("\n")
        if first + "\n" != first_line(driver, body):
            raise SystemExit(f"-device {driver},help: unexpected first line {first!r}")
        key = tuple(lines.setdefault(line, len(lines)) for line in body.split("\n")[:-1]) if body else ()
        by_type[driver] = bodies.setdefault(key, len(bodies))
    aliases = dict(re.findall(r'^name "([^"]+)".*?, alias "([^"]+)"', catalogue, re.M))
    data = {
        "qemu": f"{version['major']}.{version['minor']}.{version['micro']}",
        "list": catalogue,
        "lines": list(lines),
        "bodies": [list(key) for key in bodies],
        "devices": by_type,
        "aliases": {alias: name for name, alias in aliases.items()},
        "others": sorted(name for name in every if name not in devices),
    }
    if any(listing(data, driver) != text for driver, text in texts.items()):
        raise SystemExit("a listing rebuilt from the recorded file differs from QEMU's")
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"{args.out}: {len(by_type)} device types, {len(bodies)} listings, {len(lines)} distinct lines")


if __name__ == "__main__":
    main()
