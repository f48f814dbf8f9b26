"""QMP protocol corner cases (malformed JSON, limits, ids, oob) side by side with Debian's QEMU 7.2,
on the harness in tests/oracle.py: each chunk is sent as is, then its answers read (``oracle.sends``)."""

from __future__ import annotations

import pytest

from tests.oracle import Script, Step, WaitClose, run_both, script, sends

NEG = b'{"execute":"qmp_capabilities"}'

SCRIPTS: dict[str, list[bytes | tuple[bytes, ...] | Step]] = {
    "negotiation": [
        b'{"execute":"query-status"}',
        b'{"execute":"nope"}',
        b"[]",
        b'{"execute":"qmp_capabilities","arguments":{"enable":["foo"]}}',
        b'{"execute":"qmp_capabilities","arguments":{"enable":"oob"}}',
        b'{"execute":"qmp_capabilities","arguments":{"x":1}}',
        b'{"exec-oob":"qmp_capabilities"}',
        b'{"execute":"qmp_capabilities","id":1}',
        b'{"execute":"qmp_capabilities","id":[1]}',
    ],
    "oob": [
        b'{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":"neg"}',
        b'{"exec-oob":"query-status"}',
        b'{"exec-oob":"query-status","id":5}',
        b'{"exec-oob":"nope","id":8}',
        b'{"execute":"query-status","exec-oob":"query-status","id":7}',
    ],
    "ids": [
        NEG,
        b'{"execute":"query-status","id":{"b":[1,{"c":null}],"a":"x"}}',
        b'{"execute":"query-name","id":-1}',
        b'{"execute":"query-name","id":true}',
        b'{"execute":"query-name","id":null}',
        b'{"execute":"query-name","id":0.1}',
        b'{"execute":"query-name","id":18446744073709551616}',
        b'{"execute":"query-name","id":"\\u00e9\\ud83d\\ude00\\n"}',
    ],
    "malformed": [
        NEG,
        b"[]",
        b"1",
        b'"str"',
        b"{}",
        b'{"execute":1}',
        b'{"execute":"query-status","arguments":[]}',
        b'{"execute":"query-status","x":1}',
        b'{"execute":1,"foo":2}',
        b'{"foo":2,"execute":1}',
        b'{"execute":"query-status","id":1,"control":{}}',
        b'{"execute": }',
        b"@}",
        b"]]",
        b'{"a":1,"a":2}',
        b'{"execute":"query-status","arguments":{"x":1}}',
        b'{"execute":"query-name","arguments":{"id":1}}',
        b"\xff",
        b'{"execute": tru}',
        b'{"execute":"query-name","id":"\\ud800"}',
        b'{"execute":"query-name","id":"\\u12"}',
        b'{"execute":"query-status","id":01}',
    ],
    "limits": [
        NEG,
        b"[" * 1024 + b"]" * 1024,
        b"[" * 1025 + b"]" * 1025,
        b'{"execute":"query-name","id":' + b"[" * 1023 + b"]" * 1023 + b"}",
        b'{"execute":"query-name","id":' + b"[" * 1024 + b"]" * 1024 + b"}",
    ],
    "json-quirks": [
        NEG,
        b"{'execute':'query-name','id':'it\\'s'}",
        (b'{"execute":', b'"query-status",', b' "id": 2}'),
        b'{"execute":"query-kvm"}{"execute":"query-name"}\r\n{"execute":"query-status"}',
        b"\n\n   \n",
        b'  {  "execute"  :  "query-status"  }  ',
    ],
    "runstate": [
        NEG,
        b'{"execute":"stop"}',
        b'{"execute":"query-status"}',
        b'{"execute":"system_powerdown"}',
        b'{"execute":"cont","id":"x"}{"execute":"query-status","id":"y"}',
        b'{"execute":"cont"}',
        b'{"execute":"stop","arguments":{}}',
        b'{"execute":"stop"}',
        b'{"execute":"query-name"}',
        b'{"execute":"query-kvm"}',
        b'{"execute":"query-version"}',
        b'{"execute":"quit"}',
        WaitClose(),
    ],
}


def as_script(
    name: str, chunks: list[bytes | tuple[bytes, ...] | Step], extra_args: tuple[str, ...] = ("-name", "vm1")
) -> Script:
    return script(name, sends(*chunks), extra_args=extra_args, negotiate=False)


@pytest.mark.qemu
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_transcript_as_qemu(qemu_binary: str, name: str) -> None:
    run_both(as_script(name, SCRIPTS[name]))


@pytest.mark.qemu
def test_without_name_and_not_paused(qemu_binary: str) -> None:
    chunks = [NEG, b'{"execute":"query-name"}', b'{"execute":"query-status"}', b'{"execute":"cont"}']
    run_both(script("unnamed-running", sends(*chunks), paused=False, negotiate=False))
