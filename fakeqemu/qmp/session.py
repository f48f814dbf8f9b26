"""One QMP connection's protocol state, sans-IO: bytes in, requests and replies out.

Rules, as QEMU 7.2's monitor/qmp.c and qapi/qmp-dispatch.c apply them:

1. On connect the server sends the greeting; the connection starts in capabilities-negotiation mode,
   where only ``qmp_capabilities`` exists. Any other command (known or not) answers CommandNotFound
   "Expecting capabilities negotiation with 'qmp_capabilities'". Events are not sent in this mode.
2. Input is a JSON stream; each top-level value is one request. A parse error answers a GenericError
   with no ``id``; a value that is not an object answers "QMP input must be a JSON object".
3. The members of a request are checked in QDict (hash bucket) order: ``execute`` (and ``exec-oob`` once
   oob is negotiated) must be strings and not both present, ``arguments`` must be an object, ``id`` may be
   anything and is echoed back as parsed; any other member is unexpected.
4. After negotiation ``qmp_capabilities`` answers CommandNotFound "Capabilities negotiation is already
   complete, command ignored". ``exec-oob`` needs a command that allows it.
5. A reply to a request carries its ``id``, if the request had one and was an object.

Every rule above lives here, negotiation included: ``QMPSession.receive_data`` returns, in input order,
typed items: ``Output`` (bytes ready to send: protocol errors, the answers to ``qmp_capabilities`` and to
anything asked before negotiation) or ``Request`` (a command to run once negotiated; ``reply``/``error_from``
give its bytes). Commands are looked up and their arguments checked by the caller
(fakeqemu.commands.dispatch.run).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Any, Final

from fakeqemu.qmp.encode import Encoded, encode, encode_message, qdict_order
from fakeqemu.qmp.errors import QMPError
from fakeqemu.qmp.jsonstream import JsonParseError, JsonStreamer

NO_ID: Final = object()

NEGOTIATION_NEEDED = "Expecting capabilities negotiation with 'qmp_capabilities'"
ALREADY_NEGOTIATED = "Capabilities negotiation is already complete, command ignored"
CAPABILITIES = ("oob",)


@dataclass(slots=True)
class Request:
    """A well-formed request for the caller to execute."""

    command: str
    arguments: dict[str, Any]
    id: Any  # NO_ID when the request had none
    oob: bool
    #: the request object as parsed (what QEMU's trace points print)
    source: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(slots=True)
class Output:
    """Bytes the session answers itself, ready to send."""

    data: bytes
    #: the request they answer (negotiation); None for input that was no request
    request: Request | None = None
    #: the input they answer as parsed, or the JsonParseError when it could not be
    source: object = field(default=None, compare=False)


Item = Request | Output


def greeting_bytes(version: tuple[int, int, int], package: str, oob_offered: bool = True) -> bytes:
    """The greeting QEMU sends on connect."""
    major, minor, micro = version
    return encode_message(
        {
            "QMP": {
                "version": {"qemu": {"major": major, "minor": minor, "micro": micro}, "package": package},
                "capabilities": list(CAPABILITIES) if oob_offered else [],
            }
        }
    )


def _error_reply(cls: str, desc: str, id_: Any = NO_ID) -> Output:
    return Output(_error_bytes(cls, desc, id_))


def _error_bytes(cls: str, desc: str, id_: Any = NO_ID) -> bytes:
    if id_ is NO_ID:
        return _plain_error_bytes(cls, desc)
    return encode_message({"error": {"class": cls, "desc": desc}, "id": id_})


@functools.lru_cache(maxsize=64)
def _plain_error_bytes(cls: str, desc: str) -> bytes:
    """An error without an id: the same bytes every time (a run of 100,000 parse errors encodes one)."""
    return encode_message({"error": {"class": cls, "desc": desc}})


class QMPSession:
    """Protocol state of one QMP connection. Not thread-safe; no I/O."""

    __slots__ = ("_stream", "greeting", "negotiated", "oob_enabled", "oob_offered")

    def __init__(self, version: tuple[int, int, int], package: str, *, oob_offered: bool = True) -> None:
        self.oob_offered = oob_offered
        self.greeting = greeting_bytes(version, package, oob_offered)
        self.negotiated = False
        self.oob_enabled = False
        self._stream = JsonStreamer()

    # --- input -----------------------------------------------------------------------------------

    @property
    def pending_tokens(self) -> int:
        """Tokens of the request still being received."""
        return self._stream.pending

    def receive_batch(self, data: bytes, merge: bool = True) -> list[Item]:
        """receive_data as the monitor takes it (in a worker thread for a big read), with each request's
        structured ``id`` (echoed in its reply) encoded already, and (``merge``) runs of the session's own
        answers (parse errors: 100,000 of them for 100,000 stray brackets, a few thousand in a short read)
        joined into one: a client's heavy input then costs the VM's own thread one send per run, not one
        per error."""
        out: list[Item] = []
        run: list[bytes] = []
        for item in self.receive_data(data):
            if merge and isinstance(item, Output) and item.request is None:
                run.append(item.data)
                continue
            if run:
                out.append(Output(b"".join(run)))
                run = []
            if isinstance(item, Request) and type(item.id) in (list, dict):
                item = replace(item, id=Encoded(encode(item.id)))
            out.append(item)
        if run:
            out.append(Output(b"".join(run)))
        return out

    def receive_data(self, data: bytes) -> list[Item]:
        out: list[Item] = []
        for item in self._stream.feed(data):
            if isinstance(item, JsonParseError):
                out.append(Output(_error_bytes("GenericError", item.desc), None, item))
                continue
            checked = self._check(item)
            if isinstance(checked, Output):
                checked.source = item
            if isinstance(checked, Request) and (checked.command == "qmp_capabilities" or not self.negotiated):
                checked = self._negotiate(checked)
            out.append(checked)
        return out

    def _check(self, obj: object) -> Item:
        if not isinstance(obj, dict):
            return _error_reply("GenericError", "QMP input must be a JSON object")
        id_ = obj.get("id", NO_ID)
        exec_key: str | None = None
        for key in qdict_order(tuple(obj)) if len(obj) > 1 else obj:
            value = obj[key]
            if key == "execute" or (key == "exec-oob" and self.oob_enabled):
                if not isinstance(value, str):
                    return _error_reply("GenericError", f"QMP input member '{key}' must be a string", id_)
                if exec_key is not None:
                    return _error_reply("GenericError", f"QMP input member '{key}' clashes with '{exec_key}'", id_)
                exec_key = key
            elif key == "arguments":
                if not isinstance(value, dict):
                    return _error_reply("GenericError", "QMP input member 'arguments' must be an object", id_)
            elif key != "id":
                return _error_reply("GenericError", f"QMP input member '{key}' is unexpected", id_)
        if exec_key is None:
            return _error_reply("GenericError", "QMP input lacks member 'execute'", id_)
        return Request(obj[exec_key], obj.get("arguments", {}), id_, exec_key == "exec-oob", obj)

    # --- capabilities negotiation ----------------------------------------------------------------

    def _negotiate(self, req: Request) -> Output:
        """Rule 1 and 4: ``qmp_capabilities`` (arguments checked against QEMU's schema first), and any
        other command before it."""
        return Output(self._negotiation_reply(req), req, req.source)

    def _negotiation_reply(self, req: Request) -> bytes:
        if req.command != "qmp_capabilities":
            return self.error(req, "CommandNotFound", NEGOTIATION_NEEDED)
        if req.arguments:
            from fakeqemu.qmp.schema import Schema  # loaded when first needed: start-up stays short

            try:
                Schema.load().check_args(req.command, req.arguments)
            except QMPError as exc:
                return self.error_from(req, exc)
        if self.negotiated:
            return self.error(req, "CommandNotFound", ALREADY_NEGOTIATED)
        enable = req.arguments.get("enable") or []
        for cap in enable:
            if cap == "oob" and not self.oob_offered:
                return self.error(req, "GenericError", f"Capability '{cap}' not available")
        self.negotiated = True
        self.oob_enabled = "oob" in enable
        return self.reply(req, {})

    # --- output ----------------------------------------------------------------------------------

    def reply(self, req: Request, result: Any) -> bytes:
        if req.id is NO_ID:
            return encode_message({"return": result})
        return encode_message({"return": result, "id": req.id})

    def error(self, req: Request, cls: str, desc: str) -> bytes:
        return _error_bytes(cls, desc, req.id)

    def error_from(self, req: Request, exc: QMPError) -> bytes:
        return self.error(req, exc.cls, exc.desc)
