"""Differential: HMP info block, drive_add and drive_del (legacy drives), their output and errors, and what
query-block lists after them: an empty drive, a drive drive_del'ed while a device uses it (nameless, no
medium), and the same drive gone with its device after the eject (blockdev_auto_del)."""

from __future__ import annotations

from tests.differential.test_hmp_commands import hmp
from tests.oracle import Qtest, Script, WaitEvent, call, differential_tests, script

DRIVES = (
    "-drive", "if=none,id=drive0",
    "-drive", "if=none,id=d1,file=null-co://,file.read-zeroes=on,format=raw",
    "-blockdev", "null-co,node-name=n1",
)  # fmt: skip

BLOCK = (
    "-blockdev", "driver=null-co,node-name=n1",
    "-device", "virtio-blk-pci,drive=n1,id=vb",
    "-drive", "if=none,id=drive0",
    "-blockdev", "driver=null-co,node-name=n2,detect-zeroes=on",
)  # fmt: skip

SCRIPTS: list[Script] = [
    script(
        "hmp-info-block",
        hmp("info block", "info block -n", "info block n1", "info block -v", "info block nosuch", "info block n2"),
        hmp("info block -n -v", "info block drive0", "info block -v n2", "info block -v -n", "info block x y"),
        hmp("drive_del drive0", "info block"),
        machine="pc",
        extra_args=BLOCK,
    ),
    script(
        "hmp-drive-add-del",
        hmp("drive_del nosuch", "drive_del", "drive_del n1", "drive_del n1"),
        call("device_add", {"driver": "virtio-blk-pci", "drive": "drive0"}),
        hmp("drive_del drive0", "drive_del drive0", "drive_add 0 if=none,id=drive0", "drive_add 0 if=none,id=drive0"),
        hmp("drive_add", "drive_add 0", "drive_add 0 if=ide,id=x1", "drive_add 0 id=x2", "drive_add 0 if=virtio,id=x3"),
        hmp("drive_add 0 if=none,id=x4,file=/nonexist", "drive_add 0 if=none,id=x5,bogus=1", "drive_add 0 a b c"),
        hmp("drive_add 0 if=none,id=d2,file=null-co://,file.read-zeroes=on,format=raw", "drive_add 0 if=none"),
        hmp("device_add virtio-blk-pci,drive=d1,id=dev0,addr=0x5", "drive_del d1", "drive_del d1", "drive_del d2"),
        hmp("device_add virtio-blk-pci,drive=d1,id=dev1"),
        call("query-block"),
        hmp("device_del dev0"),
        Qtest("outl 0xae08 0x20"),
        WaitEvent("DEVICE_DELETED", device="dev0"),
        call("query-block"),
        hmp("drive_add 0 if=none", "drive_add 0 if=none,id=d1"),
        call("query-block"),
        machine="pc",
        extra_args=DRIVES,
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
