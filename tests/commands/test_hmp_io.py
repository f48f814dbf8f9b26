"""HMP i/o through human-monitor-command: the "return" strings measured on QEMU 7.2 (pc, -nodefaults)."""

from __future__ import annotations

from fakeqemu.commands.hmp_io import hmp_i, hmp_o, register
from tests.machine.rig import Rig

TRY_I = 'Try "help i" for more information\r\n'
TRY_O = 'Try "help o" for more information\r\n'


def test_sticky_size_and_formats() -> None:
    b = Rig("pc")
    m = b.machine
    assert hmp_i(m, "0xae0c") == "portl[0xae0c] = 0xfffffffc\r\n"  # default size 4
    assert hmp_i(m, "/b 0xae0c") == "portb[0xae0c] = 0x00\r\n"
    assert hmp_i(m, "0x1234") == "portb[0x1234] = 0xff\r\n"  # size sticks
    assert hmp_i(m, "/w 0xae0c") == "portl[0xae0c] = 0xfffffffc\r\n"  # w = 4 bytes
    assert hmp_i(m, "/h 0x1234") == "portw[0x1234] = 0xffff\r\n"
    assert hmp_i(m, "/g 0x1234") == "portb[0x1234] = 0x00000000000000ff\r\n"
    assert hmp_i(m, "/i 0x1234") == "portb[0x1234] = 0xff\r\n"
    assert hmp_i(m, "/bh 0x1234") == "portw[0x1234] = 0xffff\r\n"
    assert hmp_i(m, "/l 0xae0c") == "invalid char in format: 'l'\r\n" + TRY_I
    assert hmp_i(m, " /b 0x1234") == "portb[0x1234] = 0xff\r\n"


def test_expressions_and_errors() -> None:
    b = Rig("pc")
    m = b.machine
    hmp_i(m, "/b 0")
    assert hmp_i(m, "") == "unexpected end of expression\r\n" + TRY_I
    assert hmp_i(m, "0x10000").startswith("portb[0x0000] = ")  # masked; port 0 (DMA) not modelled
    assert hmp_i(m, "0xfffff") == "portb[0xffff] = 0xff\r\n"
    assert hmp_i(m, "-1") == "'i' has failed: integer is for 32-bit values\r\n" + TRY_I
    assert hmp_i(m, "foo") == "invalid char 'f' in expression\r\n" + TRY_I
    assert hmp_i(m, "0x80 0x1") == "i: extraneous characters at the end of line\r\n" + TRY_I
    assert hmp_i(m, "0x80&0xff|1").startswith("portb[0x0081]")
    assert hmp_i(m, "1+2*3").startswith("portb[0x0007]")
    assert hmp_i(m, "2|1+1").startswith("portb[0x0004]")
    assert hmp_i(m, "5 +3").startswith("portb[0x0008]")
    assert hmp_i(m, "'a'").startswith("portb[0x0061]")
    assert hmp_i(m, "'ab'") == "missing terminating ' character\r\n" + TRY_I
    assert hmp_i(m, "(0x80") == "')' expected\r\n" + TRY_I
    assert hmp_i(m, "0x80/0") == "division by zero\r\n" + TRY_I
    assert hmp_i(m, "0xffffffffffffffffff") == "number too large\r\n" + TRY_I
    assert hmp_i(m, "1K") == "i: extraneous characters at the end of line\r\n" + TRY_I
    assert hmp_i(m, "$pc").startswith("portb[0xfff0]")
    assert hmp_i(m, "$foo") == "unknown register\r\n" + TRY_I


def test_o() -> None:
    b = Rig("pc")
    m = b.machine
    assert hmp_o(m, "0x80 0x12") == ""
    assert hmp_o(m, "/h 0xafe2 0x2") == ""
    assert hmp_i(m, "0xafe2") == "portw[0xafe2] = 0x0002\r\n"
    assert hmp_o(m, "") == "unexpected end of expression\r\n" + TRY_O
    assert hmp_o(m, "0x80") == "unexpected end of expression\r\n" + TRY_O
    assert hmp_o(m, "/b 0x80 -1") == "unexpected end of expression\r\n" + TRY_O
    assert hmp_o(m, "0x80 0x100000000") == "'o' has failed: integer is for 32-bit values\r\n" + TRY_O
    assert hmp_o(m, "0x80 1 2") == "o: extraneous characters at the end of line\r\n" + TRY_O
    assert hmp_o(m, "/q 0x80 1") == "invalid char in format: 'q'\r\n" + TRY_O


def test_register() -> None:
    table: dict[str, object] = {}
    register(table)
    assert table == {"i": hmp_i, "o": hmp_o}
