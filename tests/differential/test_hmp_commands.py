"""Differential: HMP commands that wrap QMP ones (stop/s, cont/c, system_reset, system_powerdown, quit,
device_del, qom-list, qom-get, info kvm), their output, errors and events, through human-monitor-command."""

from __future__ import annotations

from tests.oracle import Script, Step, WaitClose, WaitExit, call, differential_tests, script


def hmp(*lines: str) -> list[Step]:
    out: list[Step] = []
    for line in lines:
        out += call("human-monitor-command", {"command-line": line})
    return out


SCRIPTS: list[Script] = [
    script(
        "hmp-run-state",
        hmp("stop", "cont", "c", "cont", "s", "stop", "system_reset", "info status", "system_powerdown", "c"),
        hmp("info kvm"),
        machine="pc",
    ),
    script(
        "hmp-device-del",
        call("device_add", {"driver": "e1000", "id": "n1", "addr": "0x5"}),
        hmp("device_del nosuch", "device_del", "device_del n1", "device_del n1", "device_del  n1  "),
        hmp("cont", "device_del n1"),
        machine="pc",
    ),
    script(
        "hmp-qom",
        hmp(
            "qom-list /machine/peripheral",
            "qom-list",
            "qom-list /nosuch",
            "qom-list /machine/i440fx/pci.0",
            "qom-get /machine type",
            "qom-get /machine nosuch",
            "qom-get /machine",
            "qom-get /machine/i440fx realized",
            "qom-get /machine/unattached/device[0] apic-id",
            "qom-get /machine/i440fx/pci.0 type",
        ),
        machine="pc",
    ),
    script(
        "hmp-quit",
        hmp("quit"),
        WaitClose(),
        WaitExit(),
        machine="pc",
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
