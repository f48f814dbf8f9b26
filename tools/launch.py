"""The one way tests and tools start an emulator (Debian's QEMU or fakeqemu) and reach its sockets.

An ``Emulator`` runs one process in its own temporary directory. Sockets the emulator connects to (qtest,
as libqtest listens first) are made with ``listen`` before ``start``; sockets it serves are reached with
``connect``, which retries until a connect succeeds (never on a file's existence: a unix socket's file
appears at ``bind``, before ``listen``). ``close`` kills the process and releases every socket and pipe.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

FAKEQEMU: tuple[str, ...] = (sys.executable, "-m", "fakeqemu")
#: the arguments of a bare paused VM, as the tests start it
BARE = ("-display", "none", "-nodefaults")

Address = str | tuple[str, int]


class LaunchError(RuntimeError):
    """The emulator exited, or a socket did not accept in time."""


def stderr_of(proc: subprocess.Popen[bytes] | None) -> str:
    """What ``proc`` wrote on stderr (only once it has exited, else "")."""
    if proc is None or proc.poll() is None or proc.stderr is None or proc.stderr.closed:
        return ""
    return proc.stderr.read().decode(errors="replace")


def _exited(proc: subprocess.Popen[bytes] | None) -> str | None:
    if proc is None or proc.poll() is None:
        return None
    return f"exited with status {proc.returncode}: {stderr_of(proc).strip()}"


def connect(
    address: Address, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20.0, interval: float = 0.002
) -> socket.socket:
    """A socket connected to ``address`` (a unix path or (host, port)) as soon as it accepts: refused and
    missing are retried every ``interval`` s until ``timeout``, or until ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX if isinstance(address, str) else socket.AF_INET)
        try:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            sock.connect(address)
            sock.settimeout(None)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
        except BaseException:
            sock.close()
            raise
        why = _exited(proc)
        if why is not None:
            raise LaunchError(f"{address}: the emulator {why}")
        if time.monotonic() > deadline:
            raise LaunchError(f"{address} did not accept within {timeout} s")
        time.sleep(interval)


class Monitor:
    """A plain QMP client for the benches: greeted and negotiated on a connected socket, one command at a
    time, every message read in order from a buffered file."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")
        self.line()
        self.cmd("qmp_capabilities")

    def line(self) -> dict[str, Any]:
        raw = self.file.readline()
        if not raw:
            raise EOFError("the emulator closed its QMP socket")
        msg: dict[str, Any] = json.loads(raw)
        return msg

    def cmd(self, execute: str, arguments: dict[str, Any] | None = None) -> Any:
        """Send a command; its return value (events before it are passed over); RuntimeError on an error."""
        msg: dict[str, Any] = {"execute": execute}
        if arguments is not None:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode())
        while "return" not in (reply := self.line()):
            if "error" in reply:
                raise RuntimeError(f"{execute}: {reply['error']}")
        return reply["return"]

    def until(self, event: str, **data: Any) -> dict[str, Any]:
        """Read up to the event ``event`` whose data has ``data``; that event."""
        while True:
            msg = self.line()
            if msg.get("event") == event and all(msg.get("data", {}).get(k) == v for k, v in data.items()):
                return msg

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def wait_exit(pid: int, timeout: float = 10.0) -> None:
    """Return once process ``pid`` has exited (any process, a daemon too, not only a child): its pidfd
    becomes readable; LaunchError after ``timeout`` s."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise LaunchError(f"process {pid} did not exit within {timeout} s")
    finally:
        os.close(fd)


def reap(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs, wait for it and close its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def threads_exit(pid: int, tids: Sequence[int], timeout: float = 10.0) -> bool:
    """Whether the threads ``tids`` of process ``pid`` are gone from /proc within ``timeout`` s: a thread
    leaves it a little after ``Thread.join`` returns (the OS thread still exits), so this is polled."""
    deadline = time.monotonic() + timeout
    while any(os.path.exists(f"/proc/{pid}/task/{tid}") for tid in tids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


class Emulator:
    """One emulator process in its own temporary directory."""

    def __init__(self, prefix: str = "emu-") -> None:
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.proc: subprocess.Popen[bytes] | None = None
        self._listeners: dict[str, socket.socket] = {}
        self._log: IO[bytes] | None = None

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def listen(self, name: str) -> str:
        """A listening unix socket the emulator will connect to (e.g. ``-qtest unix:PATH``); its path."""
        path = self.path(name)
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path)
        sock.listen(1)
        self._listeners[name] = sock
        return path

    def start(
        self,
        argv: Sequence[str],
        stdout: int | IO[bytes] = subprocess.DEVNULL,
        stderr: int | IO[bytes] = subprocess.PIPE,
        pass_fds: Sequence[int] = (),
        log: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Exec ``argv``; stderr is kept by default (read it with ``stderr`` once the process has exited);
        with ``log`` it goes to a file instead, which ``wait_log`` reads while the process runs."""
        if log:
            self._log = open(self.path("stderr"), "w+b")  # noqa: SIM115 (closed by close())
            stderr = self._log
        self.proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, pass_fds=tuple(pass_fds)
        )
        return self.proc

    def accept(self, name: str, timeout: float = 20.0) -> socket.socket:
        """The emulator's connection to the socket made by ``listen(name)`` (which is then closed)."""
        listener = self._listeners.pop(name)
        try:
            listener.settimeout(timeout)
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                raise LaunchError(f"the emulator did not connect to {name}: {_exited(self.proc)}") from None
        finally:
            listener.close()
        conn.settimeout(None)
        return conn

    def connect(self, address: Address, timeout: float = 20.0, interval: float = 0.002) -> socket.socket:
        """``connect`` to a socket the emulator serves: a name in its directory, or (host, port)."""
        where = self.path(address) if isinstance(address, str) else address
        return connect(where, self.proc, timeout, interval)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, and the exit status."""
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        """What the process wrote on stderr (with ``log``: so far; else only once it has exited)."""
        if self._log is not None:
            return Path(self._log.name).read_text(errors="replace")
        return stderr_of(self.proc)

    def wait_log(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first match of ``pattern`` in what the process logs on stderr (started with ``log``), as
        soon as it is written; LaunchError if the process exits first."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while (found := regex.search(self.stderr())) is None:
            assert self.proc is not None
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise LaunchError(f"no {pattern!r} in the emulator's log: {self.stderr()}")
            time.sleep(0.01)
        return found

    def close(self) -> None:
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
        if self.proc is not None:
            reap(self.proc)
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """``n`` bytes from ``sock``, or fewer if the peer closes first."""
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out
