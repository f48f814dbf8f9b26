"""fakeqemu: a fake QEMU process that speaks QMP like QEMU 7.2 and models the PCI hotplug path."""

__version__ = "0.1.0"
