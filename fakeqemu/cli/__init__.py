"""Command lines: the QEMU-compatible one (fakeqemu-system-x86_64) and the friendly one (fakeqemu)."""
