"""virtio-blk's device configuration space as QEMU 7.2 fills it (hw/block/virtio-blk.c
virtio_blk_update_config, read afresh on every guest read of the region): the drive's capacity in 512-byte
sectors, seg_max, the CHS geometry blkconf_geometry chose at realize (hw/block/hd-geometry.c: an MBR's
partition geometry, else 16 heads, 63 sectors and the cylinders that fit), the block sizes, write cache
enable, queue count and the discard / write-zeroes limits. A guest write to the region sets the write cache
from ``wce`` (virtio_blk_set_config). ``block_resize`` of the drive raises a configuration change
(virtio_blk_resize -> virtio_notify_config).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.block import graph, internal, qcow2

if TYPE_CHECKING:
    from fakeqemu.machine.core.pciconfig import ConfigSpace
    from fakeqemu.machine.core.qdev import Device
    from fakeqemu.machine.machine import Machine

SECTOR = 512
#: VirtIOBlkConf defaults (virtio_blk_properties)
DEFAULT_QUEUE_SIZE = 256
DEFAULT_MAX_SECTORS = 0x3FFFFF  # max-discard-sectors, max-write-zeroes-sectors: BDRV_REQUEST_MAX_SECTORS
#: num-queues' default: one queue per vCPU (virtio_pci_optimal_num_queues), within the MSI-X table's reach
AUTO_NUM_QUEUES, MSIX_QSIZE = 0xFFFF, 0x7FF
MSIX_CAP_ID, ENTRY_SIZE, PAGE = 0x11, 16, 4096
#: feature bits (VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_CONFIG_WCE) and the DRIVER_OK status bit
F_FLUSH, F_CONFIG_WCE, DRIVER_OK = 9, 11, 0x04
#: offset of ``wce`` in struct virtio_blk_config
WCE = 32
#: struct virtio_blk_config up to write_zeroes_may_unmap (QEMU copies config_size bytes of it)
LAYOUT = struct.Struct("<QIIHBBIBBHIBBHIIIIIB")


class VirtioBlk:
    """One virtio-blk-pci device: its configuration over the drive it holds."""

    def __init__(self, machine: Machine, device: Device) -> None:
        self.machine = machine
        self.device = device
        self.logical = self._int("logical_block_size", SECTOR) or SECTOR
        self.physical = self._int("physical_block_size", SECTOR) or SECTOR
        self.wce = self._write_cache()
        self.cyls, self.heads, self.secs = self._geometry()
        # virtio_blk_pci_realize: the queues and MSI-X vectors
        queues = self._int("num-queues", AUTO_NUM_QUEUES)
        self.num_queues = min(machine.config.smp, MSIX_QSIZE) if queues == AUTO_NUM_QUEUES else queues
        self.nvectors = self._int("vectors", self.num_queues + 1)
        self.queue_size = self._int("queue-size", DEFAULT_QUEUE_SIZE)
        # QOM shows what realize resolved (on the proxy and on its virtio-blk-device)
        backend = device.children.get("virtio-backend")
        for obj in (device, backend):
            if obj is not None and not obj.shared:
                for name, value in self.resolved_props().items():
                    if obj.prop_type(name) is not None:
                        obj.set_own(name, value)

    # --- properties and the drive --------------------------------------------------------------------

    def _int(self, name: str, default: int) -> int:
        value = self.device.user_props.get(name)
        return default if value is None else int(value)

    def _write_cache(self) -> bool:
        """blkconf_apply_backend_options: write-cache=on/off, else the drive's own (writeback unless its
        cache mode is writethrough or directsync)."""
        value = self.device.user_props.get("write-cache")
        if value in ("on", True):
            return True
        if value in ("off", False):
            return False
        node = self.node()
        opts = {} if node is None else graph.table(self.machine)[node]["options"]
        cache = opts.get("cache")
        if isinstance(cache, dict):
            return cache.get("writeback", True) not in (False, "off")
        return cache not in ("writethrough", "directsync")

    def node(self) -> str | None:
        """The block node the device holds (its BlockBackend's root)."""
        for name, entry in self.machine.backends.blockdevs.items():
            if entry.get("attached") is self.device:
                return name
        return None

    def length(self) -> int:
        """blk_getlength (0 without a medium)."""
        node = self.node()
        return 0 if node is None else max(graph.length(self.machine, node), 0)

    def sectors(self) -> int:
        """blk_get_geometry: the length in 512-byte sectors, rounded up as bdrv's total_sectors is."""
        return -(-self.length() // SECTOR)

    # --- blkconf_geometry ----------------------------------------------------------------------------

    def _geometry(self) -> tuple[int, int, int]:
        cyls, heads, secs = self._int("cyls", 0), self._int("heads", 0), self._int("secs", 0)
        if cyls or heads or secs:
            return cyls, heads, secs
        nb_sectors = self.sectors()
        lchs = _partition_geometry(self._first_sector(), nb_sectors)
        if lchs is not None and lchs[1] <= 16:
            return lchs
        return max(2, min(nb_sectors // (16 * 63), 16383)), 16, 63

    def _first_sector(self) -> bytes:
        """The guest's sector 0: from the top image that holds it (qcow2 chains), a raw file's start."""
        node = self.node()
        if node is None:
            return b""
        m = self.machine
        try:
            for name in graph.chain(m, node):
                path = graph.leaf_file(m, name).get("filename")
                if not isinstance(path, str):
                    return b""
                if graph.node_driver(m, name) != "qcow2":
                    with open(path, "rb") as f:
                        return f.read(SECTOR)
                image = internal.Image(path)
                try:
                    cluster = image.read_cluster(0)
                finally:
                    image.close(write=False)
                if cluster is not None:
                    return cluster[:SECTOR]
        except (OSError, qcow2.ImageError, ValueError):
            return b""
        return b""

    # --- the configuration region ---------------------------------------------------------------------

    def device_config(self, size: int) -> bytes:
        """virtio_blk_update_config, ``size`` (config_size) bytes of it."""
        props = self.device.user_props
        queue_size = self._int("queue-size", DEFAULT_QUEUE_SIZE)
        adjust = props.get("seg-max-adjust", True) not in (False, "off")
        length = self.length()
        secs = self.secs
        sector_mask = self.logical // SECTOR - 1
        if length > 0 and self.heads and secs and length // self.heads // secs % self.logical:
            secs &= ~sector_mask
        exp = (self.physical // self.logical).bit_length() - 1 if self.physical > self.logical else 0
        granularity = self._int("discard_granularity", -1)
        if granularity in (-1, 0xFFFFFFFF) or props.get("report-discard-granularity", True) in (False, "off"):
            granularity = self.logical
        fields = LAYOUT.pack(
            self.sectors(),
            0,  # size_max
            queue_size - 2 if adjust else 128 - 2,
            self.cyls,
            self.heads,
            secs,
            self.logical,
            exp,
            0,  # alignment_offset
            self._int("min_io_size", 0) // self.logical,
            self._int("opt_io_size", 0) // self.logical,
            int(self.wce),
            0,
            self.num_queues,
            self._int("max-discard-sectors", DEFAULT_MAX_SECTORS),
            1,  # max_discard_seg
            granularity // SECTOR,
            self._int("max-write-zeroes-sectors", DEFAULT_MAX_SECTORS),
            1,  # max_write_zeroes_seg
            1,  # write_zeroes_may_unmap
        )
        return fields[:size].ljust(size, b"\0")

    def resolved_props(self) -> dict[str, int]:
        """The properties realize fills in: blkconf_geometry's CHS, the queue and vector counts."""
        return {
            "cyls": self.cyls,
            "heads": self.heads,
            "secs": self.secs,
            "num-queues": self.num_queues,
            "vectors": self.nvectors,
        }

    def queue_sizes(self) -> list[int]:
        """virtio_blk_device_realize: num-queues queues of queue-size each."""
        return [self.queue_size] * self.num_queues

    def realize_config(self, config: ConfigSpace) -> None:
        """msix_init_exclusive_bar for ``vectors`` entries: the capability's table size, the PBA after a
        table that outgrows half of the 4 KiB BAR 1 (which then grows to hold both)."""
        cap = next((off for cap_id, off in config.capabilities() if cap_id == MSIX_CAP_ID), None)
        if cap is None or not 0 < self.nvectors <= MSIX_QSIZE + 1:
            return
        bar = config.u32(cap + 4) & 7
        pba_offset = max(PAGE // 2, self.nvectors * ENTRY_SIZE)
        size = max(PAGE, pba_offset + -(-self.nvectors // 64) * 8)
        config.set_initial(cap + 2, 2, config.u16(cap + 2) & ~MSIX_QSIZE | (self.nvectors - 1))
        config.set_initial(cap + 8, 4, pba_offset | bar)
        if size > PAGE:
            config.register_bar(bar, config.u32(0x10 + 4 * bar) & 0xF, 1 << (size - 1).bit_length())

    def config_written(self, config: bytes) -> None:
        """virtio_blk_set_config: the guest's ``wce`` byte sets the write cache."""
        if len(config) > WCE:
            self.wce = config[WCE] != 0

    def status_written(self, status: int, features: int) -> None:
        """virtio_blk_set_status: at DRIVER_OK a driver without CONFIG_WCE gets the write cache its FLUSH
        feature asks for."""
        if status & DRIVER_OK and not features & (1 << F_CONFIG_WCE):
            self.wce = bool(features & (1 << F_FLUSH))

    def resized(self) -> None:
        """virtio_blk_resize: a configuration change, seen by a driver that has set DRIVER_OK."""
        fn = getattr(self.device, "pci_function", None)
        if fn is not None and fn.virtio is not None:
            fn.virtio.notify_config()

    def reset(self) -> None:
        """The write cache stays as the guest set it (the BlockBackend keeps it over a reset)."""

    def remove(self) -> None:
        """Nothing of its own to take down: its registers go with its PCI function."""


def _partition_geometry(mbr: bytes, nb_sectors: int) -> tuple[int, int, int] | None:
    """guess_disk_lchs: the geometry the first usable MSDOS partition entry ends on (None: no MBR)."""
    if len(mbr) < SECTOR or mbr[510] != 0x55 or mbr[511] != 0xAA:
        return None
    for i in range(4):
        entry = mbr[0x1BE + 16 * i : 0x1BE + 16 * (i + 1)]
        end_head, end_sector = entry[5], entry[6]
        nr_sects = int.from_bytes(entry[12:16], "little")
        if not (nr_sects and end_head):
            continue
        heads, sectors = end_head + 1, end_sector & 63
        if not sectors:
            continue
        cylinders = nb_sectors // (heads * sectors)
        if 1 <= cylinders <= 16383:
            return cylinders, heads, sectors
    return None


def model_of(dev: Any) -> VirtioBlk | None:
    model = getattr(dev, "model", None)
    return model if isinstance(model, VirtioBlk) else None
