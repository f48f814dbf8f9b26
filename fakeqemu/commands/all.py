"""Imports every command module so that each registers its commands."""

from fakeqemu.commands import backends, block, core, fakeqemu_ext, fds, hmp, probe, qdev, qom  # noqa: F401
