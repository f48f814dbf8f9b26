"""Differential: virtio-*-pci on q35 where it is transitional and where it is modern-only. QEMU 7.2's
virtio_pci_realize resolves ``disable-legacy=auto`` by where the device sits: on an express bus that is not
a root bus (behind a pcie-root-port) it is on (modern only: the 1af4:104x ids, a PCIe endpoint, no I/O
BAR); on pcie.0 itself (a root complex integrated slot) or behind a PCI bridge it is off (transitional:
the 1af4:10xx ids, an I/O BAR, a conventional function). query-pci, the disable-legacy and disable-modern
properties and the ids a guest reads through 0xcf8/0xcfc, cold-plugged and hot-plugged."""

from __future__ import annotations

from tests.differential.test_pci_config import QUIET, cfg_read, dump
from tests.oracle import Step, call, differential_tests, script

DRIVERS = ["virtio-net-pci", "virtio-blk-pci", "virtio-scsi-pci", "virtio-serial-pci", "virtio-balloon-pci",
           "virtio-rng-pci"]  # fmt: skip
PORTS = [f"pcie-root-port,id=rp{n},bus=pcie.0,chassis={n},addr=0x{n + 1:x}" for n in range(1, 7)]


def placed(driver: str, n: int, on_root: bool) -> str:
    extra = ",drive=d0" if driver == "virtio-blk-pci" else ""
    where = f"bus=pcie.0,addr=0x{n + 0x10:x}" if on_root else f"bus=rp{n + 1}"
    return f"{driver},id=v{n},{where}{extra}"


def looks(on_root: bool) -> list[Step]:
    steps: list[Step] = [*call("query-pci"), *call("human-monitor-command", {"command-line": "info pci"})]
    for n in range(len(DRIVERS)):
        # the legacy I/O BAR's region (32 bytes for net), which only a transitional device has
        steps += call("qom-get", {"path": f"/machine/peripheral/v{n}/virtio-pci[1]", "property": "size"})
        for prop in ("disable-legacy", "disable-modern"):
            steps += call("qom-get", {"path": f"/machine/peripheral/v{n}", "property": prop})
        bus, devfn = (0, (n + 0x10) << 3) if on_root else (n + 1, 0)
        # the whole conventional header and capabilities on pcie.0; the ids, subsystem and BAR 0 elsewhere
        steps += dump(bus, devfn) if on_root else cfg_read(bus, devfn, 0) + cfg_read(bus, devfn, 0x2C)
        steps += cfg_read(bus, devfn, 0x10)
    return steps


def args(on_root: bool) -> list[str]:
    out = [*QUIET, "-blockdev", "null-co,node-name=d0"]
    for port in PORTS:
        out += ["-device", port]
    for n, driver in enumerate(DRIVERS):
        out += ["-device", placed(driver, n, on_root)]
    return out


def behind_bridge() -> list[Step]:
    """A pcie-pci-bridge's bus is conventional: transitional there too, cold-plugged and hot-plugged."""
    steps: list[Step] = []
    for n, driver in enumerate(["virtio-net-pci", "virtio-rng-pci"]):
        steps += call("device_add", {"driver": driver, "id": f"b{n}", "bus": "br", "addr": hex(n + 2)})
        steps += call("qom-get", {"path": f"/machine/peripheral/b{n}", "property": "disable-legacy"})
    return [*steps, *call("qom-get", {"path": "/machine/peripheral/c0", "property": "disable-legacy"}),
            *call("query-pci"), *call("human-monitor-command", {"command-line": "info pci"})]  # fmt: skip


BRIDGE = [*QUIET, "-device", PORTS[0], "-device", "pcie-pci-bridge,id=br,bus=rp1",
          "-device", "virtio-balloon-pci,id=c0,bus=br,addr=0x1"]  # fmt: skip


def hotplugged() -> list[Step]:
    steps: list[Step] = [*call("blockdev-add", {"driver": "null-co", "node-name": "h0"})]
    for n, driver in enumerate(DRIVERS):
        extra = {"drive": "h0"} if driver == "virtio-blk-pci" else {}
        steps += call("device_add", {"driver": driver, "id": f"h{n}", "bus": "pcie.0", "addr": hex(n + 0x18), **extra})
        steps += call("qom-get", {"path": f"/machine/peripheral/h{n}", "property": "disable-legacy"})
        steps += cfg_read(0, (n + 0x18) << 3, 0)
    return [*steps, *call("query-pci")]


SCRIPTS = [
    script("virtio-on-pcie0", *looks(True), machine="q35", extra_args=args(True)),
    script("virtio-behind-root-ports", *looks(False), machine="q35", extra_args=args(False)),
    script("virtio-hotplug-pcie0", *hotplugged(), machine="q35", extra_args=QUIET),
    script("virtio-behind-pcie-pci-bridge", *behind_bridge(), machine="q35", extra_args=BRIDGE),
    # modern-only by request on pcie.0: no legacy I/O region (its configuration space is a limit, README)
    script(
        "virtio-modern-on-pcie0",
        *call("qom-get", {"path": "/machine/peripheral/m0", "property": "disable-legacy"}),
        *call("qom-get", {"path": "/machine/peripheral/m0/virtio-pci[1]", "property": "size"}),
        *call("qom-get", {"path": "/machine/peripheral/m0/virtio-pci[0]", "property": "size"}),
        machine="q35",
        extra_args=[*QUIET, "-device", "virtio-net-pci,id=m0,bus=pcie.0,addr=0x5,disable-legacy=on"],
    ),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
