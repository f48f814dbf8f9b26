"""The legacy virtio-pci transport of a transitional device: its I/O BAR 0 as QEMU 7.2's
virtio_pci_config_read/write answer it (hw/virtio/virtio-pci.c virtio_ioport_read/write). The registers
are the same device state the modern transport shows (status, queue select, sizes, vectors, ISR, the guest
features): host and guest features (low 32 bits), the queue's page frame number (0 resets the device;
otherwise its rings laid out at 4096-byte alignment), the MSI-X vectors while MSI-X is enabled, then the
device configuration (at 20, or 24 with MSI-X). A register is reached only at its own offset: any other
offset below the device configuration reads all ones. A notify moves nothing (no data plane).
"""

from __future__ import annotations

from fakeqemu.machine.pci.virtio import DEVICE, NO_VECTOR, QUEUE_MAX, VirtioTransport

HOST_FEATURES, GUEST_FEATURES, QUEUE_PFN, QUEUE_NUM, QUEUE_SEL, QUEUE_NOTIFY = 0, 4, 8, 12, 14, 16
STATUS, ISR, CONFIG_VECTOR, QUEUE_VECTOR = 18, 19, 20, 22
ADDR_SHIFT = 12  # VIRTIO_PCI_QUEUE_ADDR_SHIFT
VRING_ALIGN = 4096  # VIRTIO_PCI_VRING_ALIGN
BAD_FEATURE = 1 << 30  # VIRTIO_F_BAD_FEATURE
ACK_DRIVER = 0x3


def config_offset(t: VirtioTransport) -> int:
    """VIRTIO_PCI_CONFIG_SIZE: the MSI-X vector registers are there only while MSI-X is enabled."""
    return 24 if t.msix is not None and t.msix.enabled() else 20


def read(t: VirtioTransport, offset: int, size: int) -> int:
    mask = (1 << (8 * size)) - 1
    start = config_offset(t)
    if offset >= start:
        return t.read(DEVICE, offset - start, size)
    return _register(t, offset, start) & mask


def _register(t: VirtioTransport, offset: int, start: int) -> int:
    q = t.queues[t.queue_sel] if t.queue_sel < len(t.queues) else None
    if offset == HOST_FEATURES:
        return t.host_features & 0xFFFFFFFF
    if offset == GUEST_FEATURES:
        return t.negotiated & 0xFFFFFFFF
    if offset == QUEUE_PFN:
        return (q.vring[0] if q is not None else 0) >> ADDR_SHIFT
    if offset == QUEUE_NUM:
        return q.num if q is not None else 0
    if offset == QUEUE_SEL:
        return t.queue_sel
    if offset == STATUS:
        return t.status
    if offset == ISR:
        value, t.isr = t.isr, 0
        return value
    if offset == CONFIG_VECTOR and start > CONFIG_VECTOR:
        return t.config_vector
    if offset == QUEUE_VECTOR and start > CONFIG_VECTOR:
        return q.vector if q is not None else NO_VECTOR
    return 0xFFFFFFFF


def write(t: VirtioTransport, offset: int, size: int, value: int) -> bool:
    """A write; True when the guest's ACKNOWLEDGE|DRIVER status turns bus mastering on (QEMU does that for
    Linux before 2.6.34)."""
    start = config_offset(t)
    if offset >= start:
        t.write(DEVICE, offset - start, size, value)
        return False
    q = t.queues[t.queue_sel] if t.queue_sel < len(t.queues) else None
    if offset == GUEST_FEATURES:
        t.set_features(0 if value & BAD_FEATURE else value)
    elif offset == QUEUE_PFN:
        address = (value & 0xFFFFFFFF) << ADDR_SHIFT
        if address == 0:
            t.reset()
        elif q is not None and q.num:
            # virtio_queue_set_addr: the rings follow the descriptors at 4096-byte alignment
            avail = address + 16 * q.num
            used = avail + 4 + 2 * q.num
            q.vring = [address, avail, -(-used // VRING_ALIGN) * VRING_ALIGN]
    elif offset == QUEUE_SEL:
        if value < QUEUE_MAX:
            t.queue_sel = value
    elif offset == STATUS:
        t.set_status(value & 0xFF)
        return value == ACK_DRIVER
    elif offset == CONFIG_VECTOR and start > CONFIG_VECTOR:
        t.config_vector = t.set_vector(t.config_vector, value & 0xFFFF)
    elif offset == QUEUE_VECTOR and start > CONFIG_VECTOR and q is not None:
        q.vector = t.set_vector(q.vector, value & 0xFFFF)
    return False
