"""ACPI register blocks the guest talks to: PCI hotplug (pcihp), CPU hotplug; memory hotplug next."""
