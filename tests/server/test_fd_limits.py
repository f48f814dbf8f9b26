"""The real process at its limits: more clients than file descriptors in a fleet, and a monitor that is a
connected socket passed down as ``fd=N``."""

from __future__ import annotations

import functools
import os
import resource
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

from tools.launch import FAKEQEMU, Emulator

FLEET = 16
#: fds left free once the fleet is ready: FLEET - SPARE clients find no fd to be accepted with
SPARE = 6


def _limit_fds(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def _fleet(tmp_path: Path, limit: int | None) -> subprocess.Popen[bytes]:
    """``fakeqemu run`` with FLEET paused VMs, once every VM listens (its first announcement line read)."""
    argv = [sys.executable, "-m", "fakeqemu.cli.friendly", "run", "--vms", str(FLEET), "--no-http"]
    proc = subprocess.Popen(
        [*argv, "--dir", str(tmp_path), "-S"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=None if limit is None else functools.partial(_limit_fds, limit),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(b"fakeqemu: VM vm0-0"), proc.communicate()
    return proc


def _ready_fds(tmp_path: Path) -> int:
    """The descriptors a ready fleet holds (measured, not assumed: start-up may change)."""
    proc = _fleet(tmp_path, None)
    try:
        return len(os.listdir(f"/proc/{proc.pid}/fd"))
    finally:
        proc.kill()
        proc.communicate()


def _ask(sock: socket.socket, lines: BinaryIO, data: bytes) -> bytes:
    """Send ``data``, return the next message (QEMU ends each with CRLF)."""
    sock.sendall(data)
    line = lines.readline()
    if not line.endswith(b"\r\n"):
        raise EOFError(line)
    return line[:-2]


def test_more_clients_than_fds_wait_and_every_vm_keeps_answering(tmp_path: Path) -> None:
    limit = _ready_fds(tmp_path / "probe") + SPARE
    proc = _fleet(tmp_path, limit)
    clients: list[socket.socket] = []
    try:
        sel = selectors.DefaultSelector()
        for i in range(FLEET):
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(10)
            sock.connect(str(tmp_path / f"vm0-{i}.qmp"))  # into the backlog: accepted when an fd is free
            clients.append(sock)
            sel.register(sock, selectors.EVENT_READ, i)
        served: set[int] = set()
        deadline = time.monotonic() + 60  # a bound on failure only: the loop ends as soon as all are served
        while len(served) < FLEET:
            assert time.monotonic() < deadline, f"served {sorted(served)}"
            assert proc.poll() is None
            for key, _ in sel.select(timeout=1):
                i = key.data
                sock = clients[i]
                sel.unregister(sock)
                buf = sock.makefile("rb")
                assert _ask(sock, buf, b"").startswith(b'{"QMP"')
                assert _ask(sock, buf, b'{"execute":"qmp_capabilities"}') == b'{"return": {}}'
                assert _ask(sock, buf, b'{"execute":"query-name"}') == b'{"return": {"name": "vm0-%d"}}' % i
                served.add(i)
                buf.close()
                sock.close()  # frees the server's fd: a waiting client of another VM is accepted next
        sel.close()
        assert proc.poll() is None
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert b"cannot accept a client" in err  # the limit was hit, and survived
        assert b"16 VMs with a client on each of their 1 socket(s) need about 64 file descriptors" in err
        assert b"the limit is %d" % limit in err
        assert err.count(b"terminating") == 1 and b"terminating 16 VMs on signal 15" in err  # one line
        assert b"Traceback" not in err
    finally:
        for sock in clients:
            sock.close()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_a_connected_socket_passed_as_fd_is_the_one_client() -> None:
    ours, theirs = socket.socketpair()
    with ours, Emulator() as emu:
        fd = theirs.fileno()
        argv = [*FAKEQEMU, "-M", "pc", "-display", "none", "-nodefaults", "-S"]
        argv += ["-chardev", f"socket,id=mon,fd={fd}", "-mon", "chardev=mon,mode=control"]
        proc = emu.start(argv, pass_fds=[fd])
        theirs.close()
        ours.settimeout(10)
        buf = ours.makefile("rb")
        assert _ask(ours, buf, b"").startswith(b'{"QMP": {"version"')
        assert _ask(ours, buf, b'{"execute":"qmp_capabilities"}') == b'{"return": {}}'
        reply = _ask(ours, buf, b'{"execute":"query-status"}')
        assert reply == b'{"return": {"status": "prelaunch", "singlestep": false, "running": false}}'
        assert b'"SHUTDOWN"' in _ask(ours, buf, b'{"execute":"quit"}')  # then the reply, as QEMU sends them
        assert buf.readline() == b'{"return": {}}\r\n'  # read, not asked: the VM may have closed by now
        buf.close()
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
