"""fakeqemu.qmp.schema against facts measured from QEMU 7.2.22 (Debian's qemu-system-x86_64)."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from typing import Any

import pytest

from fakeqemu.qmp.encode import encode_message
from fakeqemu.qmp.errors import GenericError, QMPError
from fakeqemu.qmp.schema import Schema, _glib_first_left
from tools.launch import BARE, Emulator


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def test_load_is_cached() -> None:
    assert Schema.load() is Schema.load()


def test_full_schema_encodes_to_qemu_bytes(schema: Schema) -> None:
    raw = encode_message({"return": schema.entities})
    assert len(raw) == schema.raw_length == 207000
    assert hashlib.sha256(raw).hexdigest() == schema.raw_sha256
    assert schema.raw_sha256 == "5f6483e0a0c1a76a203976c11077d1942493c512cdb51a9bdc4fc08e8fb74a4b"


def test_full_introspection_is_the_whole_schema(schema: Schema) -> None:
    commands = [e["name"] for e in schema.entities if e["meta-type"] == "command"]
    events = [e["name"] for e in schema.entities if e["meta-type"] == "event"]
    assert schema.introspect(commands, events) == schema.entities


def test_commands_and_oob(schema: Schema) -> None:
    assert schema.has_command("query-status")
    assert schema.has_command("device_add")
    assert not schema.has_command("x-fakeqemu-anything")
    assert not schema.has_command("DEVICE_DELETED")
    oob = [e["name"] for e in schema.entities if schema.command_allows_oob(e["name"])]
    assert oob == ["migrate-recover", "migrate-pause", "yank", "query-yank"]
    assert schema.not_generated == frozenset({"device_add"})


def _closed(entities: list[dict[str, Any]]) -> bool:
    names = {e["name"] for e in entities}
    for e in entities:
        refs = [e.get("arg-type"), e.get("ret-type"), e.get("element-type")]
        refs += [m.get("type") for m in e.get("members", [])]
        refs += [v["type"] for v in e.get("variants", [])]
        if any(r is not None and r not in names for r in refs):
            return False
    return True


def test_trimmed_introspection_closed_and_ordered(schema: Schema) -> None:
    got = schema.introspect({"query-status", "qom-list", "device_add", "device_del"}, {"DEVICE_DELETED"})
    assert _closed(got)
    names = [e["name"] for e in got]
    assert names[:5] == ["query-status", "qom-list", "device_add", "device_del", "DEVICE_DELETED"]
    # a sub-sequence of QEMU's list, entities unchanged
    position = [schema.index[n] for n in names]
    assert position == sorted(position)
    assert all(e is schema.by_name[e["name"]] for e in got)
    assert {"str", "bool", "any"} <= set(names)
    assert "int" not in names
    # the empty object type "0" (arg of query-status, ret of device_add) and QEMU's RunState enum
    assert schema.by_name["0"] == {"members": [], "meta-type": "object", "name": "0"}
    assert got[5] == schema.by_name["0"]


def test_introspection_extra_entities(schema: Schema) -> None:
    extra: list[dict[str, Any]] = [
        {"arg-type": "x-fakeqemu-arg", "meta-type": "command", "name": "x-fakeqemu-poke", "ret-type": "0"},
        {
            "members": [{"name": "port", "type": "int"}, {"name": "tag", "type": "[str]"}],
            "meta-type": "object",
            "name": "x-fakeqemu-arg",
        },
    ]
    got = schema.introspect(["query-status"], [], extra)
    names = [e["name"] for e in got]
    assert names[:2] == ["query-status", "x-fakeqemu-poke"]
    assert names[-1] == "x-fakeqemu-arg"
    assert {"int", "[str]", "str"} <= set(names)  # reached from the extra type
    assert _closed(got)


def test_unknown_names_are_skipped(schema: Schema) -> None:
    assert [e["name"] for e in schema.introspect(["x-fakeqemu-foo"], ["NOPE"])] == []


def test_commands_list_order(schema: Schema) -> None:
    got = schema.commands_list(["query-status", "qom-list", "device_add", "device_del", "x-fakeqemu-foo"])
    # QEMU 7.2 lists the last registered command first: device_add, ..., qom-list, ..., query-status
    assert got == [
        {"name": "x-fakeqemu-foo"},
        {"name": "device_add"},
        {"name": "device_del"},
        {"name": "qom-list"},
        {"name": "query-status"},
    ]
    full = schema.commands_list(e["name"] for e in schema.entities if e["meta-type"] == "command")
    assert len(full) == 216
    assert full[0] == {"name": "device_add"}
    assert full[-1] == {"name": "query-status"}


# (command, arguments, QEMU 7.2's desc), each measured against the real binary
MEASURED: list[tuple[str, dict[str, Any], str]] = [
    ("qom-list", {}, "Parameter 'path' is missing"),
    ("qom-list", {"x": 1}, "Parameter 'path' is missing"),
    ("qom-list", {"path": 1}, "Invalid parameter type for 'path', expected: string"),
    ("qom-list", {"path": True}, "Invalid parameter type for 'path', expected: string"),
    ("qom-list", {"path": None}, "Invalid parameter type for 'path', expected: string"),
    ("qom-list", {"path": []}, "Invalid parameter type for 'path', expected: string"),
    ("qom-list", {"path": {}}, "Invalid parameter type for 'path', expected: string"),
    ("qom-list", {"path": 1.5}, "Invalid parameter type for 'path', expected: string"),
    ("qom-list", {"path": "/", "x": 1}, "Parameter 'x' is unexpected"),
    ("query-status", {"x": 1}, "Parameter 'x' is unexpected"),
    ("query-status", {"zz": None}, "Parameter 'zz' is unexpected"),
    ("query-status", {"x": 1, "y": 2, "a": 3}, "Parameter 'y' is unexpected"),
    ("query-status", {"b": 1, "a": 2, "c": 3}, "Parameter 'b' is unexpected"),
    ("query-status", {"c": 1, "b": 2, "a": 3}, "Parameter 'b' is unexpected"),
    ("query-status", {"\u00e9": 1, "b": 1}, "Parameter 'b' is unexpected"),
    ("query-jobs", {"yy": 1, "zz-probe-g": 1}, "Parameter 'yy' is unexpected"),
    ("query-name", {"yy": 1, "zz-probe-c": 1}, "Parameter 'zz-probe-c' is unexpected"),
    ("query-qmp-schema", {"zz": 1}, "Parameter 'zz' is unexpected"),
    ("qom-get", {"path": 1, "property": 1}, "Invalid parameter type for 'path', expected: string"),
    ("qom-get", {"property": "x", "zz": 1}, "Parameter 'path' is missing"),
    ("qom-get", {"zz": 1, "path": 1}, "Invalid parameter type for 'path', expected: string"),
    (
        "qom-get",
        {"path": "s", "property": "s", "x-extra": 1, "b": 1, "id2": 1, "zz-probe-g": 1},
        "Parameter 'x-extra' is unexpected",
    ),
    ("qom-set", {"path": "/", "property": "x", "zz": 1}, "Parameter 'value' is missing"),
    ("qom-set", {"path": "/", "property": "x", "value": None, "zz": 1}, "Parameter 'zz' is unexpected"),
    ("set_link", {"name": "x", "up": 1}, "Invalid parameter type for 'up', expected: boolean"),
    ("set_link", {"name": "x", "up": "true"}, "Invalid parameter type for 'up', expected: boolean"),
    ("balloon", {"value": "x"}, "Invalid parameter type for 'value', expected: integer"),
    ("balloon", {"value": 1.5}, "Invalid parameter type for 'value', expected: integer"),
    ("balloon", {"value": 1.0}, "Invalid parameter type for 'value', expected: integer"),
    ("balloon", {"value": None}, "Invalid parameter type for 'value', expected: integer"),
    ("balloon", {"value": 2**63, "zz": 1}, "Invalid parameter type for 'value', expected: integer"),
    ("balloon", {"value": -(2**63), "zz": 1}, "Parameter 'zz' is unexpected"),
    ("balloon", {"value": 2**64, "zz": 1}, "Invalid parameter type for 'value', expected: integer"),
    ("balloon", {"value": -(2**63) - 1, "zz": 1}, "Invalid parameter type for 'value', expected: integer"),
    ("block_resize", {"size": -1, "zz": 1}, "Parameter 'zz' is unexpected"),
    ("block_resize", {"size": 2**64 - 1, "zz": 1}, "Invalid parameter type for 'size', expected: integer"),
    # 'size' (announce-initial) and 'uint64' (downtime-limit) behave alike: full name, "expects uint64"
    (
        "migrate-set-parameters",
        {"announce-initial": "x", "zz": 1},
        "Parameter 'announce-initial' expects uint64",
    ),
    (
        "migrate-set-parameters",
        {"announce-initial": 2**64, "zz": 1},
        "Parameter 'announce-initial' expects uint64",
    ),
    (
        "migrate-set-parameters",
        {"announce-initial": 1.5, "zz": 1},
        "Parameter 'announce-initial' expects uint64",
    ),
    (
        "migrate-set-parameters",
        {"announce-initial": None, "zz": 1},
        "Parameter 'announce-initial' expects uint64",
    ),
    ("migrate-set-parameters", {"announce-initial": -1, "zz": 1}, "Parameter 'zz' is unexpected"),
    ("migrate-set-parameters", {"announce-initial": 2**64 - 1, "zz": 1}, "Parameter 'zz' is unexpected"),
    (
        "migrate-set-parameters",
        {"announce-initial": -(2**63) - 1, "zz": 1},
        "Parameter 'announce-initial' expects uint64",
    ),
    ("migrate-set-parameters", {"downtime-limit": "x", "zz": 1}, "Parameter 'downtime-limit' expects uint64"),
    ("migrate-set-parameters", {"downtime-limit": -(2**63), "zz": 1}, "Parameter 'zz' is unexpected"),
    ("migrate-set-parameters", {"compress-level": "x", "zz": 1}, "Parameter 'compress-level' expects uint64"),
    ("migrate-set-parameters", {"compress-level": -1, "zz": 1}, "Parameter 'compress-level' expects uint8_t"),
    ("migrate-set-parameters", {"compress-level": 256}, "Parameter 'compress-level' expects uint8_t"),
    (
        "migrate-set-parameters",
        {"x-checkpoint-delay": 2**63, "zz": 1},
        "Parameter 'x-checkpoint-delay' expects uint32_t",
    ),
    ("set-numa-node", {"type": "dist", "src": 65536, "dst": 0, "val": 0}, "Parameter 'src' expects uint16_t"),
    ("set-numa-node", {"type": "dist", "src": -1, "dst": 0, "val": 0}, "Parameter 'src' expects uint16_t"),
    ("set-numa-node", {"type": "dist", "src": "x", "dst": 0, "val": 0}, "Parameter 'src' expects uint64"),
    (
        "netdev_add",
        {"id": "x", "type": "hubport", "hubid": 2**31, "zz": 1},
        "Parameter 'hubid' expects int32_t",
    ),
    (
        "blockdev-add",
        {"driver": "blkdebug", "image": "x", "max-transfer": 2**31, "zz": 1},
        "Parameter 'max-transfer' expects int32_t",
    ),
    (
        "blockdev-add",
        {"driver": "blkdebug", "image": "x", "max-transfer": -(2**31) - 1, "zz": 1},
        "Parameter 'max-transfer' expects int32_t",
    ),
    (
        "blockdev-add",
        {"driver": "blkdebug", "image": "x", "max-transfer": "x", "zz": 1},
        "Invalid parameter type for 'max-transfer', expected: integer",
    ),
    # nested: sized-int range errors use the bare name, type errors the full one
    (
        "blockdev-add",
        {"driver": "qcow2", "file": {"driver": "blkdebug", "image": "x", "max-transfer": 2**31}, "zz": 1},
        "Parameter 'max-transfer' expects int32_t",
    ),
    (
        "blockdev-add",
        {"driver": "qcow2", "file": {"driver": "blkdebug", "image": "x", "max-transfer": "x"}, "zz": 1},
        "Invalid parameter type for 'file.max-transfer', expected: integer",
    ),
    (
        "blockdev-add",
        {
            "driver": "qcow2",
            "file": {
                "driver": "nbd",
                "server": {"type": "inet", "host": "h", "port": "1"},
                "reconnect-delay": -1,
            },
            "zz": 1,
        },
        "Parameter 'reconnect-delay' expects uint32_t",
    ),
    (
        "block-latency-histogram-set",
        {"id": "s", "boundaries": [1, 2**64]},
        "Parameter 'boundaries[1]' expects uint64",
    ),
    (
        "block-latency-histogram-set",
        {"id": "s", "boundaries-write": [None, 65535, -1], "zz-probe-a": 1},
        "Parameter 'boundaries-write[0]' expects uint64",
    ),
    (
        "blockdev-create",
        {"job-id": "s", "options": {"driver": "parallels", "file": "s", "size": [1]}, "zz": 1},
        "Parameter 'options.size' expects uint64",
    ),
    (
        "human-monitor-command",
        {"command-line": "info version", "cpu-index": 2**63},
        "Invalid parameter type for 'cpu-index', expected: integer",
    ),
    # enums: bare name ('null' for an array element)
    ("screendump", {"filename": "x", "format": "x"}, "Parameter 'format' does not accept value 'x'"),
    ("screendump", {"filename": "x", "format": 1}, "Invalid parameter type for 'format', expected: string"),
    (
        "screendump",
        {"filename": "x", "format": None},
        "Invalid parameter type for 'format', expected: string",
    ),
    ("screendump", {"filename": "x", "format": "png", "zz": 1}, "Parameter 'zz' is unexpected"),
    ("qmp_capabilities", {"enable": ["nope"]}, "Parameter 'null' does not accept value 'nope'"),
    ("qmp_capabilities", {"enable": ["oob", "nope"]}, "Parameter 'null' does not accept value 'nope'"),
    ("qmp_capabilities", {"enable": [1]}, "Invalid parameter type for 'enable[0]', expected: string"),
    # arrays and nested names
    ("send-key", {"keys": "x"}, "Invalid parameter type for 'keys', expected: array"),
    ("send-key", {"keys": {}}, "Invalid parameter type for 'keys', expected: array"),
    ("send-key", {"keys": [1]}, "Invalid parameter type for 'keys[0]', expected: object"),
    ("send-key", {"keys": [{}]}, "Parameter 'keys[0].type' is missing"),
    (
        "send-key",
        {"keys": [{"type": "number", "data": "x"}]},
        "Invalid parameter type for 'keys[0].data', expected: integer",
    ),
    (
        "send-key",
        {"keys": [{"type": "qcode", "data": "nope"}]},
        "Parameter 'data' does not accept value 'nope'",
    ),
    (
        "send-key",
        {"keys": [{"type": "qcode", "data": "a"}, {"type": "nope"}]},
        "Parameter 'type' does not accept value 'nope'",
    ),
    (
        "send-key",
        {"keys": [{"type": "qcode", "data": "a"}, 1]},
        "Invalid parameter type for 'keys[1]', expected: object",
    ),
    (
        "send-key",
        {"keys": [{"type": "qcode", "data": "a"}, {"type": "number", "data": "x"}]},
        "Invalid parameter type for 'keys[1].data', expected: integer",
    ),
    (
        "input-send-event",
        {"events": [{"type": "key", "data": {}}]},
        "Parameter 'events[0].data.key' is missing",
    ),
    (
        "input-send-event",
        {"events": [{"type": "key", "data": {"down": True, "key": {"type": "number", "data": "x"}}}]},
        "Invalid parameter type for 'events[0].data.key.data', expected: integer",
    ),
    ("input-send-event", {"events": [1]}, "Invalid parameter type for 'events[0]', expected: object"),
    (
        "migrate-set-parameters",
        {"block-bitmap-mapping": [{}]},
        "Parameter 'block-bitmap-mapping[0].node-name' is missing",
    ),
    (
        "migrate-set-parameters",
        {"block-bitmap-mapping": [1]},
        "Invalid parameter type for 'block-bitmap-mapping[0]', expected: object",
    ),
    (
        "migrate-set-parameters",
        {
            "block-bitmap-mapping": [
                {
                    "node-name": "a",
                    "alias": "b",
                    "bitmaps": [{"name": "x", "alias": "y", "transform": {"persistent": 1}}],
                }
            ]
        },
        "Invalid parameter type for 'block-bitmap-mapping[0].bitmaps[0].transform.persistent', expected: boolean",
    ),
    ("chardev-add", {"id": "x", "backend": "x"}, "Invalid parameter type for 'backend', expected: object"),
    ("chardev-add", {"id": "x", "backend": {}}, "Parameter 'backend.type' is missing"),
    ("chardev-add", {"id": "x", "backend": {"type": "file"}}, "Parameter 'backend.data' is missing"),
    (
        "chardev-add",
        {"id": "x", "backend": {"type": "file", "data": {}}},
        "Parameter 'backend.data.out' is missing",
    ),
    (
        "chardev-add",
        {"id": "x", "backend": {"type": "file", "data": {"out": 1}}},
        "Invalid parameter type for 'backend.data.out', expected: string",
    ),
    (
        "chardev-add",
        {"id": "x", "backend": {"type": "nope", "data": {}}},
        "Parameter 'type' does not accept value 'nope'",
    ),
    (
        "chardev-add",
        {"id": "x", "backend": {"type": "file", "data": {"out": "x", "zz": 1}}},
        "Parameter 'backend.data.zz' is unexpected",
    ),
    (
        "chardev-add",
        {"id": "x", "backend": {"type": "file", "data": {"out": "x"}, "zz": 1}},
        "Parameter 'backend.zz' is unexpected",
    ),
    # alternates: bare name and QEMU's real type name
    (
        "migrate-set-parameters",
        {"tls-creds": 1},
        "Invalid parameter type for 'tls-creds', expected: StrOrNull",
    ),
    (
        "migrate-set-parameters",
        {"tls-creds": []},
        "Invalid parameter type for 'tls-creds', expected: StrOrNull",
    ),
    (
        "migrate-set-parameters",
        {"tls-creds": {}},
        "Invalid parameter type for 'tls-creds', expected: StrOrNull",
    ),
    ("migrate-set-parameters", {"tls-creds": None, "zz": 1}, "Parameter 'zz' is unexpected"),
    (
        "blockdev-add",
        {"driver": "qcow2", "node-name": "a", "file": 1},
        "Invalid parameter type for 'file', expected: BlockdevRef",
    ),
    (
        "blockdev-add",
        {"driver": "qcow2", "node-name": "a", "file": None},
        "Invalid parameter type for 'file', expected: BlockdevRef",
    ),
    (
        "blockdev-add",
        {"driver": "qcow2", "file": []},
        "Invalid parameter type for 'file', expected: BlockdevRef",
    ),
    (
        "blockdev-add",
        {"driver": "qcow2", "file": "x", "backing": None, "zz": 1},
        "Parameter 'zz' is unexpected",
    ),
    (
        "blockdev-add",
        {"driver": "qcow2", "file": "x", "overlap-check": 1},
        "Invalid parameter type for 'overlap-check', expected: Qcow2OverlapChecks",
    ),
    (
        "blockdev-add",
        {"driver": "qcow2", "file": "x", "overlap-check": "nope"},
        "Parameter 'overlap-check' does not accept value 'nope'",
    ),
    (
        "blockdev-add",
        {"driver": "qcow2", "file": "x", "overlap-check": {"template": "nope"}},
        "Parameter 'template' does not accept value 'nope'",
    ),
    # flat unions
    ("blockdev-add", {}, "Parameter 'driver' is missing"),
    ("blockdev-add", {"driver": 1}, "Invalid parameter type for 'driver', expected: string"),
    ("blockdev-add", {"driver": "nope"}, "Parameter 'driver' does not accept value 'nope'"),
    ("blockdev-add", {"driver": "file"}, "Parameter 'filename' is missing"),
    (
        "blockdev-add",
        {"driver": "qcow2", "node-name": "a", "file": {"driver": "file"}},
        "Parameter 'file.filename' is missing",
    ),
    (
        "blockdev-add",
        {"driver": "file", "filename": "x", "cache": {"direct": 1}},
        "Invalid parameter type for 'cache.direct', expected: boolean",
    ),
    (
        "blockdev-add",
        {"driver": "file", "filename": "x", "cache": 1},
        "Invalid parameter type for 'cache', expected: object",
    ),
    ("blockdev-add", {"driver": "file", "filename": "x", "zz": 1, "yy": 2}, "Parameter 'yy' is unexpected"),
    (
        "blockdev-add",
        {"driver": "raw", "file": "x", "offset": 1.5},
        "Invalid parameter type for 'offset', expected: integer",
    ),
    ("netdev_add", {"id": "x"}, "Parameter 'type' is missing"),
    ("netdev_add", {"type": "user"}, "Parameter 'id' is missing"),
    ("netdev_add", {"id": "x", "type": "nope"}, "Parameter 'type' does not accept value 'nope'"),
    (
        "netdev_add",
        {"id": "x", "type": "user", "ipv4": 1},
        "Invalid parameter type for 'ipv4', expected: boolean",
    ),
    ("netdev_add", {"id": "x", "type": "user", "zz": 1}, "Parameter 'zz' is unexpected"),
    (
        "netdev_add",
        {"id": "x", "type": "socket", "fd": 1},
        "Invalid parameter type for 'fd', expected: string",
    ),
    (
        "netdev_add",
        {"id": "x", "type": "user", "hostfwd": [{"str": 1}]},
        "Invalid parameter type for 'hostfwd[0].str', expected: string",
    ),
    ("netdev_add", {"id": "x", "type": "user", "hostfwd": [{}]}, "Parameter 'hostfwd[0].str' is missing"),
]


@pytest.mark.parametrize(("command", "args", "desc"), MEASURED)
def test_measured_errors(schema: Schema, command: str, args: dict[str, Any], desc: str) -> None:
    with pytest.raises(GenericError) as info:
        schema.check_args(command, args)
    assert info.value.desc == desc
    assert info.value.cls == "GenericError"


def test_valid_arguments_pass(schema: Schema) -> None:
    args: dict[str, Any] = {"path": "/machine"}
    assert schema.check_args("qom-list", args) is args
    assert schema.check_args("query-status", {}) == {}
    assert schema.check_args("qom-set", {"path": "/", "property": "p", "value": [{"any": None}]})
    assert schema.check_args("netdev_add", {"id": "n", "type": "user", "hostfwd": [{"str": "x"}]})
    blk = {"driver": "qcow2", "node-name": "a", "file": {"driver": "file", "filename": "x"}, "backing": None}
    assert schema.check_args("blockdev-add", blk) is blk
    assert schema.check_args("migrate-set-parameters", {"tls-creds": None, "compress-level": 255})


def test_uint64_negative_taken_modulo(schema: Schema) -> None:
    args = {"id": "s", "boundaries": [1, -1]}
    assert schema.check_args("block-latency-histogram-set", args) == {"id": "s", "boundaries": [1, 2**64 - 1]}
    assert args == {"id": "s", "boundaries": [1, -1]}  # the caller's dict is left alone


def test_device_add_and_own_commands_unchecked(schema: Schema) -> None:
    args = {"driver": 1, "anything": [1]}
    assert schema.check_args("device_add", args) is args
    assert schema.check_args("x-fakeqemu-whatever", args) is args


def test_glib_order_for_many_keys() -> None:
    # several unexpected keys: the first in GLib's slot order wins (measured above); with more keys
    # than fit the initial 8 slots the table grows: keep the model total and deterministic
    keys = [f"k{i}" for i in range(40)]
    assert _glib_first_left(keys, keys[:39]) == "k39"
    assert _glib_first_left(keys, keys) is None


# -- differential: random arguments against the real QEMU ---------------------------------------------
QEMU = shutil.which("qemu-system-x86_64")


class _Qmp:
    def __init__(self) -> None:
        assert QEMU is not None
        self.emu = Emulator(prefix="schema-")
        path = self.emu.path("q")
        self.emu.start([QEMU, "-M", "none", *BARE, "-S", "-qmp", f"unix:{path},server=on,wait=off"])
        self.sock = self.emu.connect("q")
        self.file = self.sock.makefile("rb")
        self.file.readline()
        self.raw(b'{"execute": "qmp_capabilities"}')

    def raw(self, msg: bytes) -> bytes:
        self.sock.sendall(msg)
        while True:
            line = self.file.readline()
            if not line.startswith(b'{"timestamp"'):
                return line

    def close(self) -> None:
        self.file.close()
        self.sock.close()
        self.emu.close()


_WRONG: list[Any] = [
    1,
    -1,
    2**63,
    2**64,
    1.5,
    "x",
    True,
    None,
    [],
    {},
    [1],
    {"a": 1},
    300,
    70000,
    -(2**31) - 1,
]
_INTS = [
    0,
    1,
    -1,
    127,
    128,
    255,
    256,
    65535,
    65536,
    2**31 - 1,
    2**31,
    2**32,
    2**63 - 1,
    2**63,
    2**64 - 1,
    -(2**63),
]


def _gen(schema: Schema, rnd: random.Random, tname: str, p: float, depth: int = 0) -> Any:
    if rnd.random() < p or depth > 6:
        return rnd.choice(_WRONG)
    e = schema.by_name[tname]
    mt = e["meta-type"]
    if mt == "builtin":
        return {
            "str": "s",
            "int": rnd.choice(_INTS),
            "bool": rnd.random() < 0.5,
            "number": 1.5,
            "null": None,
            "any": rnd.choice(_WRONG),
        }[tname]
    if mt == "enum":
        return rnd.choice(e["values"]) if rnd.random() > 0.1 else "nope"
    if mt == "array":
        return [_gen(schema, rnd, e["element-type"], p, depth + 1) for _ in range(rnd.choice([0, 1, 2]))]
    if mt == "alternate":
        return _gen(schema, rnd, rnd.choice(e["members"])["type"], p, depth + 1)
    out: dict[str, Any] = {}
    _fill(schema, rnd, e, out, p, depth)
    return out


def _fill(schema: Schema, rnd: random.Random, e: dict[str, Any], out: dict[str, Any], p: float, depth: int) -> None:
    for m in e["members"]:
        if ("default" in m and rnd.random() < 0.3) or ("default" not in m and rnd.random() > 0.03):
            out[m["name"]] = _gen(schema, rnd, m["type"], p, depth + 1)
    if "tag" in e and isinstance(out.get(e["tag"]), str):
        for v in e.get("variants", []):
            if v["case"] == out[e["tag"]]:
                _fill(schema, rnd, schema.by_name[v["type"]], out, p, depth + 1)
    if rnd.random() < 0.05:
        for _ in range(rnd.choice([1, 2, 3])):
            out[rnd.choice(["zz", "a", "b", "yy", "x-extra", "id2"])] = 1


@pytest.mark.qemu
@pytest.mark.skipif(QEMU is None, reason="needs qemu-system-x86_64")
def test_differential_against_qemu(schema: Schema) -> None:
    qemu = _Qmp()
    try:
        raw = qemu.raw(b'{"execute": "query-qmp-schema"}')
        assert raw == encode_message({"return": schema.entities})
        rnd = random.Random(7)
        commands = [e for e in schema.entities if e["meta-type"] == "command" and e["name"] not in schema.not_generated]
        mismatches = []
        for _ in range(1500):
            cmd = rnd.choice(commands)
            args = _gen(schema, rnd, cmd["arg-type"], rnd.choice([0.0, 0.02, 0.05, 0.1]))
            if not isinstance(args, dict):
                args = {}
            args["zz-probe-" + rnd.choice("abcdefgh")] = 1  # never let QEMU run the command
            reply = json.loads(qemu.raw(json.dumps({"execute": cmd["name"], "arguments": args}).encode()))
            want = reply["error"]["desc"]
            try:
                schema.check_args(cmd["name"], args)
                got = None
            except QMPError as exc:
                got = exc.desc
            if got != want:
                mismatches.append((cmd["name"], args, want, got))
        assert mismatches == []
    finally:
        qemu.close()
