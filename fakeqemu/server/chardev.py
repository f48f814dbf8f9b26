"""Socket endpoints from QEMU's chardev syntax, as the monitor and qtest use them.

``unix:PATH``, ``tcp:HOST:PORT``, with ``server=on|off``, ``wait=on|off`` (or the old bare ``server`` and
``nowait``), and a listening socket passed down by number (libvirt's ``fd=N``).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

#: QEMU listens with a backlog of 1 and accepts one client at a time per monitor
BACKLOG = 1


class ChardevError(ValueError):
    """A chardev spec fakeqemu cannot use; the text is QEMU-style."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    kind: str  # "unix", "tcp" or "fd"
    path: str = ""
    host: str = ""
    port: int = 0
    fd: int = -1
    server: bool = True
    wait: bool = True
    #: the chardev id QEMU gives it (compat_monitor0 for -qmp; the -chardev id): query-chardev's label
    label: str = ""
    #: a human monitor (readline HMP) rather than QMP
    hmp: bool = False

    def describe(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        if self.kind == "tcp":
            return f"tcp:{self.host}:{self.port}"
        return f"fd:{self.fd}"


def _flag(value: str) -> bool:
    if value in ("on", "yes", "true", "y"):
        return True
    if value in ("off", "no", "false", "n"):
        return False
    raise ChardevError(f"Parameter 'server' expects 'on' or 'off', got '{value}'")


def parse_legacy(spec: str) -> Endpoint:
    """``-qmp`` / ``-qtest`` style: ``unix:PATH[,opts]`` or ``tcp:HOST:PORT[,opts]``."""
    head, _, rest = spec.partition(",")
    opts = [o for o in rest.split(",") if o] if rest else []
    server, wait = False, True
    for opt in opts:
        key, eq, value = opt.partition("=")
        if key == "server":
            server = _flag(value) if eq else True
        elif key == "nowait":
            wait = False
        elif key == "wait":
            wait = _flag(value)
        elif key in ("nodelay", "telnet", "reconnect", "ipv4", "ipv6", "to"):
            continue
        else:
            raise ChardevError(f"Invalid parameter '{key}'")
    if head.startswith("unix:"):
        return Endpoint("unix", path=head[5:], server=server, wait=wait)
    if head.startswith("tcp:"):
        host, _, port = head[4:].rpartition(":")
        if not port.isdigit():
            raise ChardevError(f"chardev: tcp: port '{port}' is not a number")
        return Endpoint("tcp", host=host or "0.0.0.0", port=int(port), server=server, wait=wait)
    raise ChardevError(f"'{head.partition(':')[0]}' is not a supported chardev backend for fakeqemu")


def parse_chardev(opts: dict[str, str]) -> Endpoint:
    """``-chardev socket,id=..,path=..|host=..,port=..|fd=..,server=on,wait=off``."""
    server = _flag(opts["server"]) if "server" in opts else False
    wait = _flag(opts["wait"]) if "wait" in opts else True
    if "nowait" in opts:
        wait = False
    if "fd" in opts:
        return Endpoint("fd", fd=int(opts["fd"]), server=True, wait=wait)
    if "path" in opts:
        return Endpoint("unix", path=opts["path"], server=server, wait=wait)
    if "port" in opts:
        return Endpoint("tcp", host=opts.get("host", "0.0.0.0"), port=int(opts["port"]), server=server, wait=wait)
    raise ChardevError("chardev: socket: no address given (path, host/port or fd)")


def listen(ep: Endpoint) -> socket.socket:
    """Bind and listen now, synchronously: the socket exists before anything slow is loaded, so a
    client that connects early waits in the backlog instead of failing."""
    if ep.kind == "fd":
        sock = socket.socket(fileno=ep.fd)
        sock.setblocking(True)
    elif ep.kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if os.path.exists(ep.path) and not os.path.isdir(ep.path):
                os.unlink(ep.path)
        except OSError:
            pass
        sock.bind(ep.path)
    else:
        family = socket.AF_INET6 if ":" in ep.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ep.host, ep.port))
    if ep.kind != "fd":
        sock.listen(BACKLOG)
    return sock


def is_listening(sock: socket.socket) -> bool:
    """Whether ``sock`` listens (a monitor's socket) or is already connected (``fd=N`` of a socketpair)."""
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        return True


def bound_address(sock: socket.socket) -> str:
    name = sock.getsockname()
    if isinstance(name, tuple):
        return f"{name[0]}:{name[1]}"
    return str(name)


def connect(ep: Endpoint) -> socket.socket:
    """Connect as a client (QEMU's qtest chardev connects to the test's socket at start-up)."""
    if ep.kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address: object = ep.path
    elif ep.kind == "tcp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        address = (ep.host, ep.port)
    else:
        raise ChardevError("a client chardev needs unix:PATH or tcp:HOST:PORT")
    try:
        sock.connect(address)  # type: ignore[arg-type]
    except OSError as exc:
        sock.close()
        raise ChardevError(f"Failed to connect to '{ep.path or ep.describe()}': {exc.strerror}") from None
    return sock
