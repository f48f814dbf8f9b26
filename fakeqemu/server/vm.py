"""One fake VM at run time: its machine, its monitors, its qtest link and the task that drives its timers.

A VM costs one timer task and one accept task per monitor while idle. Many VMs can share one trio run
(a fleet): nothing here is global.
"""

from __future__ import annotations

import functools
import logging
import socket
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

import fakeqemu.commands.all  # noqa: F401  (registers every QMP command)
from fakeqemu.machine.block.jobs import Offloaded
from fakeqemu.machine.core.events import Event
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.machine.net.sockets import NetSocket
from fakeqemu.machine.traffic import Record
from fakeqemu.protocols.agent import AgentChannel
from fakeqemu.qmp.schema import Schema
from fakeqemu.server.backends import OpenBackends
from fakeqemu.server.chardev import ChardevError, Endpoint, bound_address, connect, is_listening, listen, open_endpoint
from fakeqemu.server.driver import Acceptor, Reconnector
from fakeqemu.server.early import EarlyQMP
from fakeqemu.server.monitor import QMPMonitor, serve_monitor
from fakeqemu.server.pty import CONSOLE_DRIVERS, serve_log, serve_pty
from fakeqemu.server.spice import serve_spice
from fakeqemu.server.vnc import serve_vnc

log = logging.getLogger("fakeqemu.vm")

#: events kept per VM for the HTTP plane's event log
EVENT_LOG_LIMIT = 1000
#: how long an exiting VM waits for its clients to be sent what is queued for them (SHUTDOWN, replies)
EXIT_DRAIN_S = 2.0


@dataclass
class VMConfig:
    machine: MachineConfig = field(default_factory=MachineConfig)
    monitors: list[Endpoint] = field(default_factory=list)
    qtest: Endpoint | None = None
    #: monitors already opened (by the CLI, before trio was imported), in the order of ``monitors``:
    #: listening, or connected (client mode, fd=N of a socketpair); None: a client-mode chardev that
    #: reconnects later
    listeners: list[socket.socket | None] | None = None
    #: the qtest link, when the CLI connected it already
    qtest_sock: socket.socket | None = None
    #: clients the early greeter accepted and greeted, by monitor index
    early: dict[int, socket.socket] = field(default_factory=dict)
    #: the machine, when the CLI built it before the runtime (it answered the first commands with it), or
    #: the error building it raised (raised as the VM starts, as building it there would have)
    built: Machine | None = None
    build_error: Exception | None = None
    #: what the early thread answered of those clients (their sessions), by monitor index
    answered: dict[int, EarlyQMP] = field(default_factory=dict)
    #: the guest agent's chardev (its socket, listening), when the VM has an agent port
    agent: Endpoint | None = None
    agent_listener: socket.socket | None = None
    #: the -incoming listening socket, bound by the CLI before the monitors answer
    incoming_listener: socket.socket | None = None
    #: serial consoles on sockets, and their sockets when the CLI opened them already
    consoles: list[Endpoint] = field(default_factory=list)
    console_socks: list[socket.socket | None] | None = None
    #: chardev backends and display listeners the CLI opened (pty masters, the guest agent's socket, VNC)
    held: OpenBackends | None = None


class VM:
    def __init__(self, config: VMConfig) -> None:
        self.config = config
        self.connections: set[QMPMonitor] = set()
        self.connection_count = 0
        #: live feed of (kind, item) for the HTTP plane: ("event", Event) and ("traffic", Record);
        #: survives reset(). Callbacks must not block.
        self.feed: list[Callable[[str, object], None]] = []
        self.addresses: list[str] = []
        self._cancel: trio.CancelScope | None = None
        self._timer_wakeup = trio.Event()
        #: socket netdevs waiting to be writable (fakeqemu.machine.net.sockets)
        self._net_waiting: set[NetSocket] = set()
        self.machine: Machine
        #: the guest's end of the agent port (None without one); replaced with the machine
        self.agent_channel: AgentChannel | None = None
        self.exited = trio.Event()

    @property
    def name(self) -> str:
        return self.config.machine.name or "vm0"

    def _qmp_clients(self) -> list[str]:
        """The QMP connections events go to now (negotiated), by name."""
        return sorted(c.conn_name for c in self.connections if c.session.negotiated)

    def _new_machine(self, built: Machine | None = None) -> None:
        Schema.load()  # now, not at the first command (which may come when no fd is left to read it with)
        self.machine = built or Machine(self.config.machine, monotonic=trio.current_time)
        self.machine.on_exit = self._on_exit
        self.machine.timers.on_change = self._wake_timers
        self.machine.backends.on_blocked = self._net_blocked
        self.machine.backends.on_open = self._net_open
        self.machine.migration.transport = self._migrate
        self.machine.jobs.offload = self._offload
        self.machine.migration.listener = self._listen_incoming
        self.machine.clients = self._qmp_clients
        self.event_log: deque[Event] = deque(maxlen=EVENT_LOG_LIMIT)
        self.machine.events.subscribe(self._on_event)
        self.machine.traffic.subscribe(self._on_traffic)
        old = self.agent_channel
        self.agent_channel = None
        if self.machine.agent is not None:
            self.agent_channel = AgentChannel(self.machine.agent)
            if old is not None:
                self.agent_channel.output = old.output  # the host's connection stays
        if old is not None:
            old.close()

    def _on_event(self, event: Event) -> None:
        self.event_log.append(event)
        for fn in list(self.feed):
            fn("event", event)

    def _on_traffic(self, record: Record) -> None:
        for fn in list(self.feed):
            fn("traffic", record)

    def reset(self) -> None:
        """Return the VM to the state it started in (devices, run state, guest policy, faults, records)
        without restarting the process; connected QMP clients stay connected and carry on."""
        old = self.machine
        old.timers.on_change = None
        for net in old.backends.sockets():  # a listen= netdev's port is the new machine's
            net.close()
        self._new_machine()
        for conn in self.connections:
            conn.attach(self.machine)
        self._wake_timers()
        for net in self.machine.backends.sockets():
            self._net_open(net)
        old.close()

    async def run(self, *, task_status: trio.TaskStatus[VM] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, connect qtest, report started, and serve until the VM exits."""
        built, error = self.config.built, self.config.build_error
        self.config.built = self.config.build_error = None
        if error is not None:
            raise error
        self._new_machine(built)
        if self.config.machine.net_check:
            for warning in self.machine.backends.unpeered(self.config.machine.accel == "qtest"):
                print(f"qemu-system-x86_64: warning: {warning}", file=sys.stderr)
        qtest_sock: trio.socket.SocketType | None = None
        if self.config.qtest_sock is None and self.config.qtest is not None:
            self.config.qtest_sock = connect(self.config.qtest)
        if self.config.qtest_sock is not None:
            qtest_sock = trio.socket.from_stdlib_socket(self.config.qtest_sock)
        raw = self.config.listeners if self.config.listeners is not None else _open_all(self.config.monitors)
        console_raw = self.config.console_socks
        if console_raw is None:
            console_raw = _open_all(self.config.consoles)
        self.addresses = [bound_address(s) for s in raw if s is not None]
        agent_raw = self.config.agent_listener
        if agent_raw is None and self.config.agent is not None:
            agent_raw = listen(self.config.agent)
        self.config.agent_listener = None
        greeted, answered = self.config.early, self.config.answered
        self.config.early, self.config.answered = {}, {}
        listeners, first = _acceptors(self.config.monitors, raw, greeted)
        console_listeners, console_first = _acceptors(self.config.consoles, console_raw, {})
        try:
            with trio.CancelScope() as scope:
                self._cancel = scope
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._drive_timers)
                    for net in self.machine.backends.sockets():
                        self._net_open(net)
                    vnc = self.config.held.displays.get("vnc") if self.config.held is not None else None
                    if vnc is not None:
                        nursery.start_soon(serve_vnc, self, vnc)
                    spice = self.config.held.displays.get("spice") if self.config.held is not None else None
                    if spice is not None:
                        nursery.start_soon(serve_spice, self, spice)
                    ptys = self.config.held.ptys if self.config.held is not None else {}
                    files = self.config.held.files if self.config.held is not None else {}
                    for dev in self.config.machine.devices:
                        chardev = str(dev.get("chardev"))
                        if dev.get("driver") not in CONSOLE_DRIVERS:
                            continue
                        if chardev in ptys:
                            nursery.start_soon(serve_pty, self, ptys[chardev])
                        elif chardev in files:
                            nursery.start_soon(serve_log, self, files[chardev])
                    mig = self.machine.migration
                    if mig.incoming is not None and mig.incoming != "defer":
                        mig.listen(mig.incoming)
                    if qtest_sock is not None:
                        from fakeqemu.server.qtest import serve_qtest

                        nursery.start_soon(serve_qtest, self, qtest_sock)
                    if agent_raw is not None:
                        from fakeqemu.server.agent import serve_agent

                        agent_sock = trio.socket.from_stdlib_socket(agent_raw)
                        nursery.start_soon(serve_agent, self, agent_sock, self.config.machine.agent_chardev)
                    monitors = self.config.monitors
                    for i, listener in enumerate(listeners):
                        label = monitors[i].label if i < len(monitors) else ""
                        if i < len(monitors) and monitors[i].hmp:
                            from fakeqemu.server.hmp import serve_hmp

                            nursery.start_soon(serve_hmp, self, listener, f"hmp{i}", first[i], i in greeted)
                            continue
                        nursery.start_soon(
                            serve_monitor, self, listener, f"monitor{i}", first[i], label, i in greeted, answered.get(i)
                        )
                    if console_listeners:
                        from fakeqemu.server.console import serve_console

                        for i, listener in enumerate(console_listeners):
                            nursery.start_soon(serve_console, listener, f"serial{i}", console_first[i])
                    task_status.started(self)
        finally:
            for held in [*listeners, *first, *console_listeners, *console_first]:
                if held is not None:
                    held.close()
            self.machine.close()
            if self.config.held is not None:
                self.config.held.close()
            self.exited.set()

    # --- migration ----------------------------------------------------------------------------------

    def _migrate(self, uri: str, fd: int | None) -> None:
        from fakeqemu.server.migration import outgoing

        self._nursery.start_soon(outgoing, self, uri, fd)

    def _listen_incoming(self, uri: str) -> None:
        from fakeqemu.server.incoming import bind_incoming
        from fakeqemu.server.migration import incoming

        bound, self.config.incoming_listener = self.config.incoming_listener, None
        self._nursery.start_soon(incoming, self, uri, bound or bind_incoming(uri))

    def start_soon(self, task: Callable[[], Awaitable[None]]) -> None:
        """Run ``task`` beside the VM's servers (a monitor's blocked in-band queue: fakeqemu.server.blocking)."""
        self._nursery.start_soon(task)

    # --- work off the loop's thread ----------------------------------------------------------------

    def _offload(self, work: Offloaded, then: Callable[[], None]) -> None:
        self._nursery.start_soon(self._run_offloaded, work, then)

    async def _run_offloaded(self, work: Offloaded, then: Callable[[], None]) -> None:
        await trio.to_thread.run_sync(work.run)
        then()

    # --- timers ----------------------------------------------------------------------------------

    def _net_blocked(self, net: NetSocket) -> None:
        """A socket netdev's socket is full (its peer reads slowly): flush it once it is writable."""
        if net not in self._net_waiting and net.sock is not None:
            self._net_waiting.add(net)
            self._nursery.start_soon(self._net_writable, net)

    def _net_open(self, net: NetSocket) -> None:
        nursery = getattr(self, "_nursery", None)
        if nursery is not None:  # before the runtime: run() opens them
            net.on_close = trio.lowlevel.notify_closing
            nursery.start_soon(self._net_serve, net)

    async def _net_serve(self, net: NetSocket) -> None:
        """A socket netdev's connection: a listen= one accepted when it comes (net_socket_accept), a
        stream peer seen to go (net_socket_send's end of connection), then accepted again."""
        try:
            while True:
                if net.sock is None:
                    if (listener := net.listener) is None:
                        return
                    await trio.lowlevel.wait_readable(listener)
                    net.accept()
                    continue
                if not net.stream:
                    return
                await trio.lowlevel.wait_readable(net.sock)
                if net.peer_state() == "data":
                    return
        except (trio.ClosedResourceError, OSError):
            pass

    async def _net_writable(self, net: NetSocket) -> None:
        try:
            while (sock := net.sock) is not None:
                net.on_close = trio.lowlevel.notify_closing
                await trio.lowlevel.wait_writable(sock)
                if net.flush():
                    break
        except (trio.ClosedResourceError, OSError):
            pass
        finally:
            self._net_waiting.discard(net)

    def _wake_timers(self) -> None:
        self._timer_wakeup.set()

    async def _drive_timers(self) -> None:
        while True:
            timers = self.machine.timers  # anew each time: reset() replaces the machine
            self._timer_wakeup = trio.Event()
            deadline = timers.next_deadline()
            if deadline is None:
                await self._timer_wakeup.wait()
                continue
            with trio.move_on_at(deadline):
                await self._timer_wakeup.wait()
            timers.run_due()

    # --- exit ------------------------------------------------------------------------------------

    def _on_exit(self) -> None:
        self._nursery.start_soon(self._exit)

    async def _exit(self) -> None:
        with trio.move_on_after(EXIT_DRAIN_S):
            for conn in list(self.connections):
                await conn.drain()
        if self._cancel is not None:
            self._cancel.cancel()

    def kill(self) -> None:
        """End now, as a QEMU killed with SIGKILL: no SHUTDOWN, nothing more sent, connections cut and
        listeners closed; the other VMs of the process carry on."""
        self.machine.exiting = True
        if self._cancel is not None:
            self._cancel.cancel()

    def signal(self, signum: int) -> None:
        """SIGTERM/SIGINT/SIGHUP: QEMU sends SHUTDOWN host-signal and exits (the message is the fleet's:
        fakeqemu.server.app)."""
        self.machine.shutdown("host-signal", guest=False)


def _open_all(endpoints: list[Endpoint]) -> list[socket.socket | None]:
    """Open every chardev now (when the CLI has not): a start-up error closes what was opened and propagates."""
    opened: list[socket.socket | None] = []
    try:
        for ep in endpoints:
            opened.append(open_endpoint(ep))
    except (OSError, ChardevError):
        for sock in opened:
            if sock is not None:
                sock.close()
        raise
    return opened


def _acceptors(
    endpoints: list[Endpoint], raw: list[socket.socket | None], greeted: dict[int, socket.socket]
) -> tuple[list[Acceptor | None], list[trio.socket.SocketType | None]]:
    """Per chardev: where its clients come from (its listening socket; a Reconnector for a client-mode
    chardev with reconnect=N; None) and the client to serve first (greeted early, or the connected socket
    of client mode or of fd=N)."""
    acceptors: list[Acceptor | None] = []
    first: list[trio.socket.SocketType | None] = []
    for i, sock in enumerate(raw):
        ep = endpoints[i] if i < len(endpoints) else None
        client = greeted.get(i)
        if sock is not None and is_listening(sock):
            acceptors.append(trio.socket.from_stdlib_socket(sock))
        else:
            client = sock
            if ep is not None and ep.reconnect:
                acceptors.append(Reconnector(functools.partial(connect, ep), ep.reconnect, _reporter(ep)))
            else:
                acceptors.append(None)
        first.append(None if client is None else trio.socket.from_stdlib_socket(client))
    return acceptors, first


def _reporter(ep: Endpoint) -> Callable[[str], None]:
    def report(message: str) -> None:
        print(f"qemu-system-x86_64: Unable to connect character device {ep.label}: {message}", file=sys.stderr)

    return report
