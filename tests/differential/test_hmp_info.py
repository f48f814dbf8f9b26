"""Differential: HMP help, device_add, netdev_add/netdev_del and the info commands info network,
info chardev and info cpus, their output and errors, through human-monitor-command."""

from __future__ import annotations

from tests.differential.test_hmp_commands import hmp
from tests.oracle import Qtest, Script, WaitEvent, call, differential_tests, script

NETWORK = (
    "-netdev", "user,id=u0", "-device", "e1000,netdev=u0,id=nic0",
    "-netdev", "user,id=u9,net=10.1.0.0/16,restrict=on", "-device", "virtio-net-pci,id=n2",
)  # fmt: skip

SCRIPTS: list[Script] = [
    script(
        "hmp-help",
        hmp("help", "help info pci", "help nosuch extra", "? stop", "help cont", "help info nosuch", "info"),
        hmp("help help", "help device_add", "help log", "help info"),
        hmp("help 'info' \"pci\"", 'help "info" "pci"', 'help "info'),
        machine="pc",
    ),
    script(
        "hmp-device-add",
        hmp("device_add", "device_add nosuch", "device_add e1000,foo=1", "device_add e1000,bogus"),
        hmp("device_add e1000 x", 'device_add "e1000', "device_add e1000,id=9bad", "device_add e1000,addr=zz"),
        hmp("device_add e1000,help", "device_add nosuch,help", "device_add virtio-net-pci,help"),
        hmp("device_add help", "device_add ?,x"),
        # types fakeqemu does not model, an alias, an abstract type: the recorded listings (commands.devicehelp)
        hmp("device_add ich9-ahci,help", "device_add virtio-net,help", "device_add device,help"),
        hmp("device_add e1000,id=x,addr=0x5", "device_add e1000,id=x", 'device_add "driver=e1000,id=y"'),
        call("query-pci"),
        machine="pc",
    ),
    script(
        "hmp-network",
        hmp("info network", "netdev_add", "netdev_add user", "netdev_add nosuch,id=x", "netdev_add help"),
        hmp("netdev_add user,id=u2", "netdev_add user,id=u2", "netdev_add user,id=u3,bogus=1"),
        hmp("netdev_add user,id=x,help", "netdev_add user,id=9", "netdev_add user,id=u5,restrict=maybe"),
        hmp("netdev_add user,id=u6,net=10.9.0.0/16,restrict=yes", "netdev_add user,id=a b"),
        hmp("device_add e1000,netdev=u2", "device_add virtio-net-pci,netdev=u6,id=vn,addr=0x6", "info network"),
        hmp("netdev_del u2", "netdev_del", "netdev_del nosuch", "info network"),
        hmp("device_del vn"),
        Qtest("outl 0xae08 0x40"),
        WaitEvent("DEVICE_DELETED", device="vn"),
        hmp("info network", "netdev_del u6", "info network"),
        machine="pc",
        extra_args=NETWORK,
    ),
    script(
        "hmp-info-chardev-cpus",
        hmp("info chardev", "info cpus"),
        machine="q35",
        extra_args=("-smp", "3", "-chardev", "null,id=n0", "-chardev", "null,id=zz"),
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
