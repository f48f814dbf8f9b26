"""The qtest line protocol, sans-IO, as QEMU 7.2's softmmu/qtest.c answers it (measured on Debian 7.2).

``QtestSession.handle_line(line)`` takes one line without its "\\n" (a "\\r" is part of the line, as in
QEMU) and returns the bytes to send, "\\n"-terminated, possibly several lines ("IRQ raise 9" lines
caused by the command come before its reply). Asynchronous lines (IRQ changes caused by QMP commands;
the SCI is IRQ 9 after ``irq_intercept_in ioapic``) are queued: ``take_async()`` returns them and
``on_async`` (if set) is called when one is queued.

QEMU asserts on malformed arguments (missing words, bad numbers, port > 0xffff): the process aborts.
``handle_line`` then raises ``QtestAbort``; the runtime must print ``.stdout`` to stdout and ``.stderr``
to stderr and die with SIGABRT. ``clock_step``/``clock_set`` exist under upstream's qtest accelerator
(``-accel qtest``, which Debian's build lacks); otherwise they are unknown commands, as in Debian's QEMU.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fakeqemu.qmp.cnum import strtou64

if TYPE_CHECKING:
    from fakeqemu.machine.core.ioport import PortRegion
    from fakeqemu.machine.machine import Machine

PAGE = 4096


class QtestAbort(Exception):
    """QEMU hit a g_assert: print these and abort (SIGABRT, exit status 134 / -6)."""

    def __init__(self, line: int, expr: str) -> None:
        msg = f"ERROR:../../softmmu/qtest.c:{line}:qtest_process_command: assertion failed: ({expr})"
        super().__init__(msg)
        self.stdout = f"Bail out! {msg}\n"
        self.stderr = f"**\n{msg}\n"


def parse_c_u64(text: str) -> int | None:
    """qemu_strtou64/qemu_strtoul with base 0 and no end pointer: the whole word must be a number;
    a leading '-' wraps. None on error (empty, trailing characters, overflow)."""
    return strtou64(text)


def _u64(word: str, line: int) -> int:
    """A number argument, or QEMU's g_assert(ret == 0) at ``line`` of qtest.c."""
    value = parse_c_u64(word)
    if value is None:
        raise QtestAbort(line, "ret == 0")
    return value


def _need(words: list[str], count: int, line: int) -> None:
    """``count`` arguments after the command, or QEMU's g_assert(words[1] && ...) at ``line``."""
    if len(words) <= count:
        raise QtestAbort(line, " && ".join(f"words[{i}]" for i in range(1, count + 1)))


class QtestSession:
    """One qtest connection to one VM. Memory written through qtest is kept sparsely in this session."""

    def __init__(self, machine: Machine, log: Callable[[str], None] | None = None) -> None:
        self.machine = machine
        #: guest RAM (the VM's: devices' DMA writes land there too)
        self.pages = machine.memory.ram
        self.irq_levels: dict[int, int] = {}
        self.intercept: Any = None
        self.async_out: list[str] = []
        self.on_async: Callable[[], None] | None = None
        #: receives QEMU's qtest log lines ("[R +t] ...", "[S +t] ..."); QEMU writes them to stderr
        #: unless -qtest-log is given
        self.log = log
        self.elapsed: Callable[[], float] = lambda: 0.0
        self._in_command = False
        self._buffer: list[str] = []
        self._unsubscribe: Callable[[], None] | None = None

    # --- output --------------------------------------------------------------------------------

    def _send(self, text: str, prefix: bool = True) -> None:
        if self.log is not None:
            self.log((f"[S +{self.elapsed():.6f}] " if prefix else "") + text)
        if self._in_command:
            self._buffer.append(text)
        else:
            self.async_out.append(text)
            if self.on_async is not None:
                self.on_async()

    def take_async(self) -> str:
        out = "".join(self.async_out)
        self.async_out.clear()
        return out

    def _irq(self, n: int, level: int) -> None:
        if self.irq_levels.get(n, 0) != level:
            self.irq_levels[n] = level
            self._send(f"IRQ {'raise' if level else 'lower'} {n}\n")

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --- input ---------------------------------------------------------------------------------

    def handle_line(self, line: str) -> str:
        words = line.split(" ") if line else []
        if self.log is not None:
            self.log(f"[R +{self.elapsed():.6f}]" + "".join(" " + w for w in words) + "\n")
        self._in_command = True
        self._buffer = []
        try:
            self._process(words)
        finally:
            self._in_command = False
        out = "".join(self._buffer)
        self._buffer = []
        return out

    def _process(self, w: list[str]) -> None:
        if not w:
            raise QtestAbort(383, "command")
        cmd = w[0]
        if cmd in ("irq_intercept_out", "irq_intercept_in"):
            _need(w, 1, 389)
            dev = self._resolve(w[1])
            if dev is None:
                self._send("FAIL Unknown device\n")
                return
            if self.intercept is not None:
                self._send("OK\n" if self.intercept is dev else "FAIL IRQ intercept already enabled\n")
                return
            self.intercept = dev
            if "ioapic" in str(getattr(dev, "type", "")) and cmd == "irq_intercept_in":
                self._hook_sci()
            self._send("OK\n")
        elif cmd == "set_irq_in":
            _need(w, 4, 438)
            if self._resolve(w[1]) is None:
                self._send("FAIL Unknown device\n")
                return
            self._send("OK\n")
        elif cmd in ("outb", "outw", "outl"):
            _need(w, 2, 470)
            addr = _u64(w[1], 472)
            value = _u64(w[2], 474)
            if addr > 0xFFFF:
                raise QtestAbort(475, "addr <= 0xffff")
            with self.machine.io_from("qtest"):
                self.machine.ioports.write(addr, {"b": 1, "w": 2, "l": 4}[cmd[3]], value)
            self._send("OK\n")
        elif cmd in ("inb", "inw", "inl"):
            _need(w, 1, 493)
            addr = _u64(w[1], 495)
            if addr > 0xFFFF:
                raise QtestAbort(496, "addr <= 0xffff")
            with self.machine.io_from("qtest"):
                value = self.machine.ioports.read(addr, {"b": 1, "w": 2, "l": 4}[cmd[2]])
            self._send(f"OK 0x{value:04x}\n")
        elif cmd in ("writeb", "writew", "writel", "writeq"):
            _need(w, 2, 515)
            addr = _u64(w[1], 517)
            value = _u64(w[2], 519)
            size = {"b": 1, "w": 2, "l": 4, "q": 8}[cmd[5]]
            self._mem_write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
            self._send("OK\n")
        elif cmd in ("readb", "readw", "readl", "readq"):
            _need(w, 1, 551)
            addr = _u64(w[1], 553)
            size = {"b": 1, "w": 2, "l": 4, "q": 8}[cmd[4]]
            value = int.from_bytes(self._mem_read(addr, size), "little")
            self._send(f"OK 0x{value:016x}\n")
        elif cmd == "read":
            _need(w, 2, 583)
            addr = _u64(w[1], 585)
            length = _u64(w[2], 587)
            if not length:
                raise QtestAbort(589, "len")
            self._send(f"OK 0x{self._mem_read(addr, length).hex()}\n")
        elif cmd == "b64read":
            _need(w, 2, 611)
            addr = _u64(w[1], 613)
            length = _u64(w[2], 615)
            data = self._mem_read(addr, length)
            self._send(f"OK {base64.b64encode(data).decode()}\n")
        elif cmd == "write":
            _need(w, 3, 632)
            addr = _u64(w[1], 634)
            length = _u64(w[2], 636)
            hexdata = w[3]
            if len(hexdata) < 3:
                self._send("ERR invalid argument size\n", prefix=False)
                return
            buf = bytearray(length)
            for i in range(length):
                if i * 2 + 4 <= len(hexdata):
                    hi, lo = _hex2nib(hexdata[i * 2 + 2]), _hex2nib(hexdata[i * 2 + 3])
                    buf[i] = ((hi << 4) & 0xFF) | (lo & 0xFF)
            self._mem_write(addr, bytes(buf))
            self._send("OK\n")
        elif cmd == "memset":
            _need(w, 3, 665)
            addr = _u64(w[1], 667)
            length = _u64(w[2], 669)
            pattern = _u64(w[3], 671)
            if length:
                self._mem_write(addr, bytes([pattern & 0xFF]) * length)
            self._send("OK\n")
        elif cmd == "b64write":
            _need(w, 3, 690)
            addr = _u64(w[1], 692)
            length = _u64(w[2], 694)
            if len(w[3]) < 3:
                self._send("ERR invalid argument size\n", prefix=False)
                return
            try:
                data = base64.b64decode(w[3] + "=" * (-len(w[3]) % 4))
            except ValueError:
                data = b""
            if len(data) != length and self.log is not None:
                self.log(
                    f"[S +{self.elapsed():.6f}] b64write: data length mismatch (told {length}, found {len(data)})\n"
                )
            self._mem_write(addr, data[:length].ljust(length, b"\0"))
            self._send("OK\n")
        elif cmd == "endianness":
            self._send("OK little\n")
        elif cmd == "module_load":
            _need(w, 2, 758)
            self._send("FAIL\n")
        elif cmd in ("clock_step", "clock_set") and self.machine.config.accel == "qtest":
            self._clock(w)
        else:
            self._send(f"FAIL Unknown command '{cmd}'\n")

    # --- helpers -------------------------------------------------------------------------------

    def _clock(self, w: list[str]) -> None:
        """The qtest accelerator's virtual clock: clock_step [NS] (no argument: to the next virtual timer;
        fakeqemu has none there, so it stays) and clock_set NS; it only moves forward. Replies the clock."""
        machine = self.machine
        if w[0] == "clock_set":
            _need(w, 1, 774)
        if len(w) > 1:
            value = _u64(w[1], 746 if w[0] == "clock_step" else 776)
            ns = value - (1 << 64) if value >= 1 << 63 else value
            dest = machine.virtual_clock_ns + ns if w[0] == "clock_step" else ns
            machine.virtual_clock_ns = max(machine.virtual_clock_ns, dest)
        self._send(f"OK {machine.virtual_clock_ns}\n")

    def _hook_sci(self) -> None:
        hp = getattr(self.machine, "pcihp", None)
        gpe = getattr(hp, "gpe", None)
        if gpe is None:
            return
        listeners: list[Callable[[int, int], None]] = gpe.sci_listeners
        listeners.append(self._irq)

        def unsubscribe() -> None:
            if self._irq in listeners:
                listeners.remove(self._irq)

        self._unsubscribe = unsubscribe

    def _resolve(self, path: str) -> Any:
        """object_resolve_path: absolute, or a partial path that matches exactly one object."""
        board = self.machine.board
        return None if board is None else board.tree.resolve(path)

    def _ram_limit(self) -> int:
        return int(self.machine.config.memory_mb) << 20

    def _mmio_chunk(self, addr: int, remaining: int) -> tuple[PortRegion, int] | None:
        """The device region decoding ``addr`` (above RAM) and the size of one access to it, split as
        QEMU's memory_access_size does (at most 4 bytes, naturally aligned)."""
        if addr < self._ram_limit():
            return None
        region = self.machine.memory.find(addr)
        if region is None:
            return None
        n = min(remaining, 4, region.base + region.length - addr)
        align = addr & -addr
        if align and align < n:
            n = align
        return region, 1 << (n.bit_length() - 1)

    def _mem_write(self, addr: int, data: bytes) -> None:
        i = 0
        while i < len(data):
            a = addr + i
            chunk = self._mmio_chunk(a, len(data) - i)
            if chunk is not None:
                region, n = chunk
                region.write(a - region.base, n, int.from_bytes(data[i : i + n], "little"))
                i += n
                continue
            self.machine.memory.ram_write(a, data[i : i + 1])
            i += 1

    def _mem_read(self, addr: int, size: int) -> bytes:
        out = bytearray(size)
        if not self.pages and addr + size <= self._ram_limit():
            return bytes(out)
        i = 0
        while i < size:
            a = addr + i
            chunk = self._mmio_chunk(a, size - i)
            if chunk is not None:
                region, n = chunk
                out[i : i + n] = region.read(a - region.base, n).to_bytes(n, "little")
                i += n
                continue
            page = self.pages.get(a // PAGE)
            if page is not None:
                out[i] = page[a % PAGE]
            i += 1
        return bytes(out)


def _hex2nib(ch: str) -> int:
    if "0" <= ch <= "9":
        return ord(ch) - 48
    if "a" <= ch <= "f":
        return ord(ch) - 87
    if "A" <= ch <= "F":
        return ord(ch) - 55
    return -1
