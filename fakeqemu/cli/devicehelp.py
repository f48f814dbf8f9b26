"""``-device DRIVER,help``: the driver's properties, as QEMU prints them (qdev_device_help), exit 0."""

from __future__ import annotations

from typing import Any


def _default(value: Any) -> str:
    """The default as QEMU prints it: its JSON (strings quoted)."""
    from fakeqemu.qmp.encode import encode

    return encode(value)


def device_help(driver: str) -> str | None:
    """QEMU's listing for ``driver`` from the recorded device-list-properties; None for a driver
    fakeqemu has no record of."""
    from fakeqemu.machine.board import recorded

    rec = recorded()["devices"].get("pc", {}).get(driver)
    if rec is None or "error" in rec or "device-list-properties" not in rec:
        return None
    lines = [f"{driver} options:"]
    for prop in sorted(rec["device-list-properties"], key=lambda p: p["name"].encode()):
        line = f"  {prop['name']}=<{prop['type']}>"
        if "description" in prop or "default-value" in prop:
            line = line.ljust(24) + " - " + prop.get("description", "")
            if "default-value" in prop:
                line += f" (default: {_default(prop['default-value'])})"
        lines.append(line)
    return "\n".join(lines) + "\n"
