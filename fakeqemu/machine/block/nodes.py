"""Opening block nodes as bdrv_open does for blockdev-add and -blockdev (configure_blockdev runs
qmp_blockdev_add for each -blockdev at start-up): an inline ``file`` child is opened first (named
``#blockNNN``), a child referred to by name must exist, then the node's own name (bdrv_assign_node_name),
its file and its backing node, then the image locks a writer takes. QEMU 7.2's texts; the missing-child
one as recorded (fakeqemu/data/probe.json)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from fakeqemu.machine.block import graph, locks
from fakeqemu.machine.config import IDENTIFIER
from fakeqemu.qmp.errors import GenericError
from fakeqemu.recorded import document


def check_file(filename: str) -> None:
    """What QEMU's raw-posix open would report; the file's contents are never read."""
    try:
        os.stat(filename)
    except OSError as exc:
        raise GenericError(f"Could not open '{filename}': {exc.strerror}") from None


def _missing_child(name: str) -> GenericError:
    desc = str(document("probe.json")["block"]["errors"]["missing-child"]["desc"])
    return GenericError(desc.replace("libvirt-1-storage", name))


#: bdrv_open_inherit's warning for an empty backing name (which means no backing, as null does)
EMPTY_BACKING = 'Use of "backing": "" is deprecated; use "backing": null instead'


def add_node(
    table: dict[str, dict[str, Any]],
    opts: dict[str, Any],
    hint: bool = False,
    generated: bool = False,
    warn: Callable[[str], None] | None = None,
) -> str:
    """Open the node ``opts`` into ``table`` (node name -> entry); GenericError with QEMU's text. A lock
    failure's hint ("Is another process using the image?") is kept only with ``hint`` (the command line
    prints it; QMP does not). A ``generated`` name (``#blockNNN``, id_generate's) is not checked as an
    identifier; a name the user gave is. ``warn`` gets QEMU's warnings (warn_report's text)."""
    child = opts.get("file")
    if not isinstance(child, dict):
        return _open(table, opts, child if isinstance(child, str) else None, hint, generated, warn)
    named = "node-name" in child
    if not named:
        child = {**child, "node-name": graph.auto_name(table)}
    child_name = add_node(table, child, hint, generated or not named, warn)
    try:
        return _open(table, {**opts, "file": child_name}, child_name, hint, generated, warn)
    except GenericError:  # bdrv_open fails: the inline child it opened goes with it
        locks.release(table.pop(child_name))
        raise


def _open(
    table: dict[str, dict[str, Any]],
    opts: dict[str, Any],
    child_name: str | None,
    hint: bool,
    generated: bool,
    warn: Callable[[str], None] | None,
) -> str:
    name = opts.get("node-name")
    if child_name is not None and child_name not in table:
        raise _missing_child(child_name)
    if name is None:
        raise GenericError("'node-name' must be specified for the root node")
    if not generated and not IDENTIFIER.fullmatch(str(name)):
        raise GenericError(f"Invalid node-name: '{name}'")
    if name in table:
        raise GenericError(f"Duplicate nodes with node-name='{name}'")
    if opts.get("driver") in graph.FILE_DRIVERS and isinstance(opts.get("filename"), str):
        check_file(opts["filename"])
    backing = opts.get("backing")
    if backing == "":
        if warn is not None:
            warn(EMPTY_BACKING)
        opts = {**opts, "backing": None}
        backing = None
    if isinstance(backing, str) and backing not in table:
        raise GenericError(f"Cannot find device='' nor node-name='{backing}'")
    table[name] = {"options": dict(opts), "attached": None, "backing": backing if isinstance(backing, str) else None}
    try:
        locks.lock_node(table, str(name))
    except locks.LockError as exc:
        del table[name]
        raise GenericError(str(exc) if hint else str(exc).split("\n")[0]) from None
    return str(name)
