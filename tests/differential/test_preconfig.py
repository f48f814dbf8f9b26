"""Differential: --preconfig (QEMU's phase before the machine is ready, qmp-test's /qmp/preconfig)."""

from __future__ import annotations

from tests.differential.test_runstate import ev, status
from tests.oracle import Expect, Script, Send, call, cmd, differential_tests, script


def refused(name: str) -> bytes:
    return (
        b'{"error": {"class": "GenericError", "desc": "The command \''
        + name.encode()
        + b"' is permitted only after machine initialization has completed\"}}"
    )


RESUME = ev("RESUME")
AGAIN = b'{"error": {"class": "GenericError", "desc": "The command is permitted only before machine initialization"}}'

SCRIPTS: list[Script] = [
    script(
        "preconfig-exit-runs",
        call("query-status"),
        call("query-cpus-fast"),
        call("cont"),
        call("human-monitor-command", {"command-line": "info status"}),
        call("query-name"),
        call("qom-list-types", {"implements": "pcie-root-port"}),
        call("nosuch-command"),
        Send(cmd("x-exit-preconfig")),
        Expect(2),
        call("query-status"),
        call("x-exit-preconfig"),
        call("query-name"),
        extra_args=["--preconfig"],
        paused=False,
        must=[
            status("prelaunch", False),
            refused("query-cpus-fast"),
            refused("cont"),
            refused("human-monitor-command"),
            b'{"return": {}}',
            RESUME,
            status("running", True),
            AGAIN,
        ],
    ),
    script(
        "preconfig-exit-paused",
        call("query-status"),
        call("x-exit-preconfig"),
        call("query-status"),
        call("x-exit-preconfig"),
        Send(cmd("cont")),
        Expect(2),
        extra_args=["-preconfig"],
        paused=True,
        must=[status("prelaunch", False), AGAIN, RESUME],
    ),
    script(
        "preconfig-without",
        call("x-exit-preconfig"),
        must=[AGAIN],
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
