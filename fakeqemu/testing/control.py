"""What a test asks of a VM without HTTP: each operation runs in the VM's own trio thread, on the same
objects the QMP commands use, and leaves a note from connection ``testing`` in the traffic record when
it changes something."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from fakeqemu.commands.dispatch import run
from fakeqemu.commands.registry import Context
from fakeqemu.machine.faults import FaultConfigError, Faults
from fakeqemu.machine.guest.hotplug import PolicyError, check_policy
from fakeqemu.machine.traffic import TrafficFilter
from fakeqemu.qmp.errors import QMPError
from fakeqemu.server.vm import VM
from fakeqemu.testing.records import TrafficRecord

#: the traffic record's connection name for what the test does through fakeqemu.testing
CONNECTION = "testing"


class QMPCommandError(Exception):
    """A command answered a QMP error: ``cls`` its ErrorClass, ``desc`` QEMU's text."""

    def __init__(self, cls: str, desc: str) -> None:
        super().__init__(f"{cls}: {desc}")
        self.cls = cls
        self.desc = desc

    def __reduce__(self) -> tuple[Any, ...]:
        return (QMPCommandError, (self.cls, self.desc))


def note(vm: VM, text: str) -> None:
    vm.machine.traffic.add(CONNECTION, "note", text.encode())


def qmp(vm: VM, name: str, arguments: dict[str, Any]) -> Any:
    """Run a QMP command through the monitors' command path; its ``return`` value, or QMPCommandError."""
    traffic = vm.machine.traffic
    request: dict[str, Any] = {"execute": name, "arguments": arguments} if arguments else {"execute": name}
    traffic.add(CONNECTION, "in", orjson.dumps(request))
    try:
        result = run(Context(vm.machine, monitor=CONNECTION), name, arguments)
    except QMPError as exc:
        traffic.add(CONNECTION, "out", orjson.dumps({"error": {"class": exc.cls, "desc": exc.desc}}))
        raise QMPCommandError(exc.cls, exc.desc) from None
    traffic.add(CONNECTION, "out", orjson.dumps({"return": result}))
    return result


def set_guest(vm: VM, policy: str, device: str | None) -> dict[str, Any]:
    args = {"policy": policy} if device is None else {"policy": policy, "device": device}
    result: dict[str, Any] = qmp(vm, "x-fakeqemu-guest-policy", args)
    return result


def eject(vm: VM, device: str) -> None:
    qmp(vm, "x-fakeqemu-eject", {"id": device})


def get_faults(vm: VM) -> dict[str, Any]:
    return {**vm.machine.faults.to_json(), "guest": vm.machine.guest.policy}


def set_faults(vm: VM, data: dict[str, Any]) -> dict[str, Any]:
    """Replace the VM's faults (``guest``, if given, sets the guest policy too)."""
    data = dict(data)
    policy = data.pop("guest", None)
    try:
        faults = Faults.from_json(data)
        if policy is not None:
            check_policy(str(policy))
    except (FaultConfigError, PolicyError) as exc:
        raise ValueError(str(exc)) from None
    vm.machine.faults = faults
    if policy is not None:
        vm.machine.guest.set_policy(str(policy))
    shown = get_faults(vm)
    note(vm, "faults " + orjson.dumps(shown).decode())
    return shown


def traffic(vm: VM, filters: dict[str, Any]) -> list[TrafficRecord]:
    keep = TrafficFilter(**filters)
    return [one for r in vm.machine.traffic.since() if keep(r) for one in TrafficRecord.of(r)]


def set_traffic_limit(vm: VM, limit: int) -> None:
    vm.config.machine.traffic_limit = limit  # a reset keeps it
    vm.machine.traffic.set_limit(limit)


def reset(vm: VM, disconnect: bool) -> None:
    """Back to the start state; with ``disconnect``, QMP clients are disconnected too (a client a test
    left connected does not hold the monitor in the next test)."""
    if disconnect:
        for conn in list(vm.connections):
            if conn.link is not None:
                conn.link.close()
    vm.reset()


async def kill(vm: VM) -> None:
    """This VM ends as a killed QEMU does (no SHUTDOWN, connections cut, sockets closed); the others of
    its fleet carry on. Returns once it has ended."""
    vm.kill()
    await vm.exited.wait()


def alive(vm: VM) -> bool:
    """Not ended nor ending (killed, quit: its tasks may still be winding down)."""
    return not vm.exited.is_set() and not vm.machine.exiting


def timeline(vm: VM, device: str | None) -> list[dict[str, Any]]:
    return [step.to_json() for step in vm.machine.timeline.steps(device)]


def waiting(vm: VM, device: str) -> str | None:
    return vm.machine.timeline.waiting(device)


OPERATIONS: dict[str, Callable[..., Any]] = {
    "timeline": timeline,
    "waiting": waiting,
    "qmp": qmp,
    "set_guest": set_guest,
    "eject": eject,
    "get_faults": get_faults,
    "set_faults": set_faults,
    "traffic": traffic,
    "set_traffic_limit": set_traffic_limit,
    "reset": reset,
    "kill": kill,
    "alive": alive,
}
