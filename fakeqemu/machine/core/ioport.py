"""The I/O port address space: guest port reads and writes dispatched to device register blocks.

qtest's outb/outw/outl and inb/inw/inl, the human monitor's o/i and the guest model all come through
here, so an injected write and a scripted one run the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ReadFn = Callable[[int, int], int]  # (offset, size) -> value
WriteFn = Callable[[int, int, int], None]  # (offset, size, value)


@dataclass(frozen=True, slots=True)
class PortRegion:
    name: str
    base: int
    length: int
    read: ReadFn
    write: WriteFn


class IoPorts:
    __slots__ = ("_regions",)

    def __init__(self) -> None:
        self._regions: list[PortRegion] = []

    def map(self, region: PortRegion) -> None:
        self._regions.append(region)

    def unmap(self, name: str) -> None:
        self._regions = [r for r in self._regions if r.name != name]

    def _find(self, port: int) -> PortRegion | None:
        for r in self._regions:
            if r.base <= port < r.base + r.length:
                return r
        return None

    def read(self, port: int, size: int) -> int:
        """A guest read of ``size`` bytes (1, 2 or 4); unassigned ports read as all ones, as on PC."""
        region = self._find(port)
        if region is None:
            return (1 << (8 * size)) - 1
        return region.read(port - region.base, size) & ((1 << (8 * size)) - 1)

    def write(self, port: int, size: int, value: int) -> None:
        region = self._find(port)
        if region is not None:
            region.write(port - region.base, size, value & ((1 << (8 * size)) - 1))
