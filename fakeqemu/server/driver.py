"""The connection driver: every socket of every VM goes through here, whatever protocol it speaks.

Shaped like hypercorn's trio TCP server with its protocol wrapper, and trio's ``serve_listeners``:

- ``accept_loop`` accepts on one listener, one client at a time as QEMU's chardevs do. It survives every
  error: an accept that fails for lack of resources (EMFILE, ENFILE, ENOMEM, ENOBUFS) is logged once and
  retried every 100 ms (the client waits in the backlog meanwhile), a client the kernel aborted is skipped,
  any other accept error is logged and ends this listener only; a connection that fails is logged. Nothing
  here ever ends another monitor or another VM of the process.
- ``serve_connection`` drives one connection: one reader feeding the protocol object ``RawData`` (and
  ``Closed`` at the end), and one writer over the connection's output queue (``Link``).
- A protocol object (QMP, HMP readline, qtest; next the guest agent, VNC, migration) sees no socket: it
  gets a ``Link`` in ``connected`` and talks back only through ``link.send``. To add one: write a class
  with ``connected(link)`` and ``async handle(event)``, and give ``accept_loop`` (or ``serve_connection``,
  for a socket fakeqemu connected itself) a factory that builds it.

Output policy (QEMU's, bounded): output is queued without blocking the protocol and written in order.
After each input the reader writes what it can at once (no task switch for a reply); what the kernel does
not take is left to the writer task, so reading goes on while a client is not reading, as in QEMU. Replies
are never dropped (a client can only cause as many as it sends); output sent as ``bulk`` (events) that
finds more than ``MAX_PENDING_OUTPUT`` unread cuts the client that reads nothing.
"""

from __future__ import annotations

import array
import contextlib
import errno
import logging
import os
import socket as stdsocket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import trio

log = logging.getLogger("fakeqemu.server")

#: bytes read per receive
READ_SIZE = 65536
#: output a client has not read yet before we drop it (QEMU's buffer is unbounded: we stay bounded)
MAX_PENDING_OUTPUT = 64 * 1024 * 1024
#: file descriptors accepted with one message (SCM_RIGHTS), like QEMU's limit for a chardev read
MAX_FDS = 16
#: accept errors that mean "out of resources for now" (trio's serve_listeners list): retry after a pause
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
#: accept errors about one client that went away before we took it: skip it
CLIENT_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR, errno.EAGAIN})
ACCEPT_RETRY_S = 0.1


# --- what a protocol object sees ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawData:
    """Bytes from the peer, with the file descriptors that came with them (SCM_RIGHTS)."""

    data: bytes
    fds: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection is over (the peer left, or it was cut); the last event a protocol gets."""


class ServerProtocol(Protocol):
    #: whether the driver should collect passed file descriptors for this protocol (else they are refused)
    wants_fds: bool

    def connected(self, link: Link) -> None:
        """The connection is up; send the greeting, if any, through ``link``."""

    async def handle(self, event: RawData | Closed) -> None:
        """Input, in order. The protocol may await (a delay fault); the next input waits for it."""


# --- transports ------------------------------------------------------------------------------------------


class Transport(Protocol):
    async def receive(self, with_fds: bool) -> RawData:
        """The next bytes; empty at the end of the stream."""

    def send_now(self, data: memoryview) -> int:
        """Write without waiting; raise BlockingIOError when nothing can be written now."""

    async def send(self, data: memoryview) -> int: ...

    async def aclose(self) -> None: ...


class SocketTransport:
    __slots__ = ("sock", "unix")

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self.sock = sock
        self.unix = sock.family == stdsocket.AF_UNIX

    async def receive(self, with_fds: bool) -> RawData:
        if not (with_fds and self.unix):
            return RawData(await self.sock.recv(READ_SIZE))
        data, ancdata, _flags, _addr = await self.sock.recvmsg(READ_SIZE, stdsocket.CMSG_SPACE(MAX_FDS * 4))
        fds = array.array("i")
        for level, kind, payload in ancdata:
            if level == stdsocket.SOL_SOCKET and kind == stdsocket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        return RawData(data, tuple(fds))

    def send_now(self, data: memoryview) -> int:
        return os.write(self.sock.fileno(), data)

    async def send(self, data: memoryview) -> int:
        return await self.sock.send(data)

    async def aclose(self) -> None:
        self.sock.close()


class StreamTransport:
    """Any trio Stream (memory streams in tests, TLS or pipes later): every write goes through the writer."""

    __slots__ = ("stream",)

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    async def receive(self, with_fds: bool) -> RawData:
        return RawData(bytes(await self.stream.receive_some(READ_SIZE)))

    def send_now(self, data: memoryview) -> int:
        raise BlockingIOError

    async def send(self, data: memoryview) -> int:
        await self.stream.send_all(data)
        return len(data)

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


# --- one connection ----------------------------------------------------------------------------------------


@dataclass(eq=False)
class Link:
    """One connection's output side, as its protocol sees it."""

    transport: Transport
    name: str
    closed: bool = False
    _out: deque[bytes] = field(default_factory=deque)
    _out_bytes: int = 0
    _sending: bool = False
    _reading: bool = False
    _wake: trio.Event = field(default_factory=trio.Event)
    _idle: trio.Event = field(default_factory=trio.Event)
    _scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    def send(self, data: bytes, *, bulk: bool = False) -> None:
        """Queue ``data``; it is written in order, never dropped. ``bulk`` output (events) that finds
        more than MAX_PENDING_OUTPUT unread cuts the client that reads nothing."""
        if self.closed:
            return
        self._out.append(data)
        self._out_bytes += len(data)
        if self._idle.is_set():
            self._idle = trio.Event()
        if bulk and self._out_bytes > MAX_PENDING_OUTPUT:
            log.warning("%s: client reads nothing; %d bytes pending, disconnecting", self.name, self._out_bytes)
            self.close()
        elif not self._reading and not self._sending:
            self._wake.set()  # sent from outside the reader (an event, a timer): the writer writes it

    async def drain(self) -> None:
        """Wait until everything queued so far has been written (or the client is gone)."""
        self._reading = False  # the protocol waits: what is sent meanwhile goes out through the writer
        if self._out or self._sending:
            self._wake.set()
            await self._idle.wait()

    def close(self) -> None:
        """Cut the connection (what is queued is dropped; ``drain`` first to send it)."""
        if not self.closed:
            self.closed = True
            self._idle.set()
            self._scope.cancel()

    async def _flush(self, wait: bool = True) -> None:
        if self._sending:
            return
        self._sending = True
        try:
            while self._out and not self.closed:
                data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
                self._out.clear()
                self._out_bytes = 0
                view = memoryview(data)
                while view:
                    try:
                        sent = self.transport.send_now(view)
                    except BlockingIOError:
                        if not wait:
                            rest = bytes(view)
                            self._out.appendleft(rest)
                            self._out_bytes += len(rest)
                            self._wake.set()
                            return
                        sent = await self.transport.send(view)
                    view = view[sent:]
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            self.close()
        finally:
            self._sending = False
            if not self._out:
                self._idle.set()

    async def _writer(self) -> None:
        while not self.closed:
            await self._wake.wait()
            self._wake = trio.Event()
            await self._flush()


async def serve_connection(
    transport: Transport, protocol: ServerProtocol, name: str, first: RawData | None = None
) -> None:
    """Drive one connection until the peer leaves or the protocol closes it; then close it. ``first``: input
    taken off the connection before it came here (fakeqemu.server.early), handled before reading."""
    link = Link(transport, name)
    link._idle.set()
    try:
        with link._scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(link._writer)
                link._reading = True
                protocol.connected(link)
                if first is not None:
                    # after one schedule point, as input read from the socket would be: the connections
                    # started beside this one are connected by then (and see the events it causes)
                    await trio.lowlevel.checkpoint()
                    await protocol.handle(first)
                link._reading = False
                await link._flush()
                while not link.closed:
                    try:
                        event = await transport.receive(protocol.wants_fds)
                    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                        break
                    if not event.data and not event.fds:
                        break
                    link._reading = True  # replies are written below, without waking the writer
                    try:
                        await protocol.handle(event)
                    finally:
                        link._reading = False
                    await link._flush(wait=False)
                nursery.cancel_scope.cancel()
    finally:
        link.closed = True
        link._idle.set()
        with trio.CancelScope(shield=True):
            try:
                await protocol.handle(Closed())
            finally:
                await transport.aclose()


# --- one listener --------------------------------------------------------------------------------------------


class Acceptor(Protocol):
    """What ``accept_loop`` takes clients from: a listening trio socket, or a ``Reconnector``."""

    async def accept(self) -> tuple[trio.socket.SocketType, object]: ...

    def close(self) -> None: ...


class Reconnector:
    """A client-mode chardev with ``reconnect=N``: its next "client" is a new connection, made N seconds
    after the last one ended (or failed), as QEMU's reconnect timer does. Failures are reported once per
    streak with QEMU's text."""

    def __init__(self, connect: Callable[[], stdsocket.socket], delay: float, report: Callable[[str], None]) -> None:
        self.connect = connect
        self.delay = delay
        self.report = report

    async def accept(self) -> tuple[trio.socket.SocketType, object]:
        failing = False
        while True:
            await trio.sleep(self.delay)
            try:
                sock = await trio.to_thread.run_sync(self.connect)
            except (OSError, ValueError) as exc:
                if not failing:
                    self.report(str(exc))
                    failing = True
                continue
            return trio.socket.from_stdlib_socket(sock), None

    def close(self) -> None:
        pass


async def accept_loop(
    listener: Acceptor | None,
    name: str,
    serve: Callable[[trio.socket.SocketType, bool], Awaitable[None]],
    first: trio.socket.SocketType | None = None,
    greeted: bool = False,
) -> None:
    """Serve clients of ``listener`` one at a time: the next is accepted when the last one left.
    ``first`` is a client to serve before accepting (one the early greeter accepted, ``greeted``; or a
    connected socket passed as ``fd=N``, with no listener: the one client). ``serve(sock, greeted)`` serves
    one client; its errors are logged, never raised."""
    try:
        while True:
            if first is not None:
                sock, first = first, None
            elif listener is None:
                return
            else:
                accepted = await _accept(listener, name)
                if accepted is None:
                    return
                sock, greeted = accepted, False
            try:
                await serve(sock, greeted)
            except Exception:  # one broken connection must not take the VM down
                log.exception("%s: connection failed", name)
            finally:
                sock.close()
    finally:
        if listener is not None:
            listener.close()


async def _accept(listener: Acceptor, name: str) -> trio.socket.SocketType | None:
    """The next client; None when the listener cannot accept any more (logged)."""
    short = False
    while True:
        try:
            sock, _ = await listener.accept()
        except OSError as exc:
            if exc.errno in RESOURCE_ERRNOS:
                if not short:
                    log.error("%s: cannot accept a client (%s); retrying every %d ms", name, exc, ACCEPT_RETRY_S * 1000)
                    short = True
                await trio.sleep(ACCEPT_RETRY_S)
                continue
            if exc.errno in CLIENT_ERRNOS:
                continue
            log.error("%s: cannot accept clients (%s); this monitor serves no more clients", name, exc)
            return None
        if short:
            log.warning("%s: accepting clients again", name)
        return sock


def close_fds(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()
