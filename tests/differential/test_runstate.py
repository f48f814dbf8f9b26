"""Differential: run states, lifecycle commands and events, names and versions, SIGTERM."""

from __future__ import annotations

import signal

from tests.oracle import (
    Expect,
    Qtest,
    Script,
    Send,
    Signal,
    WaitClose,
    WaitEvent,
    WaitExit,
    call,
    cmd,
    differential_tests,
    script,
)


def ev(name: str, data: bytes = b"") -> bytes:
    tail = b', "data": ' + data if data else b""
    return b'{"timestamp": {"seconds": 0, "microseconds": 0}, "event": "' + name.encode() + b'"' + tail + b"}"


def status(s: str, running: bool) -> bytes:
    r = b"true" if running else b"false"
    return b'{"return": {"status": "' + s.encode() + b'", "singlestep": false, "running": ' + r + b"}}"


OK = b'{"return": {}}'

SCRIPTS: list[Script] = [
    script(
        "runstate-cont-stop",
        call("query-status"),
        Send(cmd("cont")),
        Expect(2),
        call("query-status"),
        Send(cmd("stop")),
        Expect(2),
        call("query-status"),
        Send(cmd("cont", id=1)),
        Expect(2),
        call("cont", id=2),
        call("query-status"),
        Send(cmd("stop")),
        Expect(2),
        call("stop"),
        call("query-status"),
        must=[
            status("prelaunch", False),
            ev("RESUME"),
            OK,
            status("running", True),
            ev("STOP"),
            OK,
            status("paused", False),
            ev("RESUME"),
            b'{"return": {}, "id": 1}',
            b'{"return": {}, "id": 2}',
        ],
    ),
    script(
        "runstate-not-paused",
        call("query-status"),
        Send(cmd("stop")),
        Expect(2),
        call("query-status"),
        paused=False,
        must=[status("running", True), ev("STOP"), OK, status("paused", False)],
    ),
    script(
        "runstate-system-reset",
        Send(cmd("system_reset")),
        Expect(2),
        call("query-status"),
        Send(cmd("cont")),
        Expect(2),
        Send(cmd("system_reset")),
        Expect(2),
        # no command after the running VM's reset: its firmware's own RESET (guest-reset, once or twice in
        # QEMU) comes a few ms later and may come before or after any next reply
        must=[ev("RESET", b'{"guest": false, "reason": "host-qmp-system-reset"}'), OK],
    ),
    script(
        "runstate-reset-while-paused",
        # main_loop_should_exit: a VM that is not running after a reset goes back to prelaunch
        Send(cmd("cont")),
        Expect(2),
        Send(cmd("stop")),
        Expect(2),
        Send(cmd("system_reset")),
        Expect(2),
        call("query-status"),
        Send(cmd("cont")),
        Expect(2),
        call("query-status"),
        must=[status("prelaunch", False)],
    ),
    script(
        "runstate-repeated-device-del",
        # without the qtest accelerator the virtual clock runs once the VM has: a repeated device_del of a
        # pending ACPI unplug is accepted and sent again (before that, and under -accel qtest, refused)
        call("device_add", {"driver": "e1000", "id": "nic0", "addr": "0x5"}),
        call("device_del", {"id": "nic0"}),
        call("device_del", {"id": "nic0"}),
        Qtest("inl 0xae04"),
        Qtest("inw 0xafe0"),
        Send(cmd("cont")),
        Expect(2),
        call("device_del", {"id": "nic0"}),
        Qtest("inl 0xae04"),
        Qtest("inw 0xafe0"),
        Qtest("outw 0xafe0 0x2"),
        call("device_del", {"id": "nic0"}),
        Qtest("inw 0xafe0"),
        Qtest("outl 0xae08 0x20"),
        WaitEvent("DEVICE_DELETED"),
        must=[OK, b'{"error": {"class": "GenericError", "desc": "Device nic0 is already in the process of unplug"}}'],
    ),
    script(
        "runstate-system-powerdown",
        Send(cmd("system_powerdown")),
        Expect(2),
        call("query-status"),
        Send(cmd("cont")),
        Expect(2),
        Send(cmd("system_powerdown")),
        Expect(2),
        call("query-status"),
        must=[ev("POWERDOWN"), OK],
    ),
    script(
        "runstate-quit",
        Send(cmd("quit")),
        WaitClose(),
        WaitExit(),
        must=[
            ev("SHUTDOWN", b'{"guest": false, "reason": "host-qmp-quit"}'),
            OK,
            ("!", b"qmp closed"),
            ("!", b"exit 0"),
        ],
    ),
    script(
        "runstate-quit-running",
        Send(cmd("cont")),
        Expect(2),
        Send(cmd("quit", id="q")),
        WaitClose(),
        WaitExit(),
        must=[
            ev("SHUTDOWN", b'{"guest": false, "reason": "host-qmp-quit"}'),
            b'{"return": {}, "id": "q"}',
            ("!", b"qmp closed"),
            ("!", b"exit 0"),
        ],
    ),
    script(
        "runstate-sigterm",
        Signal(signal.SIGTERM),
        WaitClose(),
        WaitExit(),
        must=[ev("SHUTDOWN", b'{"guest": false, "reason": "host-signal"}'), ("!", b"qmp closed"), ("!", b"exit 0")],
    ),
    script("runstate-query-name-unset", call("query-name"), must=[OK]),
    script(
        "runstate-query-name", call("query-name"), extra_args=["-name", "vm1"], must=[b'{"return": {"name": "vm1"}}']
    ),
    script(
        "runstate-query-name-guest",
        call("query-name", id=1),
        extra_args=["-name", "guest=db-1,debug-threads=on"],
        must=[b'{"return": {"name": "db-1"}, "id": 1}'],
    ),
    script(
        "runstate-query-version-kvm",
        call("query-version"),
        call("query-kvm"),
        must=[
            b'{"return": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "<package>"}}',
            b'{"return": {"enabled": false, "present": true}}',
        ],
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
