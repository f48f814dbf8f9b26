"""USB: the board's own controller that ``-usb`` (``-machine usb=on``) adds.

pc: a piix3-usb-uhci at 01.2 beside the PIIX3; q35: the ICH9 EHCI at 1d.7 with its UHCI companions at
1d.0-2 (hw/i386/pc_piix.c, pc_q35.c). fakeqemu plugs them as anonymous devices (QEMU keeps them under
/machine/unattached), and the companions keep a bus of their own rather than joining the EHCI's.
"""

from __future__ import annotations

from typing import Any


def board_usb(kind: str) -> list[dict[str, Any]]:
    if kind == "pc":
        return [{"driver": "piix3-usb-uhci", "bus": "pci.0", "addr": "01.2"}]
    if kind == "q35":
        return [
            {"driver": "ich9-usb-uhci1", "bus": "pcie.0", "addr": "1d.0", "multifunction": "on"},
            {"driver": "ich9-usb-uhci2", "bus": "pcie.0", "addr": "1d.1"},
            {"driver": "ich9-usb-uhci3", "bus": "pcie.0", "addr": "1d.2"},
            {"driver": "ich9-usb-ehci1", "bus": "pcie.0", "addr": "1d.7"},
        ]
    return []
