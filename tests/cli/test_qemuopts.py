from __future__ import annotations

import pytest

from fakeqemu.cli.qemuopts import UsageError, device_opts, parse_size_mb, split_opts


def test_split_opts_follows_qemuopts() -> None:
    assert split_opts("pc,accel=tcg,usb=off", implied="type") == {"type": "pc", "accel": "tcg", "usb": "off"}
    assert split_opts("unix:/a,,b,server,nowait") == {"unix:/a,b": "on", "server": "on", "wait": "off"}
    assert split_opts("guest=vm1,debug-threads=on", implied="guest") == {"guest": "vm1", "debug-threads": "on"}


def test_device_opts_in_both_syntaxes() -> None:
    assert device_opts("virtio-net-pci,id=n0,addr=0x4") == {"driver": "virtio-net-pci", "id": "n0", "addr": "0x4"}
    assert device_opts('{"driver":"piix3-usb-uhci","id":"usb","bus":"pci.0","addr":"0x1.0x2"}') == {
        "driver": "piix3-usb-uhci",
        "id": "usb",
        "bus": "pci.0",
        "addr": "0x1.0x2",
    }
    with pytest.raises(UsageError):
        device_opts("{not json")


def test_memory_sizes() -> None:
    assert parse_size_mb("64") == 64
    assert parse_size_mb("2G") == 2048
    assert parse_size_mb("size=512M,slots=2,maxmem=4G") == 512
