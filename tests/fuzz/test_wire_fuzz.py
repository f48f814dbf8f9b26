"""Fuzzing over the wire (hypothesis): one fakeqemu, two QMP clients. The fuzzed client sends valid
commands split at arbitrary points, mutated valid commands, and every command of the schema with an
argument of the wrong type. Invariants: no traceback and no internal error, every later command answered,
and the other client unaffected (its query-status answered after each example).

``make test`` runs a few examples of each (the ``brief`` profile); ``make fuzz`` runs thousands."""

from __future__ import annotations

import importlib
import itertools
import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeqemu.commands.registry import COMMANDS
from fakeqemu.qmp.schema import Schema
from tests.integration.procs import Proc, Raw
from tests.integration.procs import fakeqemu as start_fakeqemu

#: a command that resyncs QEMU's parser wherever it was (0xFF is a lexer error in any state), then a marker
RESYNC = b'\xff{"execute": "query-status", "id": "sync"}'
#: replies that never change while nothing else happens (no timestamps, no run-state change)
VALID = [
    b'{"execute": "query-status", "id": 1}',
    b'{"execute": "query-name"}',
    b'{"execute": "qom-list", "arguments": {"path": "/machine/peripheral"}, "id": ["a", {"b": null}]}',
    b'{"execute": "query-version", "id": "v"}',
    b"{'execute': 'query-kvm'}",
    b'{"execute": "qom-get", "arguments": {"path": "/machine", "property": "type"}}',
    b'{"execute": "nosuch", "id": 2.5}',
    b'{"execute": "query-status", "arguments": {"x": 1}}',
]


class Client:
    def __init__(self, path: str) -> None:
        self.raw = Raw(path, timeout=30)
        self.raw.negotiate()

    def until(self, marker: bytes) -> list[bytes]:
        """Lines up to (not with) the one that contains ``marker``; that one is kept in ``self.last``."""
        lines: list[bytes] = []
        while True:
            line = self.raw.line()
            if marker in line:
                self.last = line
                return lines
            lines.append(line)


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, Client, Client]]:
    with start_fakeqemu(tmp_path_factory.mktemp("fuzz"), monitors=2) as proc:
        fuzzed, other = Client(proc.sockets[0]), Client(proc.sockets[1])
        yield proc, fuzzed, other
        fuzzed.raw.close()
        other.raw.close()
        assert proc.popen.poll() is None, "fakeqemu exited"
        proc.popen.terminate()
        proc.popen.wait(timeout=30)
        err = proc.stderr_text()
        assert "Traceback" not in err, err


def _check(lines: list[bytes], other: Client) -> None:
    for line in lines:
        assert b"internal error" not in line, line
    other.raw.send(b'{"execute": "query-status", "id": "other"}')
    assert other.until(b'"other"') == []


def _reference(fuzzed: Client, data: bytes) -> list[bytes]:
    fuzzed.raw.send(data + RESYNC)
    return fuzzed.until(b'"sync"')


@given(
    commands=st.lists(st.sampled_from(VALID), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_split_points_do_not_change_the_replies(
    vm: tuple[Proc, Client, Client], commands: list[bytes], cuts: list[int]
) -> None:
    _proc, fuzzed, other = vm
    data = b"".join(commands)
    expected = _reference(fuzzed, data)
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        fuzzed.raw.send(data[a:b])
    fuzzed.raw.send(RESYNC)
    got = fuzzed.until(b'"sync"')
    assert got == expected
    _check(got, other)


_mutation = st.tuples(
    st.sampled_from(["flip", "insert", "delete"]), st.integers(0, 300), st.binary(min_size=1, max_size=4)
)


@given(base=st.sampled_from(VALID), mutations=st.lists(_mutation, min_size=1, max_size=5))
def test_mutated_commands_are_answered_and_the_server_carries_on(
    vm: tuple[Proc, Client, Client], base: bytes, mutations: list[tuple[str, int, bytes]]
) -> None:
    _proc, fuzzed, other = vm
    data = bytearray(base)
    for kind, at, blob in mutations:
        at = at % (len(data) + 1)
        if kind == "insert":
            data[at:at] = blob
        elif kind == "delete":
            del data[at : at + len(blob)]
        elif at < len(data):
            data[at] ^= blob[0] or 1
    fuzzed.raw.send(bytes(data) + RESYNC)
    lines = fuzzed.until(b'"sync"')
    _check(lines, other)
    fuzzed.raw.send(b'{"execute": "query-name", "id": "after"}')
    assert fuzzed.until(b'"after"') == []


# --- wrong argument types for every command, from the schema ------------------------------------------

_KIND_OF = {"str": "string", "int": "number", "number": "number", "bool": "boolean", "null": "null"}
_VALUES: dict[str, Any] = {"string": "x", "number": 7, "boolean": True, "null": None, "object": {}, "array": []}


def _kind(schema: Schema, tname: str) -> str | None:
    e = schema.by_name.get(tname)
    if e is None:
        return "array" if tname.startswith("[") else None
    mt = e["meta-type"]
    if mt == "builtin":
        return _KIND_OF.get(tname)
    return {"enum": "string", "object": "object", "array": "array"}.get(mt)


def _wrong_typed() -> list[tuple[str, str, Any]]:
    """(command, member, value of another JSON kind) for every typed member of every command served."""
    importlib.import_module("fakeqemu.commands.all")  # registers every command
    schema = Schema.load()
    out = []
    for name in sorted(COMMANDS):
        e = schema.by_name.get(name)
        if e is None or e["meta-type"] != "command":
            continue
        arg = schema.by_name.get(e["arg-type"], {})
        for m in arg.get("members", []):
            kind = _kind(schema, m["type"])
            if kind is None:
                continue
            wrong = "string" if kind != "string" else "number"
            out.append((name, m["name"], _VALUES[wrong]))
    return out


WRONG = _wrong_typed()


def test_every_command_has_wrong_type_cases() -> None:
    assert len({c for c, _, _ in WRONG}) > 50


@given(case=st.sampled_from(WRONG), extra=st.sampled_from([None, ("bogus", 1)]))
def test_wrong_argument_types_get_errors_not_crashes(
    vm: tuple[Proc, Client, Client], case: tuple[str, str, Any], extra: tuple[str, Any] | None
) -> None:
    _proc, fuzzed, other = vm
    command, member, value = case
    args = {member: value}
    if extra is not None:
        args[extra[0]] = extra[1]
    fuzzed.raw.send(orjson.dumps({"execute": command, "arguments": args, "id": "w"}))
    events = fuzzed.until(b'"id": "w"')
    reply = fuzzed.last
    assert orjson.loads(reply)["error"]["class"] == "GenericError", reply
    _check([*events, reply], other)


def test_no_fd_is_leaked_by_the_fuzzers(vm: tuple[Proc, Client, Client]) -> None:
    proc, _fuzzed, _other = vm
    assert len(os.listdir(f"/proc/{proc.popen.pid}/fd")) < 64
