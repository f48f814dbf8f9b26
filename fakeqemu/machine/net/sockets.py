"""A ``-netdev socket`` / ``netdev_add type=socket`` backend that holds its real socket, as QEMU 7.2's
net/socket.c does, for the frames a NIC sends (the self-announce RARP frames: fakeqemu has no other
data path). Sans-IO apart from the non-blocking send QEMU's main loop makes too: when the socket is full,
``on_blocked`` asks the runtime to wait until it is writable and call ``flush``.

- A stream socket (``fd=`` of a SOCK_STREAM socket, ``connect=``, an accepted ``listen=`` connection)
  carries each frame after its length as 4 big-endian bytes (net_socket_receive); a datagram socket
  (``fd=`` of a SOCK_DGRAM socket) one frame per datagram, ``send`` on a unix socket, ``sendto`` the
  multicast group it learnt otherwise (none: the send fails and the frame is dropped, as in QEMU).
- A frame the socket cannot take now waits in the backend's queue (QEMU's incoming_queue of the netdev,
  at most 10,000 frames: more are dropped), in order; so do the frames a NIC sends while the VM is not
  running, until it runs (net_vm_change_state_handler). When the VM stops, the queue is flushed as far
  as the socket takes it and the rest dropped (qemu_flush_or_purge_queued_packets); a frame already
  partly written is finished, where QEMU would drop it and carry on from its stale offset.
- A send that fails (the peer has gone: EPIPE, ECONNRESET; no destination) drops the frame.
- fakeqemu never reads what the peer sends (no guest receives it), but sees a stream peer go (EOF, a
  refused connect=) as net_socket_send does: the socket is closed, the link is down (frames dropped),
  ``info network`` shows no text, and a listen= backend accepts the next connection. Once the peer has
  sent data, QEMU hands it to the NIC, which takes none without a driver: QEMU stops reading, and so
  fakeqemu stops watching. A listen= backend with no connection yet is link-down: its frames are dropped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from fakeqemu.qmp.cnum import strtol_prefix

#: net/queue.c: queue->nq_maxlen
QUEUE_MAX = 10000


class NetSocket:
    """One socket netdev's connection: what it has not yet written, in order."""

    __slots__ = ("_offset", "info", "link_down", "listener", "on_blocked", "on_close", "queue", "sock", "stream")

    def __init__(self, sock: socket.socket | None, stream: bool = True) -> None:
        #: None while a listen= backend waits for its peer (link down), and once closed
        self.sock = sock
        self.stream = stream
        #: what ``info network`` shows after the netdev's type (qemu_set_info_str)
        self.info = ""
        #: set_link off: qemu_deliver_packet_iov drops what comes to a link that is down
        self.link_down = False
        #: a listen= backend's listening socket (the runtime accepts its one connection)
        self.listener: socket.socket | None = None
        self.queue: deque[bytes] = deque()
        self._offset = 0
        #: set by the runtime: the socket is full, wait for it to be writable and call flush()
        self.on_blocked: Callable[[NetSocket], None] | None = None
        #: set by the runtime while it waits on the socket: told before the socket is closed
        self.on_close: Callable[[socket.socket], None] | None = None
        if sock is not None:
            sock.setblocking(False)

    def accept(self) -> bool:
        """net_socket_accept: a listen= backend takes one connection (the link is up); False if none is
        waiting. QEMU then stops accepting (the next ones wait in the backlog)."""
        if self.listener is None or self.sock is not None:
            return False
        try:
            conn, (host, port) = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return False
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = conn
        self.info = f"socket: connection from {host}:{port}"
        return True

    def receive(self, frame: bytes, running: bool) -> None:
        """qemu_send_packet from the NIC: deliver ``frame`` now if the VM runs and nothing is waiting."""
        if self.sock is None or self.link_down:
            return
        if len(self.queue) >= QUEUE_MAX:
            return
        self.queue.append(struct.pack(">I", len(frame)) + frame if self.stream else frame)
        if running and len(self.queue) == 1:
            self.flush()

    def flush(self) -> bool:
        """Write what is queued as far as the socket takes it; True once nothing is left."""
        sock = self.sock
        while self.queue and sock is not None:
            data = self.queue[0]
            try:
                n = sock.send(data[self._offset :] if self._offset else data, socket.MSG_NOSIGNAL)
            except BlockingIOError:
                if self.on_blocked is not None:
                    self.on_blocked(self)
                return False
            except OSError:
                n = len(data) - self._offset  # the peer has gone: the frame is dropped
            self._offset += n
            if self._offset >= len(data):
                self.queue.popleft()
                self._offset = 0
        return not self.queue

    def stopped(self) -> None:
        """The VM stopped: flush, and drop what the socket does not take (but a frame partly written)."""
        if not self.flush():
            head = self.queue[0] if self._offset else None
            self.queue.clear()
            if head is not None:
                self.queue.append(head)

    def peer_state(self) -> str:
        """What a readable connection has: ``gone`` (EOF or an error, as net_socket_send finds it: the
        socket is closed, the link down, the info text emptied, and a listen= backend accepts again),
        ``data`` (QEMU hands it to the NIC; fakeqemu has no data path and leaves it) or ``nothing``."""
        sock = self.sock
        if sock is None:
            return "gone"
        try:
            peek = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return "nothing"
        except OSError:
            peek = b""
        if peek:
            return "data"
        with contextlib.suppress(OSError):
            if self.on_close is not None:
                self.on_close(sock)
            sock.close()
        self.sock = None
        self.info = ""
        self.queue.clear()
        self._offset = 0
        return "gone"

    def fileno(self) -> int:
        return -1 if self.sock is None else self.sock.fileno()

    def close(self) -> None:
        for sock in (self.sock, self.listener):
            if sock is not None:
                if self.on_close is not None:
                    self.on_close(sock)
                with contextlib.suppress(OSError):
                    sock.close()
        self.sock = self.listener = None
        self.queue.clear()
        self._offset = 0


class NetdevError(Exception):
    """net_init_socket refused the options: QEMU's message."""


def check_socket(options: dict[str, Any]) -> None:
    if sum(key in options for key in ("fd", "listen", "connect", "mcast", "udp")) != 1:
        raise NetdevError("exactly one of listen=, connect=, mcast= or udp= is required")
    if "localaddr" in options and "mcast" not in options and "udp" not in options:
        raise NetdevError("localaddr= is only valid with mcast= or udp=")


def open_fd(name: str, fd: int) -> NetSocket:
    """``fd=N``: the socket the management tool passed, taken as QEMU takes it (non-blocking, its type
    read with SO_TYPE). The NetSocket holds a duplicate: the number stays the process's."""
    try:
        dup = os.dup(fd)
    except OSError as exc:
        raise NetdevError(f"{name}: Can't use file descriptor {fd}: {exc.strerror}") from None
    try:
        kind = socket.socket(fileno=dup)
    except OSError:
        os.close(dup)
        raise NetdevError("can't get socket option SO_TYPE") from None
    if kind.type not in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        kind.close()
        raise NetdevError(f"socket type={int(kind.type)} for fd={fd} must be either SOCK_DGRAM or SOCK_STREAM")
    stream = kind.type == socket.SOCK_STREAM
    unix = kind.family == socket.AF_UNIX
    if not stream and not unix:
        kind.close()  # QEMU sends to the multicast group given with mcast= only: every send fails
    net = NetSocket(kind if stream or unix else None, stream=stream)
    net.info = f"socket: fd={fd}" if stream else f"socket: fd={fd} {'unix' if unix else 'inet'}"
    return net


def open_netdev(name: str, options: dict[str, Any], fd_of: Callable[[str], int]) -> NetSocket | None:
    """A socket netdev's backend (None for the types fakeqemu keeps without a socket). ``fd_of`` is
    monitor_fd_param: the number an ``fd=`` value names (NetdevError with QEMU's message if none)."""
    if options.get("type") != "socket":
        return None
    check_socket(options)
    if "fd" in options:
        return open_fd(name, fd_of(str(options["fd"])))
    if "listen" in options:
        return open_listen(str(options["listen"]))
    if "connect" in options:
        return open_connect(str(options["connect"]))
    return None  # mcast=, udp=: not opened (their frames go nowhere)


def parse_host_port(text: str) -> tuple[str, int]:
    """parse_host_port: ``HOST:PORT``, IPv4 (an empty host: any; a name resolved); the port is what
    strtol reads at its start (base 0; what follows is ignored), kept to 16 bits as htons does."""
    host, sep, port = text.partition(":")
    if not sep:
        raise NetdevError(f"host address '{text}' doesn't contain ':' separating host from port")
    if not host:
        addr = "0.0.0.0"
    elif host[0].isdigit():
        try:
            addr = socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            raise NetdevError(f"host address '{host}' is not a valid IPv4 address") from None
    else:
        try:
            addr = socket.gethostbyname(host)
        except OSError:
            raise NetdevError(f"can't resolve host address '{host}'") from None
    number = strtol_prefix(port)
    if number is None:
        raise NetdevError(f"port number '{port}' is invalid")
    return addr, number & 0xFFFF


def open_listen(text: str) -> NetSocket:
    """net_socket_listen_init: a listening IPv4 socket (SO_REUSEADDR, backlog 0); link-down until the
    runtime accepts a connection."""
    addr, port = parse_host_port(text)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setblocking(False)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((addr, port))
    except OSError as exc:
        listener.close()
        raise NetdevError(f"can't bind ip={addr} to socket: {exc.strerror}") from None
    listener.listen(0)
    net = NetSocket(None)
    net.listener = listener
    return net


def open_connect(text: str) -> NetSocket:
    """net_socket_connect_init: a non-blocking connect (a refusal known at once is QEMU's error; one that
    comes later makes every send fail: the frames are dropped)."""
    addr, port = parse_host_port(text)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    err = sock.connect_ex((addr, port))
    if err not in (0, errno.EINPROGRESS, errno.EALREADY, errno.EINTR, errno.EWOULDBLOCK):
        sock.close()
        raise NetdevError(f"can't connect socket: {os.strerror(err)}")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    net = NetSocket(sock)
    net.info = f"socket: connect to {addr}:{port}"
    return net


def parse_fd(text: str) -> int:
    """qemu_parse_fd: a file descriptor number (what an ``fd=`` on the command line must be)."""
    if not text.isdigit() or int(text) > 0x7FFFFFFF:
        raise NetdevError(f"Invalid file descriptor number '{text}'")
    return int(text)
