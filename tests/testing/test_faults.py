"""Scripted faults seen from a QMP client: they end (times, after), drop, disconnect before the reply,
kill one VM of a fleet, delay by a distribution."""

from __future__ import annotations

import pytest

from fakeqemu.testing import FakeQemu
from tests.integration.procs import Raw

ADD = b'{"execute": "device_add", "arguments": {"driver": "e1000", "id": "n1"}}'


def client(path: str) -> Raw:
    c = Raw(path)
    c.negotiate()
    return c


def test_a_fault_that_fires_twice_after_one_request_then_stops() -> None:
    faults = {"fail": {"query-name": {"desc": "flaky", "times": 2, "after": 1}}}
    with FakeQemu(faults=faults) as fq:
        c = client(fq.qmp_path)
        replies = [c.cmd(b'{"execute": "query-name"}') for _ in range(4)]
        ok, flaky = b'{"return": {"name": "vm0"}}', b'{"error": {"class": "GenericError", "desc": "flaky"}}'
        assert replies == [ok, flaky, flaky, ok]
        c.close()


def test_a_dropped_request_is_never_answered_and_the_next_is() -> None:
    with FakeQemu(faults={"drop": {"query-status": {"times": 1}}}) as fq:
        c = client(fq.qmp_path)
        c.send(b'{"execute": "query-status", "id": 1}{"execute": "query-name", "id": 2}')
        assert c.line() == b'{"return": {"name": "vm0"}, "id": 2}'
        assert c.cmd(b'{"execute": "query-status", "id": 3}').endswith(b'"id": 3}')
        assert "fault: drop query-status (never answered)" in [r.text for r in fq.traffic(direction="note")]
        c.close()


def test_disconnect_before_the_reply_after_the_command_ran() -> None:
    with FakeQemu(faults={"disconnect": ["device_add"]}) as fq:
        c = client(fq.qmp_path)
        c.send(ADD)
        with pytest.raises(EOFError):
            c.line()
        c.close()
        fq.faults.clear()
        again = client(fq.qmp_path)
        dup = again.cmd(ADD)  # the device was added: what the orchestrator must find out
        assert dup == b'{"error": {"class": "GenericError", "desc": "Duplicate device ID \'n1\'"}}'
        again.close()


def test_kill_vm_ends_one_vm_of_a_fleet() -> None:
    with FakeQemu(vms=2, faults={"kill_vm": {"stop": {"after": 1}}}) as fleet:
        first, second = fleet.vms
        a, b = client(first.qmp_path), client(second.qmp_path)
        a.send(b'{"execute": "stop"}')  # the first one passes
        assert b'"STOP"' in a.line() and a.line() == b'{"return": {}}'
        a.send(b'{"execute": "stop"}')
        with pytest.raises(EOFError):
            a.line()
        assert not first.alive() and second.alive()
        assert b.cmd(b'{"execute": "query-name"}') == b'{"return": {"name": "vm0-1"}}'
        a.close()
        b.close()


def test_delay_drawn_from_a_distribution_for_two_requests() -> None:
    with FakeQemu(faults={"delay": {"query-name": {"uniform": [0.01, 0.02], "times": 2}}, "seed": 1}) as fq:
        c = client(fq.qmp_path)
        for _ in range(3):
            assert c.cmd(b'{"execute": "query-name"}') == b'{"return": {"name": "vm0"}}'
        notes = [r.text for r in fq.traffic(direction="note") if r.is_fault]
        assert len(notes) == 2
        assert all(0.01 <= float(n.split(" by ")[1].split()[0]) <= 0.02 for n in notes)
        c.close()
