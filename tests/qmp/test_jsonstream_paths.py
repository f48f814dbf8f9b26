"""The streamer's fast path (orjson, once loaded) reads every message as its exact path (QEMU's lexer and
parser) does; before orjson is loaded (fakeqemu's early answers) every message takes the exact path."""

from __future__ import annotations

import sys
from types import ModuleType

import orjson
import pytest

from fakeqemu.qmp.jsonstream import JsonStreamer

MESSAGES = [
    b'{"execute": "query-status"}',
    b'{"execute": "qmp_capabilities", "id": 7}\r\n',
    b'{"execute": "x", "arguments": {"a": 1, "a": 2}}',  # QEMU: duplicate key
    b'{"id": 18446744073709551616}',  # past uint64: a float
    b'{"id": -9223372036854775809}',
    b'{"a": "\\u00e9", "b": "\\u0000"}',
    b'{"a": 1.5e3, "b": [true, false, null], "c": {}}',
    b"{'single': 'quotes'}",
    b'{"a": NaN}',
    b'{"a": 1,}',
    b'{"execute": "query-status"}{"execute": "query-name"}',
]


@pytest.mark.parametrize("message", MESSAGES)
def test_fast_path_reads_as_the_exact_path(message: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    assert orjson.loads(b"{}") == {}  # loaded
    fast = JsonStreamer().feed(message)
    monkeypatch.setitem(sys.modules, "orjson", None)  # not loaded yet: the exact path alone
    exact = JsonStreamer().feed(message)
    assert fast == exact


def test_the_fast_path_is_taken_once_orjson_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    lexed: list[bytes] = []
    lex = JsonStreamer._lex

    def spy(self: JsonStreamer, data: bytes) -> None:
        lexed.append(data)
        lex(self, data)

    monkeypatch.setattr(JsonStreamer, "_lex", spy)
    assert JsonStreamer().feed(MESSAGES[0]) == [{"execute": "query-status"}]
    assert lexed == []
    monkeypatch.setitem(sys.modules, "orjson", None)
    assert JsonStreamer().feed(MESSAGES[0]) == [{"execute": "query-status"}]
    assert lexed == [MESSAGES[0]]


@pytest.mark.parametrize("message", MESSAGES)
def test_orjson_still_loading_means_the_exact_path(message: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the runtime's thread imports orjson, the early greeter's thread finds it in sys.modules without
    its attributes: it takes the exact path (it raised AttributeError, and the greeter lost the request)."""
    exact = JsonStreamer().feed(message)
    monkeypatch.setitem(sys.modules, "orjson", ModuleType("orjson"))
    assert JsonStreamer().feed(message) == exact
