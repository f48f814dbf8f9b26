"""Chipset registers whose configuration-space writes change QOM properties (QEMU's write_config hooks).

PIIX4's power management function (``PIIX4_PM``, pm_write_config): ``pm_io_base`` follows the PM base
register (0x40, masked to 0xffc0) when it or the PM I/O enable (0x80) is written; ``smb_io_base`` follows
the SMBus base (0x90) when it or the SMBus enable (0xd2) is written. A reset leaves both (measured). SeaBIOS
writes them, so after boot they read 0x600 and 0x700.

Q35: the MCH's PCIEXBAR (0x60, mch_update_pciexbar) places MMCONFIG: the host's ``MCFG`` and ``mcfg_size``
(all ones and 0 while disabled); ICH9's LPC (ich9_lpc_pmbase_sci_update): PMBASE (0x40, masked to 0xff80)
and the ACPI control register (0x44) give ``pm_io_base`` and ``gpe0_blk`` (PM base + 0x20).
"""

from __future__ import annotations

from fakeqemu.machine.core.qdev import PCIDevice
from fakeqemu.machine.core.qom import Tree


def _overlaps(addr: int, size: int, start: int, length: int) -> bool:
    return addr < start + length and start < addr + size


def mmconfig(pciexbar: int) -> tuple[int, int]:
    """mch_update_pciexbar: MMCONFIG's base and length (0 while disabled) from the 64-bit PCIEXBAR."""
    length = {0: 256 << 20, 1: 128 << 20, 2: 64 << 20}.get((pciexbar >> 1) & 3, 0)
    if not pciexbar & 1 or not length:
        return 0, 0
    return pciexbar & ~(length - 1) & 0xFFFFFFFFF, length


def config_written(tree: Tree, dev: PCIDevice, addr: int, size: int) -> None:
    """After a configuration write of ``size`` bytes at ``addr``."""
    if dev.pci_function is None:
        return
    fn = dev.pci_function

    def u32(addr: int) -> int:  # through the function's model (fakeqemu.machine.acpi.pm keeps the PM base)
        return fn.config_read(addr, 4)

    if dev.type == "mch" and _overlaps(addr, size, 0x60, 8):
        host = tree.resolve("/machine/q35")
        if host is not None:
            base, length = mmconfig(u32(0x60) | u32(0x64) << 32)
            tree.set(host, "MCFG", base if length else (1 << 64) - 1)
            tree.set(host, "mcfg_size", length)
        return
    if dev.type == "ICH9-LPC" and (_overlaps(addr, size, 0x40, 4) or _overlaps(addr, size, 0x44, 1)):
        base = u32(0x40) & 0xFF80
        tree.set(dev, "pm_io_base", base)
        tree.set(dev, "gpe0_blk", base + 0x20)
        return
    if dev.type != "PIIX4_PM":
        return
    if _overlaps(addr, size, 0x80, 1) or _overlaps(addr, size, 0x40, 4):
        tree.set(dev, "pm_io_base", u32(0x40) & 0xFFC0)
    if _overlaps(addr, size, 0xD2, 1) or _overlaps(addr, size, 0x90, 4):
        tree.set(dev, "smb_io_base", u32(0x90) & 0xFFC0)
