"""info qtree and info pci: the recorded board text, and plugged devices written in where QEMU puts them."""

from __future__ import annotations

import pytest

from fakeqemu.commands.hmp import run
from fakeqemu.machine.board import recorded
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.machine.plug import device_add
from fakeqemu.machine.qtree import info_qtree


@pytest.mark.parametrize("kind", ["pc", "q35"])
def test_cold_boards_print_as_recorded(kind: str) -> None:
    m = Machine(MachineConfig(machine_type=kind, qtest=True, paused=True))
    assert m.board is not None
    assert info_qtree(m.board) == recorded()["boards"][kind]["info-qtree"]
    assert run(m, "info pci") == recorded()["boards"][kind]["info-pci"]


def test_plugged_devices_newest_first_with_their_values() -> None:
    m = Machine(MachineConfig(qtest=True, paused=True, netdevs=[{"type": "user", "id": "hn0"}]))
    assert m.board is not None
    device_add(m, {"driver": "pci-bridge", "id": "br1", "chassis_nr": 3, "addr": "0x5"})
    device_add(m, {"driver": "rtl8139", "id": "r1", "bus": "br1", "addr": "0x2"})
    device_add(m, {"driver": "virtio-net-pci", "id": "n1", "netdev": "hn0", "mac": "52:54:00:aa:bb:cc"})
    lines = info_qtree(m.board).split("\r\n")
    at = lines.index("    bus: pci.0")
    assert lines[at + 2] == '      dev: virtio-net-pci, id "n1"'
    dev_lines = [ln.strip() for ln in lines[at + 2 : lines.index('      dev: pci-bridge, id "br1"')]]
    assert 'mac = "52:54:00:aa:bb:cc"' in dev_lines and 'netdev = "hn0"' in dev_lines
    assert "addr = 02.0" in dev_lines  # the first free slot
    bridge = lines.index('      dev: pci-bridge, id "br1"')
    assert "        chassis_nr = 3 (0x3)" in lines[bridge : bridge + 4]
    bus = lines.index("        bus: br1", bridge)
    assert lines[bus + 2] == '          dev: rtl8139, id "r1"'
