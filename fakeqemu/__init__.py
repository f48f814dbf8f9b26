"""fakeqemu: a fake QEMU process that speaks QMP like QEMU 7.2 and models the PCI hotplug path."""

import os

__version__ = "0.1.0"


def data_text(name: str) -> str:
    """A file of ``fakeqemu/data`` (the recorded facts), read whole (without importlib.resources, which
    costs the start-up ~3 ms)."""
    with open(os.path.join(os.path.dirname(__file__), "data", name), encoding="utf-8") as f:
        return f.read()
