"""USB ports (hw/usb/bus.c): a controller's bus has a fixed number of ports; a device takes the one its
``port`` names (``usb port P (bus B) not found (in use?)`` when it is not a free port of the bus), or the
first free one (``... to a bus with no free ports``), and gives it back when it is unplugged (to the end
of the free list). ``info usb`` and ``info qtree`` show the port and the speed the controller runs the
device at (12 on UHCI; 480 on EHCI / XHCI, usb-storage 5000 on XHCI).

Not modelled: the usb-hub QEMU adds by itself when a device without ``port`` takes a bus's last free port
(fakeqemu gives it that port), and so ports behind hubs (``1.2``)."""

from __future__ import annotations

from typing import Any

from fakeqemu.machine.core.qdev import Bus, Device
from fakeqemu.qmp.errors import GenericError

#: the product name (usb_desc strings) of each USB device fakeqemu models
PRODUCT = {
    "usb-tablet": "QEMU USB Tablet",
    "usb-kbd": "QEMU USB Keyboard",
    "usb-mouse": "QEMU USB Mouse",
    "usb-storage": "QEMU USB MSD",
    "usb-hub": "QEMU USB Hub",
}
#: controllers whose ports run full speed only (UHCI); the others run high-speed devices at 480
_FULL_SPEED = ("piix3-usb-uhci", "piix4-usb-uhci", "ich9-usb-uhci1", "ich9-usb-uhci2", "ich9-usb-uhci3")


def port_count(controller: Device) -> int:
    """The ports of a controller's bus: 2 on UHCI, 6 on EHCI, max(p2, p3) on XHCI (each port serves
    both speeds)."""
    if controller.type in _FULL_SPEED:
        return 2
    if "xhci" in controller.type:
        props = controller.user_props
        return max(int(props.get("p2", 4)), int(props.get("p3", 4)))
    return 6


def speed(bus: Bus, dev: Device) -> int:
    controller = bus.parent_device
    if dev.type == "usb-hub" or controller is None or controller.type in _FULL_SPEED:
        return 12
    if dev.type == "usb-storage":
        return 5000 if "xhci" in controller.type else 480
    if int(dev.user_props.get("usb_version", 2)) < 2:
        return 12
    return 480


def claim(bus: Bus, driver: str, opts: dict[str, Any]) -> str:
    """usb_claim_port: the port a new device on ``bus`` takes (raises QEMU's error when none): the one
    ``port`` names, or the head of the bus's free list."""
    if bus.usb_free is None:
        controller = bus.parent_device
        count = port_count(controller) if controller is not None else 0
        bus.usb_free = [str(n) for n in range(1, count + 1)]
    free = bus.usb_free
    wanted = opts.get("port")
    if wanted is not None:
        if str(wanted) not in free:
            raise GenericError(f"usb port {wanted} (bus {bus.bus_name}) not found (in use?)")
        free.remove(str(wanted))
        return str(wanted)
    if not free:
        raise GenericError(f"tried to attach usb device {PRODUCT.get(driver, driver)} to a bus with no free ports")
    return free.pop(0)


def info_usb(buses: list[Bus]) -> str:
    """hmp_info_usb: every attached device of every USB bus, in the order they were attached."""
    out = []
    for bus in buses:
        for dev in bus.devices:
            ident = f", ID: {dev.id}" if dev.id else ""
            out.append(
                f"  Device 0.0, Port {dev.usb_port}, Speed {speed(bus, dev)} Mb/s, "
                f"Product {PRODUCT.get(dev.type, dev.type)}{ident}\r\n"
            )
    return "".join(out)


def qtree_line(template: str, bus: Bus, dev: Device) -> str:
    """usb_bus_dev_print's line, from its recorded one."""
    indent = template[: len(template) - len(template.lstrip())]
    name = PRODUCT.get(dev.type, dev.type)
    return f"{indent}addr 0.0, port {dev.usb_port}, speed {speed(bus, dev)}, name {name}, attached"
