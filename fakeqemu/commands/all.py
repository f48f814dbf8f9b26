"""Imports every command module so that each registers its commands."""

from fakeqemu.commands import backends, core, fakeqemu_ext, hmp, qdev, qom  # noqa: F401
