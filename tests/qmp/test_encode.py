"""The encoder against bytes captured from Debian's QEMU 7.2."""

from __future__ import annotations

import pytest

from fakeqemu.qmp.encode import encode, encode_message, qdict_order, tdb_hash


def test_greeting_bytes_match_qemu() -> None:
    msg = {
        "QMP": {
            "version": {"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"},
            "capabilities": ["oob"],
        }
    }
    assert encode_message(msg) == (
        b'{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, '
        b'"package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n'
    )


def test_same_bucket_keys_come_out_in_reverse_insertion_order() -> None:
    # "status" and "singlestep" share bucket 202; QEMU inserts running, singlestep, status
    assert tdb_hash("status") % 512 == tdb_hash("singlestep") % 512 == 202
    reply = {"return": {"running": False, "singlestep": False, "status": "prelaunch"}, "id": {"a": 1}}
    assert encode(reply) == '{"return": {"status": "prelaunch", "singlestep": false, "running": false}, "id": {"a": 1}}'


@pytest.mark.parametrize(
    ("keys", "order"),
    [
        (("return", "id"), ("return", "id")),
        (("error", "id"), ("id", "error")),
        (("event", "data", "timestamp"), ("timestamp", "event", "data")),
        (("device", "path"), ("device", "path")),
        (("class", "desc"), ("class", "desc")),
    ],
)
def test_key_order_seen_from_qemu(keys: tuple[str, ...], order: tuple[str, ...]) -> None:
    assert qdict_order(keys) == order


def test_string_escapes_like_qemu() -> None:
    assert encode('a"b\\c\n\t\x01') == '"a\\"b\\\\c\\n\\t\\u0001"'
    assert encode("é€") == '"\\u00E9\\u20AC"'
    assert encode("\U0001f600") == '"\\uD83D\\uDE00"'
    assert encode("\x7f") == '"\\u007F"'
    assert encode("/") == '"/"'


def test_scalars_and_containers() -> None:
    assert encode([1, -2, True, False, None, [], {}]) == "[1, -2, true, false, null, [], {}]"
    assert encode(1.5) == "1.5"
    assert encode(2.0) == "2"
    with pytest.raises(TypeError):
        encode(object())
