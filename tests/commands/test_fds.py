"""Passed fds are the VM's: they live on its Machine and a reset (or the VM's end) closes them."""

from __future__ import annotations

import os

from fakeqemu.commands.backends import netdev_add
from fakeqemu.commands.fds import add_fd, getfd
from fakeqemu.commands.migration import migrate_set_capabilities, query_migrate_capabilities
from fakeqemu.commands.registry import Context
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.server.vm import VM, VMConfig


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def pass_fds(ctx: Context) -> None:
    """getfd (a named fd), add-fd (an fd set) and a tap netdev claiming a named fd, as libvirt passes them."""
    for name in ("spare", "tap0"):
        r, w = os.pipe()
        os.close(w)
        ctx.received_fds.append(r)
        getfd(ctx, {"fdname": name})
    netdev_add(ctx, {"type": "tap", "id": "hostnet0", "fd": "tap0"})
    r, w = os.pipe()
    os.close(w)
    ctx.received_fds.append(r)
    add_fd(ctx, {"fdset-id": 1})


def test_closing_the_machine_closes_its_fds() -> None:
    before = open_fds()
    m = Machine(MachineConfig(paused=True))
    pass_fds(Context(m, monitor="monitor0"))
    assert open_fds() == before + 3
    m.close()
    assert open_fds() == before


async def test_reset_closes_the_passed_fds_and_forgets_the_migration_capabilities() -> None:
    vm = VM(VMConfig(machine=MachineConfig(paused=True)))
    vm._new_machine()
    before = open_fds()
    ctx = Context(vm.machine, monitor="monitor0")
    pass_fds(ctx)
    migrate_set_capabilities(ctx, {"capabilities": [{"capability": "events", "state": True}]})
    assert {"capability": "events", "state": True} in query_migrate_capabilities(ctx, {})
    assert open_fds() == before + 3
    vm.reset()
    assert open_fds() == before
    fresh = Context(vm.machine, monitor="monitor0")
    assert vm.machine.fds.named == {} and vm.machine.fds.fdsets == {}
    assert {"capability": "events", "state": False} in query_migrate_capabilities(fresh, {})
