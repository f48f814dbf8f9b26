"""Differential: the power and sleep commands a management tool sends (libvirt's dompmsuspend/dompmwakeup
and domtime ask these), against QEMU 7.2."""

from __future__ import annotations

from tests.oracle import Script, call, differential_tests, script

OK = b'{"return": {}}'
NOT_SUSPENDED = b'{"error": {"class": "GenericError", "desc": "Unable to wake up: guest is not in suspended state"}}'

SCRIPTS: list[Script] = [
    script(
        "power-wakeup-support",
        call("query-current-machine"),
        call("system_wakeup"),
        call("rtc-reset-reinjection"),
        must=[b'{"return": {"wakeup-suspend-support": true}}', NOT_SUSPENDED, OK],
    ),
    script(
        "power-wakeup-support-q35",
        call("query-current-machine"),
        call("system_wakeup", id=3),
        machine="q35",
        must=[b'{"return": {"wakeup-suspend-support": true}}'],
    ),
    script(
        "power-no-acpi",
        call("query-current-machine"),
        call("system_wakeup"),
        extra_args=["-no-acpi"],
        must=[
            b'{"return": {"wakeup-suspend-support": false}}',
            b'{"error": {"class": "GenericError", "desc": "wake-up from suspend is not supported by this guest"}}',
        ],
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)

MEMORY_SCRIPTS: list[Script] = [
    script(
        f"memory-summary-{name}",
        call("query-memory-size-summary"),
        call("query-memory-devices"),
        extra_args=args,
        must=[b'{"return": []}'],
    )
    for name, args in (
        ("default", []),
        ("size", ["-m", "size=256"]),
        ("slots", ["-m", "128M,slots=4,maxmem=1G"]),
    )
]

test_memory_harness_against_qemu, test_memory_differential = differential_tests(MEMORY_SCRIPTS)
