#!/usr/bin/env python3
"""Record what Debian's QEMU 7.2 answers to libvirt's capability probe and start-up queries, into
fakeqemu/data/probe.json.

libvirt 9.0 starts its emulator with ``-machine none,accel=kvm:tcg`` (and again with ``accel=tcg``) and
asks about 57 questions; when it starts a domain it asks about the CPUs, chardevs, block nodes and
migration capabilities. This tool asks the real binary the same questions and keeps its answers:

* per accelerator (``kvm`` only where /dev/kvm can be opened, and ``tcg``): query-kvm, query-machines,
  query-cpu-definitions, the CPU model expansions libvirt asks for (``max`` and ``host``, static and full,
  with the ``migratable``/``hv-passthrough`` variants), query-sev-capabilities, query-sgx-capabilities;
* once: query-target, query-command-line-options, query-migrate-capabilities, query-tpm-models/-types,
  device-list-properties and qom-list-properties for the types libvirt asks about, and QEMU's errors
  for unknown types, CPU models, capabilities and file descriptors;
* on ``pc-i440fx-7.2`` and ``pc-q35-7.2`` with ``-smp 1``: query-hotpluggable-cpus and query-cpus-fast;
* on ``pc-i440fx-7.2``: a libvirt-style block node pair (``file`` + ``raw``) before and after a
  virtio-blk-pci uses it: query-named-block-nodes and query-block, and QEMU's block errors.

Every object is stored with its keys in an order that fakeqemu.qmp.encode turns back into QEMU's exact
bytes: within each QDict hash bucket the recorded (wire) order is reversed, which is the insertion order
that produces it.

Usage: python -m tools.record_probe [--binary qemu-system-x86_64] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fakeqemu.qmp.encode import tdb_hash
from tools.qemu_link import Qemu

OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "probe.json"

#: the device types libvirt 9.0 asks device-list-properties about (x86_64), and pc-dimm (which it plugs)
DEVICE_TYPES = [
    "virtio-blk-pci", "virtio-net-pci", "virtio-scsi-pci", "virtio-net-ccw", "virtio-scsi-ccw", "vfio-pci",
    "scsi-hd", "ide-hd", "PIIX4_PM", "usb-redir", "usb-storage", "kvm-pit", "VGA", "vmware-svga", "qxl",
    "virtio-gpu-pci", "virtio-gpu-device", "ICH9-LPC", "virtio-balloon-pci", "virtio-balloon-ccw",
    "virtio-balloon-device", "intel-iommu", "mch", "nvdimm", "pcie-root-port", "usb-host",
    "vhost-user-fs-device", "virtio-mem-pci", "virtio-iommu-pci", "pc-dimm",
]  # fmt: skip
#: the types libvirt asks qom-list-properties about, and the machines fakeqemu builds
QOM_TYPES = [
    "memory-backend-file", "memory-backend-memfd", "memory-backend-ram", "max-x86_64-cpu", "host-x86_64-cpu",
    "qemu64-x86_64-cpu", "none-machine", "pc-i440fx-7.2-machine", "pc-q35-7.2-machine",
]  # fmt: skip
EXPAND_MODELS = ("max", "host")
EXPAND_PROPS: tuple[dict[str, Any] | None, ...] = (
    None,
    {"migratable": False},
    {"migratable": False, "hv-passthrough": True},
)


def unwire(value: Any) -> Any:
    """A recorded (wire-order) value with each object's keys in an insertion order that QEMU's QDict
    writes back in the recorded order: keys sharing a bucket come out newest first, so reverse them."""
    if isinstance(value, list):
        return [unwire(v) for v in value]
    if not isinstance(value, dict):
        return value
    buckets: dict[int, list[str]] = {}
    for key in value:
        buckets.setdefault(tdb_hash(key) % 512, []).append(key)
    order: list[str] = []
    for key in value:
        b = buckets[tdb_hash(key) % 512]
        if b and b[-1] == key:  # emit the whole bucket once, reversed, where its last key appears
            order.extend(reversed(b))
    # keys are inserted bucket by bucket; QEMU only observes the order within a bucket
    return {k: unwire(value[k]) for k in order}


def expansion_key(typ: str, model: dict[str, Any]) -> str:
    return json.dumps({"type": typ, "model": model}, sort_keys=True)


def reply_of(vm: Qemu, execute: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """{"return": ...} or {"error": ...} as QEMU answered."""
    reply = vm.q(execute, args)
    reply.pop("id", None)
    return reply


def kvm_usable() -> bool:
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError:
        return False
    return True


def record_accel(binary: str, accel: str) -> dict[str, Any]:
    vm = Qemu(binary, ["-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", f"none,accel={accel}"])
    try:
        out: dict[str, Any] = {
            "query-kvm": vm.ok("query-kvm"),
            "query-machines": vm.ok("query-machines"),
            "query-cpu-definitions": vm.ok("query-cpu-definitions"),
            "query-sev-capabilities": reply_of(vm, "query-sev-capabilities"),
            "query-sgx-capabilities": reply_of(vm, "query-sgx-capabilities"),
        }
        expansions: dict[str, Any] = {}
        for typ in ("static", "full"):
            for name in EXPAND_MODELS:
                for props in EXPAND_PROPS:
                    model: dict[str, Any] = {"name": name}
                    if props is not None:
                        model["props"] = props
                    expansions[expansion_key(typ, model)] = reply_of(
                        vm, "query-cpu-model-expansion", {"type": typ, "model": model}
                    )
        out["expansions"] = expansions
        return out
    finally:
        vm.close()


def record_common(binary: str) -> dict[str, Any]:
    vm = Qemu(binary, ["-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", "none,accel=tcg"])
    try:
        # libvirt lists the QOM types first; that loads every module (the SPICE one among them), and
        # query-command-line-options then lists -spice, as libvirt sees it
        vm.ok("qom-list-types")
        return {
            "query-target": vm.ok("query-target"),
            "query-command-line-options": vm.ok("query-command-line-options"),
            "query-migrate-capabilities": vm.ok("query-migrate-capabilities"),
            "query-tpm-models": vm.ok("query-tpm-models"),
            "query-tpm-types": vm.ok("query-tpm-types"),
            "device-list-properties": {
                t: reply_of(vm, "device-list-properties", {"typename": t}) for t in DEVICE_TYPES
            },
            "qom-list-properties": {t: reply_of(vm, "qom-list-properties", {"typename": t}) for t in QOM_TYPES},
            "errors": {
                "device-list-properties": vm.err("device-list-properties", {"typename": "nosuch-dev"}),
                "qom-list-properties": vm.err("qom-list-properties", {"typename": "nosuch-type"}),
                "query-cpu-model-expansion": vm.err(
                    "query-cpu-model-expansion", {"type": "static", "model": {"name": "nosuch-cpu"}}
                ),
                "query-cpu-model-expansion-prop": vm.err(
                    "query-cpu-model-expansion", {"type": "full", "model": {"name": "max", "props": {"nosuch": True}}}
                ),
                "getfd": vm.err("getfd", {"fdname": "fd0"}),
                "closefd": vm.err("closefd", {"fdname": "fd0"}),
                "add-fd": vm.err("add-fd", {}),
                "remove-fd": vm.err("remove-fd", {"fdset-id": 7}),
                "getfd-digit": _getfd_digit(vm),
            },
        }
    finally:
        vm.close()


def _getfd_digit(vm: Qemu) -> Any:
    r, w = os.pipe()
    try:
        return vm.err("getfd", {"fdname": "1x"}, fds=[r])
    finally:
        os.close(r)
        os.close(w)


def record_cpus(binary: str, machine: str) -> dict[str, Any]:
    vm = Qemu(binary, ["-S", "-nodefaults", "-display", "none", "-machine", machine, "-accel", "tcg",
                       "-smp", "1,sockets=1,cores=1,threads=1", "-m", "64"])  # fmt: skip
    try:
        fast = vm.ok("query-cpus-fast")
        return {"query-hotpluggable-cpus": vm.ok("query-hotpluggable-cpus"), "query-cpus-fast": fast}
    finally:
        vm.close()


def record_block(binary: str) -> dict[str, Any]:
    """A libvirt-style file + raw node pair under a virtio-blk-pci; the image is a 1 MiB sparse file."""
    tmp = tempfile.mkdtemp(prefix="record-block-")
    image = os.path.join(tmp, "disk.img")
    with open(image, "wb") as f:
        f.truncate(1 << 20)
    vm = Qemu(binary, ["-S", "-nodefaults", "-display", "none", "-machine", "pc-i440fx-7.2", "-accel", "tcg"])
    try:
        storage = {
            "driver": "file", "filename": image, "node-name": "libvirt-1-storage",
            "auto-read-only": True, "discard": "unmap",
        }  # fmt: skip
        fmt = {"node-name": "libvirt-1-format", "read-only": False, "driver": "raw", "file": "libvirt-1-storage"}
        out: dict[str, Any] = {"image": image, "image-size": 1 << 20}
        out["errors"] = {
            "missing-file": vm.err("blockdev-add", {**storage, "filename": image + ".missing"}),
            "missing-child": vm.err("blockdev-add", fmt),
        }
        vm.ok("blockdev-add", storage)
        out["errors"]["duplicate"] = vm.err("blockdev-add", storage)
        vm.ok("blockdev-add", fmt)
        out["errors"]["del-busy-child"] = vm.err("blockdev-del", {"node-name": "libvirt-1-storage"})
        out["errors"]["del-missing"] = vm.err("blockdev-del", {"node-name": "nosuch-node"})
        out["nodes-unattached"] = vm.ok("query-named-block-nodes", {"flat": True})
        out["block-unattached"] = vm.ok("query-block")
        vm.ok("device_add", {"driver": "virtio-blk-pci", "bus": "pci.0", "addr": "0x4",
                             "drive": "libvirt-1-format", "id": "virtio-disk1"})  # fmt: skip
        out["errors"]["del-busy-device"] = vm.err("blockdev-del", {"node-name": "libvirt-1-format"})
        out["nodes-attached"] = vm.ok("query-named-block-nodes", {"flat": True})
        out["block-attached"] = vm.ok("query-block")
        vm.ok("cont")
        vm.ok("device_del", {"id": "virtio-disk1"})
        vm.ok("human-monitor-command", {"command-line": "o/w 0xae08 0x10"})
        vm.wait_event("DEVICE_DELETED")
        vm.ok("blockdev-del", {"node-name": "libvirt-1-format"})
        vm.ok("blockdev-del", {"node-name": "libvirt-1-storage"})
        out["nodes-after"] = vm.ok("query-named-block-nodes", {"flat": True})
        return out
    finally:
        vm.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default="qemu-system-x86_64")
    parser.add_argument("--out", default=str(OUT))
    ns = parser.parse_args()
    binary = shutil.which(ns.binary)
    if binary is None:
        print(f"{ns.binary} not found (apt-get install -y qemu-system-x86)", file=sys.stderr)
        return 1
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    accels = (["kvm"] if kvm_usable() else []) + ["tcg"]
    data: dict[str, Any] = {
        "qemu": version.splitlines()[0],
        "accel": {a: record_accel(binary, a) for a in accels},
        **record_common(binary),
        "cpus": {"pc": record_cpus(binary, "pc-i440fx-7.2"), "q35": record_cpus(binary, "pc-q35-7.2")},
        "block": record_block(binary),
    }
    Path(ns.out).write_text(json.dumps(unwire(data), indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {ns.out} ({os.path.getsize(ns.out)} bytes; accelerators {', '.join(accels)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
