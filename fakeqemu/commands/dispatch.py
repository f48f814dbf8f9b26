"""Runs a QMP request against a VM: command lookup, argument check, handler, reply bytes.

The order of checks is QEMU's (qapi/qmp-dispatch.c): command lookup (CommandNotFound), oob permission,
argument visitor errors, then the command's own errors.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fakeqemu.commands.registry import COMMANDS, Context
from fakeqemu.qmp.errors import QMPError
from fakeqemu.qmp.schema import Schema
from fakeqemu.qmp.session import QMPSession, Request

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

log = logging.getLogger("fakeqemu.dispatch")


class Dispatcher:
    __slots__ = ("machine", "schema")

    def __init__(self, machine: Machine, schema: Schema | None = None) -> None:
        self.machine = machine
        self.schema = schema or Schema.load()

    def dispatch(self, session: QMPSession, req: Request, ctx: Context) -> bytes:
        name = req.command
        if name == "qmp_capabilities":
            try:
                self.schema.check_args(name, req.arguments)
            except QMPError as exc:
                return session.error_from(req, exc)
            return session.negotiate(req)
        if not session.negotiated:
            return session.error(req, "CommandNotFound", "")
        cmd = COMMANDS.get(name)
        if cmd is None:
            return session.error(req, "CommandNotFound", f"The command {name} has not been found")
        if req.oob and not cmd.allow_oob:
            return session.error(req, "GenericError", f"The command {name} does not support OOB")
        failure = self.machine.faults.fail.get(name)
        if failure is not None:
            self.machine.traffic.add(ctx.monitor, "note", f"fault: fail {name} with {failure[0]}".encode())
            return session.error(req, *failure)
        try:
            args: dict[str, Any] = req.arguments if cmd.any_args else self.schema.check_args(name, req.arguments)
            result = cmd.handler(ctx, args)
        except QMPError as exc:
            return session.error_from(req, exc)
        except Exception:  # a bug of ours must not take the monitor down: answer like QEMU would
            log.exception("command %s failed", name)
            return session.error(req, "GenericError", f"fakeqemu internal error in {name}")
        return session.reply(req, {} if result is None else result)
