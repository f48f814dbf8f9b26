"""HMP ``o`` and ``i`` (port I/O) as QEMU 7.2 answers them through human-monitor-command.

Argument types are HMP's ``fmt:/,addr:i`` and ``fmt:/,addr:i,val:i``: an optional ``/[count][format][size]``
(size letters b=1, h=2, w=4, g=8, GDB style; format letters x d u o t a i c), then expressions with QEMU's
grammar (sum of logic of product of unary; numbers as strtoull base 0, 'c' characters, $registers, parens).
The format and size are sticky per VM (QEMU keeps them in globals), starting as 'x' and 4.

Output: ``port%c[0x%04x] = 0x%0*x`` + CRLF for ``i`` (suffix b/w/l by size; other sizes read a byte); ``o``
prints nothing. Errors print a message then ``Try "help i" for more information``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

_FORMATS = "xduotaic"
_SIZES = {"b": 1, "h": 2, "w": 4, "g": 8}
#: x86 registers of a CPU at reset, for $name in expressions (target_monitor_defs + eip/pc)
_REGS = {
    "eax": 0,
    "ecx": 0,
    "edx": 0x663,
    "ebx": 0,
    "esp": 0,
    "ebp": 0,
    "esi": 0,
    "edi": 0,
    "eflags": 0x2,
    "eip": 0xFFF0,
    "pc": 0xFFFFFFF0,
    "cs": 0xF000,
    "ds": 0,
    "es": 0,
    "ss": 0,
    "fs": 0,
    "gs": 0,
    "sp": 0,
}


class _HmpError(Exception):
    pass


class _Expr:
    """QEMU's monitor expression parser (expr_sum / expr_logic / expr_prod / expr_unary)."""

    def __init__(self, text: str, pos: int) -> None:
        self.s = text
        self.p = pos

    def ch(self) -> str:
        return self.s[self.p] if self.p < len(self.s) else ""

    def next(self) -> None:
        if self.ch():
            self.p += 1
            self.skip()

    def skip(self) -> None:
        while self.ch() and self.ch() in " \t\n\v\f\r":
            self.p += 1

    def unary(self) -> int:
        c = self.ch()
        if c == "+":
            self.next()
            return self.unary()
        if c == "-":
            self.next()
            return _s64(-self.unary())
        if c == "~":
            self.next()
            return _s64(~self.unary())
        if c == "(":
            self.next()
            n = self.sum()
            if self.ch() != ")":
                raise _HmpError("')' expected")
            self.next()
            return n
        if c == "'":
            self.p += 1
            if not self.ch():
                raise _HmpError("character constant expected")
            n = ord(self.ch())
            self.p += 1
            if self.ch() != "'":
                raise _HmpError("missing terminating ' character")
            self.next()
            return n
        if c == "$":
            self.p += 1
            start = self.p
            while self.ch() and ((self.ch().isalnum() and self.ch().isascii()) or self.ch() in "_."):
                self.p += 1
            name = self.s[start : self.p]
            self.skip()
            if name not in _REGS:
                raise _HmpError("unknown register")
            return _REGS[name]
        if not c:
            raise _HmpError("unexpected end of expression")
        n, end = _strtoull(self.s, self.p)
        if end == self.p:
            raise _HmpError(f"invalid char '{c}' in expression")
        self.p = end
        self.skip()
        return n

    def prod(self) -> int:
        val = self.unary()
        while self.ch() in ("*", "/", "%") and self.ch():
            op = self.ch()
            self.next()
            val2 = self.unary()
            if op == "*":
                val = _s64(val * val2)
            else:
                if val2 == 0:
                    raise _HmpError("division by zero")
                q = abs(val) // abs(val2)
                q = q if (val >= 0) == (val2 >= 0) else -q
                val = q if op == "/" else _s64(val - q * val2)
        return val

    def logic(self) -> int:
        val = self.prod()
        while self.ch() in ("&", "|", "^") and self.ch():
            op = self.ch()
            self.next()
            val2 = self.prod()
            val = val & val2 if op == "&" else val | val2 if op == "|" else val ^ val2
        return val

    def sum(self) -> int:
        val = self.logic()
        while self.ch() in ("+", "-") and self.ch():
            op = self.ch()
            self.next()
            val2 = self.logic()
            val = _s64(val + val2 if op == "+" else val - val2)
        return val


HmpExprError = _HmpError


def expression(text: str, pos: int) -> tuple[int, int]:
    """One 'l' (64-bit) argument: QEMU's expression at ``pos``; its value and where it ends."""
    e = _Expr(text, pos)
    e.skip()
    return e.sum(), e.p


def _s64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


def _strtoull(s: str, pos: int) -> tuple[int, int]:
    """strtoull(s+pos, &end, 0) for the characters QEMU's parser reaches (no leading space/sign here)."""
    i = pos
    if s[i : i + 2] in ("0x", "0X") and i + 2 < len(s) and s[i + 2] in "0123456789abcdefABCDEF":
        j = i + 2
        while j < len(s) and s[j] in "0123456789abcdefABCDEF":
            j += 1
        digits, base = s[i + 2 : j], 16
    elif s[i : i + 1] == "0":
        j = i + 1
        while j < len(s) and s[j] in "01234567":
            j += 1
        digits, base = s[i:j], 8
    else:
        j = i
        while j < len(s) and s[j].isdigit() and s[j].isascii():
            j += 1
        digits, base = s[i:j], 10
    if j == pos:
        return 0, pos
    value = int(digits, base)
    if value >= 1 << 64:
        raise _HmpError("number too large")
    return _s64(value), j


def _parse(machine: Machine, name: str, args: str, nvals: int) -> tuple[int, list[int]]:
    fmt, size = machine.hmp_default_fmt
    p = 0
    while p < len(args) and args[p].isspace():
        p += 1
    if args[p : p + 1] == "/":
        p += 1
        while p < len(args) and args[p].isdigit():
            p += 1
        new_size = -1
        new_fmt = ""
        while p < len(args) and not args[p].isspace():
            c = args[p]
            if c in _SIZES:
                new_size = _SIZES[c]
            elif c in _FORMATS:
                new_fmt = c
            else:
                raise _HmpError(f"invalid char in format: '{c}'")
            p += 1
        fmt = new_fmt or fmt
        if fmt != "i":
            if new_size < 0:
                new_size = size
            size = new_size
            use_size = new_size
        else:
            use_size = new_size
        machine.hmp_default_fmt = (fmt, size)
    else:
        use_size = -1 if fmt == "i" else size
    values: list[int] = []
    for _ in range(nvals):
        e = _Expr(args, p)
        e.skip()
        val = e.sum()
        p = e.p
        if (val >> 32) & 0xFFFFFFFF:
            raise _HmpError(f"'{name}' has failed: integer is for 32-bit values")
        values.append(val)
    while p < len(args) and args[p].isspace():
        p += 1
    if p < len(args):
        raise _HmpError(f"{name}: extraneous characters at the end of line")
    return use_size, values


def _usage(name: str, msg: str) -> str:
    return f'{msg}\r\nTry "help {name}" for more information\r\n'


def hmp_i(machine: Machine, args: str) -> str:
    try:
        size, (addr,) = _parse(machine, "i", args, 1)
    except _HmpError as exc:
        return _usage("i", str(exc))
    addr &= 0xFFFF
    if size == 2:
        suffix, val = "w", machine.ioports.read(addr, 2)
    elif size == 4:
        suffix, val = "l", machine.ioports.read(addr, 4)
    else:
        suffix, val = "b", machine.ioports.read(addr, 1)
    width = size * 2
    digits = f"{val:0{width}x}" if width >= 0 else f"{val:x}".ljust(-width)
    return f"port{suffix}[0x{addr:04x}] = 0x{digits}\r\n"


def hmp_o(machine: Machine, args: str) -> str:
    try:
        size, (addr, val) = _parse(machine, "o", args, 2)
    except _HmpError as exc:
        return _usage("o", str(exc))
    addr &= 0xFFFF
    if size == 2:
        machine.ioports.write(addr, 2, val & 0xFFFF)
    elif size == 4:
        machine.ioports.write(addr, 4, val & 0xFFFFFFFF)
    else:
        machine.ioports.write(addr, 1, val & 0xFF)
    return ""


HmpHandler = Callable[["Machine", str], str]


def register(hmp_commands: dict[str, Any]) -> None:
    """Add ``i`` and ``o`` to the HMP command table (name -> function(machine, argstring) -> str)."""
    hmp_commands["i"] = hmp_i
    hmp_commands["o"] = hmp_o
