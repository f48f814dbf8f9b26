"""Differential: the QMP wire protocol (greeting, negotiation, OOB, ids, malformed input, framing)."""

from __future__ import annotations

from tests.oracle import Expect, Script, Send, Sync, call, differential_tests, script, sends

GREETING = (
    b'{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "<package>"}, '
    b'"capabilities": ["oob"]}}'
)
STATUS = b'{"status": "prelaunch", "singlestep": false, "running": false}'


SCRIPTS: list[Script] = [
    script("protocol-greeting", Sync(), negotiate=False, must=[GREETING]),
    script(
        "protocol-before-capabilities",
        call("query-status"),
        call("query-version"),
        call("nope"),
        call("query-status", id="x"),
        Send(b'{"execute":"qmp_capabilities"}'),
        Expect(1),
        call("query-status"),
        negotiate=False,
        must=[
            b'{"error": {"class": "CommandNotFound", "desc": '
            b"\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}",
            b'{"return": ' + STATUS + b"}",
        ],
    ),
    script(
        "protocol-capabilities-twice",
        call("qmp_capabilities"),
        call("qmp_capabilities", id=2),
        call("qmp_capabilities", {"enable": ["oob"]}),
        must=[
            b'{"error": {"class": "CommandNotFound", "desc": '
            b'"Capabilities negotiation is already complete, command ignored"}}'
        ],
    ),
    script(
        "protocol-unknown-capability",
        call("qmp_capabilities", {"enable": ["foo"]}),
        call("qmp_capabilities", {"enable": "oob"}),
        call("qmp_capabilities", {"enable": ["oob", "foo"]}, id=1),
        call("qmp_capabilities", {"bogus": 1}),
        call("qmp_capabilities", {"enable": []}),
        call("query-name"),
        negotiate=False,
        must=[
            b'{"error": {"class": "GenericError", "desc": "Parameter \'null\' does not accept value \'foo\'"}}',
            b'{"error": {"class": "GenericError", "desc": "Invalid parameter type for \'enable\', expected: array"}}',
        ],
    ),
    script(
        "protocol-oob",
        call("qmp_capabilities", {"enable": ["oob", "oob"]}),
        sends(
            b'{"exec-oob":"migrate-pause","id":"a"}',
            b'{"exec-oob":"query-status","id":"b"}',
            b'{"exec-oob":"migrate-pause"}',
            b'{"exec-oob":"query-yank","id":3}',
            b'{"exec-oob":"migrate-recover","arguments":{"uri":"unix:/nonexistent/x"},"id":7}',
            b'{"execute":"migrate-pause","id":"c"}',
            b'{"exec-oob":"query-status","execute":"query-status"}',
            b'{"exec-oob":"nope","id":4}',
            b'{"execute":"query-status","control":{"run-oob":true}}',
        ),
        negotiate=False,
        must=[
            b'{"id": "a", "error": {"class": "GenericError", "desc": '
            b'"migrate-pause is currently only supported during postcopy-active state"}}',
            b'{"id": "b", "error": {"class": "GenericError", "desc": "The command query-status does not support OOB"}}',
        ],
    ),
    script(
        "protocol-oob-not-negotiated",
        sends(b'{"exec-oob":"migrate-pause","id":1}', b'{"exec-oob":"query-status"}'),
        must=[b'{"id": 1, "error": {"class": "GenericError", "desc": "QMP input member \'exec-oob\' is unexpected"}}'],
    ),
    script(
        "protocol-id-types",
        sends(
            b'{"execute":"query-name","id":null}',
            b'{"execute":"query-name","id":true}',
            b'{"execute":"query-name","id":false}',
            b'{"execute":"query-name","id":0}',
            b'{"execute":"query-name","id":-3}',
            b'{"execute":"query-name","id":1.5}',
            b'{"execute":"query-name","id":1e3}',
            b'{"execute":"query-name","id":-0.0}',
            b'{"execute":"query-name","id":12345678901234567890}',
            b'{"execute":"query-name","id":"s"}',
            b'{"execute":"query-name","id":""}',
            b'{"execute":"query-name","id":"\\u00e9\\ud83d\\ude00 \\"q\\" \\/ \\t"}',
            b'{"execute":"query-name","id":"caf\xc3\xa9"}',
            b'{"execute":"query-name","id":[1,"x",{"a":null},[]]}',
            b'{"execute":"query-name","id":{"b":1,"a":2,"c":[],"zz":{"y":1,"x":2}}}',
            b'{"execute":"nope","id":{"k":"v"}}',
            b'{"execute":"query-status","id":[true]}',
        ),
        must=[
            b'{"return": {}, "id": null}',
            b'{"return": {}, "id": 1000}',
            b'{"return": {}, "id": -0}',
            b'{"return": {}, "id": {"a": 2, "zz": {"x": 2, "y": 1}, "b": 1, "c": []}}',
        ],
    ),
    script(
        "protocol-malformed",
        sends(
            b"[1,2]",
            b"{}",
            b'{"execute":1}',
            b'{"execute":1,"id":"y"}',
            b'{"execute":null}',
            b'{"execute":"query-status","arguments":[]}',
            b'{"execute":"query-status","arguments":null}',
            b'{"execute":"query-status","arguments":{"x":1}}',
            b'{"execute":"query-status","foo":1}',
            b'{"execute":"query-status","foo":1,"id":9}',
            b'{"execute":"nope"}',
            b'{"execute":"nope","id":"x"}',
            b'"str"',
            b"42",
            b"null",
            b'[1, {"id": 5}]',
        ),
        must=[
            b'{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}',
            b'{"error": {"class": "GenericError", "desc": "QMP input lacks member \'execute\'"}}',
            b'{"error": {"class": "GenericError", "desc": "QMP input member \'execute\' must be a string"}}',
            b'{"id": "y", "error": {"class": "GenericError", "desc": "QMP input member \'execute\' must be a string"}}',
            b'{"error": {"class": "GenericError", "desc": "QMP input member \'arguments\' must be an object"}}',
            b'{"error": {"class": "GenericError", "desc": "Parameter \'x\' is unexpected"}}',
            b'{"error": {"class": "GenericError", "desc": "QMP input member \'foo\' is unexpected"}}',
            b'{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}',
        ],
    ),
    script(
        "protocol-json-errors",
        sends(
            (b'{"execute":', b"}"),
            (b"abc", b"}"),
            b'{"a":1}}',
            b'{"execute":"query-status",}',
            (b"[", b"]"),
            b'{"execute":"query-name","id":"\x01"}',
            b"\xff\n",
            b'{"execute":"query-name"}',
        ),
        must=[
            b'{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}',
            b'{"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword \'abc\'"}}',
            b'{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}',
        ],
    ),
    script(
        "protocol-nul-in-parse-errors",
        sends(b"\x00\n", b'{"execute": "x\x00y"}\n', b"ab\x00cd{}", b"\xc0\x80\n", b"\xed\xa0\x80\n"),
        must=[b'{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\'"}}'],
    ),
    script(
        "protocol-single-quotes",
        sends(
            b"{'execute':'query-status'}",
            b"{'execute':'query-name','id':'a\\'b'}",
            b"{'execute':'query-name','id':'say \"hi\"'}",
            b"{\"execute\":'query-name','id':'it''s'}",
            b"{'execute':'query-name'}",
        ),
        must=[b'{"return": ' + STATUS + b"}", b'{"return": {}, "id": "a\'b"}'],
    ),
    script(
        "protocol-split-send",
        Send(b'{"exe'),
        Send(b'cute":"query-'),
        Send(b'status"'),
        Send(b', "id": [1,'),
        Send(b"2]}"),
        Expect(1),
        Sync(),
        must=[b'{"return": ' + STATUS + b', "id": [1, 2]}'],
    ),
    script(
        "protocol-several-in-one-send",
        Send(b'{"execute":"query-name"}{"execute":"query-status"}\n{"execute":"query-kvm","id":3}'),
        Expect(3),
        Send(b'{"execute":"nope"} {"execute":"query-name","id":1}'),
        Expect(2),
        Sync(),
        must=[
            b'{"return": {}}',
            b'{"return": ' + STATUS + b"}",
            b'{"return": {"enabled": false, "present": true}, "id": 3}',
        ],
    ),
    script(
        "protocol-blank-lines",
        sends(b"\n", b"\r\n", b"  \t\n\n", b'  {"execute":"query-name"}  \n\n', b"\n\n\n"),
        must=[b'{"return": {}}'],
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
