"""Start-up errors, the pid file lock, ignored signals and clean-up on exit, run against QEMU 7.2 and
fakeqemu with the same command line: exit status and stderr byte for byte, the files left behind."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.oracle import Target, fakeqemu_target, qemu_target
from tools.launch import connect

BASE = ("-M", "none", "-display", "none", "-nodefaults", "-S")
LONG = "a" * 120

#: (id, arguments); {d} is a fresh directory
STARTUP_ERRORS = [
    ("pidfile-missing-dir", ["-pidfile", "{d}/no/pid"]),
    ("pidfile-missing-dir-daemonize", ["-daemonize", "-pidfile", "{d}/no/pid"]),
    ("unix-path-too-long", ["-qmp", f"unix:{{d}}/{LONG},server=on,wait=off"]),
    ("qmp-bind-fails", ["-qmp", "unix:{d}/no/q.sock,server=on,wait=off"]),
    ("monitor-bind-fails", ["-monitor", "unix:{d}/no/h.sock,server=on,wait=off"]),
    ("chardev-bind-fails", ["-chardev", "socket,id=c,path={d}/no/c,server=on,wait=off", "-mon", "chardev=c"]),
    ("pidfile-before-monitor", ["-qmp", "unix:{d}/no/q.sock,server,nowait", "-pidfile", "{d}/no/pid"]),
    ("monitor-before-qtest", ["-qmp", "unix:{d}/no/q.sock,server=on,wait=off", "-qtest", "unix:{d}/no/t"]),
    ("pidfile-locked", ["-pidfile", "{d}/locked.pid"]),
]


def _run(target: Target, args: list[str], d: Path) -> tuple[int, str, list[str]]:
    argv = target.command([*BASE, *(a.replace("{d}", str(d)) for a in args)])
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    left = sorted(p.name for p in d.iterdir())
    return res.returncode, res.stderr.replace(str(d), "{d}"), left


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The pid file held by another process (this one), as a running QEMU holds it."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


@pytest.mark.qemu
@pytest.mark.parametrize(("name", "args"), STARTUP_ERRORS, ids=[n for n, _ in STARTUP_ERRORS])
def test_startup_error_like_qemu(qemu_binary: str, tmp_path: Path, name: str, args: list[str]) -> None:
    results = []
    for target in (qemu_target(), fakeqemu_target()):
        d = tmp_path / target.name
        d.mkdir()
        with _locked(d / "locked.pid"):
            results.append(_run(target, args, d))
    qemu, fake = results
    assert qemu[0] == 1, qemu
    assert fake == qemu


def _greeting(path: str, proc: subprocess.Popen[bytes]) -> socket.socket:
    """The monitor's socket, connected once it accepts, its greeting read."""
    sock = connect(path, proc)
    try:
        sock.settimeout(10)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(4096)
            assert chunk, buf
            buf += chunk
    except BaseException:
        sock.close()
        raise
    return sock


def _ask(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        assert chunk, buf
        buf += chunk
    return buf


def _lifecycle(target: Target, d: Path) -> tuple[list[str], list[str], list[bytes], int]:
    """Start with a QMP socket, a human monitor and a pid file; send the signals QEMU ignores; a second
    instance on the same pid file fails; then SIGTERM. What is left in the directory before and after."""
    args = [
        *BASE,
        "-qmp",
        f"unix:{d}/q.sock,server=on,wait=off",
        "-monitor",
        f"unix:{d}/h.sock,server=on,wait=off",
        "-pidfile",
        f"{d}/pid",
    ]
    proc = subprocess.Popen(target.command(args), stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sock = _greeting(f"{d}/q.sock", proc)
        replies = [_ask(sock, b'{"execute": "qmp_capabilities"}')]
        before = sorted(p.name for p in d.iterdir())
        assert (d / "pid").read_text() == f"{proc.pid}\n"
        for signum in (signal.SIGUSR1, signal.SIGALRM, signal.SIGIO):
            proc.send_signal(signum)
            replies.append(_ask(sock, b'{"execute": "query-status"}'))
        second = subprocess.run(
            target.command([*BASE, "-pidfile", f"{d}/pid"]), capture_output=True, text=True, timeout=30
        )
        replies.append(second.stderr.encode())
        sock.close()
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=30)
        return before, sorted(p.name for p in d.iterdir()), replies, status
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.qemu
def test_pidfile_signals_and_cleanup_like_qemu(qemu_binary: str, tmp_path: Path) -> None:
    results = []
    for target in (qemu_target(), fakeqemu_target()):
        d = tmp_path / target.name
        d.mkdir()
        results.append(_lifecycle(target, d))
    qemu, fake = results
    assert qemu[1] == [], qemu  # QEMU removes its sockets and pid file on exit
    assert qemu[0] == ["h.sock", "pid", "q.sock"]
    assert fake == qemu
