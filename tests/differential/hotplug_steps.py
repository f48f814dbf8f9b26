"""Steps and expected lines the ACPI PCI hotplug differential tests (pc and q35) share."""

from __future__ import annotations

from tests.oracle import Entry, Step, call


def peripheral() -> list[Step]:
    return call("qom-list", {"path": "/machine/peripheral"})


def reply(line: str) -> Entry:
    return ("qtest<", line.encode())


def deleted(dev: str) -> bytes:
    return (
        b'{"timestamp": {"seconds": 0, "microseconds": 0}, "event": "DEVICE_DELETED", "data": '
        b'{"device": "' + dev.encode() + b'", "path": "/machine/peripheral/' + dev.encode() + b'"}}'
    )
