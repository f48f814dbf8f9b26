"""Chardev backends other than the monitors' sockets, and the display listeners, opened as QEMU opens them
at start-up (before anything slow is loaded): ``-chardev pty`` (a real pseudo-terminal; QEMU says where
on stderr and query-chardev shows ``pty:/dev/pts/N``), ``-chardev socket`` (listening, or a listening fd
passed down, as libvirt's guest-agent channel), ``-vnc`` and ``-spice`` (their ports bound)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from fakeqemu.server.chardev import ChardevError, Endpoint, listen

#: VNC displays are ports from 5900
VNC_BASE = 5900


class BackendError(ValueError):
    """A backend QEMU would refuse; the text is QEMU's (the option prefix is added by the caller)."""


@dataclass
class OpenBackends:
    """What the process holds open for one VM: pty masters, chardev sockets, display listeners."""

    ptys: dict[str, int] = field(default_factory=dict)
    sockets: dict[str, socket.socket] = field(default_factory=dict)
    displays: dict[str, socket.socket] = field(default_factory=dict)
    #: file chardevs on a passed file descriptor (-add-fd): the guest's console log
    files: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        for fd in (*self.ptys.values(), *self.files.values()):
            os.close(fd)
        self.files.clear()
        for sock in (*self.sockets.values(), *self.displays.values()):
            sock.close()
        self.ptys.clear()
        self.sockets.clear()
        self.displays.clear()


def open_pty() -> tuple[int, str]:
    """A pseudo-terminal in raw mode, as QEMU's pty chardev makes it: (master fd, slave path)."""
    import tty

    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        path = os.ttyname(slave)
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    return master, path


def open_chardev(
    held: OpenBackends, opts: dict[str, str], ep: Endpoint | None, fdsets: dict[int, list[int]] | None = None
) -> str:
    """Open one ``-chardev`` (``ep``: a socket chardev's address, as the CLI parsed it; ``fdsets``: the
    -add-fd sets, for a ``path=/dev/fdset/N`` as libvirt passes a serial log file); returns query-chardev's
    filename for it."""
    label, backend = opts["id"], opts.get("backend", "")
    if backend == "pty":
        fd, path = open_pty()
        held.ptys[label] = fd
        return f"pty:{path}"
    if backend == "socket" and ep is not None:
        if not ep.server:
            raise ChardevError("fakeqemu serves socket chardevs as servers only (server=on)")
        sock = listen(ep)
        held.sockets[label] = sock
        name = sock.getsockname()
        if isinstance(name, tuple):
            return f"tcp:{name[0]}:{name[1]},server=on"
        return f"unix:{name},server=on"
    if backend == "file":
        path = opts.get("path", "")
        if path.startswith("/dev/fdset/"):
            members = (fdsets or {}).get(int(path[11:]) if path[11:].isdigit() else -1)
            if not members:
                raise BackendError(f"Could not open '{path}': No such file or directory")
            held.files[opts["id"]] = members[0]
            return "file"  # QEMU names a file chardev after its backend
        try:
            flags = (
                os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if opts.get("append") == "on" else os.O_TRUNC)
            )
            held.files[opts["id"]] = os.open(path, flags, 0o666)
        except OSError as exc:
            raise BackendError(f"Could not open '{path}': {exc.strerror}") from None
        return "file"
    return backend  # null, spicevmc, spiceport, stdio, ...: QEMU names them after the backend


def _listen_tcp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1)
    except OSError:
        sock.close()
        raise
    return sock


def open_vnc(held: OpenBackends, spec: str) -> tuple[str, int] | None:
    """``-vnc HOST:DISPLAY[,opts]`` (port 5900 + display) or ``unix:PATH``; ``none``: no server."""
    head = spec.split(",", 1)[0]
    head = head[4:] if head.startswith("vnc=") else head  # the implied option, spelled out (libvirt)
    if head == "none":
        return None
    if head.startswith("unix:"):
        sock = listen(Endpoint("unix", path=head[5:], server=True, wait=False))
        held.displays["vnc"] = sock
        return head[5:], 0
    host, _, display = head.rpartition(":")
    if not display.isdigit():
        raise BackendError(f"Failed to start VNC server: address '{head}' is not valid")
    host = host.strip("[]") or "0.0.0.0"
    try:
        held.displays["vnc"] = _listen_tcp(host, VNC_BASE + int(display))
    except OSError as exc:
        raise BackendError(f"Failed to find an available port: {exc.strerror}") from None
    return host, VNC_BASE + int(display)


def open_spice(held: OpenBackends, opts: dict[str, str]) -> tuple[str, int] | None:
    """``-spice port=P,addr=A,...``: the plain port bound (no port: SPICE listens nowhere)."""
    port = opts.get("port")
    if port is None:
        return None
    host = opts.get("addr", "0.0.0.0")
    try:
        held.displays["spice"] = _listen_tcp(host, int(port))
    except (OSError, ValueError) as exc:
        raise BackendError(f"failed to initialize spice server ({getattr(exc, 'strerror', exc)})") from None
    return host, int(port)
