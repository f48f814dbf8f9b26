"""virtio-net's own announce (NetClientInfo.announce, hw/net/virtio-net.c): when the guest negotiated
VIRTIO_NET_F_GUEST_ANNOUNCE and VIRTIO_NET_F_CTRL_VQ, a self-announce sets VIRTIO_NET_S_ANNOUNCE in the
device's config status and raises a configuration change (ISR bits 0 and 1, a new config generation,
once DRIVER_OK), so that the guest sends its own gratuitous ARPs. The guest acknowledges on its control
queue (a data path fakeqemu does not model); a device reset clears the bit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakeqemu.machine.pci.virtio import VirtioTransport

if TYPE_CHECKING:
    from fakeqemu.machine.pci.function import PciFunction

F_CTRL_VQ = 1 << 17
F_GUEST_ANNOUNCE = 1 << 21
S_LINK_UP, S_ANNOUNCE = 0x1, 0x2
#: the status field of struct virtio_net_config (after the MAC)
STATUS_OFFSET = 6


def _transport(device: object) -> VirtioTransport | None:
    fn = getattr(device, "pci_function", None)
    virtio: VirtioTransport | None = getattr(fn, "virtio", None)
    return virtio if virtio is not None and virtio.net else None


def link_changed(fn: PciFunction, up: bool) -> None:
    """virtio_net_set_link_status: the config's LINK_UP status bit follows the link; a change raises a
    configuration change."""
    virtio = fn.virtio
    if virtio is None or not virtio.net or len(virtio.device_config) <= STATUS_OFFSET:
        return
    old = virtio.device_config[STATUS_OFFSET]
    virtio.device_config[STATUS_OFFSET] = old | S_LINK_UP if up else old & ~S_LINK_UP
    if virtio.device_config[STATUS_OFFSET] != old:
        virtio.notify_config()


def guest_announce(device: object) -> None:
    virtio = _transport(device)
    wanted = F_CTRL_VQ | F_GUEST_ANNOUNCE
    if virtio is None or virtio.negotiated & wanted != wanted:  # virtio_vdev_has_feature
        return
    virtio.device_config[STATUS_OFFSET] |= S_ANNOUNCE
    virtio.notify_config()
