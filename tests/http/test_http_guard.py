"""What the HTTP plane checks before a route runs: the Host header without a token (DNS rebinding), the
token before the body, the body's size, the number of connections; and the settings it refuses."""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

from fakeqemu.http import serve
from fakeqemu.http.bind import BindError, check_access
from fakeqemu.http.guard import MAX_BODY, HostCheck
from tests.http.plane import running, vm_config


def test_host_check() -> None:
    loop = HostCheck("127.0.0.1:8780", ["vm.test"])
    assert all(loop.allows(h) for h in ["127.0.0.1:8780", "localhost:8780", "LOCALHOST", "[::1]:8780", "vm.test."])
    assert not any(loop.allows(h) for h in ["evil.example:8780", "127.0.0.1.evil.example", "10.0.0.1:8780", ""])
    anywhere = HostCheck("0.0.0.0:8780")
    assert anywhere.allows("192.0.2.7:8780") and anywhere.allows("[2001:db8::1]")
    assert not anywhere.allows("rebind.example:8780") and anywhere.allows("localhost:8780")
    assert HostCheck("unix:/run/x.sock").allows("fakeqemu")


def test_access_settings() -> None:
    assert check_access("127.0.0.1:8780", None, False) is None
    assert check_access("unix:/x", None, False) is None
    assert check_access("0.0.0.0:8780", "t", False) is None
    with pytest.raises(BindError, match="must not be empty"):
        check_access("127.0.0.1:8780", "", False)
    with pytest.raises(BindError, match="beyond this machine"):
        check_access("0.0.0.0:8780", None, False)
    warning = check_access("[::]:8780", None, True)
    assert warning is not None and "no token" in warning


@pytest.mark.parametrize(
    "args",
    [["--http-token", ""], ["--http", "0.0.0.0:0"]],
    ids=["empty-token", "no-token-beyond-loopback"],
)
def test_friendly_cli_refuses(tmp_path: Path, args: list[str]) -> None:
    res = subprocess.run(
        [sys.executable, "-c", "import sys; from fakeqemu.cli.friendly import main; sys.exit(main())", "run",
         "--dir", str(tmp_path), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr


def test_qemu_cli_refuses_and_warns(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "fakeqemu", "-M", "none", "-version"]
    res = subprocess.run([*base, "-fakeqemu", "http=0.0.0.0:0"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "beyond this machine" in res.stderr and res.stderr.count("\n") == 1
    res = subprocess.run([*base, "-fakeqemu", "http=0.0.0.0:0,http-token="], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "must not be empty" in res.stderr


async def test_host_header_is_checked_without_a_token(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)], allow_hosts=("vm.test",)) as plane:
        port = plane.url.rpartition(":")[2]
        for host, status in [
            (f"127.0.0.1:{port}", 200),
            (f"localhost:{port}", 200),
            ("vm.test", 200),
            (f"rebound.example:{port}", 403),
        ]:
            r = await plane.client.get("/api/vms", headers={"Host": host})
            assert r.status_code == status, (host, r.text)
        r = await plane.client.get("/", headers={"Host": "rebound.example"})
        assert r.status_code == 403 and r.json()["detail"]["class"] == "Forbidden"


async def _raw(url: str, head: bytes) -> trio.SocketStream:
    host, _, port = url.removeprefix("http://").rpartition(":")
    stream = await trio.open_tcp_stream(host, int(port))
    await stream.send_all(head)
    return stream


async def _status(stream: trio.SocketStream) -> int:
    buf = b""
    while b"\r\n" not in buf:
        chunk = await stream.receive_some(4096)
        assert chunk, buf
        buf += chunk
    return int(buf.split(b" ", 2)[1])


async def test_token_and_size_are_checked_before_the_body(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)], token="s3cret") as plane:
        post = b"POST /api/vms/vm0/qmp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        # 100 MB announced, nothing sent: the answer comes without the body
        async with await _raw(plane.url, post + b"Content-Length: 100000000\r\n\r\n") as s:
            assert await _status(s) == 401
        auth = b"Authorization: Bearer s3cret\r\n"
        async with await _raw(plane.url, post + auth + b"Content-Length: 100000000\r\n\r\n") as s:
            assert await _status(s) == 413
        # a chunked body is cut off once it passes the limit
        async with await _raw(plane.url, post + auth + b"Transfer-Encoding: chunked\r\n\r\n") as s:
            chunk = b"x" * 65536
            with trio.move_on_after(30):
                for _ in range(MAX_BODY // len(chunk) + 2):
                    await s.send_all(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            assert await _status(s) == 413
        r = await plane.client.post("/api/vms/vm0/qmp", json={"execute": "query-status"})
        assert r.status_code == 200 and r.json()["return"]["status"] == "running"


async def test_faults_tables_are_bounded(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)]) as plane:
        r = await plane.client.put("/api/vms/vm0/faults", json={"delay": {f"c{i}": 1 for i in range(2000)}})
        assert r.status_code == 422 and "at most 1024" in r.text  # the OpenAPI document states the bound
        r = await plane.client.put("/api/vms/vm0/faults", json={"crash_on": "query-status"})
        assert r.status_code in (400, 422)


async def test_connections_are_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "MAX_CONNECTIONS", 3)
    get = b"GET /api/vms HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    async with running([vm_config(tmp_path)]) as plane:
        held = [await _raw(plane.url, get) for _ in range(3)]
        for s in held:
            assert await _status(s) == 200  # accepted and answered; kept open (keep-alive)
        waiting = await _raw(plane.url, get)  # connected in the backlog, not accepted
        await trio.testing.wait_all_tasks_blocked(cushion=0.05)
        assert select.select([waiting.socket.fileno()], [], [], 0)[0] == []  # no answer yet
        await held[0].aclose()
        assert await _status(waiting) == 200  # served once a connection closed
        for s in [*held[1:], waiting]:
            await s.aclose()
