"""Migration commands (QEMU 7.2's migration/migration.c): migrate, migrate-incoming, migrate_cancel,
query-migrate, the capabilities and parameters and their queries, over the VM's
fakeqemu.machine.migration.state.Migration."""

from __future__ import annotations

from typing import Any

from fakeqemu.commands.fds import named_fd
from fakeqemu.commands.probe import probe_data
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.migration.state import Migration
from fakeqemu.qmp.errors import GenericError

SCHEMES = ("tcp:", "unix:", "fd:", "exec:")
#: the announce-* parameters' bounds as migrate_params_check has them (its message says 0 for the step)
ANNOUNCE_LIMITS = (
    ("announce-initial", 0, 100000, "0 and 100000"),
    ("announce-max", 0, 100000, "0 and 100000"),
    ("announce-rounds", 0, 1000, "0 and 1000"),
    ("announce-step", 1, 10000, "0 and 10000"),
)


def migration(ctx: Context) -> Migration:
    mig = ctx.machine.migration
    if not mig.capabilities:
        mig.capabilities.update((c["capability"], bool(c["state"])) for c in probe_data()["query-migrate-capabilities"])
    return mig


@command("query-migrate-capabilities")
def query_migrate_capabilities(ctx: Context, args: dict[str, Any]) -> Any:
    return [{"capability": name, "state": state} for name, state in migration(ctx).capabilities.items()]


@command("migrate-set-capabilities")
def migrate_set_capabilities(ctx: Context, args: dict[str, Any]) -> Any:
    mig = migration(ctx)
    if mig.status in ("setup", "active", "cancelling"):
        raise GenericError("There's a migration process in progress")
    for item in args["capabilities"]:
        mig.capabilities[item["capability"]] = bool(item["state"])


@command("query-migrate-parameters")
def query_migrate_parameters(ctx: Context, args: dict[str, Any]) -> Any:
    return dict(migration(ctx).parameters)


@command("migrate-set-parameters")
def migrate_set_parameters(ctx: Context, args: dict[str, Any]) -> Any:
    if "downtime-limit" in args and not 0 <= args["downtime-limit"] <= 2000 * 1000:
        raise GenericError("Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms")
    for key, low, high, text in ANNOUNCE_LIMITS:  # migrate_params_check, after the others
        if key in args and not low <= args[key] <= high:
            raise GenericError(f"Parameter '{key.replace('-', '_')}' expects a value between {text}")
    params = migration(ctx).parameters
    for key, value in args.items():
        if key in params:
            params[key] = value


@command("query-migrate")
def query_migrate(ctx: Context, args: dict[str, Any]) -> Any:
    return migration(ctx).info()


@command("migrate")
def migrate(ctx: Context, args: dict[str, Any]) -> Any:
    uri = args["uri"]
    mig = migration(ctx)
    if args.get("resume", False):
        mig.resume(uri, None)
        return
    mig.prepare()
    if not uri.startswith(SCHEMES):
        raise mig.refuse("Parameter 'uri' expects a valid migration protocol")
    fd: int | None = None
    if uri.startswith("fd:"):
        name = uri[3:]
        fd = int(name) if name.isdigit() else named_fd(ctx, name, claim=True)
        if fd is None:
            error = f"File descriptor named '{name}' has not been found"
            raise mig.refuse(error, error)
    mig.go(uri, fd)


@command("migrate_cancel")
def migrate_cancel(ctx: Context, args: dict[str, Any]) -> Any:
    migration(ctx).cancel()


@command("migrate-incoming")
def migrate_incoming(ctx: Context, args: dict[str, Any]) -> Any:
    mig = migration(ctx)
    if mig.incoming is None:
        raise GenericError("'-incoming' was not specified on the command line")
    if mig.incoming != "defer":
        raise GenericError("The incoming migration has already been started")
    uri = args["uri"]
    if not uri.startswith(SCHEMES):
        raise GenericError(f"unknown migration protocol: {uri}")
    mig.listen(uri)


@command("migrate-start-postcopy")
def migrate_start_postcopy(ctx: Context, args: dict[str, Any]) -> Any:
    mig = migration(ctx)
    if not mig.capabilities.get("postcopy-ram", False):
        raise GenericError("Enable postcopy with migrate_set_capability before the start of migration")
    if mig.status == "none":
        raise GenericError("Postcopy must be started after migration has been started")
    mig.postcopy = True
