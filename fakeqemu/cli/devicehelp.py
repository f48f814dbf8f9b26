"""``-device DRIVER,help``: the driver's properties, as QEMU prints them (qdev_device_help), exit 0."""

from __future__ import annotations


def device_help(driver: str) -> str | None:
    """QEMU's listing for ``driver`` from the recorded device-list-properties; None for a driver
    fakeqemu has no record of."""
    from fakeqemu.machine.board import recorded

    rec = recorded()["devices"].get("pc", {}).get(driver)
    if rec is None or "error" in rec or "device-list-properties" not in rec:
        return None
    from fakeqemu.commands.hmp_help import properties_help

    return properties_help(driver, rec["device-list-properties"])
