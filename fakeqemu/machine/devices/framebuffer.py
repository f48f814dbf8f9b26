"""What the guest shows on its display, drawn by the guest model: a text console (white on black) with the
VM's name and run state, in a 5x7 font scaled up. ``screendump`` writes it (PPM, or PNG), VNC clients see it.
It is drawn on request only: an idle VM keeps no pixels."""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

WIDTH, HEIGHT = 640, 480
#: the devices that give the guest a display (QEMU: "There is no console to take a screendump from")
VIDEO_DRIVERS = frozenset(
    {"VGA", "cirrus-vga", "qxl-vga", "qxl", "virtio-vga", "virtio-gpu-pci", "bochs-display", "ramfb"}
)
SCALE = 3
#: 5x7 glyphs: seven rows of five bits each, top row first
FONT: dict[str, tuple[int, ...]] = {
    "A": (14, 17, 17, 31, 17, 17, 17), "B": (30, 17, 17, 30, 17, 17, 30), "C": (14, 17, 16, 16, 16, 17, 14),
    "D": (30, 17, 17, 17, 17, 17, 30), "E": (31, 16, 16, 30, 16, 16, 31), "F": (31, 16, 16, 30, 16, 16, 16),
    "G": (14, 17, 16, 23, 17, 17, 15), "H": (17, 17, 17, 31, 17, 17, 17), "I": (14, 4, 4, 4, 4, 4, 14),
    "J": (7, 2, 2, 2, 2, 18, 12), "K": (17, 18, 20, 24, 20, 18, 17), "L": (16, 16, 16, 16, 16, 16, 31),
    "M": (17, 27, 21, 21, 17, 17, 17), "N": (17, 17, 25, 21, 19, 17, 17), "O": (14, 17, 17, 17, 17, 17, 14),
    "P": (30, 17, 17, 30, 16, 16, 16), "Q": (14, 17, 17, 17, 21, 18, 13), "R": (30, 17, 17, 30, 20, 18, 17),
    "S": (15, 16, 16, 14, 1, 1, 30), "T": (31, 4, 4, 4, 4, 4, 4), "U": (17, 17, 17, 17, 17, 17, 14),
    "V": (17, 17, 17, 17, 17, 10, 4), "W": (17, 17, 17, 21, 21, 21, 10), "X": (17, 17, 10, 4, 10, 17, 17),
    "Y": (17, 17, 17, 10, 4, 4, 4), "Z": (31, 1, 2, 4, 8, 16, 31), "0": (14, 17, 19, 21, 25, 17, 14),
    "1": (4, 12, 4, 4, 4, 4, 14), "2": (14, 17, 1, 2, 4, 8, 31), "3": (31, 2, 4, 2, 1, 17, 14),
    "4": (2, 6, 10, 18, 31, 2, 2), "5": (31, 16, 30, 1, 1, 17, 14), "6": (6, 8, 16, 30, 17, 17, 14),
    "7": (31, 1, 2, 4, 8, 8, 8), "8": (14, 17, 17, 14, 17, 17, 14), "9": (14, 17, 17, 15, 1, 2, 12),
    " ": (0, 0, 0, 0, 0, 0, 0), "-": (0, 0, 0, 31, 0, 0, 0), ":": (0, 12, 12, 0, 12, 12, 0),
    ".": (0, 0, 0, 0, 0, 12, 12), "_": (0, 0, 0, 0, 0, 0, 31), "(": (2, 4, 8, 8, 8, 4, 2),
    ")": (8, 4, 2, 2, 2, 4, 8), "?": (14, 17, 1, 2, 4, 0, 4),
}  # fmt: skip


def has_display(machine: Machine) -> bool:
    board = machine.board
    return board is not None and any(d.get("driver") in VIDEO_DRIVERS for d in machine.config.devices)


def lines(machine: Machine) -> list[str]:
    name = machine.config.name or "vm0"
    return [f"VM {name}", f"STATE {machine.runstate}", "FAKEQEMU"]


def render(machine: Machine) -> bytes:
    """The screen as RGB bytes, WIDTH x HEIGHT, row by row."""
    fb = bytearray(WIDTH * HEIGHT * 3)
    for row, text in enumerate(lines(machine)):
        draw_text(fb, 16, 16 + row * 10 * SCALE, text.upper())
    return bytes(fb)


def draw_text(fb: bytearray, x: int, y: int, text: str) -> None:
    for n, ch in enumerate(text):
        glyph = FONT.get(ch, FONT["?"])
        for gy, bits in enumerate(glyph):
            for gx in range(5):
                if bits & (0x10 >> gx):
                    for dy in range(SCALE):
                        py = y + gy * SCALE + dy
                        start = ((py * WIDTH) + x + (n * 6 + gx) * SCALE) * 3
                        if 0 <= py < HEIGHT and start + SCALE * 3 <= len(fb):
                            fb[start : start + SCALE * 3] = b"\xff" * (SCALE * 3)


def ppm(rgb: bytes) -> bytes:
    return f"P6\n{WIDTH} {HEIGHT}\n255\n".encode() + rgb


def png(rgb: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + rgb[y * WIDTH * 3 : (y + 1) * WIDTH * 3] for y in range(HEIGHT))
    ihdr = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
