"""The sans-IO session with the dispatcher, against bytes measured from Debian's QEMU 7.2."""

from __future__ import annotations

import pytest

import fakeqemu.commands.all  # noqa: F401
from fakeqemu.commands.dispatch import answer
from fakeqemu.commands.registry import Context
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.qmp.session import Output, QMPSession, Request

QEMU_PACKAGE = "Debian 1:7.2+dfsg-7+deb12u18+b3"


class Conn:
    def __init__(self, **machine: object) -> None:
        cfg = MachineConfig(paused=True, package=QEMU_PACKAGE, **machine)  # type: ignore[arg-type]
        self.machine = Machine(cfg, clock=lambda: 1795547863.903306)
        self.session = QMPSession(cfg.qemu_version, cfg.package)
        self.ctx = Context(self.machine)
        self.out: list[bytes] = []
        self.machine.events.subscribe(lambda e: self.out.append(e.wire) if self.session.negotiated else None)

    def send(self, data: bytes) -> list[bytes]:
        self.out = []
        for item in self.session.receive_data(data):
            if isinstance(item, Output):
                self.out.append(item.data)
            else:
                self.out.append(answer(self.session, self.ctx, item))
        return self.out


@pytest.fixture
def conn() -> Conn:
    return Conn()


def negotiated() -> Conn:
    c = Conn()
    c.send(b'{"execute":"qmp_capabilities"}')
    return c


def test_greeting(conn: Conn) -> None:
    assert conn.session.greeting == (
        b'{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, '
        b'"package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n'
    )


def test_negotiation(conn: Conn) -> None:
    assert conn.send(b'{"execute":"query-status"}') == [
        b'{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with '
        b"'qmp_capabilities'\"}}\r\n"
    ]
    assert conn.send(b'{"execute":"qmp_capabilities","id":1}') == [b'{"return": {}, "id": 1}\r\n']
    assert conn.send(b'{"execute":"qmp_capabilities","id":[1]}') == [
        b'{"id": [1], "error": {"class": "CommandNotFound", "desc": '
        b'"Capabilities negotiation is already complete, command ignored"}}\r\n'
    ]


@pytest.mark.parametrize(
    ("sent", "reply"),
    [
        (b"[]", b'{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}\r\n'),
        (
            b'{"execute":"query-status","id":{"a":1}}',
            b'{"return": {"status": "prelaunch", "singlestep": false, "running": false}, "id": {"a": 1}}\r\n',
        ),
        (b"{'execute':'query-name'}", b'{"return": {}}\r\n'),
        (
            b'{"execute":"foo"}',
            b'{"error": {"class": "CommandNotFound", "desc": "The command foo has not been found"}}\r\n',
        ),
        (
            b'{"exec-oob":"query-status"}',
            b'{"error": {"class": "GenericError", "desc": "QMP input member \'exec-oob\' is unexpected"}}\r\n',
        ),
        (
            b'{"execute":"query-status","x":1}',
            b'{"error": {"class": "GenericError", "desc": "QMP input member \'x\' is unexpected"}}\r\n',
        ),
        (
            b'{"execute":1}',
            b'{"error": {"class": "GenericError", "desc": "QMP input member \'execute\' must be a string"}}\r\n',
        ),
        (b"{}", b'{"error": {"class": "GenericError", "desc": "QMP input lacks member \'execute\'"}}\r\n'),
        (
            b'{"execute":"query-status","arguments":[]}',
            b'{"error": {"class": "GenericError", "desc": "QMP input member \'arguments\' must be an object"}}\r\n',
        ),
        (b'{"execute": }', b'{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}\r\n'),
        (
            b'{"execute":"query-status", "id": 1, "control": {}}',
            b'{"id": 1, "error": {"class": "GenericError", "desc": "QMP input member \'control\' is unexpected"}}\r\n',
        ),
        (
            b'{"execute":1,"foo":2}',
            b'{"error": {"class": "GenericError", "desc": "QMP input member \'execute\' must be a string"}}\r\n',
        ),
        (
            b'{"foo":2,"execute":1}',
            b'{"error": {"class": "GenericError", "desc": "QMP input member \'execute\' must be a string"}}\r\n',
        ),
        (b"\n\n   ", None),
    ],
)
def test_malformed_and_odd_input(sent: bytes, reply: bytes | None) -> None:
    conn = negotiated()
    assert conn.send(sent) == ([] if reply is None else [reply])


def test_oob() -> None:
    conn = Conn()
    assert conn.send(b'{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}') == [b'{"return": {}}\r\n']
    assert conn.send(b'{"exec-oob":"query-status","id":5}') == [
        b'{"id": 5, "error": {"class": "GenericError", "desc": "The command query-status does not support OOB"}}\r\n'
    ]
    assert conn.send(b'{"execute":"query-status","exec-oob":"query-status","id":7}') == [
        b'{"id": 7, "error": {"class": "GenericError", "desc": '
        b"\"QMP input member 'execute' clashes with 'exec-oob'\"}}\r\n"
    ]
    assert conn.send(b'{"exec-oob":"nope","id":8}') == [
        b'{"id": 8, "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}\r\n'
    ]


def test_events_precede_the_reply_and_run_state_follows_qemu() -> None:
    conn = negotiated()
    assert conn.send(b'{"execute":"stop"}') == [b'{"return": {}}\r\n']  # prelaunch: no STOP
    assert conn.send(b'{"execute":"cont","id":"x"}{"execute":"query-status","id":"y"}') == [
        b'{"timestamp": {"seconds": 1795547863, "microseconds": 903306}, "event": "RESUME"}\r\n',
        b'{"return": {}, "id": "x"}\r\n',
        b'{"return": {"status": "running", "singlestep": false, "running": true}, "id": "y"}\r\n',
    ]
    assert conn.send(b'{"execute":"cont"}') == [b'{"return": {}}\r\n']
    assert conn.send(b'{"execute":"system_reset"}') == [
        b'{"timestamp": {"seconds": 1795547863, "microseconds": 903306}, "event": "RESET", '
        b'"data": {"guest": false, "reason": "host-qmp-system-reset"}}\r\n',
        b'{"return": {}}\r\n',
    ]
    assert conn.send(b'{"execute":"stop"}') == [
        b'{"timestamp": {"seconds": 1795547863, "microseconds": 903306}, "event": "STOP"}\r\n',
        b'{"return": {}}\r\n',
    ]


def test_capability_argument_errors(conn: Conn) -> None:
    assert conn.send(b'{"execute":"qmp_capabilities","arguments":{"enable":"oob"}}') == [
        b'{"error": {"class": "GenericError", "desc": "Invalid parameter type for \'enable\', expected: array"}}\r\n'
    ]
    assert conn.send(b'{"execute":"qmp_capabilities","arguments":{"x":1}}') == [
        b'{"error": {"class": "GenericError", "desc": "Parameter \'x\' is unexpected"}}\r\n'
    ]
    assert conn.send(b'{"execute":"qmp_capabilities","arguments":{"enable":["foo"]}}') == [
        b'{"error": {"class": "GenericError", "desc": "Parameter \'null\' does not accept value \'foo\'"}}\r\n'
    ]


def test_quit_sends_shutdown_before_the_reply_and_asks_to_exit() -> None:
    conn = negotiated()
    exits: list[bool] = []
    conn.machine.on_exit = lambda: exits.append(True)
    assert conn.send(b'{"execute":"quit"}') == [
        b'{"timestamp": {"seconds": 1795547863, "microseconds": 903306}, "event": "SHUTDOWN", '
        b'"data": {"guest": false, "reason": "host-qmp-quit"}}\r\n',
        b'{"return": {}}\r\n',
    ]
    assert exits == [True]


def test_receive_batch_answers_as_receive_data_does() -> None:
    """The worker-thread path: same requests (ids encoded already, replies byte-equal), parse errors joined."""

    def wire(session: QMPSession, items: list[Output | Request]) -> bytes:
        return b"".join(i.data if isinstance(i, Output) else session.reply(i, {}) for i in items)

    data = b"[" * 3000 + b'{"execute": "query-status", "id": [1, {"a": [2.5, "x"]}]}' + b"}" * 5
    plain, heavy = QMPSession((7, 2, 0), ""), QMPSession((7, 2, 0), "")
    for s in (plain, heavy):
        s.receive_data(b'{"execute": "qmp_capabilities"}')
    expected = plain.receive_data(data)
    got = heavy.receive_batch(data)
    assert len(got) < len(expected) and wire(heavy, got) == wire(plain, expected)
