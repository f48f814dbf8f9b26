#!/usr/bin/env python3
"""Record QEMU 7.2's memory regions (HMP ``info mtree -o -D``) into fakeqemu/data/mtree.json.

* ``boards``: each board (pc, q35) as the differential tests start it (``-S -nodefaults`` under
  ``-qtest``): its address spaces (name(s) and root region) and the regions its aliases point at, each a
  tree of regions (name, kind, offset in its container, last byte, priority, enabled, alias target and
  offset, owner text). The PCI functions' bus-master address spaces are left out: fakeqemu derives them
  from each function (one per device, its alias enabled by the command register's bus-master bit).
* ``bars``: what a device type maps for each BAR once a guest has programmed it (recorded after SeaBIOS
  1.16 has assigned them, the VM running under TCG): the region's name and kind and its subregions.
* ``fixed``: the regions a device type adds that are not BARs (VGA's legacy ranges, an ISA device's
  ports), each with the board region it goes in, and the regions of its own that they alias.

Usage: python -m tools.record_mtree [--binary qemu-system-x86_64] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from tools.qemu_link import Qemu
from tools.record_machine import COLD_BUS, COLD_PCI, start

OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "mtree.json"

_LINE = re.compile(r"^( *)([0-9a-f]{16})-([0-9a-f]{16}) \(prio (-?\d+), (nv-)?([a-z/]+)\): (.*)$")
_OWNER = re.compile(r"(?: owner:\{[^}]*\})?(?: parent:\{[^}]*\})?$| orphan$")
_ALIAS = re.compile(r"^alias (.+?) @(.+) ([0-9a-f]{16})-[0-9a-f]{16}$")

#: devices whose BARs are recorded: board -> command line (ids name them; types come from QOM)
BAR_DEVICES: dict[str, list[str]] = {
    "pc": [
        "-blockdev", "null-co,node-name=disk0",
        "-device", "virtio-net-pci,id=d1", "-device", "virtio-blk-pci,id=d2,drive=disk0",
        "-device", "virtio-scsi-pci,id=d3", "-device", "virtio-serial-pci,id=d4",
        "-device", "virtio-balloon-pci,id=d5", "-device", "e1000,id=d6", "-device", "e1000e,id=d7",
        "-device", "rtl8139,id=d8", "-device", "pci-bridge,id=d9,chassis_nr=1",
    ],
    "q35": [
        "-device", "pcie-root-port,id=d1,chassis=1", "-device", "virtio-net-pci,id=d2,bus=d1",
        "-device", "pcie-root-port,id=d3,chassis=2", "-device", "e1000e,id=d4,bus=d3",
    ],
}  # fmt: skip


def parse(text: str) -> list[tuple[str, list[str], dict[str, Any] | None]]:
    """The blocks of ``info mtree -o -D``: (``address-space`` or ``memory-region``, names, root region)."""
    blocks: list[tuple[str, list[str], dict[str, Any] | None]] = []
    stack: list[tuple[int, int, dict[str, Any]]] = []  # (level, absolute start, node)
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(("address-space: ", "memory-region: ")):
            kind, _, name = line.partition(": ")
            if blocks and blocks[-1][0] == kind == "address-space" and blocks[-1][2] is None:
                blocks[-1][1].append(name)  # several address spaces sharing one root
            else:
                blocks.append((kind, [name], None))
            stack = []
            continue
        m = _LINE.match(line)
        if m is None:
            continue
        level = len(m[1]) // 2
        start, end = int(m[2], 16), int(m[3], 16)
        rest = m[7]
        owner = _OWNER.search(rest)
        assert owner is not None
        owner_text, rest = owner[0], rest[: owner.start()]
        enabled = not rest.endswith(" [disabled]")
        rest = rest.removesuffix(" [disabled]")
        node: dict[str, Any] = {"name": rest, "kind": m[6], "prio": int(m[4])}
        if m[5]:
            node["nv"] = True
        alias = _ALIAS.match(rest)
        if alias is not None:
            node.update(name=alias[1], alias=alias[2], offset=int(alias[3], 16))
        while stack and stack[-1][0] >= level:
            stack.pop()
        base = stack[-1][1] if stack else 0
        node.update(addr=start - base, last=end - start, owner=owner_text)
        if not enabled:
            node["disabled"] = True
        if stack:
            stack[-1][2].setdefault("sub", []).append(node)
        else:
            kind, names, _ = blocks[-1]
            blocks[-1] = (kind, names, node)
        stack.append((level, start, node))
    return blocks


def _mtree(vm: Qemu) -> str:
    text: str = vm.ok("human-monitor-command", {"command-line": "info mtree -o -D"})
    return text


_FLAT = re.compile(r"^  [0-9a-f]{16}-[0-9a-f]{16} \(prio -?\d+, [a-z/-]+\): (.*?)(?: @[0-9a-f]{16})?$")


def _parse_marked(vm: Qemu) -> list[tuple[str, list[str], dict[str, Any] | None]]:
    """``parse`` of the tree, each region that is a container (renders nothing itself: QEMU's
    ``terminates`` false) marked ``container``: one with subregions that no flat view shows, and not an
    alias (``info mtree -f`` names the regions that render)."""
    blocks = parse(_mtree(vm))
    flat = vm.ok("human-monitor-command", {"command-line": "info mtree -f"})
    shown = {m[1] for m in map(_FLAT.match, flat.replace("\r\n", "\n").split("\n")) if m}

    def mark(node: dict[str, Any]) -> None:
        if node.get("sub") and "alias" not in node and node["name"] not in shown:
            node["container"] = True
        for sub in node.get("sub", []):
            mark(sub)

    for _, _, root in blocks:
        if root is not None:
            mark(root)
    return blocks


def record_board(binary: str, machine: str) -> dict[str, Any]:
    vm = start(binary, machine, [])
    try:
        blocks = _parse_marked(vm)
        flat = vm.ok("human-monitor-command", {"command-line": "info mtree -f"})
    finally:
        vm.close()
    # the address spaces in the order QEMU made them (each flat view lists its own in that order)
    order = [line.split('"')[1] for line in flat.split("\r\n") if line.startswith(' AS "')]
    spaces = []
    regions: dict[str, Any] = {}
    for kind, names, root in blocks:
        if root is None or root["name"] == "bus master container":
            continue
        if kind == "address-space":
            spaces.append({"names": names, "root": root})
        else:
            regions[names[0]] = root
    return {"spaces": spaces, "regions": regions, "order": [n for n in order if any(n in s["names"] for s in spaces)]}


#: regions a board adds once a chipset register enables them (fakeqemu places them from the register)
REGISTER_PLACED = ("pcie-mmcfg-mmio", "lpc-rcrb-mmio")


def record_board_booted(binary: str, machine: str) -> dict[str, Any]:
    """The REGISTER_PLACED regions as they look once the firmware has enabled them: their container and
    their own recording (owner text included)."""
    vm = Qemu(binary, ["-M", machine, "-display", "none", "-nodefaults"])
    try:
        _bars_of(vm)  # waits for the firmware
        blocks = _parse_marked(vm)
    finally:
        vm.close()
    found: dict[str, Any] = {}

    def visit(node: dict[str, Any]) -> None:
        for sub in node.get("sub", []):
            if sub["name"] in REGISTER_PLACED:
                found[sub["name"]] = {"container": node["name"], "region": sub}
            visit(sub)

    for kind, _, root in blocks:
        if kind == "address-space" and root is not None:
            visit(root)
    return found


def _assigned(devices: list[dict[str, Any]]) -> bool:
    for d in devices:
        if any(r["address"] == -1 for r in d.get("regions", []) if r["bar"] != 6):
            return False
        if not _assigned(d.get("pci_bridge", {}).get("devices", [])):
            return False
    return True


def _flat(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for d in devices:
        out.append(d)
        out += _flat(d.get("pci_bridge", {}).get("devices", []))
    return out


def _nodes(node: dict[str, Any], base: int, out: list[tuple[int, dict[str, Any]]]) -> None:
    start = base + node["addr"]
    out.append((start, node))
    for sub in node.get("sub", []):
        _nodes(sub, start, out)


def record_bars(binary: str, machine: str) -> dict[str, dict[str, Any]]:
    vm = Qemu(binary, ["-M", machine, "-display", "none", "-nodefaults", *BAR_DEVICES[machine]])
    try:
        return _bars_of(vm)
    finally:
        vm.close()


def _bars_of(vm: Qemu, timeout: float = 30) -> dict[str, dict[str, Any]]:
    """Each device type's BARs in a running VM, once the firmware has assigned every one."""
    deadline = time.monotonic() + timeout
    while True:
        pci = vm.ok("query-pci")[0]["devices"]
        if _assigned(pci):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the firmware did not assign every BAR")
        time.sleep(0.1)
    blocks = _parse_marked(vm)
    nodes: list[tuple[int, dict[str, Any]]] = []
    for _, _, root in blocks:
        if root is not None:
            _nodes(root, 0, nodes)
    bars: dict[str, dict[str, Any]] = {}
    for dev in _flat(pci):
        for region in dev.get("regions", []):
            if region["address"] == -1:
                continue
            found = next(
                (n for start, n in nodes
                 if start == region["address"] and n["prio"] == 1 and _owned(n["owner"], dev["qdev_id"])),
                None,
            )  # fmt: skip
            if found is None:
                raise RuntimeError(f"no region for {dev['qdev_id'] or dev['slot']} {region}")
            if dev["qdev_id"]:
                path = f"/machine/peripheral/{dev['qdev_id']}"
            else:
                path = found["owner"].split("=", 1)[1].rstrip("}")
            dtype = vm.ok("qom-get", {"path": path, "property": "type"})
            template = _template(found, path)
            if "alias" in found:  # the device's own region, printed as an alias target
                target = next(
                    r
                    for k, _, r in blocks
                    if k == "memory-region"
                    and r is not None
                    and r["name"] == found["alias"]
                    and r["owner"] == found["owner"]
                )
                template["target"] = {**_template(target, path), "last": target["last"]}
            bars.setdefault(dtype, {})[str(region["bar"])] = template
    return bars


#: the properties that place an ISA device's ports
PORT_PROPS = frozenset({"iobase", "ioport"})
#: ISA devices whose ports are recorded (with the command line they need)
FIXED_ISA = ("isa-serial", "ib700", "pvpanic")


def _device_args(driver: str) -> list[str]:
    """``-device driver,id=dev0,...`` as tools/record_machine.py records the cold-plugged ones (a PCI
    function at 00:04.0), with what it needs before it."""
    if driver in COLD_BUS:
        extra, opts = COLD_BUS[driver]
    else:
        extra, opts = [], {**COLD_PCI[driver], "addr": "0x4"}
    spec = ",".join([driver, "id=dev0", *(f"{k}={v}" for k, v in opts.items())])
    return [*extra, "-device", spec]


def _owned(owner: str, dev_id: str) -> bool:
    """Whether a region's owner is the device (or an object of its own, such as xhci's core)."""
    if not dev_id:
        return owner.startswith(" owner:{dev path=")
    return owner == f" owner:{{dev id={dev_id}}}" or f"path=/machine/peripheral/{dev_id}/" in owner


def record_fixed(binary: str, driver: str) -> dict[str, Any] | None:
    """The regions ``driver`` adds to the board's containers before anything is programmed."""
    vm = start(binary, "pc", _device_args(driver))
    try:
        blocks = _parse_marked(vm)
        names = {p["name"] for p in vm.ok("qom-list", {"path": "/machine/peripheral/dev0"})}
        # an ISA device's port base: what its places move with (isa-serial's index picks one)
        port = {n: vm.ok("qom-get", {"path": "/machine/peripheral/dev0", "property": n}) for n in PORT_PROPS & names}
    finally:
        vm.close()
    mine = " owner:{dev id=dev0}"
    places: list[dict[str, Any]] = []
    targets: dict[str, Any] = {}

    def visit(node: dict[str, Any], container: str) -> None:
        for sub in node.get("sub", []):
            if sub["owner"] == mine and node["owner"] != mine:
                region = {**_template(sub, "/machine/peripheral/dev0"), "addr": sub["addr"], "last": sub["last"]}
                places.append({"container": container, "region": region})
            else:
                visit(sub, sub["name"])

    for kind, _, root in blocks:
        if root is None or root["name"] == "bus master container":
            continue
        if kind == "memory-region" and root["owner"] == mine:
            targets[root["name"]] = {**_template(root, "/machine/peripheral/dev0"), "last": root["last"]}
        elif kind == "address-space":
            visit(root, root["name"])
    return {"places": places, "targets": targets, **({"port": port} if port else {})} if places else None


def record_device_bars(binary: str, driver: str) -> dict[str, Any]:
    """A PCI driver's BARs once SeaBIOS has assigned them (on pc, alone)."""
    vm = Qemu(binary, ["-M", "pc", "-display", "none", "-nodefaults", *_device_args(driver)])
    try:
        return _bars_of(vm, 10).get(driver, {})
    except RuntimeError as exc:
        print(f"{driver}: {exc}")
        return {}
    finally:
        vm.close()


def _template(node: dict[str, Any], dev_path: str) -> dict[str, Any]:
    """A device's region without its place; its owner left out when it is the device (fakeqemu puts in
    the device's own), else with the device's path as ``{dev}`` (xhci's regions: its ``xhci-core``)."""
    out = {k: v for k, v in node.items() if k not in ("addr", "owner", "sub", "last")}
    owner = node["owner"]
    if f"path={dev_path}" in owner and owner != f" owner:{{dev path={dev_path}}}":
        out["owner"] = owner.replace(f"path={dev_path}", "path={dev}")
    if node.get("sub"):
        out["sub"] = [{**_template(s, dev_path), "addr": s["addr"], "last": s["last"]} for s in node["sub"]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="qemu-system-x86_64")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    data: dict[str, Any] = {"boards": {}, "bars": {}, "fixed": {}}
    for machine in ("pc", "q35"):
        data["boards"][machine] = record_board(a.binary, machine)
        data["boards"][machine]["placed"] = record_board_booted(a.binary, machine)
        for dtype, bars in record_bars(a.binary, machine).items():
            data["bars"].setdefault(dtype, {}).update(bars)
    for driver in [*COLD_PCI, *FIXED_ISA]:
        fixed = record_fixed(a.binary, driver)
        if fixed is not None:
            data["fixed"][driver] = fixed
        if driver in COLD_PCI and driver not in data["bars"]:
            bars = record_device_bars(a.binary, driver)
            if bars:
                data["bars"][driver] = bars
    a.out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
