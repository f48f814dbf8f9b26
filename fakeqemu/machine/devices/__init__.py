"""Device families beyond PCI hotplug: their run-time state and the guest drivers that act on them."""
