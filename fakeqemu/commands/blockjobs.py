"""Commands that start block jobs or change the block graph: block-stream, block-commit, blockdev-mirror,
blockdev-backup, blockdev-create, blockdev-snapshot(-sync), the dirty bitmaps and transaction. Checks in
the order of QEMU 7.2's blockdev.c, with its errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.block import graph, qcow2
from fakeqemu.machine.block.blockjobs import Backup, Commit, Create, Mirror, Stream
from fakeqemu.machine.block.jobs import Driver, Job, Txn
from fakeqemu.qmp.errors import GenericError, QMPError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

Undo = Callable[[], None]
#: transaction actions that start a job, registered by the modules that define them (drive-backup)
JOB_ACTIONS: dict[str, Callable[[Machine, dict[str, Any], Txn], Job]] = {}


def _device_job_id(m: Machine, args: dict[str, Any], node: str) -> str:
    """block_job_create: without a job-id a job takes its device's (-drive) name, "" when it has none."""
    if "job-id" in args:
        return str(args["job-id"])
    opts = graph.table(m)[node]["options"]
    return str(opts["id"]) if isinstance(opts.get("id"), str) else ""


def start_job(m: Machine, args: dict[str, Any], node: str, driver: Driver, holds: list[str],
              txn: Txn | None = None) -> Job:  # fmt: skip
    job = m.jobs.create(
        _device_job_id(m, args, node),
        driver,
        auto_finalize=bool(args.get("auto-finalize", True)),
        auto_dismiss=bool(args.get("auto-dismiss", True)),
        speed=int(args.get("speed", 0)),
        txn=txn,
    )
    job.blocked_nodes = list(holds)
    job.on_error = str(args.get("on-error") or args.get("on-target-error") or "report")
    if txn is None:
        job.start()
    return job


@command("block-stream")
def block_stream(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    if "base" in args and "base-node" in args:
        raise GenericError("'base' and 'base-node' cannot be specified at the same time")
    top = graph.node_name(m, args["device"])
    chain = graph.chain(m, top)
    base: str | None = None
    if "base" in args:
        found = [n for n in chain[1:] if graph.filename(m, n) == args["base"]]
        if not found:
            raise GenericError(f"Can't find '{args['base']}' in the backing chain")
        base = found[0]
    if "base-node" in args:
        base = graph.find_node(m, args["base-node"])
        if base not in chain[1:]:
            raise GenericError(f"Node '{base}' is not a backing image of '{args['device']}'")
    for n in chain[: chain.index(base)] if base else chain:
        graph.check_busy(m, n, backing_ok=True)
    if base is None and "backing-file" in args:
        raise GenericError("backing file specified, but streaming the entire chain")
    holds = chain[: chain.index(base)] if base else chain
    start_job(m, args, top, Stream(m, top, base, args.get("backing-file")), holds)


def _commit_end(
    m: Machine, args: dict[str, Any], key: str, nodes: list[str], files: list[str], not_found: str
) -> str | None:
    """block-commit's ``top`` or ``base``, as qmp_block_commit looks it up: ``KEY-node`` (a node that must be
    one of ``nodes``) or ``KEY`` (the first of ``files`` with that file name); None when neither is given."""
    if f"{key}-node" in args and key in args:
        raise GenericError(f"'{key}-node' and '{key}' are mutually exclusive")
    if f"{key}-node" in args:
        node = graph.find_node(m, args[f"{key}-node"])
        if node not in nodes:
            raise GenericError(f"'{node}' is not in this backing file chain")
        return node
    if key in args:
        found = [n for n in files if graph.filename(m, n) == args[key]]
        if not found:
            raise GenericError(not_found.format(args[key]))
        return found[0]
    return None


@command("block-commit")
def block_commit(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    try:
        graph.lookup(m, args["device"])
    except GenericError:
        raise QMPError(f"Device '{args['device']}' not found", "DeviceNotFound") from None
    active = graph.root(m, args["device"])
    graph.check_busy(m, active)
    chain = graph.chain(m, active)
    top = _commit_end(m, args, "top", chain, chain, "Top image file {} not found") or active
    below = chain[chain.index(top) + 1 :]
    base = _commit_end(m, args, "base", [*below, top], below, "Can't find '{}' in the backing chain")
    if base is None:
        base = below[-1] if below else top  # bdrv_find_base: the bottom of the chain
    for n in chain[chain.index(top) : chain.index(base)] if base in chain else []:
        graph.check_busy(m, n, backing_ok=True)
    if top == base:
        raise GenericError("cannot commit an image into itself")
    holds = chain[chain.index(top) : chain.index(base) + 1]
    if top == active:
        if "backing-file" in args:
            raise GenericError("'backing-file' specified, but 'top' is the active layer")
        start_job(m, args, active, Mirror(m, active, base, "full", commit=True), holds)
        return
    start_job(m, args, active, Commit(m, top, base, args.get("backing-file")), holds)


def mirror_checks(args: dict[str, Any]) -> None:
    """blockdev_mirror_common's argument checks"""
    granularity = int(args.get("granularity", 0))
    if granularity and not 512 <= granularity <= 64 * 2**20:
        raise GenericError("Parameter 'granularity' expects a value in range [512B, 64MB]")
    if granularity & (granularity - 1):
        raise GenericError("Parameter 'granularity' expects a power of 2")


@command("blockdev-mirror")
def blockdev_mirror(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    source = graph.root(m, args["device"])
    target = graph.node_name(m, args["target"])
    mirror_checks(args)
    graph.check_busy(m, source)
    graph.check_busy(m, target)
    sync = args["sync"]
    if sync == "top" and graph.backing_child(graph.table(m)[source]) is None:
        sync = "full"
    if source == target:
        raise GenericError("Can't mirror node into itself")
    start_job(m, args, source, Mirror(m, source, target, sync), [source, target])


def backup_job(m: Machine, args: dict[str, Any], target: str, txn: Txn | None = None) -> Job:
    source = graph.node_name(m, args["device"])
    graph.check_busy(m, source, backing_ok=True)
    bitmap = args.get("bitmap")
    sync = args["sync"]
    if bitmap is not None:
        bm = m.bitmaps.get(source, bitmap)
        if bm.busy:
            raise GenericError(f"Bitmap '{bitmap}' is currently in use by another operation and cannot be used")
    elif sync in ("incremental", "bitmap"):
        raise GenericError(f"must provide a valid bitmap name for '{sync}' sync mode")
    if source == target:
        raise GenericError("Source and target cannot be the same")
    # the job's main node is the copy-before-write filter QEMU puts above the source: only the target is held
    job = start_job(m, args, source, Backup(m, source, target, sync, bitmap), [target], txn)
    if bitmap is not None:
        m.bitmaps.get(source, bitmap).busy = True
    return job


@command("blockdev-backup")
def blockdev_backup(ctx: Context, args: dict[str, Any]) -> Any:
    # QEMU runs it as a transaction of one action
    transaction(ctx, {"actions": [{"type": "blockdev-backup", "data": args}]})


@command("blockdev-create")
def blockdev_create(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    options = args["options"]
    if options["driver"] not in ("file", "qcow2", "raw"):
        raise GenericError(f"Driver '{options['driver']}' does not support blockdev-create")
    job = m.jobs.create(args["job-id"], Create(m, options), auto_dismiss=False)
    job.start()


# --- external snapshots ----------------------------------------------------------------------------------


def _snapshot(m: Machine, node: str, overlay: str) -> Undo:
    """blockdev-snapshot's prepare: ``overlay`` goes on top of ``node``, in its place for every user;
    ``node`` becomes read-only."""
    t = graph.table(m)
    if node not in t:
        raise GenericError(f"Cannot find device='{node}' nor node-name='{node}'")
    graph.check_busy(m, node)
    if overlay not in t:
        raise GenericError(f"Cannot find device='{overlay}' nor node-name='{overlay}'")
    if t[overlay].get("attached") is not None:
        raise GenericError("The overlay is already in use")
    graph.check_busy(m, overlay)
    if graph.backing_child(t[overlay]) is not None:
        raise GenericError("The overlay already has a backing image")
    old_opts = t[node]["options"]
    graph.replace(m, node, overlay)
    t[overlay]["backing"] = node
    t[node]["options"] = {**old_opts, "read-only": True}

    def undo() -> None:
        t[overlay]["backing"] = None
        t[node]["options"] = old_opts
        graph.replace(m, overlay, node)

    return undo


def _snapshot_sync(m: Machine, args: dict[str, Any]) -> Undo:
    node = graph.lookup_pair(m, args.get("device", ""), args.get("node-name", ""))
    path = args["snapshot-file"]
    fmt = args.get("format", "qcow2")
    new = args.get("snapshot-node-name")
    if new is not None and new in graph.table(m):
        raise GenericError(f"Duplicate nodes with node-name='{new}'")
    if args.get("mode", "absolute-paths") == "absolute-paths":
        qcow2.create(
            path, graph.length(m, node), graph.filename(m, node), str(graph.table(m)[node]["options"]["driver"])
        )
    elif not os.path.exists(path):
        raise GenericError(f"Could not open '{path}': No such file or directory")
    t = graph.table(m)
    n = 0
    while f"#block{n:03d}" in t:
        n += 1
    file_node = f"#block{n:03d}"
    t[file_node] = {"options": {"driver": "file", "filename": path, "node-name": file_node}, "attached": None,
                    "backing": None}  # fmt: skip
    name = new or f"#block{n + 1:03d}"
    used = t[node].get("attached") is not None or bool(graph.parents(m, node))
    t[name] = {"options": {"driver": fmt, "file": file_node, "node-name": name}, "attached": None, "backing": None}
    try:
        undo = _snapshot(m, node, name)
    except GenericError:
        t.pop(name, None)
        t.pop(file_node, None)
        raise
    if not used:  # only the new node's users keep it: QEMU frees an overlay nobody took
        undo()
        t[node]["options"] = {**t[node]["options"], "read-only": True}
        t.pop(name, None)
        t.pop(file_node, None)
        return lambda: None

    def undo_all() -> None:
        undo()
        t.pop(name, None)
        t.pop(file_node, None)

    return undo_all


@command("blockdev-snapshot")
def blockdev_snapshot(ctx: Context, args: dict[str, Any]) -> Any:
    _snapshot(ctx.machine, args["node"], args["overlay"])


@command("blockdev-snapshot-sync")
def blockdev_snapshot_sync(ctx: Context, args: dict[str, Any]) -> Any:
    _snapshot_sync(ctx.machine, args)


# --- dirty bitmaps -------------------------------------------------------------------------------------


def _bitmap_node(m: Machine, node: str) -> str:
    """block_dirty_bitmap_lookup's node look-up (add uses bdrv_lookup_bs instead)."""
    try:
        return graph.node_name(m, node)
    except GenericError:
        raise GenericError(f"Node '{node}' not found") from None


def bitmap_add(m: Machine, args: dict[str, Any]) -> Undo:
    node = graph.node_name(m, args["node"])
    m.bitmaps.add(node, args["name"], args.get("granularity"), bool(args.get("persistent", False)),
                  bool(args.get("disabled", False)))  # fmt: skip
    return lambda: m.bitmaps.remove(node, args["name"])


def bitmap_remove(m: Machine, args: dict[str, Any]) -> Undo:
    node = _bitmap_node(m, args["node"])
    bm = m.bitmaps.get(node, args["name"])
    m.bitmaps.remove(node, args["name"])
    return lambda: m.bitmaps.nodes.setdefault(node, []).insert(0, bm)


def bitmap_clear(m: Machine, args: dict[str, Any]) -> Undo:
    bm = m.bitmaps.get(_bitmap_node(m, args["node"]), args["name"])
    if bm.busy:
        raise GenericError(f"Bitmap '{bm.name}' is currently in use by another operation and cannot be used")
    old, bm.count = bm.count, 0

    def undo() -> None:
        bm.count = old

    return undo


def _bitmap_recording(m: Machine, args: dict[str, Any], recording: bool) -> Undo:
    bm = m.bitmaps.get(_bitmap_node(m, args["node"]), args["name"])
    old, bm.recording = bm.recording, recording

    def undo() -> None:
        bm.recording = old

    return undo


def bitmap_merge(m: Machine, args: dict[str, Any]) -> Undo:
    node = _bitmap_node(m, args["node"])
    target = m.bitmaps.get(node, args["target"])
    for src in args["bitmaps"]:
        if isinstance(src, str):
            m.bitmaps.get(node, src)
        else:
            m.bitmaps.get(_bitmap_node(m, src["node"]), src["name"])
    old = target.count

    def undo() -> None:
        target.count = old

    return undo


BITMAP_ACTIONS: dict[str, Callable[[Machine, dict[str, Any]], Undo]] = {
    "block-dirty-bitmap-add": bitmap_add,
    "block-dirty-bitmap-remove": bitmap_remove,
    "block-dirty-bitmap-clear": bitmap_clear,
    "block-dirty-bitmap-enable": lambda m, a: _bitmap_recording(m, a, True),
    "block-dirty-bitmap-disable": lambda m, a: _bitmap_recording(m, a, False),
    "block-dirty-bitmap-merge": bitmap_merge,
}


def _bitmap_command(name: str) -> None:
    action = BITMAP_ACTIONS[name]

    @command(name)
    def run(ctx: Context, args: dict[str, Any]) -> Any:
        action(ctx.machine, args)


for _name in BITMAP_ACTIONS:
    _bitmap_command(_name)


# --- transaction ----------------------------------------------------------------------------------------


def _canceller(job: Job) -> Undo:
    return lambda: job.cancel(True)


@command("transaction")
def transaction(ctx: Context, args: dict[str, Any]) -> Any:
    """All actions or none: each action's prepare runs in order; a failure undoes the ones before it.
    Backup jobs start together at the end, grouped in one job transaction when asked."""
    m = ctx.machine
    grouped = args.get("properties", {}).get("completion-mode", "individual") == "grouped"
    undos: list[Undo] = []
    jobs: list[Job] = []
    txn = Txn()
    try:
        for action in args["actions"]:
            kind, data = action["type"], action["data"]
            if kind == "abort":
                raise GenericError("Transaction aborted using Abort action")
            if kind in BITMAP_ACTIONS:
                undos.append(BITMAP_ACTIONS[kind](m, data))
            elif kind == "blockdev-snapshot":
                undos.append(_snapshot(m, data["node"], data["overlay"]))
            elif kind == "blockdev-snapshot-sync":
                undos.append(_snapshot_sync(m, data))
            elif kind == "blockdev-backup" or kind in JOB_ACTIONS:
                group = txn if grouped else Txn()
                if kind == "blockdev-backup":
                    job = backup_job(m, data, graph.node_name(m, data["target"]), group)
                else:
                    job = JOB_ACTIONS[kind](m, data, group)
                jobs.append(job)
                undos.append(_canceller(job))
            else:
                raise GenericError(f"Action '{kind}' is not supported by fakeqemu")
    except GenericError:
        for undo in reversed(undos):
            undo()
        raise
    start_drained(m, jobs)


def start_drained(m: Machine, jobs: list[Job]) -> None:
    """The transaction's jobs start inside a drained section: each pauses at once, and all resume,
    newest first, when the section ends."""
    for job in jobs:
        job.pause_count += 1
        job.start()
    for job in [j for j in m.jobs.list if j in jobs]:
        job.pause_count -= 1
        if not job.pause_count:
            job.enter(lambda j: not j.timer_pending)
