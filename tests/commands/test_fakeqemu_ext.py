"""x-fakeqemu-* commands: guest I/O, guest policy, guest-initiated eject."""

from __future__ import annotations

import pytest

from fakeqemu.commands.fakeqemu_ext import (
    EXTENSION_SCHEMA,
    eject,
    guest_policy,
    io_read,
    io_write,
    query_guest,
)
from fakeqemu.commands.registry import Context
from fakeqemu.qmp.errors import DeviceNotFound, GenericError
from tests.machine.rig import Rig


def make() -> tuple[Rig, Context]:
    b = Rig("pc")
    return b, Context(b.machine)


def test_io_read_write() -> None:
    _b, ctx = make()
    assert io_read(ctx, {"port": 0xAE0C, "size": 4}) == {"value": 0xFFFFFFFC}
    assert io_write(ctx, {"port": 0xAFE2, "size": 2, "value": 0x2}) == {}
    assert io_read(ctx, {"port": 0xAFE2, "size": 2}) == {"value": 2}
    with pytest.raises(GenericError):
        io_read(ctx, {"port": 0x80, "size": 3})


def test_policy_and_eject() -> None:
    b, ctx = make()
    assert query_guest(ctx, {}) == {
        "policy": "auto",
        "effective-policy": "passive",
        "devices": [],
        "booted": False,
        "power": "prompt",
        "powerdown-pending": False,
        "sci-pending": False,
    }
    n1 = b.add("n1", "0x5", driver="e1000")
    res = guest_policy(ctx, {"policy": "never", "device": "n1"})
    assert res["devices"] == [{"id": "n1", "policy": "never"}]
    with pytest.raises(GenericError):
        guest_policy(ctx, {"policy": "sometimes"})
    with pytest.raises(DeviceNotFound) as exc:
        eject(ctx, {"id": "nope"})
    assert exc.value.desc == "Device 'nope' not found"
    assert eject(ctx, {"id": "n1"}) == {}  # now, whatever the policy
    assert not b.plugged(n1)
    b.advance(0.02)
    assert b.deleted() == [{"device": "n1", "path": "/machine/peripheral/n1"}]


def test_schema_entities_reference_defined_types() -> None:
    names = {e["name"] for e in EXTENSION_SCHEMA} | {"int", "str", "bool"}
    for e in EXTENSION_SCHEMA:
        for key in ("arg-type", "ret-type", "element-type"):
            if key in e:
                assert e[key] in names
        for m in e.get("members", []):
            assert m["type"] in names


def test_every_own_command_is_declared_and_checked() -> None:
    import fakeqemu.commands.all  # noqa: F401  (every command registered)
    from fakeqemu.commands.registry import COMMANDS
    from fakeqemu.qmp.schema import Schema

    schema = Schema.load()
    own = [name for name in COMMANDS if name.startswith("x-fakeqemu-")]
    assert own and all(schema.has_command(name) for name in own)
    introspected = {e["name"] for e in EXTENSION_SCHEMA}
    assert set(own) <= introspected


@pytest.mark.parametrize(
    ("command", "args", "desc"),
    [
        (
            "x-fakeqemu-io-write",
            {"port": "16", "size": 1, "value": 0},
            "Invalid parameter type for 'port', expected: integer",
        ),
        ("x-fakeqemu-io-write", {"port": 16, "size": 1}, "Parameter 'value' is missing"),
        ("x-fakeqemu-io-read", {"port": 16, "size": 1, "bogus": 1}, "Parameter 'bogus' is unexpected"),
        ("x-fakeqemu-eject", {"id": 5}, "Invalid parameter type for 'id', expected: string"),
        ("x-fakeqemu-query-guest", {"x": 1}, "Parameter 'x' is unexpected"),
        ("x-fakeqemu-guest-policy", {"policy": None}, "Invalid parameter type for 'policy', expected: string"),
    ],
)
def test_own_commands_arguments_are_checked_like_qemus(command: str, args: dict[str, object], desc: str) -> None:
    from fakeqemu.qmp.schema import Schema

    with pytest.raises(GenericError) as err:
        Schema.load().check_args(command, args)
    assert err.value.desc == desc
