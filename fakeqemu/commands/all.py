"""Imports every command module so that each registers its commands."""

from fakeqemu.commands import core  # noqa: F401
