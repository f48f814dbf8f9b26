"""The virtio-pci modern transport's registers as QEMU 7.2's virtio_pci_common_read/write answer them:
feature negotiation, device status (0 resets), queue select, size, MSI-X vectors, enable and ring
addresses; the ISR, notify and device-specific regions of the same BAR. No data plane: a notify is
accepted and nothing moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fakeqemu.machine.pci.msix import Msix

NO_VECTOR = 0xFFFF
QUEUE_MAX = 1024
QUEUE_MAX_SIZE = 1024

# cfg_type of struct virtio_pci_cap
COMMON, NOTIFY, ISR, DEVICE = 1, 2, 3, 4

# offsets in struct virtio_pci_common_cfg
DFSELECT, DF, GFSELECT, GF, MSIX, NUMQ, STATUS, CFGGENERATION = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x12, 0x14, 0x15
Q_SELECT, Q_SIZE, Q_MSIX, Q_ENABLE, Q_NOFF = 0x16, 0x18, 0x1A, 0x1C, 0x1E
Q_RINGS = 0x20  # desc lo/hi, avail lo/hi, used lo/hi: six 32-bit halves up to 0x38


#: features every virtio device has that the modern transport does not show (VIRTIO_LEGACY_FEATURES:
#: NOTIFY_ON_EMPTY, ANY_LAYOUT, BAD_FEATURE, which virtio_pci_pre_plugged adds)
LEGACY_FEATURES = 1 << 24 | 1 << 27 | 1 << 30

#: device status bits
DRIVER_OK, FEATURES_OK, NEEDS_RESET = 0x04, 0x08, 0x40


class DeviceConfig(Protocol):
    """A device that fills its configuration region itself (VirtioDeviceClass get_config/set_config)."""

    def device_config(self, size: int) -> bytes: ...

    def config_written(self, config: bytes) -> None: ...

    def status_written(self, status: int, features: int) -> None: ...


class Queue:
    __slots__ = ("enabled", "num", "num_default", "rings", "vector", "vring")

    def __init__(self, size: int) -> None:
        self.num_default = size
        self.num = size
        self.vector = NO_VECTOR
        self.enabled = 0
        #: the modern transport's ring address registers (proxy->vqs[n]: desc, avail, used as lo/hi)
        self.rings = [0] * 6
        #: the device's ring addresses (vdev->vq[n].vring: desc, avail, used), set by Q_ENABLE or PFN
        self.vring = [0, 0, 0]


class VirtioTransport:
    """One virtio-pci device's transport state; ``regions`` maps cfg_type -> (bar, offset, length)."""

    __slots__ = (
        "config_generation",
        "config_vector",
        "device",
        "device_config",
        "dfselect",
        "features",
        "gfselect",
        "guest_features",
        "isr",
        "msix",
        "negotiated",
        "net",
        "nvectors",
        "queue_sel",
        "queues",
        "regions",
        "status",
    )

    def __init__(self, rec: Mapping[str, Any], regions: dict[int, tuple[int, int, int]], nvectors: int) -> None:
        self.features = int(rec["features"])
        self.queues = [Queue(int(n)) for n in rec["queue_sizes"]]
        self.device_config = bytearray.fromhex(rec.get("device_config", ""))
        self.regions = regions
        self.nvectors = nvectors
        #: a virtio-net: its reset clears the ANNOUNCE status bit (fakeqemu.machine.net.guest)
        self.net = False
        self.dfselect = 0
        self.gfselect = 0
        self.guest_features = [0, 0]
        #: the device's guest features (vdev->guest_features): what the driver wrote that the device
        #: offers, until FEATURES_OK
        self.negotiated = 0
        self.config_generation = 0
        self.isr = 0
        self.status = 0
        self.config_vector = NO_VECTOR
        self.queue_sel = 0
        #: the device model behind the region, when its configuration is live (virtio-blk)
        self.device: DeviceConfig | None = None
        #: the function's MSI-X table: the vectors the driver picks are used there
        self.msix: Msix | None = None

    def reset(self) -> None:
        """virtio_reset + virtio_pci_reset (the transport's copy of the guest features stays; no MSI-X
        vector is in use any more)."""
        if self.msix is not None:
            self.msix.unuse_all()
        self.status = 0
        self.isr = 0
        self.negotiated = 0
        self.queue_sel = 0
        self.config_vector = NO_VECTOR
        if self.net and len(self.device_config) > 6:
            self.device_config[6] &= ~0x02  # virtio_net_reset: VIRTIO_NET_S_ANNOUNCE
        for q in self.queues:
            q.num = q.num_default
            q.vector = NO_VECTOR
            q.enabled = 0
            q.rings = [0] * 6
            q.vring = [0, 0, 0]

    def region_at(self, bar: int, offset: int) -> tuple[int, int] | None:
        """(cfg_type, offset inside that structure) for a BAR offset."""
        for kind, (b, off, length) in self.regions.items():
            if b == bar and off <= offset < off + length:
                return kind, offset - off
        return None

    def read(self, kind: int, off: int, size: int) -> int:
        if kind == COMMON:
            return self._common_read(off) & ((1 << (8 * size)) - 1)
        if kind == ISR:
            value, self.isr = self.isr, 0
            return value
        if kind == DEVICE:
            if self.device is not None:
                # virtio_config_modern_read*: get_config refreshes the whole region first
                self.device_config[:] = self.device.device_config(len(self.device_config))
            if off + size > len(self.device_config):
                return (1 << (8 * size)) - 1  # an access that runs past the region reads all ones
            return int.from_bytes(self.device_config[off : off + size], "little")
        return 0

    def write(self, kind: int, off: int, size: int, value: int) -> None:
        if kind == COMMON:
            self._common_write(off, value)
        elif kind == DEVICE and self.device is not None and off + size <= len(self.device_config):
            # virtio_config_modern_write*: the bytes land in the region, then set_config sees all of it
            self.device_config[:] = self.device.device_config(len(self.device_config))
            self.device_config[off : off + size] = value.to_bytes(size, "little")
            self.device.config_written(bytes(self.device_config))

    def master_off(self) -> None:
        """virtio_write_config: bus mastering turned off takes DRIVER_OK away (virtio_set_status)."""
        self.status &= ~DRIVER_OK
        if self.device is not None:
            self.device.status_written(self.status, self.negotiated)

    def notify_config(self) -> None:
        """virtio_notify_config: once the driver is up, ISR bits 0 and 1 and a new config generation (the
        interrupt itself is not delivered: no INTx line or MSI-X message is modelled)."""
        if not self.status & DRIVER_OK:
            return
        self.isr |= 0x03
        self.config_generation = (self.config_generation + 1) & 0xFF
        self._notify_vector(self.config_vector)

    def _notify_vector(self, vector: int) -> None:
        """virtio_pci_notify: with MSI-X on, the vector's message (none for NO_VECTOR); without it the
        INTx level follows ISR bit 0 (not modelled: no INTx line)."""
        if self.msix is not None and self.msix.enabled() and vector != NO_VECTOR:
            self.msix.notify(vector)

    def set_features(self, wanted: int) -> None:
        """virtio_set_features: what the driver asks that the device offers, refused once FEATURES_OK."""
        if not self.status & FEATURES_OK:
            self.negotiated = wanted & self.host_features

    @property
    def host_features(self) -> int:
        """vdev->host_features: what the modern transport offers and the legacy-only features."""
        return self.features | LEGACY_FEATURES

    def set_status(self, value: int) -> None:
        """virtio_set_status, and the transport's reset when the status becomes 0."""
        if value == 0:
            self.reset()
            return
        self.status = value
        if self.device is not None:
            self.device.status_written(self.status, self.negotiated)

    def set_vector(self, old: int, value: int) -> int:
        """VIRTIO_PCI_COMMON_MSIX/Q_MSIX: the old vector unused, the new one used if the table has it;
        NO_VECTOR otherwise, so the driver sees the error."""
        if self.msix is not None and old != NO_VECTOR:
            self.msix.unuse(old)
        if value < self.nvectors:
            if self.msix is not None:
                self.msix.use(value)
            return value
        return NO_VECTOR

    def _queue(self) -> Queue | None:
        return self.queues[self.queue_sel] if self.queue_sel < len(self.queues) else None

    def _common_read(self, off: int) -> int:
        q = self._queue()
        if off == DFSELECT:
            return self.dfselect
        if off == DF:
            return (self.features >> (32 * self.dfselect)) & 0xFFFFFFFF if self.dfselect <= 1 else 0
        if off == GFSELECT:
            return self.gfselect
        if off == GF:
            return self.guest_features[self.gfselect] if self.gfselect < 2 else 0
        if off == MSIX:
            return self.config_vector
        if off == NUMQ:
            return len(self.queues)
        if off == STATUS:
            return self.status
        if off == CFGGENERATION:
            return self.config_generation
        if off == Q_SELECT:
            return self.queue_sel
        if off == Q_NOFF:
            return self.queue_sel
        if q is None:
            return NO_VECTOR if off == Q_MSIX else 0
        if off == Q_SIZE:
            return q.num
        if off == Q_MSIX:
            return q.vector
        if off == Q_ENABLE:
            return q.enabled
        if Q_RINGS <= off < Q_RINGS + 24 and off % 4 == 0:
            return q.rings[(off - Q_RINGS) // 4]
        return 0

    def _common_write(self, off: int, value: int) -> None:
        q = self._queue()
        if off == DFSELECT:
            self.dfselect = value
        elif off == GFSELECT:
            self.gfselect = value
        elif off == GF:
            if self.gfselect < 2:
                self.guest_features[self.gfselect] = value
                self.set_features(self.guest_features[1] << 32 | self.guest_features[0])
        elif off == MSIX:
            self.config_vector = self.set_vector(self.config_vector, value)
        elif off == STATUS:
            self.set_status(value & 0xFF)
        elif off == Q_SELECT:
            if value < QUEUE_MAX:
                self.queue_sel = value
        elif q is None:
            return
        elif off == Q_SIZE:
            # virtio_queue_set_num: a queue cannot switch between existing and not, nor grow past the maximum
            if bool(value) == bool(q.num) and value <= QUEUE_MAX_SIZE:
                q.num = value
        elif off == Q_MSIX:
            q.vector = self.set_vector(q.vector, value)
        elif off == Q_ENABLE:
            if value == 1:
                q.enabled = 1
                if q.num:  # virtio_queue_set_rings
                    r = q.rings
                    q.vring = [r[0] | r[1] << 32, r[2] | r[3] << 32, r[4] | r[5] << 32]
            elif self.guest_features[1] & 1:
                # virtio_error on a VERSION_1 device: NEEDS_RESET, and a config change once DRIVER_OK
                self.status |= NEEDS_RESET
                self.notify_config()
        elif Q_RINGS <= off < Q_RINGS + 24 and off % 4 == 0:
            q.rings[(off - Q_RINGS) // 4] = value
