"""qtest replies, byte for byte as Debian's QEMU 7.2 sends them (measured)."""

from __future__ import annotations

import pytest

from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.machine.plug import device_add, device_del
from fakeqemu.protocols.qtest import QtestAbort, QtestSession, parse_c_u64
from fakeqemu.qmp.errors import GenericError
from tests.machine.rig import Rig


def session() -> tuple[Rig, QtestSession]:
    b = Rig("pc")
    return b, QtestSession(b.machine)


def test_port_io_formats() -> None:
    _b, s = session()
    assert s.handle_line("inl 0xae0c") == "OK 0xfffffffc\n"
    assert s.handle_line("inl 0xae00") == "OK 0x0000\n"
    assert s.handle_line("inb 0x1234") == "OK 0x00ff\n"
    assert s.handle_line("inl 0xae18") == "OK 0xffffffff\n"
    assert s.handle_line("outl 0xae10 0x100000003") == "OK\n"
    assert s.handle_line("inl 0xae10") == "OK 0x0003\n"
    assert s.handle_line("inb 0x80 extra") == "OK 0x00ff\n"


def test_memory_and_misc() -> None:
    _, s = session()
    assert s.handle_line("readb 0x0") == "OK 0x0000000000000000\n"
    assert s.handle_line("writeb 0x10 0x5") == "OK\n"
    assert s.handle_line("readl 0x10") == "OK 0x0000000000000005\n"
    assert s.handle_line("read 0x10 4") == "OK 0x05000000\n"
    assert s.handle_line("b64read 0x10 4") == "OK BQAAAA==\n"
    assert s.handle_line("memset 0x20 4 0xab") == "OK\n"
    assert s.handle_line("read 0x20 5") == "OK 0xabababab00\n"
    assert s.handle_line("b64read 0 0") == "OK \n"
    assert s.handle_line("write 0 0 0x00") == "OK\n"
    assert s.handle_line("write 0x0 4 0x") == "ERR invalid argument size\n"
    assert s.handle_line("b64write 0 1 ab") == "ERR invalid argument size\n"
    assert s.handle_line("endianness x") == "OK little\n"
    assert s.handle_line("module_load a b") == "FAIL\n"
    assert s.handle_line("clock_step") == "FAIL Unknown command 'clock_step'\n"
    assert s.handle_line("clock_set 100") == "FAIL Unknown command 'clock_set'\n"
    assert s.handle_line("foo bar") == "FAIL Unknown command 'foo'\n"


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ("", "383:qtest_process_command: assertion failed: (command)"),
        ("inl 0xae00\r", "495:qtest_process_command: assertion failed: (ret == 0)"),
        ("inb  0x80", "495:qtest_process_command: assertion failed: (ret == 0)"),
        ("outb 0xae00", "470:qtest_process_command: assertion failed: (words[1] && words[2])"),
        ("outb 0x80 x", "474:qtest_process_command: assertion failed: (ret == 0)"),
        ("inb 0x10000", "496:qtest_process_command: assertion failed: (addr <= 0xffff)"),
        ("outb 0x10000 1", "475:qtest_process_command: assertion failed: (addr <= 0xffff)"),
        ("inl", "493:qtest_process_command: assertion failed: (words[1])"),
        ("read 0 0", "589:qtest_process_command: assertion failed: (len)"),
        ("irq_intercept_in", "389:qtest_process_command: assertion failed: (words[1])"),
        ("b64write 0 x abcd", "694:qtest_process_command: assertion failed: (ret == 0)"),
    ],
)
def test_asserts_abort(line: str, where: str) -> None:
    _, s = session()
    with pytest.raises(QtestAbort) as exc:
        s.handle_line(line)
    assert exc.value.stderr == f"**\nERROR:../../softmmu/qtest.c:{where}\n"
    assert exc.value.stdout == f"Bail out! ERROR:../../softmmu/qtest.c:{where}\n"


def test_parse_c_u64() -> None:
    assert parse_c_u64("0x10") == 16 and parse_c_u64("010") == 8 and parse_c_u64("10") == 10
    assert parse_c_u64("-1") == (1 << 64) - 1
    assert parse_c_u64("0x") is None and parse_c_u64("") is None and parse_c_u64("08") is None


def test_irq_intercept_reports_sci() -> None:
    m = Machine(MachineConfig(qtest=True, paused=True))
    s = QtestSession(m)
    assert s.handle_line("irq_intercept_in /nonexist") == "FAIL Unknown device\n"
    assert s.handle_line("irq_intercept_in ioapic") == "OK\n"  # a partial path: /machine/i440fx/ioapic
    assert s.handle_line("irq_intercept_out ioapic") == "OK\n"
    assert s.handle_line("outw 0xafe2 0x2") == "OK\n"
    device_add(m, {"driver": "e1000", "id": "n2", "addr": "6"})  # a QMP device_add: the line is asynchronous
    assert s.take_async() == "IRQ raise 9\n"
    assert s.handle_line("outw 0xafe0 0x2") == "IRQ lower 9\nOK\n"


def test_log_lines() -> None:
    b = Rig("pc")
    lines: list[str] = []
    s = QtestSession(b.machine, log=lines.append)
    s.handle_line("inb 0x80")
    assert lines == ["[R +0.000000] inb 0x80\n", "[S +0.000000] OK 0x00ff\n"]


def test_qtest_accelerator_clock() -> None:
    """Upstream's qtest accelerator: clock_step/clock_set move the virtual clock, forward only. A pending
    ACPI unplug is refused again while that clock stands at 0 (pcihp stamps the request with it), and
    accepted once the clock has moved."""
    machine = Machine(MachineConfig(machine_type="pc", qtest=True, accel="qtest"))
    s = QtestSession(machine)
    device_add(machine, {"driver": "e1000", "id": "nic0", "addr": "0x5"}, hotplug=True)
    device_del(machine, "nic0")
    with pytest.raises(GenericError, match="already in the process of unplug"):
        device_del(machine, "nic0")
    assert s.handle_line("clock_step 100") == "OK 100\n"
    assert s.handle_line("clock_set 50") == "OK 100\n"
    assert s.handle_line("clock_set 0x3b9aca00") == "OK 1000000000\n"
    assert s.handle_line("clock_step") == "OK 1000000000\n"
    with pytest.raises(QtestAbort):
        s.handle_line("clock_set")
    with pytest.raises(QtestAbort):
        s.handle_line("clock_step x")
    with pytest.raises(GenericError, match="already in the process of unplug"):
        device_del(machine, "nic0")  # stamped 0 when first asked: refused for good under qtest
    device_add(machine, {"driver": "e1000", "id": "nic1", "addr": "0x6"}, hotplug=True)
    device_del(machine, "nic1")
    device_del(machine, "nic1")  # stamped 1000 ms = now: accepted and sent again


def test_no_clock_commands_without_the_qtest_accelerator() -> None:
    _, s = session()
    assert s.handle_line("clock_step 100") == "FAIL Unknown command 'clock_step'\n"
    assert s.handle_line("clock_set 100") == "FAIL Unknown command 'clock_set'\n"
