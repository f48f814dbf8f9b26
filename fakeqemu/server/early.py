"""The first commands of a QMP client, answered before the runtime (trio) has loaded.

The session (fakeqemu.qmp.session) and the machine are sans-IO and synchronous, so the early greeter's
thread (fakeqemu.server.prestart) can feed them what a greeted client sends while the rest of fakeqemu is
still being imported. It answers protocol errors, negotiation and the commands of ``EARLY_COMMANDS``
(their answers only read the machine's configuration and run state: no event, timer, exit or client
bookkeeping, which need the runtime). At the first request that is not one of them, a read carrying file
descriptors or a big read, it stops reading and keeps what it has not answered: the monitor
(fakeqemu.server.monitor) carries on with the same session from there, so no byte is lost or reordered.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import fakeqemu.commands.core  # noqa: F401  (registers EARLY_COMMANDS; the VM loads the others)
from fakeqemu.commands.dispatch import answer
from fakeqemu.commands.registry import Context
from fakeqemu.machine.machine import Machine
from fakeqemu.qmp.session import Item, Output, QMPSession, Request

#: reads this large, or messages with this many tokens so far, are parsed in a worker thread by the monitor
#: (bracket-dense input costs the parser 2-4 us a byte: a 16 KiB read of it held the VM's thread 40-60 ms,
#: 2 KiB holds it under 10 ms; a usual command, well under 2 KiB, stays on the VM's thread)
HEAVY_BYTES = 2 * 1024
HEAVY_TOKENS = 4096
#: what the early path answers itself: replies that read only the configuration and the run state (and
#: whose module, fakeqemu.commands.core, is the only command module loaded this early)
EARLY_COMMANDS = frozenset({"query-status", "query-version", "query-name", "query-kvm", "query-uuid"})


@dataclass
class EarlyQMP:
    """One greeted QMP client while the early thread serves it; then what the monitor takes over."""

    session: QMPSession
    machine: Machine
    #: requests parsed and not answered yet (the first one the early path does not answer, and the rest)
    pending: list[Item] = field(default_factory=list)
    #: a read the early path did not parse (it carried file descriptors, or was big), and those fds
    data: bytes = b""
    fds: tuple[int, ...] = ()
    #: reply bytes the socket did not take at once (the client is not reading): sent first by the monitor
    unsent: bytes = b""
    #: the early path reads no more from this client
    done: bool = False

    @classmethod
    def start(cls, machine: Machine) -> EarlyQMP:
        cfg = machine.config
        return cls(QMPSession(cfg.qemu_version, cfg.package), machine)

    def feed(self, data: bytes, fds: tuple[int, ...]) -> bytes:
        """What to send for ``data`` read from the client (``done`` is set once it stops)."""
        session = self.session
        if fds or len(data) >= HEAVY_BYTES or session.pending_tokens >= HEAVY_TOKENS:
            self.data, self.fds, self.done = data, fds, True
            return b""
        out: list[bytes] = []
        ctx = Context(machine=self.machine)
        items = session.receive_data(data)
        for i, item in enumerate(items):
            if isinstance(item, Output):
                out.append(item.data)
            elif isinstance(item, Request) and item.command in EARLY_COMMANDS and not item.oob:
                out.append(answer(session, ctx, item))
            else:
                self.pending, self.done = items[i:], True
                break
        return b"".join(out)

    def send(self, conn: socket.socket, data: bytes) -> None:
        """Send without blocking; what the socket does not take waits for the monitor (and ends the early
        path for this client, so nothing is sent out of order)."""
        sent = 0
        try:
            while sent < len(data):
                sent += conn.send(data[sent:], socket.MSG_DONTWAIT)
        except OSError:  # full (the client is not reading), or gone: the monitor finds out the same way
            pass
        if sent < len(data):
            self.unsent, self.done = data[sent:], True
