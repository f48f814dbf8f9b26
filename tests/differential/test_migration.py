"""Differential: the migration commands on one VM (parameters, capabilities' effect, errors, -incoming
defer and migrate-incoming, a migration that cannot connect). Two-process migrations are in
tests/integration/test_migration.py (QEMU's own stream is not fakeqemu's, so the two cannot be mixed)."""

from __future__ import annotations

from tests.oracle import Poll, Script, Send, Sync, call, cmd, differential_tests, script

SOCK = "/tmp/fakeqemu-oracle-mig.sock"
NOBODY = "/nonexistent/fakeqemu-oracle.sock"

SCRIPTS: list[Script] = [
    script(
        "migration-parameters-errors",
        call("query-migrate"),
        call("query-migrate-parameters"),
        call("migrate-set-parameters", {"max-bandwidth": 1000, "downtime-limit": 100}),
        call("migrate-set-parameters", {"downtime-limit": 2000001}),
        call("query-migrate-parameters"),
        call("migrate", {"uri": "bogus:x"}),
        call("migrate", {"uri": "fd:nope"}),
        call("migrate-incoming", {"uri": f"unix:{SOCK}"}),
        call("migrate_cancel"),
        call("migrate-start-postcopy"),
        call("migrate-set-capabilities", {"capabilities": [{"capability": "postcopy-ram", "state": True}]}),
        call("migrate-start-postcopy"),
        call("query-migrate"),
        call("migrate", {"uri": f"unix:{NOBODY}"}),
        Poll("query-migrate", b'"status": "failed"'),
        call("query-migrate"),
        call("query-status"),
        qtest=False,
        paused=False,
        must=[b'{"error": {"class": "GenericError", "desc": "Parameter \'uri\' expects a valid migration protocol"}}'],
    ),
    script(
        "migration-incoming-defer",
        call("query-migrate"),
        call("query-status"),
        call("migrate", {"uri": "unix:/tmp/x.sock"}),
        call("cont"),
        call("query-status"),
        Send(cmd("migrate-incoming", {"uri": f"unix:{SOCK}"})),
        Sync(),
        call("migrate-incoming", {"uri": f"unix:{SOCK}"}),
        call("query-migrate"),
        call("query-status"),
        qtest=False,
        extra_args=["-incoming", "defer"],
        must=[b'{"return": {"status": "inmigrate", "singlestep": false, "running": false}}'],
    ),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
