"""Input handlers (QEMU's qemu_input_handler_register): the board's PS/2 keyboard and mouse, and those of
the USB HID devices, numbered in the order they were made (a number is never reused), as query-mice
lists the pointing ones."""

from __future__ import annotations

from typing import Any

#: driver -> (handler name, absolute, pointing device)
HANDLERS = {
    "usb-kbd": ("QEMU HID Keyboard", False, False),
    "usb-mouse": ("QEMU HID Mouse", False, True),
    "usb-tablet": ("QEMU HID Tablet", True, True),
}


class Handler:
    """One registered handler; ``device`` is None for the board's own (they never go)."""

    __slots__ = ("absolute", "device", "index", "name", "pointer")

    def __init__(self, index: int, name: str, absolute: bool, pointer: bool, device: Any = None) -> None:
        self.index, self.name, self.absolute, self.pointer, self.device = index, name, absolute, pointer, device

    @property
    def live(self) -> bool:
        return self.device is None or self.device.parent is not None


class InputHandlers:
    """One VM's input handlers, oldest first."""

    __slots__ = ("count", "handlers")

    def __init__(self) -> None:
        self.handlers: list[Handler] = []
        self.count = 0

    @classmethod
    def for_board(cls, has_ps2: bool) -> InputHandlers:
        out = cls()
        if has_ps2:  # the i8042's keyboard, then its mouse
            out.add("QEMU PS/2 Keyboard", False, False)
            out.add("QEMU PS/2 Mouse", False, True)
        return out

    def add(self, name: str, absolute: bool, pointer: bool, device: Any = None) -> None:
        self.count += 1
        self.handlers.append(Handler(self.count, name, absolute, pointer, device))

    def register(self, driver: str, device: Any) -> None:
        """A device was made: the handler its realize registers, if it has one."""
        found = HANDLERS.get(driver)
        if found is not None:
            self.add(*found, device=device)

    def mice(self) -> list[dict[str, Any]]:
        """query-mice: the live pointing handlers, newest first; the oldest is the current one (nothing
        activates another: the guest model does not move a mouse)."""
        live = [h for h in self.handlers if h.pointer and h.live]
        return [
            {"index": h.index, "name": h.name, "current": h is live[0], "absolute": h.absolute} for h in reversed(live)
        ]
