#!/usr/bin/env python3
"""Record what Debian's QEMU 7.2 shows of its machines and devices, into fakeqemu/data/machine.json.

fakeqemu builds its QOM tree from these facts, so that ``qom-list``, ``qom-get``, ``query-pci`` and
``device-list-properties`` answer as QEMU does. For each board (pc, q35; ``-S -nodefaults`` under
``-qtest``, as the differential tests run it):

* every object reachable from ``/`` through child properties: its ``qom-list`` reply, in QEMU's order, and
  the ``qom-get`` value of each property that is not a child (or the error QEMU gives for it);
* ``query-pci`` and the HMP ``info pci`` text.

For each modelled device driver, on each board, the device hot-added (pc: ``addr=0x4`` on ``pci.0``; q35:
behind a cold-plugged ``pcie-root-port`` ``rp1``; a root port itself cold-plugged on ``pcie.0``) with the
id ``dev0``: its subtree (paths relative to the device), its ``query-pci`` entry, the objects elsewhere in
the tree that changed, and on pc the DEVICE_DELETED events after ``device_del`` and the eject write.
``device-list-properties`` for each driver comes from pc.

Usage: python -m tools.record_machine [--binary qemu-system-x86_64] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tools.qemu_link import Qemu

OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "machine.json"

#: driver -> extra device_add arguments (a virtio-blk needs a drive: a null-co node named disk0)
DRIVERS: dict[str, dict[str, Any]] = {
    "virtio-net-pci": {},
    "virtio-blk-pci": {"drive": "disk0"},
    "virtio-scsi-pci": {},
    "virtio-serial-pci": {},
    "virtio-balloon-pci": {},
    "e1000": {},
    "e1000e": {},
    "rtl8139": {},
    "pci-bridge": {"chassis_nr": 1},
    "pcie-root-port": {"chassis": 9},
    "pcie-pci-bridge": {},
}
ROOT_PORT = ["-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x3"]

#: drivers recorded cold-plugged (``-device``, as libvirt starts them) on the root bus at 04.0, with the
#: extra device options they need
COLD_PCI: dict[str, dict[str, Any]] = {
    "qemu-xhci": {"p2": 15, "p3": 15},
    "nec-usb-xhci": {},
    "piix3-usb-uhci": {},
    "ich9-usb-ehci1": {},
    "ich9-usb-uhci1": {},
    "ich9-usb-uhci2": {},
    "ich9-usb-uhci3": {},
    "VGA": {},
    "cirrus-vga": {},
    "qxl-vga": {},
    "qxl": {},
    "virtio-vga": {"max_outputs": 1},
    "virtio-gpu-pci": {},
    "bochs-display": {},
    "virtio-rng-pci": {},
    "ich9-intel-hda": {},
    "intel-hda": {},
    # device types QEMU's qos-test starts with nothing but -device (its pci-device nop tests)
    "AC97": {},
    "ES1370": {},
    "e1000-82544gc": {},
    "e1000-82545em": {},
    "ne2k_pci": {},
    "tulip": {},
    "pcnet": {},
    "vmxnet3": {},
    "pci-ohci": {},
    "nvme": {"serial": "foo"},
    "i82550": {},
    "i82551": {},
    "i82557a": {},
    "i82557b": {},
    "i82557c": {},
    "i82558a": {},
    "i82558b": {},
    "i82559a": {},
    "i82559b": {},
    "i82559c": {},
    "i82559er": {},
    "i82562": {},
    "i82801": {},
    "megasas": {},
    "tpci200": {},
    "sdhci-pci": {},
    "virtio-iommu-pci": {},
    "virtio-mouse-pci": {},  # device-plug-test's
    "i6300esb": {},
    "pvpanic-pci": {},
}
#: on q35 libvirt puts PCI Express devices behind root ports (video, sound and the ICH9 USB functions sit on
#: the root complex); where a virtio device sits decides its legacy interface
BEHIND_ROOT_PORT = frozenset({"qemu-xhci", "nec-usb-xhci", "virtio-gpu-pci", "virtio-rng-pci"})
#: devices that sit on another device's bus, recorded cold-plugged: driver -> (command-line arguments that
#: make the parent and backends, the device's options)
_USB = ["-device", "qemu-xhci,id=usb,addr=0x5"]
_VSER = ["-device", "virtio-serial-pci,id=vs,addr=0x5", "-chardev", "null,id=ch0"]
_HDA = ["-device", "intel-hda,id=snd,addr=0x5", "-audiodev", "none,id=au0"]
_NULL = ["-blockdev", "null-co,node-name=disk0"]
_SCSI = ["-device", "virtio-scsi-pci,id=scsi0,addr=0x5"]
COLD_BUS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "usb-tablet": (_USB, {"bus": "usb.0", "port": "1"}),
    "usb-kbd": (_USB, {"bus": "usb.0", "port": "1"}),
    "usb-mouse": (_USB, {"bus": "usb.0", "port": "1"}),
    "usb-storage": ([*_USB, "-blockdev", "null-co,node-name=disk0"], {"bus": "usb.0", "port": "1", "drive": "disk0"}),
    "usb-redir": ([*_USB, "-chardev", "null,id=ch0"], {"bus": "usb.0", "port": "1", "chardev": "ch0"}),
    "virtserialport": (_VSER, {"bus": "vs.0", "nr": 1, "chardev": "ch0", "name": "org.qemu.guest_agent.0"}),
    "virtconsole": (_VSER, {"bus": "vs.0", "nr": 1, "chardev": "ch0"}),
    "isa-serial": (["-chardev", "null,id=ch0"], {"chardev": "ch0", "index": 0}),
    "hda-duplex": (_HDA, {"bus": "snd.0", "cad": 0, "audiodev": "au0"}),
    "hda-micro": (_HDA, {"bus": "snd.0", "cad": 0, "audiodev": "au0"}),
    "hda-output": (_HDA, {"bus": "snd.0", "cad": 0, "audiodev": "au0"}),
    "ib700": ([], {}),
    # qos-test's ipoctal232 on a tpci200's IndustryPack bus (ipoctal232-test.c: bus=ipack0.0)
    "ipoctal232": (["-device", "tpci200,id=ipack0,addr=0x5"], {"bus": "ipack0.0"}),
    "pvpanic": ([], {}),
    # the board's IDE bus (PIIX on pc, AHCI on q35); a cdrom without a drive, as libvirt's empty one
    "ide-hd": (_NULL, {"bus": "ide.0", "drive": "disk0"}),
    "ide-cd": ([], {"bus": "ide.0"}),
    "scsi-hd": ([*_SCSI, *_NULL], {"bus": "scsi0.0", "drive": "disk0"}),
    "scsi-cd": (_SCSI, {"bus": "scsi0.0"}),
}


def start(binary: str, machine: str, extra: list[str]) -> Qemu:
    """Real QEMU as the differential tests run it: -S -nodefaults under -qtest."""
    return Qemu(binary, ["-M", machine, "-display", "none", "-nodefaults", "-S", *extra], qtest=True)


def wait_deleted(vm: Qemu, n: int, timeout: float = 5.0) -> None:
    """Read until ``n`` DEVICE_DELETED events have arrived."""
    vm.sock.settimeout(timeout)
    try:
        while sum(e["event"] == "DEVICE_DELETED" for e in vm.events) < n:
            vm.events.append(json.loads(vm.file.readline()))
    finally:
        vm.sock.settimeout(None)


def walk(vm: Qemu, root: str) -> dict[str, Any]:
    """path -> {"props": [[name, type], ...] in qom-list order, "values": {name: value},
    "errors": {name: error}} for root and every object below it through child properties."""
    out: dict[str, Any] = {}
    todo = [root]
    while todo:
        path = todo.pop(0)
        props = vm.ok("qom-list", {"path": path})
        values: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for p in props:
            name, typ = p["name"], p["type"]
            if typ.startswith("child<"):
                todo.append(f"{path.rstrip('/')}/{name}")
                continue
            r = vm.q("qom-get", {"path": path, "property": name})
            if "error" in r:
                errors[name] = r["error"]
            else:
                values[name] = r["return"]
        out[path] = {"props": [[p["name"], p["type"]] for p in props], "values": values, "errors": errors}
    return out


def qtree_block(text: str, head: str) -> list[str]:
    """The lines of one device in ``info qtree`` output, indented relative to its ``dev:`` line."""
    lines = text.split("\r\n")
    for i, line in enumerate(lines):
        if line.strip() == head:
            indent = len(line) - len(line.lstrip())
            block = [line[indent:]]
            for nxt in lines[i + 1 :]:
                if not nxt.strip() or len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                block.append(nxt[indent:])
            return block
    raise RuntimeError(f"{head!r} not in info qtree")


def changed(before: dict[str, Any], after: dict[str, Any], skip: str) -> dict[str, Any]:
    return {
        path: obj
        for path, obj in after.items()
        if not path.startswith(skip + "/") and path != skip and before.get(path) != obj
    }


def record_board(binary: str, machine: str) -> dict[str, Any]:
    vm = start(binary, machine, [])
    try:
        board = {
            "objects": walk(vm, "/"),
            "query-pci": vm.ok("query-pci"),
            "info-pci": vm.ok("human-monitor-command", {"command-line": "info pci"}),
            "info-qtree": vm.ok("human-monitor-command", {"command-line": "info qtree"}),
        }
    finally:
        vm.close()
    board["without-qtest"] = record_without_qtest(binary, machine)
    return board


def record_without_qtest(binary: str, machine: str) -> dict[str, Any]:
    """The qom-list replies of the objects that hold the qtest object and its chardev, with QEMU started
    without -qtest: the property table never had that child, so other properties may sit elsewhere in it."""
    vm = Qemu(binary, ["-M", machine, "-display", "none", "-nodefaults", "-S"])
    try:
        return {
            parent: [[p["name"], p["type"]] for p in vm.ok("qom-list", {"path": parent})]
            for parent in ("/machine", "/chardevs")
        }
    finally:
        vm.close()


def placement(machine: str, driver: str) -> tuple[dict[str, Any], list[str], bool]:
    """Where the recorders put a hot-added ``driver`` (tools/record_pci.py too): its device_add arguments
    (id dev0; pc: at 04.0; q35: on rp1), the extra command line (q35: the root port rp1), and whether it is
    cold-plugged instead (a root port on q35: with ``-device`` on pcie.0 at 04.0)."""
    args: dict[str, Any] = {"driver": driver, "id": "dev0", **DRIVERS[driver]}
    if machine == "q35" and driver == "pcie-root-port":
        return args, ["-device", "pcie-root-port,id=dev0,bus=pcie.0,chassis=9,addr=0x4"], True
    if machine == "q35":
        return {**args, "bus": "rp1"}, list(ROOT_PORT), False
    return {**args, "addr": "0x4"}, [], False


def record_device(binary: str, machine: str, driver: str) -> dict[str, Any]:
    args, extra, cold = placement(machine, driver)
    vm = start(binary, machine, extra)
    try:
        path = "/machine/peripheral/dev0"
        if cold:
            before = {}
        else:
            if "drive" in args:
                vm.ok("blockdev-add", {"driver": "null-co", "node-name": "disk0"})
            before = walk(vm, "/")
            reply = vm.q("device_add", args)
            if "error" in reply:
                return {"error": reply["error"]}
        after = walk(vm, "/")
        sub = {p[len(path) :]: o for p, o in after.items() if p == path or p.startswith(path + "/")}
        qtree = vm.ok("human-monitor-command", {"command-line": "info qtree"})
        rec: dict[str, Any] = {
            "args": args,
            "qtree": qtree_block(qtree, f'dev: {driver}, id "dev0"'),
            "objects": sub,
            "elsewhere": changed(before, after, path) if before else {},
            "query-pci": vm.ok("query-pci"),
        }
        if machine == "pc":
            rec["device-list-properties"] = vm.ok("device-list-properties", {"typename": driver})
            vm.events.clear()
            vm.ok("device_del", {"id": "dev0"})
            vm.qtest("outl 0xae08 0x10")
            wait_deleted(vm, 1 + sum(1 for o in sub if o and o.count("/") == 1 and "virtio-backend" in o))
            time.sleep(0.2)
            vm.sock.setblocking(False)
            try:
                while True:
                    line = vm.file.readline()
                    if not line:
                        break
                    vm.events.append(json.loads(line))
            except (BlockingIOError, TypeError):
                pass
            vm.sock.setblocking(True)
            rec["deleted"] = [e["data"] for e in vm.events if e["event"] == "DEVICE_DELETED"]
        return rec
    finally:
        vm.close()


def record_cold(binary: str, machine: str, driver: str) -> dict[str, Any]:
    """A device cold-plugged with ``-device`` (JSON, as libvirt writes it) with the id ``dev0``: its subtree,
    its ``info qtree`` block, the bus it sits on, query-pci and device-list-properties."""
    if driver in COLD_PCI:
        extra: list[str] = []
        args: dict[str, Any] = {"driver": driver, "id": "dev0", **COLD_PCI[driver]}
        args.update({"bus": "pci.0" if machine == "pc" else "pcie.0", "addr": "0x4"})
        if machine == "q35" and driver in BEHIND_ROOT_PORT:
            extra = list(ROOT_PORT)
            args.update({"bus": "rp1", "addr": "0x0"})
    else:
        extra, opts = COLD_BUS[driver]
        args = {"driver": driver, "id": "dev0", **opts}
    vm = start(binary, machine, [*extra, "-device", json.dumps(args)])
    try:
        path = "/machine/peripheral/dev0"
        sub = {p[len(path) :]: o for p, o in walk(vm, path).items()}
        qtree = vm.ok("human-monitor-command", {"command-line": "info qtree"})
        return {
            "args": args,
            "cold": True,
            "parent": [extra[i + 1] for i, a in enumerate(extra) if a == "-device"],
            "qtree": qtree_block(qtree, f'dev: {driver}, id "dev0"'),
            "objects": sub,
            "elsewhere": {},
            "query-pci": vm.ok("query-pci"),
            "device-list-properties": vm.ok("device-list-properties", {"typename": driver}),
            "hotplug-error": _hotplug_error(vm, driver, args),
        }
    finally:
        vm.close()


#: the ids libvirt gives devices that have a bus of their own: the bus is a child named after the id, and
#: where it lands in the device's property table (GLib order) depends on the name
NAMED_BUS_IDS = {
    "usb": ["usb", "usb1", "usb2", "usb3"],
    "serial": ["virtio-serial0", "virtio-serial1", "virtio-serial2"],
    "sound": ["sound0", "sound1", "sound2"],
}
NAMED_BUS_DRIVERS = {
    "qemu-xhci": "usb", "nec-usb-xhci": "usb", "piix3-usb-uhci": "usb", "ich9-usb-ehci1": "usb",
    "ich9-usb-uhci1": "usb", "ich9-usb-uhci2": "usb", "ich9-usb-uhci3": "usb", "virtio-serial-pci": "serial",
    "intel-hda": "sound", "ich9-intel-hda": "sound",
}  # fmt: skip


def record_named_buses(binary: str, machine: str) -> dict[str, Any]:
    """driver -> id -> relative path -> the qom-list (names) of each object that holds the device's bus."""
    out: dict[str, Any] = {}
    for driver, family in NAMED_BUS_DRIVERS.items():
        out[driver] = {}
        for dev_id in NAMED_BUS_IDS[family]:
            args = {"driver": driver, "id": dev_id, "bus": "pci.0" if machine == "pc" else "pcie.0", "addr": "0x4"}
            vm = start(binary, machine, ["-device", json.dumps(args)])
            try:
                path = f"/machine/peripheral/{dev_id}"
                replies = {rel: vm.q("qom-list", {"path": path + rel}) for rel in ("", "/virtio-backend")}
                out[driver][dev_id] = {
                    rel: [p["name"] for p in reply["return"]]
                    for rel, reply in replies.items()
                    if "return" in reply
                    and any(
                        p["type"].startswith("child<") and p["name"].startswith(dev_id + ".") for p in reply["return"]
                    )
                }
            finally:
                vm.close()
    return out


def _hotplug_error(vm: Qemu, driver: str, args: dict[str, Any]) -> Any:
    """QEMU's answer to hot-adding a second instance of the driver where the first one is (None: it plugs)."""
    again = {**args, "id": "dev1"}
    if "addr" in again:
        again["addr"] = "0x6"
    if "port" in again:
        again["port"] = "2"
    if "nr" in again:
        again["nr"] = 2
    if "chardev" in again or "drive" in again:
        return {"skipped": "needs a second backend"}
    reply = vm.q("device_add", again)
    return reply.get("error")


def record_types(binary: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """qom-list-types (every type, with its parent and whether it is abstract), and for each concrete
    device type QEMU's answer to a bare ``device_add driver=T`` on pc: the error, or "ok"."""
    vm = start(binary, "pc", [])
    try:
        listed = vm.ok("qom-list-types", {"abstract": True})
        devices = {t["name"] for t in vm.ok("qom-list-types", {"implements": "device"})}
    finally:
        vm.close()
    types: dict[str, Any] = {}
    for t in listed:
        entry: dict[str, Any] = {"parent": t.get("parent")}
        if t.get("abstract"):
            entry["abstract"] = True
        types[t["name"]] = entry
    for name, entry in types.items():
        chain: list[str] = []
        cur: str | None = name
        while cur is not None and cur in types and len(chain) < 64:
            chain.append(cur)
            cur = types[cur].get("parent")
        entry["ancestors"] = chain
    probes: dict[str, Any] = {}
    vm = start(binary, "pc", [])
    try:
        for name in sorted(devices):
            try:
                reply = vm.q("device_add", {"driver": name})
            except (OSError, ValueError):
                probes[name] = {"error": None, "crashed": True}
                vm.close()
                vm = start(binary, "pc", [])
                continue
            probes[name] = {"error": reply["error"]["desc"]} if "error" in reply else {"error": None}
    finally:
        vm.close()
    return types, probes


#: ids to cold-plug bridges with: the secondary bus is a child named after the id, and where it lands in
#: the bridge's property table (GLib order) depends on the name
BRIDGE_IDS = ["a", "rp1", "br1", "br2", "port9", "x0", "bridge.long-name", "q", "zz_top", "B"]


def record_bridge_children(binary: str) -> dict[str, Any]:
    """driver -> id -> the child property names of a cold-plugged bridge with that id, in qom-list order."""
    out: dict[str, Any] = {}
    for driver, chassis in (("pci-bridge", "chassis_nr"), ("pcie-root-port", "chassis"), ("pcie-pci-bridge", "")):
        args: list[str] = []
        for n, dev_id in enumerate(BRIDGE_IDS):
            args += ["-device", f"{driver},id={dev_id},addr={n + 3:#x}" + (f",{chassis}={n + 1}" if chassis else "")]
        vm = start(binary, "q35", args)
        try:
            out[driver] = {
                dev_id: [
                    p["name"]
                    for p in vm.ok("qom-list", {"path": f"/machine/peripheral/{dev_id}"})
                    if p["type"].startswith("child<")
                ]
                for dev_id in BRIDGE_IDS
            }
        finally:
            vm.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=shutil.which("qemu-system-x86_64") or "qemu-system-x86_64")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--only-types", action="store_true", help="re-record only the type and bridge tables")
    ap.add_argument("--only-cold", action="store_true", help="re-record only the cold-plugged drivers")
    ap.add_argument("--driver", action="append", help="with --only-cold: only this driver (repeatable)")
    ap.add_argument("--only-without-qtest", action="store_true", help="re-record only the boards without -qtest")
    ap.add_argument("--only-hot", action="store_true", help="re-record only the hot-added drivers (with --driver)")
    ap.add_argument("--only-bridges", action="store_true", help="re-record only the bridge children table")
    opts = ap.parse_args()
    if opts.only_hot or opts.only_bridges:
        part: dict[str, Any] = json.loads(opts.out.read_text())
        for machine in ("pc", "q35") if opts.only_hot else ():
            for driver in opts.driver or list(DRIVERS):
                print(f"  {machine} {driver}", file=sys.stderr)
                part["devices"][machine][driver] = record_device(opts.binary, machine, driver)
        if opts.only_bridges:
            part["bridge-children"] = record_bridge_children(opts.binary)
        opts.out.write_text(json.dumps(part, indent=None, separators=(",", ":")) + "\n")
        return 0
    if opts.only_without_qtest:
        boards: dict[str, Any] = json.loads(opts.out.read_text())
        for machine in ("pc", "q35"):
            boards["boards"][machine]["without-qtest"] = record_without_qtest(opts.binary, machine)
        opts.out.write_text(json.dumps(boards, indent=None, separators=(",", ":")) + "\n")
        return 0
    if opts.only_cold:
        cold: dict[str, Any] = json.loads(opts.out.read_text())
        for machine in ("pc", "q35"):
            for driver in opts.driver or [*COLD_PCI, *COLD_BUS]:
                print(f"  {machine} {driver}", file=sys.stderr)
                cold["devices"][machine][driver] = record_cold(opts.binary, machine, driver)
            if not opts.driver:
                cold.setdefault("named-buses", {})[machine] = record_named_buses(opts.binary, machine)
        opts.out.write_text(json.dumps(cold, indent=None, separators=(",", ":")) + "\n")
        return 0
    if opts.only_types:
        data: dict[str, Any] = json.loads(opts.out.read_text())
        data["types"], data["device-types"] = record_types(opts.binary)
        data["bridge-children"] = record_bridge_children(opts.binary)
        opts.out.write_text(json.dumps(data, indent=None, separators=(",", ":")) + "\n")
        return 0
    data = {"qemu": "", "boards": {}, "devices": {}}
    version = subprocess.run([opts.binary, "--version"], capture_output=True, text=True, check=True).stdout
    data["qemu"] = version.splitlines()[0]
    for machine in ("pc", "q35"):
        print(f"board {machine}", file=sys.stderr)
        data["boards"][machine] = record_board(opts.binary, machine)
        data["devices"][machine] = {}
        for driver in DRIVERS:
            print(f"  {driver}", file=sys.stderr)
            data["devices"][machine][driver] = record_device(opts.binary, machine, driver)
        for driver in [*COLD_PCI, *COLD_BUS]:
            print(f"  {driver} (cold)", file=sys.stderr)
            data["devices"][machine][driver] = record_cold(opts.binary, machine, driver)
        data.setdefault("named-buses", {})[machine] = record_named_buses(opts.binary, machine)
    data["types"], data["device-types"] = record_types(opts.binary)
    data["bridge-children"] = record_bridge_children(opts.binary)
    opts.out.write_text(json.dumps(data, indent=None, separators=(",", ":"), sort_keys=False) + "\n")
    print(f"wrote {opts.out} ({opts.out.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
