"""Trace-event commands: QMP trace-event-get-state / trace-event-set-state, HMP ``trace-event`` and
``info trace-events`` (QEMU 7.2: trace/qmp.c, monitor/misc.c). The state is the VM's own
(fakeqemu.machine.core.trace)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fakeqemu.commands.hmp import HMP_COMMANDS, INFO_COMMANDS
from fakeqemu.commands.registry import Context, command
from fakeqemu.qmp.errors import QMPError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine


@command("trace-event-get-state")
def trace_event_get_state(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    return m.trace.get_state(args["name"], m.cpu_count, args.get("vcpu"))


@command("trace-event-set-state")
def trace_event_set_state(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    m.trace.set_state(
        args["name"], args["enable"], m.cpu_count, args.get("ignore-unavailable", False), args.get("vcpu")
    )


def _usage(name: str, message: str) -> str:
    return f'{message}\r\nTry "help {name}" for more information\r\n'


def _with_vcpu(name: str, words: list[str], index: int, action: Callable[[int | None], str]) -> str:
    """Parse the optional ``vcpu:i`` argument at ``words[index]`` (base 0, as HMP reads integers), refuse a
    negative one as QEMU does, then run ``action`` with it; its QMP error prints as the line QEMU prints."""
    try:
        vcpu = int(words[index], 0) if len(words) > index else None
    except ValueError:
        return _usage(name, "invalid char in expression")
    if vcpu is not None and vcpu < 0:
        return "argument vcpu must be positive"
    try:
        return action(vcpu)
    except QMPError as e:
        return f"{e.desc}\r\n"


def hmp_trace_event(machine: Machine, rest: str) -> str:
    """``trace-event NAME on|off [VCPU]`` (args ``name:s,option:b,vcpu:i?``); unavailable events are skipped."""
    words = rest.split()
    if not words:
        return _usage("trace-event", "trace-event: string expected")
    if len(words) < 2 or words[1] not in ("on", "off"):
        return _usage("trace-event", "Expected 'on' or 'off'")

    def switch(vcpu: int | None) -> str:
        machine.trace.set_state(words[0], words[1] == "on", machine.cpu_count, True, vcpu)
        return ""

    return _with_vcpu("trace-event", words, 2, switch)


def info_trace_events(machine: Machine, rest: str) -> str:
    """``info trace-events [NAME [VCPU]]``: ``NAME : state 1|0`` per match, QMP's order."""
    words = rest.split()

    def show(vcpu: int | None) -> str:
        events = machine.trace.get_state(words[0] if words else "*", machine.cpu_count, vcpu)
        return "".join(f"{e['name']} : state {1 if e['state'] == 'enabled' else 0}\r\n" for e in events)

    return _with_vcpu("info trace-events", words, 1, show)


HMP_COMMANDS["trace-event"] = hmp_trace_event
INFO_COMMANDS["trace-events"] = info_trace_events
