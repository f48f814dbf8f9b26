"""Start-up and exit chores both command lines share, done as QEMU does them: signals QEMU ignores, the
locked pid file, monitor sockets bound up front (one-line errors) and removed on exit, and the private
directory the friendly command line puts its sockets in.

Imports nothing slow: it runs before the runtime is loaded.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import socket
import stat
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fakeqemu.server.chardev import ChardevError, Endpoint, open_endpoint

if TYPE_CHECKING:
    from pathlib import Path  # only annotations: pathlib costs the start-up ~2 ms (re, urllib)

#: what QEMU ignores (or blocks) for its whole life: a stray kill -USR1/-ALRM/-IO leaves it running
IGNORED_SIGNALS = (signal.SIGUSR1, signal.SIGALRM, signal.SIGIO)
PROG = "qemu-system-x86_64"
#: sun_path's size: QEMU refuses a longer unix socket path
UNIX_PATH_MAX = 108


class StartupError(Exception):
    """Why the process cannot start; ``str(exc)`` is the message after the program's name."""


def ignore_signals() -> None:
    for signum in IGNORED_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


# --- the pid file ----------------------------------------------------------------------------------


class PidFile:
    """qemu_write_pidfile: created 0600, locked with lockf (F_TLOCK) for the process's life, then
    truncated and written; a second process that finds it locked fails. Removed on exit."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def write(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise StartupError(f"cannot create PID file: Could not create '{self.path}': {exc.strerror}") from None
            try:
                mine = os.fstat(fd)
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                raise StartupError(f"cannot create PID file: Cannot lock pid file: {exc.strerror}") from None
            try:
                there = os.stat(self.path)
            except OSError:
                there = None  # removed by the process that held it, as we locked it: try again
            if there is not None and there.st_ino == mine.st_ino and there.st_dev == mine.st_dev:
                break
            os.close(fd)
        self.fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            self.remove()
            raise StartupError(f"cannot create PID file: Failed to write pid file: {exc.strerror}") from None

    def remove(self) -> None:
        """qemu_unlink_pidfile: ours while we hold the lock."""
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = -1


# --- monitor sockets -------------------------------------------------------------------------------


class MonitorSockets:
    """The chardevs' sockets, opened before anything slow is loaded: listening (server mode), connected
    (client mode; None for one that reconnects later, as QEMU reports and carries on), and the socket
    files the listening ones made (path, device, inode): removed on exit as QEMU removes them, unless
    another process has bound the path since."""

    def __init__(self) -> None:
        self.socks: list[socket.socket | None] = []
        self.files: list[tuple[str, int, int]] = []

    def bind(self, endpoints: Sequence[Endpoint], origins: Sequence[str]) -> list[socket.socket | None]:
        """Open every chardev; on failure close and remove what was opened and raise StartupError with
        QEMU's text, ``origins[i]`` being the option as given (``-qmp unix:...``). Returns their sockets."""
        start = len(self.socks)
        try:
            for ep, origin in zip(endpoints, origins, strict=True):
                if ep.kind == "unix" and len(ep.path.encode()) > UNIX_PATH_MAX:
                    raise StartupError(
                        f"{origin}: UNIX socket path '{ep.path}' is too long\n"
                        f"Path must be less than {UNIX_PATH_MAX} bytes"
                    )
                try:
                    self.socks.append(open_endpoint(ep))
                except ChardevError as exc:
                    if not ep.reconnect:
                        raise StartupError(f"{origin}: {exc}") from None
                    print(f"{PROG}: Unable to connect character device {ep.label}: {exc}", file=sys.stderr, flush=True)
                    self.socks.append(None)
                    continue
                except OSError as exc:
                    where = ep.path if ep.kind == "unix" else f"{ep.host}:{ep.port}"
                    raise StartupError(f"{origin}: Failed to bind socket to {where}: {exc.strerror or exc}") from None
                if ep.kind == "unix" and ep.server and not ep.abstract:
                    st = os.lstat(ep.path)
                    self.files.append((ep.path, st.st_dev, st.st_ino))
        except BaseException:
            self.close()
            raise
        return self.socks[start:]

    def close(self) -> None:
        for sock in self.socks:
            if sock is not None:
                sock.close()
        self.remove_files()

    def remove_files(self) -> None:
        for path, dev, ino in self.files:
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if (st.st_dev, st.st_ino) == (dev, ino):
                    os.unlink(path)
        self.files = []


def served(path: str) -> bool:
    """Whether a live process accepts connections on the unix socket ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except OSError as exc:
        return exc.errno not in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK, errno.ENOTDIR)
    finally:
        probe.close()
    return True


# --- the friendly command line's socket directory ----------------------------------------------------


def private_dir(path: Path) -> Path:
    """``path`` as a directory only this user can enter: created with mode 0700, or refused when it
    exists with another owner or a looser mode (another local user could swap the sockets in it)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StartupError(f"cannot create the socket directory {path}: {exc.strerror}") from None
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise StartupError(f"{path} is not a directory; remove it or give --dir")
    if st.st_uid != os.getuid():
        raise StartupError(
            f"{path} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}): refusing to serve sockets "
            "there; remove it or give --dir"
        )
    if st.st_mode & 0o077:
        raise StartupError(
            f"{path} has mode {stat.S_IMODE(st.st_mode):o}: other users could replace its sockets; "
            "chmod 700 it or give --dir"
        )
    return path
