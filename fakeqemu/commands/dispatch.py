"""The one command path: ``run(ctx, name, arguments)`` runs a QMP command for a monitor and for the HTTP
plane alike.

The order of checks is QEMU's (qapi/qmp-dispatch.c): command lookup (CommandNotFound), oob permission,
then the VM's injected command faults (``crash_on``, ``fail``: fakeqemu.machine.faults), argument visitor
errors, then the command's own errors. Under --preconfig only the commands of fakeqemu/data/preconfig.json
(QEMU's 'allow-preconfig' ones) run, checked after oob as in QEMU. Negotiation is the session's
(fakeqemu.qmp.session); faults that act on a connection (delay, closing it) are the monitor's (fakeqemu.server.qmp).
"""

from __future__ import annotations

import functools
import json
import os
import signal
from typing import Any

from fakeqemu import data_text
from fakeqemu.commands.registry import COMMANDS, Context
from fakeqemu.machine.faults import Failure
from fakeqemu.qmp.encode import encode
from fakeqemu.qmp.errors import CommandNotFound, GenericError, QMPError
from fakeqemu.qmp.schema import Schema
from fakeqemu.qmp.session import QMPSession, Request


@functools.cache
def preconfig_commands() -> frozenset[str]:
    """The commands QEMU 7.2 allows before the machine is ready ('allow-preconfig': true in its schema)."""
    return frozenset(json.loads(data_text("preconfig.json"))["commands"])


def run(ctx: Context, name: str, arguments: dict[str, Any], *, oob: bool = False) -> Any:
    """Run command ``name``; return the value of ``"return"``, or raise QMPError with QEMU's class and text."""
    cmd = COMMANDS.get(name)
    if cmd is None:
        raise CommandNotFound(f"The command {name} has not been found")
    if oob and not cmd.allow_oob:
        raise GenericError(f"The command {name} does not support OOB")
    machine = ctx.machine
    if machine.preconfig and name not in preconfig_commands():  # qmp_command_available
        raise GenericError(f"The command '{name}' is permitted only after machine initialization has completed")
    faults = machine.faults
    if faults.active:
        if faults.fires("crash_on", name):
            machine.traffic.add(ctx.monitor, "note", f"fault: crash on {name}".encode())
            os.kill(os.getpid(), signal.SIGKILL)
        failure = faults.fires("fail", name)
        if isinstance(failure, Failure):
            machine.traffic.add(ctx.monitor, "note", f"fault: fail {name} with {failure.cls}".encode())
            raise QMPError(failure.desc, failure.cls)
    traced = False
    try:
        args: dict[str, Any] = arguments if cmd.any_args else Schema.load().check_args(name, arguments)
        traced = bool(machine.trace.enabled) and not cmd.any_args  # QEMU's 'gen': false commands have none
        if traced:
            machine.trace(f"qmp_enter_{name.replace('-', '_')}", encode(arguments))
        result = cmd.handler(ctx, args)
        result = {} if result is None else result
        if traced:
            machine.trace(f"qmp_exit_{name.replace('-', '_')}", encode(result), 1)
    except QMPError as exc:
        if traced:
            machine.trace(f"qmp_exit_{name.replace('-', '_')}", exc.desc, 0)
        raise
    except Exception:  # a bug of ours must not take the monitor down: answer like QEMU would
        import logging  # here: 2.5 ms of the start-up otherwise (the runtime's own modules load it later)

        logging.getLogger("fakeqemu.dispatch").exception("command %s failed", name)
        raise GenericError(f"fakeqemu internal error in {name}") from None
    finally:
        # bottom halves the command queued (a job's exit) run before its reply, as in QEMU 7.2
        machine.jobs.run_bottom_halves()
    return result


def answer(session: QMPSession, ctx: Context, req: Request) -> bytes:
    """A monitor's request through ``run``, as reply bytes."""
    try:
        result = run(ctx, req.command, req.arguments, oob=req.oob)
    except QMPError as exc:
        return session.error_from(req, exc)
    return session.reply(req, result)
