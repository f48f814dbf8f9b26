"""Differential: the QOM tree, device properties, backends and HMP, as QEMU 7.2 answers them."""

from __future__ import annotations

from tests.oracle import Qtest, Script, Step, Sync, WaitEvent, call, differential_tests, script

RP1 = ["-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x3"]


def get(path: str, *props: str) -> list[Step]:
    out: list[Step] = []
    for prop in props:
        out += call("qom-get", {"path": path, "property": prop})
    return out


SCRIPTS: list[Script] = [
    script(
        "qom-pc-tree",
        call("qom-list", {"path": "/"}),
        call("qom-list", {"path": "/machine"}),
        call("qom-list", {"path": "/machine/i440fx/pci.0"}),
        call("qom-list", {"path": "pci.0"}),
        call("qom-list", {"path": "/machine/i440fx/pci.0/child[3]"}),
        call("qom-list", {"path": "/machine/unattached/device[0]"}),
        call("qom-list", {"path": "/machine/nosuch"}),
        call("qom-list", {"path": "nosuch"}),
        call("qom-list", {"path": ""}),
        get("/machine", "type", "kernel", "smm", "acpi", "nosuch"),
        get("/machine/i440fx/pci.0", "acpi-pcihp-bsel", "child[1]", "hotplug-handler", "realized"),
        get("/machine/unattached/device[18]", "addr", "hotplugged", "hotpluggable", "parent_bus", "legacy-addr"),
        call("qom-set", {"path": "/machine/unattached/device[18]", "property": "hotplugged", "value": True}),
        call("qom-set", {"path": "/machine/nosuch", "property": "x", "value": 1}),
    ),
    script(
        "qom-q35-tree",
        call("qom-list", {"path": "/machine/q35/pcie.0"}),
        call("qom-list", {"path": "/machine/peripheral/rp1"}),
        call("qom-list", {"path": "/machine/peripheral/rp1/rp1"}),
        call("device_add", {"driver": "virtio-net-pci", "id": "n1", "bus": "rp1"}),
        call("qom-list", {"path": "/machine/peripheral/rp1/rp1"}),
        get("/machine/peripheral/n1", "addr", "parent_bus", "hotplugged", "legacy-addr"),
        get("/machine/peripheral/n1/virtio-backend", "mac", "parent_bus", "hotplugged"),
        get("/machine/peripheral/rp1/rp1", "acpi-pcihp-bsel", "child[0]"),
        call("query-pci"),
        machine="q35",
        extra_args=RP1,
    ),
    script(
        "qom-anonymous-devices-and-bridges",
        call("device_add", {"driver": "pci-bridge", "chassis_nr": 3, "addr": "0x7"}),
        call("device_add", {"driver": "pci-bridge", "chassis_nr": 4, "addr": "0x9"}),
        call("device_add", {"driver": "e1000", "id": "n1", "bus": "pci.2", "addr": "2"}),
        call("device_add", {"driver": "e1000"}),
        call("device_add", {"driver": "rtl8139", "id": 5}),
        call("qom-list", {"path": "/machine/peripheral-anon"}),
        call("qom-list", {"path": "/machine/peripheral-anon/device[1]/pci.2"}),
        get("/machine/peripheral-anon/device[2]", "mac", "addr", "parent_bus"),
        get("/machine/peripheral/n1", "mac", "parent_bus"),
        call("query-pci"),
        call("device_del", {"id": "/machine/peripheral-anon/device[2]"}),
        Qtest("inl 0xae04"),
        Qtest("outl 0xae08 0x4"),
        WaitEvent("DEVICE_DELETED"),
        Sync(),
        call("qom-list", {"path": "/machine/peripheral-anon"}),
        call("device_add", {"driver": "e1000"}),
        call("qom-list", {"path": "/machine/peripheral-anon"}),
    ),
    script(
        "qom-hot-bridge-cascade",
        call("device_add", {"driver": "pci-bridge", "id": "br2", "chassis_nr": 2, "addr": "0x8"}),
        call("device_add", {"driver": "e1000", "id": "n1", "bus": "br2", "addr": "2"}),
        call("device_add", {"driver": "virtio-net-pci", "id": "n2", "bus": "br2", "addr": "3"}),
        call("qom-list", {"path": "/machine/peripheral/br2/br2"}),
        call("device_del", {"id": "n1"}),  # an unpowered slot of the bridge's own controller: gone at once
        WaitEvent("DEVICE_DELETED", device="n1"),  # finalized after the RCU grace period
        call("device_del", {"id": "br2"}),
        Qtest("outl 0xae08 0x100"),
        WaitEvent("DEVICE_DELETED", device="br2"),
        Sync(),
        call("qom-list", {"path": "/machine/peripheral"}),
    ),
    script(
        "qom-multifunction-and-values",
        call("device_add", {"driver": "e1000", "id": "a", "addr": "5"}),
        call("device_add", {"driver": "e1000", "id": "b", "addr": "5.1"}),
        call("device_add", {"driver": "e1000", "id": "c", "addr": "6", "multifunction": "on"}),
        call("device_add", {"driver": "e1000", "id": "d", "addr": "7.2"}),
        call("device_add", {"driver": "e1000", "id": "e", "addr": "7"}),
        call("device_add", {"driver": "e1000", "id": "f", "addr": True}),
        call("device_add", {"driver": "e1000", "id": "g", "addr": [1]}),
        call("device_add", {"driver": "e1000", "mitigation": "maybe"}),
        call("device_add", {"driver": "e1000", "bootindex": "x"}),
        call("device_add", {"driver": "e1000", "acpi-index": "-1"}),
        call("device_add", {"driver": "virtio-net-pci", "mac": "zz"}),
        call("device_add", {"driver": "virtio-net-pci", "bogus": "1"}),
        call("device_add", {"driver": "e1000", "addr": "1"}),
        get("/machine/peripheral/c", "multifunction", "addr"),
        call("qom-list", {"path": "/machine/peripheral"}),
        call("query-pci"),
    ),
    script(
        "backends-netdev-blockdev",
        call("netdev_add", {"type": "user", "id": "n1"}),
        call("netdev_add", {"type": "user", "id": "n1"}),
        call("netdev_add", {"type": "user", "id": "1n"}),
        call("netdev_del", {"id": "nx"}),
        call("blockdev-add", {"driver": "null-co"}),
        call("blockdev-add", {"driver": "null-co", "node-name": "d1"}),
        call("blockdev-add", {"driver": "null-co", "node-name": "d1"}),
        call("device_add", {"driver": "virtio-blk-pci", "drive": "d1", "id": "b1", "addr": "4"}),
        call("device_add", {"driver": "virtio-blk-pci", "drive": "d1", "id": "b2"}),
        call("device_add", {"driver": "virtio-blk-pci", "drive": "dz", "id": "b3"}),
        call("blockdev-del", {"node-name": "d1"}),
        call("blockdev-del", {"node-name": "dx"}),
        call("device_add", {"driver": "virtio-net-pci", "netdev": "n1", "id": "v1", "addr": "5"}),
        call("device_add", {"driver": "virtio-net-pci", "netdev": "n1", "id": "v2"}),
        call("device_add", {"driver": "e1000", "netdev": "nz", "id": "v3"}),
        call("device_del", {"id": "b1"}),
        Qtest("outl 0xae08 0x10"),
        WaitEvent("DEVICE_DELETED", device="b1"),
        Sync(),
        call("blockdev-del", {"node-name": "d1"}),
        call("netdev_del", {"id": "n1"}),
        call("netdev_add", {"type": "user", "id": "n1"}),
    ),
    script(
        "hmp-port-io-and-info-pci",
        call("device_add", {"driver": "virtio-net-pci", "id": "n1", "addr": "0x3"}),
        call("human-monitor-command", {"command-line": "info pci"}),
        call("human-monitor-command", {"command-line": "i/w 0xae00"}),
        call("device_del", {"id": "n1"}),
        call("human-monitor-command", {"command-line": "i/w 0xae04"}),
        # an HMP eject of an empty slot (an HMP eject of n1 would race QEMU's RCU thread against the reply)
        call("human-monitor-command", {"command-line": "o/w 0xae08 0x100"}),
        call("human-monitor-command", {"command-line": "i/w 0xae04"}),
        Qtest("outl 0xae08 0x8"),
        WaitEvent("DEVICE_DELETED", device="n1"),
        Sync(),
        call("human-monitor-command", {"command-line": "i/w 0xae04"}),
        call("human-monitor-command", {"command-line": "info pci"}),
        call("human-monitor-command", {"command-line": "info status"}),
        call("human-monitor-command", {"command-line": "nosuchcommand"}),
    ),
]


SCRIPTS += [
    script(
        "qom-set",
        call("device_add", {"driver": "e1000", "id": "dev0", "addr": "4"}),
        call("device_add", {"driver": "e1000", "addr": "5"}),
        call("qom-set", {"path": "/machine/peripheral/dev0", "property": "addr", "value": "05.0"}),
        call(
            "qom-set", {"path": "/machine/peripheral-anon/device[0]", "property": "mac", "value": "52:54:00:00:00:01"}
        ),
        call("qom-set", {"path": "/machine/peripheral/dev0", "property": "hotpluggable", "value": False}),
        call("qom-set", {"path": "/machine/peripheral/dev0", "property": "parent_bus", "value": "x"}),
        call("qom-set", {"path": "/machine/unattached/device[0]/lapic", "property": "id", "value": 3}),
        call("qom-set", {"path": "/machine", "property": "kernel", "value": "x"}),
        call("qom-get", {"path": "/machine", "property": "kernel"}),
        call("qom-set", {"path": "/machine", "property": "hpet", "value": "x"}),
        call("qom-set", {"path": "/machine", "property": "hpet", "value": False}),
        call("qom-get", {"path": "/machine", "property": "hpet"}),
        call("qom-set", {"path": "/machine", "property": "max-fw-size", "value": "big"}),
        call("qom-set", {"path": "/machine/i440fx/pci.0/child[0]", "property": "nosuch", "value": 1}),
        call("qom-set", {"path": "/machine/i440fx/pci0", "property": "nosuch", "value": 1}),
    ),
    script(
        "hmp-info-qtree-pc",
        call("human-monitor-command", {"command-line": "info qtree"}),
        call("netdev_add", {"type": "user", "id": "hn0"}),
        call("device_add", {"driver": "virtio-net-pci", "id": "n1", "netdev": "hn0", "mac": "52:54:00:aa:bb:cc"}),
        call("device_add", {"driver": "e1000", "addr": "0x6"}),
        call("device_add", {"driver": "rtl8139", "id": "r1", "bus": "br1", "addr": "0x2"}),
        call("device_add", {"driver": "e1000e", "id": "m1", "addr": "0x9.0", "multifunction": "on"}),
        call("human-monitor-command", {"command-line": "info qtree"}),
        extra_args=["-device", "pci-bridge,id=br1,chassis_nr=3,addr=0x5"],
    ),
    script(
        "hmp-info-qtree-q35",
        call("device_add", {"driver": "virtio-blk-pci", "id": "b1", "bus": "rp1", "drive": "d1"}),
        call("human-monitor-command", {"command-line": "info qtree"}),
        machine="q35",
        extra_args=[*RP1, "-blockdev", "driver=null-co,node-name=d1"],
    ),
]


# without -qtest there is no /machine/qtest nor /chardevs/qtest (the boards were recorded with it); on q35
# the qtest child's absence also moves three of /machine's properties in QEMU's hash order (nvdimm-persistence,
# q35, rtc_state), which fakeqemu takes from a recording of QEMU without -qtest
SCRIPTS += [
    script(
        f"qom-no-qtest-{machine}",
        call("qom-list", {"path": "/machine"}),
        call("qom-list", {"path": "/chardevs"}),
        call("qom-get", {"path": "/machine/qtest", "property": "type"}),
        qtest=False,
        machine=machine,
    )
    for machine in ("pc", "q35")
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
