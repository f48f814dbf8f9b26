"""The one command path: monitors and the HTTP plane run commands through ``run``, with the same lookup,
oob rule, command faults and errors."""

from __future__ import annotations

import pytest

import fakeqemu.commands.all  # noqa: F401
from fakeqemu.commands.dispatch import run
from fakeqemu.commands.registry import Context
from fakeqemu.http.app import run_command
from fakeqemu.machine.faults import Faults
from fakeqemu.machine.machine import MachineConfig
from fakeqemu.qmp.errors import QMPError
from fakeqemu.server.vm import VM, VMConfig


@pytest.fixture
async def vm() -> VM:
    vm = VM(VMConfig(machine=MachineConfig(paused=True)))
    vm._new_machine()
    return vm


def _error(vm: VM, name: str, arguments: dict[str, object], *, oob: bool = False) -> tuple[str, str]:
    with pytest.raises(QMPError) as info:
        run(Context(vm.machine), name, arguments, oob=oob)
    return info.value.cls, info.value.desc


async def test_lookup_oob_arguments_in_qemus_order(vm: VM) -> None:
    assert run(Context(vm.machine), "query-status", {}) == {
        "status": "prelaunch",
        "singlestep": False,
        "running": False,
    }
    assert _error(vm, "nope", {}) == ("CommandNotFound", "The command nope has not been found")
    assert _error(vm, "query-status", {}, oob=True) == ("GenericError", "The command query-status does not support OOB")
    assert _error(vm, "query-status", {"x": 1}) == ("GenericError", "Parameter 'x' is unexpected")


async def test_command_faults_apply_to_monitors_and_http_alike(vm: VM) -> None:
    vm.machine.faults = Faults.from_json({"fail": {"query-kvm": {"class": "GenericError", "desc": "injected"}}})
    assert _error(vm, "query-kvm", {}) == ("GenericError", "injected")
    assert run_command(vm, "query-kvm", {}) == {"error": {"class": "GenericError", "desc": "injected"}}
    assert run_command(vm, "query-name", {}) == {"return": {}}
    assert run_command(vm, "nope", {}) == {
        "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}
    }
