"""Differential: odd ``-device`` values on QEMU's command line: ``-device help`` (the categorised listing)
and ``DRIVER,help`` (the property listing, exit 0 even for a driver that does not exist), a JSON ``addr``
that is neither a number nor a string, JSON that does not parse (exit 1), and a table of odd values in
either syntax (odd spellings, empty values, duplicate keys, bad ids, values of the wrong JSON type).

Every command line ends with a -device of a driver that does not exist, in the syntax of the last -device
of the case, so a value QEMU accepts ends the run too (with that device's error) and the table also shows
in which order QEMU creates the devices (the QemuOpts-syntax ones first, then the JSON ones)."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.oracle import Target, fakeqemu_target, qemu_target

BASE = ("-M", "pc", "-display", "none", "-nodefaults", "-S")
CASES = [
    *(["-device", f"{driver},help"] for driver in ("e1000", "virtio-net-pci", "virtio-blk-pci", "pcie-root-port")),
    *(
        ["-device", value]
        for value in (
            "help",
            "?",
            "help,id=x",
            "driver=help",
            "virtio-net,help",  # an alias
            "hyperv-testdev,help",  # no properties
            "i440FX-pcihost,help",  # not user-creatable, listed all the same
            "qemu64-x86_64-cpu,?",
            "e1000,help=off",
            "nonexistent,help",
            "device,help",  # abstract
            ",help",
        )
    ),
    ["-device", "nonexistent,help", "-device", "e1000,help"],  # the first help wins
    ["-device", "help", "-M", "bogus"],  # QEMU answers help before it selects the machine
    ["-device", "e1000,help", "-foo"],  # ... but after it has read the whole command line
    *(["-device", f'{{"driver": "e1000", "addr": {addr}}}'] for addr in ('{"a": 1}', "[1]", "true", "null", "1.5")),
    *(
        ["-device", text]
        for text in (
            '{"driver":"e1000"',
            '{"driver":e1000}',
            '{"driver":"e1000"}}',
            '{"driver":"e1000",}',
            '{"driver":"e1000" "id":"x"}',
            '{"driver":"e1000"} x',
        )
    ),
    *(
        ["-device", text]
        for text in (
            "e1000,id=1n",
            "e1000,id=",
            "e1000,id=a/b",
            "e1000,id=n1,id=n2",
            "e1000,addr=0x4,addr=0x5",
            "e1000,addr=",
            "e1000,addr=4.8",
            "e1000,bus=",
            "e1000,foo",
            "e1000,nofoo",
            "e1000,no",
            "e1000,=x",
            ",e1000",
            "e1000,,",
            "e1000,driver=rtl8139",
            "driver=",
            "E1000",
            " e1000",
            "e1000,netdev=",
            "e1000,multifunction=maybe",
            "e1000,acpi-index=-1",
            "e1000,romsize=1.5",
            "e1000,acpi-index=010",  # integers as qemu_strtoi64/u64 read them: C's bases, blanks first
            "e1000,acpi-index= 7",
            "e1000,acpi-index=0o7",
            "e1000,acpi-index=1_0",
            "virtio-net-pci,host_mtu=-1",
            "virtio-blk-pci,logical_block_size=0x200",  # sizes as qemu_strtosz reads them
            "virtio-blk-pci,logical_block_size=1 k",
            "virtio-blk-pci,discard_granularity=-1",
            "virtio-net-pci,disable-legacy=maybe",
            "virtio-blk-pci,werror=bogus",
            "e1000,foo,help",
            '{"driver":"e1000","id":"1n"}',
            '{"driver":"e1000","id":""}',
            '{"driver":"e1000","id":1}',
            '{"driver":"e1000","id":"a","id":"b"}',
            '{"driver":"e1000","addr":4}',
            '{"driver":"e1000","addr":-1}',
            '{"driver":"e1000","addr":256}',
            '{"driver":"e1000","addr":1099511627776}',
            '{"driver":"e1000","addr":"4.8"}',
            '{"driver":"e1000","foo":"bar"}',
            '{"driver":1}',
            '{"driver":""}',
            "{}",
            '{"driver":"help"}',
            '{"driver":"e1000","help":true}',
            ' {"driver":"e1000"}',
            '{"driver":"e1000","bus":1}',
            '{"driver":"e1000","multifunction":"on"}',
            '{"driver":"e1000","multifunction":1}',
            '{"driver":"e1000","acpi-index":"1"}',
            '{"driver":"e1000","acpi-index":-1}',
            '{"driver":"e1000","acpi-index":1.5}',
            '{"driver":"e1000","romfile":null}',
            '{"driver":"e1000","romfile":1}',
            '{"driver":"e1000","mac":"zz"}',
            '{"driver":"virtio-net-pci","disable-legacy":"maybe"}',
            '{"driver":"virtio-net-pci","disable-legacy":true}',
            "{'driver':'e1000'}",
        )
    ),
    ["-device", "e1000,id=a", "-device", "rtl8139,id=a"],
    ["-device", "e1000,id=a", "-device", '{"driver":"rtl8139","id":"a"}'],
    ["-device", '{"driver":"e1000","addr":"0x3"}', "-device", "rtl8139,addr=0x3"],
]


def _outcome(target: Target, args: list[str]) -> tuple[int, str, str]:
    sentinel = '{"driver":"no-such-device"}' if args[-1].startswith("{") else "no-such-device"
    res = subprocess.run(
        target.command([*BASE, *args, "-device", sentinel]),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return res.returncode, res.stdout, res.stderr


@pytest.mark.qemu
@pytest.mark.parametrize("args", CASES, ids=[" ".join(c)[:48] for c in CASES])
def test_device_option_like_qemu(qemu_binary: str, args: list[str]) -> None:
    with ThreadPoolExecutor(2) as pool:
        ours = pool.submit(_outcome, fakeqemu_target(), args)
        qemu = _outcome(qemu_target(), args)
    assert qemu[0] in (0, 1), qemu
    assert ours.result() == qemu
