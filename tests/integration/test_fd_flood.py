"""fds a client passes and never claims: a message that carries fds replaces the ones held from an
earlier message (QEMU's socket chardev), so a connection holds at most one message's worth (16)."""

from __future__ import annotations

import array
import os
import socket
from pathlib import Path

from tests.integration.procs import Raw, fakeqemu


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _send_with_fds(client: Raw, data: bytes, fds: list[int]) -> None:
    client.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


def test_unclaimed_fds_are_replaced_not_kept(tmp_path: Path) -> None:
    with fakeqemu(tmp_path) as proc:
        client = Raw(proc.sockets[0])
        client.negotiate()
        # answered by the runtime, which is up then with its own fds (the early path answers only a few
        # queries before it: fakeqemu.server.early)
        assert client.cmd(b'{"execute": "query-chardev"}').startswith(b'{"return": [')
        pid = proc.popen.pid
        before = _open_fds(pid)
        null = [os.open(os.devnull, os.O_RDONLY) for _ in range(16)]
        try:
            for _ in range(100):
                _send_with_fds(client, b" ", null)
            assert client.cmd(b'{"execute": "query-status"}').startswith(b'{"return": ')
            held = _open_fds(pid) - before
            assert held <= 16, held  # was 1,600 (QEMU: 16 as well)
            # the last message's fds are the ones a getfd claims; the rest are closed
            _send_with_fds(client, b'{"execute": "getfd", "arguments": {"fdname": "f"}}', null[:3])
            assert client.line() == b'{"return": {}}'
            assert _open_fds(pid) - before == 1
            assert client.cmd(b'{"execute": "closefd", "arguments": {"fdname": "f"}}') == b'{"return": {}}'
            assert _open_fds(pid) == before
        finally:
            for fd in null:
                os.close(fd)
            client.close()
