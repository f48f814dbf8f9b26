"""QMP monitors on trio: one listening socket each, one client at a time, as QEMU serves them.

Per connection one task reads and runs requests; output goes through one FIFO, drained by whichever
task finds it idle, so replies and events never interleave and keep their order. Events reach the FIFO
from the VM's event bus synchronously, so an event emitted while a command runs precedes its reply.
"""

from __future__ import annotations

import array
import contextlib
import logging
import os
import signal
import socket as stdsocket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from fakeqemu.commands.registry import Context
from fakeqemu.machine.core.events import Event
from fakeqemu.qmp.session import QMPSession, Request

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine
    from fakeqemu.server.vm import VM

log = logging.getLogger("fakeqemu.monitor")

#: bytes read per receive; QEMU's monitor reads up to 4 KiB at a time
READ_SIZE = 65536
#: output a client has not read yet before we drop it (QEMU's buffer is unbounded: we stay bounded)
MAX_PENDING_OUTPUT = 64 * 1024 * 1024
#: file descriptors accepted with one message (SCM_RIGHTS), like QEMU's limit for a chardev read
MAX_FDS = 16


class MonitorConnection:
    __slots__ = (
        "_idle",
        "_out",
        "_out_bytes",
        "_sending",
        "_unsubscribe",
        "_wake",
        "closed",
        "conn_name",
        "ctx",
        "greeted",
        "name",
        "requests",
        "session",
        "sock",
        "traffic",
        "unix",
        "vm",
    )

    def __init__(self, vm: VM, sock: trio.socket.SocketType, name: str, greeted: bool = False) -> None:
        self.vm = vm
        self.sock = sock
        self.name = name
        self.unix = sock.family == trio.socket.AF_UNIX
        vm.connection_count += 1
        self.conn_name = f"{name}#{vm.connection_count}"
        cfg = vm.machine.config
        self.session = QMPSession(cfg.qemu_version, cfg.package)
        self.ctx = Context(machine=vm.machine, monitor=self.conn_name)
        self._out: deque[bytes] = deque()
        self._out_bytes = 0
        self._sending = False
        self._wake = trio.Event()
        self._idle = trio.Event()
        self._idle.set()
        self.closed = False
        self.greeted = greeted
        self.traffic = vm.machine.traffic
        self.requests = 0
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, machine: Machine) -> None:
        """Carry on with another machine (the VM was reset): events, traffic and commands move over."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = machine.events.subscribe(self.on_event)
        self.ctx.machine = machine
        self.traffic = machine.traffic

    # --- output ----------------------------------------------------------------------------------

    def _queue(self, data: bytes, event: bool = False) -> None:
        """Queue output. Replies are never dropped (QEMU buffers them without limit, and a client can
        only cause as many as it sends); an event that finds more than MAX_PENDING_OUTPUT unread
        disconnects the client that reads nothing."""
        if self.closed:
            return
        self.traffic.add(self.conn_name, "out", data)
        self._out.append(data)
        self._out_bytes += len(data)
        self._idle = trio.Event() if self._idle.is_set() else self._idle
        if event and self._out_bytes > MAX_PENDING_OUTPUT:
            log.warning("%s: client reads nothing; %d bytes pending, disconnecting", self.name, self._out_bytes)
            self._close()

    def on_event(self, event: Event) -> None:
        if self.session.negotiated:
            self._queue(event.wire, event=True)
            if not self._sending:
                self._wake.set()

    async def _flush(self, wait: bool = True) -> None:
        """Write what is queued. The socket is non-blocking: write at once while the kernel takes it;
        when its buffer is full, wait through trio, or (``wait=False``, the reading side) leave the rest
        to the writer task, so that reading goes on while a client is not reading (as QEMU does)."""
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
                        sent = os.write(self.sock.fileno(), view)
                    except BlockingIOError:
                        if not wait:
                            rest = bytes(view)
                            self._out.appendleft(rest)
                            self._out_bytes += len(rest)
                            self._wake.set()
                            return
                        sent = await self.sock.send(view)
                    view = view[sent:]
        except (OSError, trio.ClosedResourceError):
            self._close()
        finally:
            self._sending = False
            if not self._out:
                self._idle.set()

    async def _writer(self) -> None:
        while not self.closed:
            await self._wake.wait()
            self._wake = trio.Event()
            await self._flush()

    async def drain(self) -> None:
        """Wait until everything queued so far has been written (or the client is gone)."""
        if self._out or self._sending:
            self._wake.set()
            await self._idle.wait()

    # --- input -----------------------------------------------------------------------------------

    async def _receive(self) -> bytes:
        if not self.unix:
            return await self.sock.recv(READ_SIZE)
        data, ancdata, _flags, _addr = await self.sock.recvmsg(READ_SIZE, stdsocket.CMSG_SPACE(MAX_FDS * 4))
        for level, kind, payload in ancdata:
            if level == stdsocket.SOL_SOCKET and kind == stdsocket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
                self.ctx.received_fds.extend(fds)
        return data

    async def run(self) -> None:
        session = self.session
        self.attach(self.vm.machine)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer)
                if self.greeted:  # by the early greeter, before the VM ran
                    self.traffic.add(self.conn_name, "out", session.greeting)
                else:
                    self._queue(session.greeting)
                    await self._flush()
                while not self.closed:
                    try:
                        data = await self._receive()
                    except (OSError, trio.ClosedResourceError):
                        break
                    if not data:
                        break
                    log.debug("%s --> %r", self.conn_name, data)
                    self.traffic.add(self.conn_name, "in", data)
                    faults = self.ctx.machine.faults
                    for item in session.receive_data(data):
                        if isinstance(item, bytes):
                            self._queue(item)
                        elif faults.active:
                            await self._faulty_dispatch(item)
                        else:
                            self._queue(self.vm.dispatcher.dispatch(session, item, self.ctx))
                    await self._flush(wait=False)
                    if self.ctx.after_reply:
                        actions, self.ctx.after_reply[:] = list(self.ctx.after_reply), []
                        for action in actions:
                            action()
                nursery.cancel_scope.cancel()
        finally:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self._close()
            for fd in self.ctx.received_fds:
                _close_fd(fd)
            self.ctx.received_fds.clear()

    async def _faulty_dispatch(self, req: Request) -> None:
        """The request path with the VM's injected faults applied (fakeqemu.machine.faults)."""
        faults = self.ctx.machine.faults
        name = req.command
        if name in faults.crash_on:
            self.traffic.add(self.conn_name, "note", f"fault: crash on {name}".encode())
            os.kill(os.getpid(), signal.SIGKILL)
        reply = self.vm.dispatcher.dispatch(self.session, req, self.ctx)
        delay = faults.delay.get(name)
        if delay:
            self.traffic.add(self.conn_name, "note", f"fault: delay {name} by {delay} s".encode())
            await self._flush()
            await trio.sleep(delay)
        if name in faults.close_mid_reply:
            self.traffic.add(self.conn_name, "note", f"fault: close in the middle of the reply to {name}".encode())
            self._queue(reply[: max(1, len(reply) // 2)])
            await self._flush()
            self._close()
            return
        self._queue(reply)
        self.requests += 1
        if faults.close_after is not None and self.requests >= faults.close_after:
            self.traffic.add(self.conn_name, "note", f"fault: close after {self.requests} requests".encode())
            await self._flush()
            self._close()

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self._wake.set()
            self._idle.set()
            self.sock.close()


def _close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


async def serve_one_at_a_time(
    listener: trio.socket.SocketType,
    name: str,
    early: trio.socket.SocketType | None,
    serve: Callable[[trio.socket.SocketType, bool], Awaitable[None]],
) -> None:
    """Accept clients one at a time on ``listener``, as QEMU's chardevs do: the next one is accepted when
    the last one left. ``early`` is a client already accepted and greeted before the VM started;
    ``serve(sock, greeted)`` handles one client."""
    try:
        while True:
            if early is not None:
                sock, greeted, early = early, True, None
            else:
                sock, _ = await listener.accept()
                greeted = False
            try:
                await serve(sock, greeted)
            except Exception:  # one broken connection must not take the VM down
                log.exception("%s: connection failed", name)
    finally:
        listener.close()


async def serve_monitor(
    vm: VM,
    listener: trio.socket.SocketType,
    name: str,
    early: trio.socket.SocketType | None = None,
    label: str = "",
) -> None:
    """QMP on ``listener``, one client at a time; ``label`` is the chardev id, marked connected
    (query-chardev) while a client is."""

    async def serve(sock: trio.socket.SocketType, greeted: bool) -> None:
        conn = MonitorConnection(vm, sock, name, greeted)
        vm.connections.add(conn)
        connected = vm.config.machine.connected_chardevs
        if label:
            connected.add(label)
        try:
            await conn.run()
        finally:
            vm.connections.discard(conn)
            connected.discard(label)

    await serve_one_at_a_time(listener, name, early, serve)
