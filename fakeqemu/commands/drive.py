"""drive-mirror and drive-backup, the legacy forms that create (or open) their target image themselves
(QEMU 7.2's qmp_drive_mirror and drive_backup_prepare): the target file is written as
``bdrv_img_create`` writes it (qcow2 with the source's backing file where the mode and sync keep one,
raw), opened as an anonymous node (drive-mirror's ``node-name`` names it) and let go when the job ends,
unless a mirror's pivot put it under the device. Errors in QEMU's order: the source, the image creation,
the target's opening, then the job's own checks (the target file stays, as QEMU leaves it)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fakeqemu.commands.block import FORMAT_DRIVERS, drop_unused
from fakeqemu.commands.blockjobs import JOB_ACTIONS, backup_job, mirror_checks, start_job, transaction
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.block import graph, qcow2
from fakeqemu.machine.block.blockjobs import Mirror
from fakeqemu.machine.block.graph import auto_name
from fakeqemu.machine.block.jobs import Job, Txn
from fakeqemu.machine.block.nodes import add_node
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine


def _format(m: Machine, args: dict[str, Any], source: str) -> str | None:
    if "format" in args:
        return str(args["format"])
    return None if args.get("mode") == "existing" else str(graph.table(m)[source]["options"].get("driver"))


def create_image(m: Machine, path: str, fmt: str, size: int, backing: str | None) -> None:
    """bdrv_img_create of the target: a new image of the source's size, with ``backing`` as its backing
    node's file."""
    if fmt not in FORMAT_DRIVERS:
        raise GenericError(f"Unknown file format '{fmt}'")
    if backing is not None and fmt != "qcow2":
        raise GenericError(f"Backing file not supported for file format '{fmt}'")
    if fmt not in ("qcow2", "raw"):
        raise GenericError(f"fakeqemu does not create '{fmt}' images")
    try:
        if fmt == "qcow2":
            back_fmt = None if backing is None else str(graph.table(m)[backing]["options"].get("driver"))
            qcow2.create(path, size, None if backing is None else graph.filename(m, backing), back_fmt)
        else:
            with open(path, "wb") as f:
                f.truncate(size)
    except OSError as exc:
        raise GenericError(f"Could not create '{path}': {exc.strerror}") from None


def open_target(m: Machine, path: str, fmt: str | None, node_name: str | None, extra: dict[str, Any]) -> str:
    """bdrv_open of the target file: a format node over a file node (the format probed without one)."""
    if not os.path.exists(path):
        raise GenericError(f"Could not open '{path}': No such file or directory")
    driver = fmt or ("qcow2" if qcow2.is_qcow2(path) else "raw")
    table = m.backends.blockdevs
    file_node = add_node(table, {"driver": "file", "node-name": auto_name(table), "filename": path}, generated=True)
    try:
        opts = {"driver": driver, "node-name": node_name or auto_name(table), **extra, "file": file_node}
        return add_node(table, opts, generated=node_name is None)
    except GenericError:
        drop_unused(m, file_node)
        raise


def _backing_named(m: Machine, node: str) -> str | None:
    """The node that holds the file the image's header names as its backing file (a mode existing
    target opens its own chain)."""
    named = graph.header_backing(m, node)
    if named is None:
        return None
    return next((n for n in graph.table(m) if n != node and graph.filename(m, n) == named
                 and graph.table(m)[n]["options"].get("driver") not in graph.FILE_DRIVERS), None)  # fmt: skip


@command("drive-mirror")
def drive_mirror(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    source = graph.root(m, args["device"])
    graph.check_busy(m, source)
    mode = args.get("mode", "absolute-paths")
    fmt = _format(m, args, source)
    sync = args["sync"]
    backing = graph.backing_child(graph.table(m)[source])
    if backing is None and sync == "top":
        sync = "full"
    target_backing = source if sync == "none" else backing
    if "replaces" in args and "node-name" not in args:
        raise GenericError("a node-name must be provided when replacing a named node of the graph")
    path = str(args["target"])
    if mode != "existing":
        keep = None if sync == "full" else target_backing
        create_image(m, path, str(fmt), graph.length(m, source), keep)
    target = open_target(m, path, fmt, args.get("node-name"), {})
    try:
        mirror_checks(args)
        zero = sync == "full" and mode == "existing"
        driver = Mirror(m, source, target, sync, zero_target=zero)
        new_backing = target_backing if sync != "full" else None

        def attach() -> None:
            entry = graph.table(m)[target]
            entry["backing"] = new_backing if mode != "existing" else _backing_named(m, target)

        driver.before_pivot = attach
        job = start_job(m, {**args, "sync": sync}, source, driver, [source, target])
    except GenericError:
        drop_unused(m, target)
        raise
    job.cleanups.append(lambda: drop_unused(m, target))


def drive_backup(m: Machine, args: dict[str, Any], txn: Txn | None = None) -> Job:
    """drive_backup_prepare, then the backup job (in ``txn`` when part of a transaction)."""
    source = graph.node_name(m, args["device"])
    mode = args.get("mode", "absolute-paths")
    fmt = _format(m, args, source)
    graph.check_busy(m, source, backing_ok=True)
    sync = args["sync"]
    src: str | None = None
    if sync == "top":
        src = graph.backing_child(graph.table(m)[source])
        if src is None:
            sync = "full"
    if sync == "none":
        src = source
    path = str(args["target"])
    if mode != "existing":
        create_image(m, path, str(fmt), graph.length(m, source), src)
    extra = {"discard": "unmap", "detect-zeroes": "unmap"}
    target = open_target(m, path, fmt, None, extra)
    try:
        entry = graph.table(m)[target]
        if sync == "none":
            entry["backing"] = source
        elif sync == "top" and src is not None:
            # the target opens the backing file its header names, which a writer here holds
            if "lock-fd" in graph.table(m)[src] or any(
                "lock-fd" in e and e["options"].get("file") == graph.file_child(graph.table(m)[src])
                for e in graph.table(m).values()
            ):
                raise GenericError('Could not open backing file: Failed to get shared "write" lock')
            entry["backing"] = src
        job = backup_job(m, {**args, "sync": sync}, target, txn)
    except GenericError:
        entry["backing"] = None
        drop_unused(m, target)
        raise
    job.cleanups.append(lambda: drop_unused(m, target))
    return job


JOB_ACTIONS["drive-backup"] = drive_backup


@command("drive-backup")
def drive_backup_command(ctx: Context, args: dict[str, Any]) -> Any:
    # QEMU runs it as a transaction of one action
    transaction(ctx, {"actions": [{"type": "drive-backup", "data": args}]})
