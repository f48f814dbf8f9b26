"""QEMU's limits on one JSON message (json-streamer.c / json-lexer.c): 64 MiB of tokens, 2 Mi tokens,
nesting 1024. After the error the stream starts over, and the next message is served."""

from __future__ import annotations

import sys

from fakeqemu.qmp.jsonstream import JsonStreamer
from fakeqemu.qmp.session import Item, Output, QMPSession, Request


def session() -> QMPSession:
    s = QMPSession((7, 2, 22), "test")
    s.receive_data(b'{"execute": "qmp_capabilities"}')
    return s


def test_token_size_limit_then_the_next_command() -> None:
    s = session()
    out: list[Item] = []
    message = b'{"execute": "query-status", "id": "' + b"x" * ((64 << 20) + 16) + b'"}'
    for i in range(0, len(message), 1 << 20):
        out += s.receive_data(message[i : i + (1 << 20)])
    assert out[0] == Output(b'{"error": {"class": "GenericError", "desc": "JSON token size limit exceeded"}}\r\n')
    # the limit cut the string: its closing quote opens a new one, which a newline ends (a lexer error),
    # then the stream is back in step
    after = s.receive_data(b'\n{"execute": "query-kvm", "id": 7}')
    assert after and isinstance(after[-1], Request) and after[-1].command == "query-kvm" and after[-1].id == 7


def test_token_count_limit_then_values_one_by_one() -> None:
    # measured on QEMU 7.2: the error, then each remaining token starts a message of its own
    s = session()
    out = s.receive_data(b'{"execute": "query-status", "id": [' + b"1," * (2 << 20) + b"1]}")
    assert out[0] == Output(b'{"error": {"class": "GenericError", "desc": "JSON token count limit exceeded"}}\r\n')
    assert out[1] == Output(b'{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}\r\n')
    assert out[2] == Output(b'{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}\r\n')
    after = s.receive_data(b'{"execute": "query-kvm"}')
    assert isinstance(after[-1], Request) and after[-1].command == "query-kvm"


def test_nesting_limit() -> None:
    s = session()
    out = s.receive_data(b'{"execute": "query-status", "id": ' + b"[" * 1025 + b"]" * 1025 + b"}")
    assert out[0] == Output(b'{"error": {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}}\r\n')


def test_parsing_leaves_the_recursion_limit_alone() -> None:
    limit = sys.getrecursionlimit()
    s = session()
    deep = b"[" * 1023 + b"]" * 1023  # with the outer object: 1024 levels, the most QEMU takes
    out = s.receive_data(b'{"execute": "query-name", "id": ' + deep + b"}")  # the exact parser
    assert isinstance(out[-1], Request) and out[-1].command == "query-name"
    out = s.receive_data(b'{"execute": "query-name", "id": ' + b"[" * 1000 + b"]" * 1000 + b"}")  # orjson's
    assert isinstance(out[-1], Request) and out[-1].command == "query-name"
    assert sys.getrecursionlimit() == limit


def test_the_exact_parser_needs_no_recursion() -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # far below the 1024 levels QEMU takes
    try:
        out = JsonStreamer().feed(b"{'id': " + b"[" * 1023 + b"1" + b"]" * 1023 + b"}")  # quotes: not orjson's
    finally:
        sys.setrecursionlimit(limit)
    value = out[0]
    assert isinstance(value, dict)
    depth, item = 0, value["id"]
    while isinstance(item, list):
        depth, item = depth + 1, item[0]
    assert (depth, item) == (1023, 1)
