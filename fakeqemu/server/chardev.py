"""Socket chardevs, opened as QEMU opens them: listening (``server=on``), connecting (client mode), or a
socket passed down by number (``fd=N``: listening, as libvirt passes it, or already connected, as newer
QEMUMachine passes one end of a socketpair). Parsing QEMU's syntax is the CLI's (fakeqemu.cli.chardevs).
No trio here: the CLI opens them before the runtime is loaded."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

#: QEMU listens with a backlog of 1 and accepts one client at a time per monitor
BACKLOG = 1


class ChardevError(ValueError):
    """A chardev fakeqemu cannot use; the text is QEMU's. ``parse_error``: the legacy spec QEMU also
    names in a second ``parse error: SPEC`` line."""

    def __init__(self, message: str, parse_error: str = "") -> None:
        super().__init__(message)
        self.parse_error = parse_error


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A chardev socket address (unix, tcp or a passed fd), listening or connecting, and its options."""

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
    #: unix: a Linux abstract socket (``abstract=on``; ``tight=off`` pads the address, not modelled)
    abstract: bool = False
    tight: bool = True
    #: tcp: the port as written (QEMU resolves service names), the last port to try (``to=``), "ipv4"/"ipv6"
    service: str = ""
    to: int = 0
    family: str = ""
    #: client mode: seconds between attempts to connect again (0: never)
    reconnect: int = 0
    #: the option it came from, as QEMU names it in errors (``-qmp unix:/x``, ``-chardev socket,id=...``)
    option: str = ""

    def describe(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        if self.kind == "tcp":
            return f"tcp:{self.host}:{self.service or self.port}"
        return f"fd:{self.fd}"

    def target(self) -> str:
        """The address as QEMU names it in a connect error."""
        return self.path if self.kind == "unix" else f"{self.host}:{self.service or self.port}"


def _unix_address(ep: Endpoint) -> str:
    return "\0" + ep.path if ep.abstract else ep.path


def _tcp_addresses(ep: Endpoint, passive: bool) -> list[tuple[int, tuple[str, int]]]:
    family = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}.get(ep.family, socket.AF_UNSPEC)
    try:
        infos = socket.getaddrinfo(
            ep.host or None, ep.service or str(ep.port), family, socket.SOCK_STREAM, 0,
            socket.AI_PASSIVE if passive else 0,
        )  # fmt: skip
    except socket.gaierror as exc:
        raise ChardevError(f"address resolution failed for {ep.host}:{ep.service or ep.port}: {exc.strerror}") from None
    return [(info[0], info[4][:2]) for info in infos]  # type: ignore[misc]


def _fd_socket(ep: Endpoint) -> socket.socket:
    try:
        sock = socket.socket(fileno=ep.fd)
    except OSError:
        raise ChardevError(f"File descriptor '{ep.fd}' is not a socket") from None
    sock.setblocking(True)
    return sock


def listen(ep: Endpoint) -> socket.socket:
    """Bind and listen now, synchronously: the socket exists before anything slow is loaded, so a
    client that connects early waits in the backlog instead of failing. ``fd=N`` is taken as it is
    (listening, or already connected: then it is the one client)."""
    if ep.kind == "fd":
        return _fd_socket(ep)
    if ep.kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if not ep.abstract:
            try:
                if os.path.exists(ep.path) and not os.path.isdir(ep.path):
                    os.unlink(ep.path)
            except OSError:
                pass
        try:
            sock.bind(_unix_address(ep))
        except OSError:
            sock.close()
            raise
        sock.listen(BACKLOG)
        return sock
    last: OSError | None = None
    for family, (host, port) in _tcp_addresses(ep, passive=True):
        for candidate in range(port, max(port, ep.to) + 1):  # to=: the first free port of the range
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, candidate))
                sock.listen(BACKLOG)
            except OSError as exc:
                sock.close()
                last = exc
                continue
            return sock
    assert last is not None
    raise last


def connect(ep: Endpoint) -> socket.socket:
    """Connect as a client (client-mode chardevs; QEMU's qtest chardev connects to the test's socket)."""
    if ep.kind == "fd":
        return _fd_socket(ep)
    if ep.kind == "unix":
        targets: list[tuple[int, object]] = [(socket.AF_UNIX, _unix_address(ep))]
    else:
        targets = list(_tcp_addresses(ep, passive=False))
    error = "Connection refused"
    for family, address in targets:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.connect(address)  # type: ignore[arg-type]
        except OSError as exc:
            sock.close()
            error = exc.strerror or str(exc)
            continue
        return sock
    raise ChardevError(f"Failed to connect to '{ep.target()}': {error}")


def open_endpoint(ep: Endpoint) -> socket.socket:
    """The socket a chardev starts with: listening in server mode, connected in client mode."""
    return listen(ep) if ep.server or ep.kind == "fd" else connect(ep)


def is_listening(sock: socket.socket) -> bool:
    """Whether ``sock`` listens (a monitor's socket) or is already connected (``fd=N`` of a socketpair)."""
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        return True


def bound_address(sock: socket.socket) -> str:
    try:
        name = sock.getsockname()
    except OSError:
        return ""
    if isinstance(name, tuple):
        return f"{name[0]}:{name[1]}"
    if isinstance(name, bytes):
        return "@" + name[1:].decode(errors="replace")
    return str(name)
