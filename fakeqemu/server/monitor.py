"""QMP monitors: the protocol object the connection driver (fakeqemu.server.driver) feeds for each client.

Bytes go to the sans-IO session (fakeqemu.qmp.session), which answers protocol errors and negotiation
itself; the requests it yields run through the one command path (fakeqemu.commands.dispatch). Events reach
the connection from the VM's event bus synchronously, so an event emitted while a command runs precedes
its reply. The faults that act on a connection (delay a reply, cut it, close after N requests) are applied
here; command faults (fail, crash) are the command path's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson
import trio

from fakeqemu.commands.dispatch import answer
from fakeqemu.commands.fds import hold_received
from fakeqemu.commands.registry import Context
from fakeqemu.machine.core.events import Event
from fakeqemu.machine.core.trace import pointer
from fakeqemu.qmp.encode import encode
from fakeqemu.qmp.errors import QMPError
from fakeqemu.qmp.jsonstream import JsonParseError
from fakeqemu.qmp.session import Item, Output, QMPSession, Request
from fakeqemu.server.blocking import blocking_config, read_to_end
from fakeqemu.server.driver import (
    Acceptor,
    Closed,
    Link,
    RawData,
    SocketTransport,
    accept_loop,
    close_fds,
    serve_connection,
)
from fakeqemu.server.early import HEAVY_BYTES, HEAVY_TOKENS, EarlyQMP
from fakeqemu.server.gil import NO_COLLECTION, QUICK_SWITCHES

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine
    from fakeqemu.server.vm import VM

log = logging.getLogger("fakeqemu.monitor")


class QMPMonitor:
    """One QMP client's connection to a VM."""

    wants_fds = True

    def __init__(self, vm: VM, name: str, greeted: bool = False, early: EarlyQMP | None = None) -> None:
        """``early``: the client's first commands were answered before the runtime ran; carry on with its
        session, its replies the socket did not take and the requests it left."""
        self.vm = vm
        self.name = name
        vm.connection_count += 1
        self.conn_name = f"{name}#{vm.connection_count}"
        cfg = vm.machine.config
        self.session = QMPSession(cfg.qemu_version, cfg.package) if early is None else early.session
        self._unsent = b"" if early is None else early.unsent
        self._pending: list[Item] = [] if early is None else early.pending
        self.ctx = Context(machine=vm.machine, monitor=self.conn_name)
        self.greeted = greeted
        self.traffic = vm.machine.traffic
        self.requests = 0
        self.link: Link | None = None
        self._unsubscribe: Callable[[], None] | None = None
        #: in-band input queued behind a command that blocks (None: nothing blocks)
        self._inband: list[Item] | None = None
        self._inband_scope = trio.CancelScope()

    @property
    def closed(self) -> bool:
        return self.link is None or self.link.closed

    def attach(self, machine: Machine) -> None:
        """Carry on with another machine (the VM was reset): events, traffic and commands move over."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = machine.events.subscribe(self.on_event)
        self.ctx.machine = machine
        self.traffic = machine.traffic

    def _send(self, data: bytes, bulk: bool = False) -> None:
        assert self.link is not None
        if not self.link.closed:
            self.traffic.add(self.conn_name, "out", data)
            trace = self.ctx.machine.trace
            if "monitor_qmp_respond" in trace.enabled:
                trace("monitor_qmp_respond", pointer(self), data.rstrip(b"\r\n").decode(errors="replace"))
            self.link.send(data, bulk=bulk)

    def _trace_request(self, item: Item) -> None:
        """monitor/qmp.c's trace points for one input: handle_qmp_command as it is read, then queued and
        taken off the queue for dispatch (in band) or dispatched at once (out of band)."""
        trace = self.ctx.machine.trace
        source = item.source
        if isinstance(source, JsonParseError):
            trace("monitor_qmp_in_band_enqueue", pointer(item), pointer(self), 0)
            trace("monitor_qmp_in_band_dequeue", pointer(item), 0)
            trace("monitor_qmp_err_in_band", source.desc)
            return
        if "handle_qmp_command" in trace.enabled:
            trace("handle_qmp_command", pointer(self), encode(source))
        has_id = isinstance(source, dict) and "id" in source
        ident = encode(source["id"]) if has_id and isinstance(source, dict) else ""
        if isinstance(item, Request) and item.oob:
            trace("monitor_qmp_cmd_out_of_band", ident)
            return
        trace("monitor_qmp_in_band_enqueue", pointer(item), pointer(self), 0)
        trace("monitor_qmp_in_band_dequeue", pointer(item), 0)
        trace("monitor_qmp_cmd_in_band", ident)
        if isinstance(item, Output) and item.request is not None and item.request.command == "qmp_capabilities":
            self._trace_capabilities(item.request, item.data)

    def _trace_capabilities(self, request: Request, reply: bytes) -> None:
        """qmp_capabilities runs in the session, past the QAPI marshaller's trace points: the same lines,
        once its arguments passed the visitor."""
        from fakeqemu.qmp.schema import Schema

        try:
            Schema.load().check_args("qmp_capabilities", request.arguments)
        except QMPError:
            return
        trace = self.ctx.machine.trace
        trace("qmp_enter_qmp_capabilities", encode(request.arguments))
        error = orjson.loads(reply).get("error")
        if error is None:
            trace("qmp_exit_qmp_capabilities", "{}", 1)
        else:
            trace("qmp_exit_qmp_capabilities", error["desc"], 0)

    def on_event(self, event: Event) -> None:
        if self.session.negotiated:
            self._send(event.wire, bulk=True)

    async def drain(self) -> None:
        if self.link is not None:
            await self.link.drain()

    # --- the driver's side ------------------------------------------------------------------------

    def connected(self, link: Link) -> None:
        self.link = link
        self.attach(self.vm.machine)
        trace = self.ctx.machine.trace
        if trace.enabled:  # qmp_greeting asks qmp_query_version for the version it shows
            cfg = self.ctx.machine.config
            major, minor, micro = cfg.qemu_version
            version = {"qemu": {"major": major, "minor": minor, "micro": micro}, "package": cfg.package}
            trace("qmp_enter_query_version", "{}")
            trace("qmp_exit_query_version", encode(version), 1)
        if self.greeted:  # by the early greeter, before the VM ran
            self.traffic.add(self.conn_name, "out", self.session.greeting)
            if "monitor_qmp_respond" in trace.enabled:
                trace("monitor_qmp_respond", pointer(self), self.session.greeting.rstrip(b"\r\n").decode())
        else:
            self._send(self.session.greeting)
        if self._unsent:
            self._send(self._unsent)
            self._unsent = b""

    async def handle(self, event: RawData | Closed) -> None:
        if isinstance(event, Closed):
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            self._inband_scope.cancel()
            close_fds(self.ctx.received_fds)
            return
        items, self._pending = self._pending, []  # what the early path left, first
        traced = bool(self.ctx.machine.trace.enabled)
        if event.data or event.fds:
            log.debug("%s --> %r", self.conn_name, event.data)
            hold_received(self.ctx, event.fds)
            self.traffic.add(self.conn_name, "in", event.data)
            if len(event.data) >= HEAVY_BYTES or self.session.pending_tokens >= HEAVY_TOKENS:
                # a big read, or the end of a big message: parse it in a worker thread so the other clients
                # (and this VM's timers) keep being served meanwhile
                with QUICK_SWITCHES, NO_COLLECTION:  # the other clients get the GIL soon (fakeqemu.server.gil)
                    items += await trio.to_thread.run_sync(self.session.receive_batch, event.data, not traced)
            else:
                items += self.session.receive_batch(event.data, not traced)
        for item in items:
            if self._inband is not None and not (isinstance(item, Request) and item.oob):
                self._inband.append(item)  # behind a blocked in-band command (fakeqemu.server.blocking)
                continue
            if blocking_config(item) is not None:
                self._inband = [item]
                self.vm.start_soon(self._run_inband)
                continue
            await self._process(item, traced)
            if self.closed:
                return

    async def _process(self, item: Item, traced: bool) -> None:
        if traced:
            self._trace_request(item)
        if isinstance(item, Output):
            if item.request is not None and self.ctx.machine.faults.active:
                await self._faulty(item.request.command, item.data)
            else:
                self._send(item.data)
        elif self.ctx.machine.faults.active:
            if self._faulty_request(item.command):
                await self._faulty(item.command, answer(self.session, self.ctx, item))
        else:
            self._send(answer(self.session, self.ctx, item))

    async def _run_inband(self) -> None:
        """The in-band queue behind a blocking command: wait for each blocker, then answer in order."""
        self._inband_scope = trio.CancelScope()
        with self._inband_scope:
            while self._inband and not self.closed:
                item = self._inband[0]
                path = blocking_config(item)
                if path is not None:
                    await read_to_end(path)
                del self._inband[0]
                await self._process(item, bool(self.ctx.machine.trace.enabled))
                if self.link is not None:
                    await self.link.drain()
        self._inband = None

    def _note(self, text: str) -> None:
        self.traffic.add(self.conn_name, "note", f"fault: {text}".encode())

    def _faulty_request(self, name: str) -> bool:
        """The faults that act when a request arrives, before it runs; whether it is to run."""
        faults = self.ctx.machine.faults
        if faults.fires("kill_vm", name):
            self._note(f"kill the VM on {name}")
            self.vm.kill()
            return False
        if faults.fires("drop", name):
            self._note(f"drop {name} (never answered)")
            return False
        return True

    async def _faulty(self, name: str, reply: bytes) -> None:
        """A request's reply with the VM's connection faults applied (fakeqemu.machine.faults)."""
        assert self.link is not None
        faults = self.ctx.machine.faults
        if faults.fires("disconnect", name):
            self._note(f"disconnect before the reply to {name}")
            await self.link.drain()
            self.link.close()
            return
        delay = faults.delay_for(name)
        if delay:
            self._note(f"delay {name} by {round(delay, 6)} s")
            await self.link.drain()
            await trio.sleep(delay)
        if faults.fires("close_mid_reply", name):
            self._note(f"close in the middle of the reply to {name}")
            self._send(reply[: max(1, len(reply) // 2)])
            await self.link.drain()
            self.link.close()
            return
        self._send(reply)
        self.requests += 1
        close = faults.close_after
        if close is not None and self.requests >= close.requests and close.take():
            self._note(f"close after {self.requests} requests")
            await self.link.drain()
            self.link.close()


async def serve_monitor(
    vm: VM,
    listener: Acceptor | None,
    name: str,
    first: trio.socket.SocketType | None = None,
    label: str = "",
    greeted: bool = False,
    early: EarlyQMP | None = None,
) -> None:
    """QMP on ``listener``, one client at a time (``first`` served before any is accepted; ``early``: what
    was answered of it before the runtime ran); ``label`` is the chardev id, marked connected
    (query-chardev) while a client is."""

    async def serve(sock: trio.socket.SocketType, greeted: bool) -> None:
        nonlocal early
        taken, early = (early if greeted else None), None
        monitor = QMPMonitor(vm, name, greeted, taken)
        vm.connections.add(monitor)
        connected = vm.config.machine.connected_chardevs
        if label:
            connected.add(label)
        first_input = None
        if taken is not None and (taken.pending or taken.data or taken.fds):
            first_input = RawData(taken.data, taken.fds)
        try:
            await serve_connection(SocketTransport(sock), monitor, monitor.conn_name, first_input)
        finally:
            vm.connections.discard(monitor)
            connected.discard(label)

    await accept_loop(listener, name, serve, first, greeted)
