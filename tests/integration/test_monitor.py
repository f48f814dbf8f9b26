"""The installed binary driven over real sockets: qemu.qmp's QMPClient and raw bytes."""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import QMPClient

from tests.integration.procs import Raw, fakeqemu, in_asyncio, wait_for_socket


async def test_qmpclient_over_unix_socket(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, "-name", "vm1") as proc:

        async def scenario() -> list[Any]:
            client = QMPClient("t")
            await client.connect(proc.sockets[0])
            try:
                with client.listener() as listener:
                    out = [await client.execute("query-status"), await client.execute("query-name")]
                    out.append(await client.execute("cont"))
                    event = await listener.get()
                    out.append(event["event"])
                    out.append(await client.execute("query-status"))
                return out
            finally:
                await client.disconnect()

        assert await in_asyncio(scenario) == [
            {"status": "prelaunch", "singlestep": False, "running": False},
            {"name": "vm1"},
            {},
            "RESUME",
            {"status": "running", "singlestep": False, "running": True},
        ]


async def test_qmpclient_over_tcp(tmp_path: Path) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with fakeqemu(tmp_path, "-qmp", f"tcp:127.0.0.1:{port},server,nowait") as proc:
        wait_for_socket(("127.0.0.1", port), proc.popen)

        async def scenario() -> Any:
            client = QMPClient("t")
            await client.connect(("127.0.0.1", port))
            try:
                return await client.execute("query-kvm")
            finally:
                await client.disconnect()

        assert await in_asyncio(scenario) == {"enabled": False, "present": True}


def test_events_reach_every_monitor_and_a_client_leaving_disturbs_none(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, monitors=3) as proc:
        a, b, c = (Raw(p) for p in proc.sockets)
        for client in (a, b, c):
            client.negotiate()
        c.close()  # leaves without a word
        assert a.cmd(b'{"execute":"cont"}').startswith(b'{"timestamp": ')
        assert a.line() == b'{"return": {}}'
        assert b'"event": "RESUME"' in b.line()
        assert b.cmd(b'{"execute":"query-status"}') == (
            b'{"return": {"status": "running", "singlestep": false, "running": true}}'
        )


def test_one_client_at_a_time_and_the_next_after_the_last_left(tmp_path: Path) -> None:
    with fakeqemu(tmp_path) as proc:
        first = Raw(proc.sockets[0])
        first.negotiate()
        second = Raw(proc.sockets[0])
        # a round trip on the first: had the server taken the second on, it would have greeted it by now
        assert first.cmd(b'{"execute":"query-kvm"}').startswith(b'{"return": ')
        second.sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            second.sock.recv(1)
        second.sock.settimeout(20)
        first.close()
        assert second.line().startswith(b'{"QMP": ')


def test_events_are_not_sent_before_negotiation(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, monitors=2) as proc:
        a, b = Raw(proc.sockets[0]), Raw(proc.sockets[1])
        a.negotiate()
        b.line()  # greeting only
        assert b'"event": "RESUME"' in a.cmd(b'{"execute":"cont"}')
        # b's next message is the answer to its own command: no RESUME came before it
        assert b.cmd(b'{"execute":"query-status"}') == (
            b'{"error": {"class": "CommandNotFound", "desc": '
            b"\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}"
        )


def test_stalled_half_message_does_not_stall_other_clients(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, monitors=2) as proc:
        a, b = Raw(proc.sockets[0]), Raw(proc.sockets[1])
        a.negotiate()
        b.negotiate()
        a.send(b'{"execute": "query-st')
        assert b.cmd(b'{"execute":"query-kvm"}') == b'{"return": {"enabled": false, "present": true}}'
        a.send(b'atus", "id": 3}')
        assert a.line() == b'{"return": {"status": "prelaunch", "singlestep": false, "running": false}, "id": 3}'


def test_client_that_never_reads_does_not_stall_the_others(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, monitors=2) as proc:
        lazy, busy = Raw(proc.sockets[0]), Raw(proc.sockets[1])
        lazy.negotiate()
        busy.negotiate()
        # the lazy client's socket buffers fill with events it never reads
        for _ in range(3000):
            busy.cmd(b'{"execute":"system_reset"}')
            busy.line()
        assert busy.cmd(b'{"execute":"query-kvm"}') == b'{"return": {"enabled": false, "present": true}}'


def test_sigterm_sends_shutdown_host_signal_then_exits(tmp_path: Path) -> None:
    with fakeqemu(tmp_path) as proc:
        client = Raw(proc.sockets[0])
        client.negotiate()
        proc.popen.send_signal(signal.SIGTERM)
        event = client.line()
        assert b'"event": "SHUTDOWN", "data": {"guest": false, "reason": "host-signal"}}' in event
        assert proc.popen.wait(timeout=5) == 0
        assert "terminating on signal 15" in proc.stderr_text()


def test_quit_replies_then_closes(tmp_path: Path) -> None:
    with fakeqemu(tmp_path) as proc:
        client = Raw(proc.sockets[0])
        client.negotiate()
        assert b'"reason": "host-qmp-quit"' in client.cmd(b'{"execute":"quit"}')
        assert client.line() == b'{"return": {}}'
        try:
            client.line()
            raise AssertionError("connection still open after quit")
        except EOFError:
            pass
        assert proc.popen.wait(timeout=5) == 0


def test_client_connecting_at_once_is_greeted_and_served(tmp_path: Path) -> None:
    # the early greeter accepts this client before the runtime is loaded; the VM must carry on with it
    with fakeqemu(tmp_path, wait=False) as proc:
        client = Raw(proc.sockets[0])
        assert client.line().startswith(b'{"QMP": {"version": ')
        assert client.cmd(b'{"execute":"qmp_capabilities","id":1}') == b'{"return": {}, "id": 1}'
