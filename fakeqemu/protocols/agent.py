"""The guest agent's wire (qemu-ga 7.2, qga/main.c), sans-IO: bytes from the host in, reply bytes out.

Measured against Debian's qemu-ga (tests/differential/test_agent.py):

1. Input is QEMU's JSON stream, read by the same lexer and parser as QMP (fakeqemu.qmp.jsonstream): single
   quotes, split and concatenated objects, the same parse error texts. A 0xFF byte (what a host sends to
   flush the agent's parser) is a stray byte: "JSON parse error, stray '\\uFFFD'", and the parser is reset.
2. No greeting and no capabilities negotiation. Each request is checked as QMP checks it, with out-of-band
   execution off: ``exec-oob`` is an unexpected member; ``execute`` is looked up by the agent
   ("The command X has not been found"; a disabled one: "Command X has been disabled[: reason]").
3. Replies and errors are written as QMP's (QDict key order, ``id`` echoed), each ended by a bare LF.
4. ``guest-sync-delimited`` puts one 0xFF byte in front of its reply, so the host can find the reply's
   start in a stream that may hold stale output. Commands without a success response (``guest-shutdown``,
   ``guest-suspend-*``) answer nothing unless they fail.
5. The parser's state belongs to the guest's end of the port, not to a host connection: a host that leaves
   in the middle of a request leaves it half-read for the next one (hence ``guest-sync``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fakeqemu.machine.core.timers import TimerHandle
from fakeqemu.machine.guest.agent import NO_RESPONSE, GuestAgent
from fakeqemu.qmp.encode import encode
from fakeqemu.qmp.errors import QMPError
from fakeqemu.qmp.jsonstream import JsonParseError, JsonStreamer
from fakeqemu.qmp.session import NO_ID, QMPSession, Request

#: what guest-sync-delimited writes before its reply
SENTINEL = b"\xff"


def _lf(message: bytes) -> bytes:
    """A QMP-encoded message (CRLF) as qemu-ga ends it (LF)."""
    return message[:-2] + b"\n" if message.endswith(b"\r\n") else message


def error_bytes(cls: str, desc: str, id_: Any = NO_ID) -> bytes:
    msg: dict[str, Any] = {"error": {"class": cls, "desc": desc}}
    if id_ is not NO_ID:
        msg["id"] = id_
    return (encode(msg) + "\n").encode("ascii")


class AgentSession:
    """Parser state and reply encoding of the agent's end of the channel. No I/O."""

    __slots__ = ("_checks", "_stream")

    def __init__(self) -> None:
        self._stream = JsonStreamer()
        # QMP's request checks, with out-of-band execution never enabled (rule 2)
        self._checks = QMPSession((0, 0, 0), "", oob_offered=False)

    def receive_data(self, data: bytes) -> list[Request | bytes]:
        """Requests to run, and ready error replies, in input order."""
        out: list[Request | bytes] = []
        for item in self._stream.feed(data):
            if isinstance(item, JsonParseError):
                out.append(error_bytes("GenericError", item.desc))
                continue
            checked: object = self._checks._check(item)
            if isinstance(checked, Request):
                out.append(checked)
            else:
                raw = checked if isinstance(checked, bytes) else checked.data  # type: ignore[attr-defined]
                out.append(_lf(raw))
        return out

    def reset(self) -> None:
        """The guest's agent restarted: a fresh parser."""
        self._stream = JsonStreamer()

    @staticmethod
    def reply(req: Request, result: Any, delimited: bool = False) -> bytes:
        msg: dict[str, Any] = {"return": result}
        if req.id is not NO_ID:
            msg["id"] = req.id
        data = (encode(msg) + "\n").encode("ascii")
        return SENTINEL + data if delimited else data

    @staticmethod
    def error(req: Request, cls: str, desc: str) -> bytes:
        return error_bytes(cls, desc, req.id)


class AgentChannel:
    """The guest's end of the agent's port: bytes the host wrote wait here until the agent reads them
    (fakeqemu.machine.guest.agent: a hung, absent, slow or paused agent reads later or never); replies go
    to ``output`` (the host's connection, if one is up: bytes written to a port nobody listens on are
    lost, as QEMU drops them)."""

    def __init__(self, agent: GuestAgent) -> None:
        self.agent = agent
        self.session = AgentSession()
        self.pending = bytearray()
        self.output: Callable[[bytes], None] | None = None
        self._timer: TimerHandle | None = None
        agent.on_wake.append(self.pump)

    def close(self) -> None:
        if self.pump in self.agent.on_wake:
            self.agent.on_wake.remove(self.pump)
        if self._timer is not None:
            self._timer.cancel()

    def feed(self, data: bytes) -> None:
        self.pending += data
        self.pump()

    def pump(self) -> None:
        """Let the agent read what waits, now or after its delay."""
        agent = self.agent
        if not self.pending or not agent.answers or self._timer is not None:
            return
        delay = agent.delay_s
        if delay > 0:
            self._timer = agent.machine.timers.call_later(delay, self._delayed)
            return
        self._read()

    def _delayed(self) -> None:
        self._timer = None
        if self.agent.answers:
            self._read()
        self.pump()

    def _read(self) -> None:
        data = bytes(self.pending)
        self.pending.clear()
        for item in self.session.receive_data(data):
            out = item if isinstance(item, bytes) else self._run(item)
            if out and self.output is not None:
                self.output(out)

    def _run(self, req: Request) -> bytes:
        try:
            result = self.agent.execute(req.command, req.arguments)
        except QMPError as exc:
            return self.session.error(req, exc.cls, exc.desc)
        if result is NO_RESPONSE:
            return b""
        return self.session.reply(req, result, delimited=req.command == "guest-sync-delimited")
