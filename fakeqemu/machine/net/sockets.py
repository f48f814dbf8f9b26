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
- fakeqemu never reads what the peer sends (no guest receives it); a listen= backend with no connection
  yet is link-down: its frames are dropped.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

#: net/queue.c: queue->nq_maxlen
QUEUE_MAX = 10000


class NetSocket:
    """One socket netdev's connection: what it has not yet written, in order."""

    __slots__ = ("_offset", "info", "on_blocked", "on_close", "queue", "sock", "stream")

    def __init__(self, sock: socket.socket | None, stream: bool = True) -> None:
        #: None while a listen= backend waits for its peer (link down), and once closed
        self.sock = sock
        self.stream = stream
        #: what ``info network`` shows after the netdev's type (qemu_set_info_str)
        self.info = ""
        self.queue: deque[bytes] = deque()
        self._offset = 0
        #: set by the runtime: the socket is full, wait for it to be writable and call flush()
        self.on_blocked: Callable[[NetSocket], None] | None = None
        #: set by the runtime while it waits on the socket: told before the socket is closed
        self.on_close: Callable[[socket.socket], None] | None = None
        if sock is not None:
            sock.setblocking(False)

    def attach(self, sock: socket.socket) -> None:
        """A listen= backend's accepted connection: the link is up."""
        sock.setblocking(False)
        self.sock = sock

    def receive(self, frame: bytes, running: bool) -> None:
        """qemu_send_packet from the NIC: deliver ``frame`` now if the VM runs and nothing is waiting."""
        if self.sock is None:
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

    def fileno(self) -> int:
        return -1 if self.sock is None else self.sock.fileno()

    def close(self) -> None:
        if self.sock is not None:
            if self.on_close is not None:
                self.on_close(self.sock)
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = None
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
    return None


def parse_fd(text: str) -> int:
    """qemu_parse_fd: a file descriptor number (what an ``fd=`` on the command line must be)."""
    if not text.isdigit() or int(text) > 0x7FFFFFFF:
        raise NetdevError(f"Invalid file descriptor number '{text}'")
    return int(text)
