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
    """A range of I/O ports (or MMIO addresses) and the callbacks that read and write it."""

    name: str
    base: int
    length: int
    read: ReadFn
    write: WriteFn


#: a resolver finds the region that decodes an address the static map does not (a PCI BAR, MMCONFIG)
Resolver = Callable[[int], PortRegion | None]


class Dispatch:
    """Static regions first, then the resolvers (PCI BARs move when the guest writes them)."""

    __slots__ = ("_regions", "_resolvers")

    def __init__(self) -> None:
        self._regions: list[PortRegion] = []
        self._resolvers: list[Resolver] = []

    def map(self, region: PortRegion) -> None:
        self._regions.append(region)

    def unmap(self, name: str) -> None:
        self._regions = [r for r in self._regions if r.name != name]

    def add_resolver(self, resolver: Resolver) -> None:
        self._resolvers.append(resolver)

    def find(self, addr: int) -> PortRegion | None:
        region = self._static(addr)
        if region is not None:
            return region
        for resolve in self._resolvers:
            region = resolve(addr)
            if region is not None:
                return region
        # a resolver may have mapped regions meanwhile (the firmware's deferred PCI set-up places the PM
        # block): look at the static map again
        return self._static(addr)

    def _static(self, addr: int) -> PortRegion | None:
        for r in self._regions:
            if r.base <= addr < r.base + r.length:
                return r
        return None


PAGE = 4096


class MemorySpace(Dispatch):
    """The guest-physical space: MMIO regions (accesses of 1, 2 or 4 bytes) and, below ``ram_size``, the
    RAM a qtest session or a device's DMA has written (sparse pages; the rest reads as zeroes)."""

    __slots__ = ("ram", "ram_size")

    def __init__(self) -> None:
        super().__init__()
        self.ram: dict[int, bytearray] = {}
        self.ram_size = 0

    def ram_write(self, addr: int, data: bytes) -> None:
        for i, b in enumerate(data):
            a = addr + i
            if a >= self.ram_size:
                return
            page = self.ram.get(a // PAGE)
            if page is None:
                if not b:
                    continue
                page = self.ram[a // PAGE] = bytearray(PAGE)
            page[a % PAGE] = b

    def dma_store(self, addr: int, size: int, value: int) -> None:
        """A bus master's store (address_space_stl_le and friends): RAM, else whatever decodes it."""
        if addr < self.ram_size:
            self.ram_write(addr, value.to_bytes(size, "little"))
        else:
            self.write(addr, size, value)

    def read(self, addr: int, size: int) -> int | None:
        """None where nothing decodes the address."""
        region = self.find(addr)
        if region is None:
            return None
        return region.read(addr - region.base, size) & ((1 << (8 * size)) - 1)

    def write(self, addr: int, size: int, value: int) -> bool:
        region = self.find(addr)
        if region is None:
            return False
        region.write(addr - region.base, size, value & ((1 << (8 * size)) - 1))
        return True


class IoPorts:
    """The I/O port space: unassigned ports read as all ones, as on PC."""

    __slots__ = ("_space",)

    def __init__(self) -> None:
        self._space = Dispatch()

    def map(self, region: PortRegion) -> None:
        self._space.map(region)

    def unmap(self, name: str) -> None:
        self._space.unmap(name)

    def add_resolver(self, resolver: Resolver) -> None:
        self._space.add_resolver(resolver)

    def read(self, port: int, size: int) -> int:
        """A guest read of ``size`` bytes (1, 2 or 4); unassigned ports read as all ones, as on PC."""
        region = self._space.find(port)
        if region is None:
            return (1 << (8 * size)) - 1
        return region.read(port - region.base, size) & ((1 << (8 * size)) - 1)

    def write(self, port: int, size: int, value: int) -> None:
        region = self._space.find(port)
        if region is not None:
            region.write(port - region.base, size, value & ((1 << (8 * size)) - 1))
