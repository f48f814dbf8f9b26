"""File descriptors passed over a unix-socket monitor with SCM_RIGHTS: getfd / closefd (named fds of the
monitor) and add-fd / remove-fd / query-fdsets (the VM's fd sets), with QEMU 7.2's errors.

The monitor keeps the fds that came with the last message that carried any in ``Context.received_fds``
(a later one replaces and closes them, as QEMU's socket chardev does); a command that wants one takes the
first and closes the rest, as QEMU's chardev hands a monitor one fd per message. fakeqemu
never reads or writes a passed fd; it keeps it open until it is closed by command or the process ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.backends import FdsetMember, FdTables
from fakeqemu.machine.backends import close_fd as _close
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine


def tables(machine: Machine) -> FdTables:
    return machine.fds


def _monitor(ctx: Context) -> str:
    return ctx.monitor.partition("#")[0]


def hold_received(ctx: Context, fds: Sequence[int]) -> None:
    """tcp_chr_recv: a message that carries fds replaces (and closes) the ones still held from an earlier
    one, so a connection holds at most one message's fds (16 at most), whatever the client sends."""
    if not fds:
        return
    for fd in ctx.received_fds:
        _close(fd)
    ctx.received_fds[:] = fds


def take_fd(ctx: Context) -> int:
    """qemu_chr_fe_get_msgfd: the first fd that came with the request; the others are closed."""
    fds = ctx.received_fds
    if not fds:
        raise GenericError("No file descriptor supplied via SCM_RIGHTS")
    first, rest = fds[0], fds[1:]
    fds.clear()
    for fd in rest:
        _close(fd)
    return first


def named_fd(ctx: Context, name: str, *, claim: bool) -> int | None:
    """monitor_get_fd: the fd the monitor knows as ``name`` (removed from the table when claimed)."""
    table = tables(ctx.machine).named.get(_monitor(ctx), {})
    fd = table.get(name)
    if fd is not None and claim:
        del table[name]
    return fd


@command("getfd")
def getfd(ctx: Context, args: dict[str, Any]) -> Any:
    name = args["fdname"]
    fd = take_fd(ctx)
    if name[:1].isdigit():
        _close(fd)
        raise GenericError("Parameter 'fdname' expects a name not starting with a digit")
    table = tables(ctx.machine).named.setdefault(_monitor(ctx), {})
    old = table.get(name)
    if old is not None:
        _close(old)  # QEMU replaces a named fd, closing the old one
    table[name] = fd
    return {}


@command("closefd")
def closefd(ctx: Context, args: dict[str, Any]) -> Any:
    name = args["fdname"]
    fd = named_fd(ctx, name, claim=True)
    if fd is None:
        raise GenericError(f"File descriptor named '{name}' not found")
    _close(fd)
    return {}


@command("add-fd")
def add_fd(ctx: Context, args: dict[str, Any]) -> Any:
    fd = take_fd(ctx)
    sets = tables(ctx.machine).fdsets
    fdset_id = args.get("fdset-id")
    if fdset_id is None:
        fdset_id = 0
        while fdset_id in sets:
            fdset_id += 1
    elif fdset_id < 0:
        _close(fd)
        raise GenericError("Parameter 'fdset-id' expects a non-negative value")
    sets.setdefault(fdset_id, []).append(FdsetMember(fd, args.get("opaque")))
    return {"fdset-id": fdset_id, "fd": fd}


@command("remove-fd")
def remove_fd(ctx: Context, args: dict[str, Any]) -> Any:
    """Marks the fd (or every fd of the set) removed; QEMU closes removed fds at its next clean-up only
    while the VM runs (measured: with -S they stay listed)."""
    fdset_id = args["fdset-id"]
    fd = args.get("fd")
    sets = tables(ctx.machine).fdsets
    members = sets.get(fdset_id)
    hit = [m for m in members or [] if fd is None or m.fd == fd]
    if not hit:
        what = f"fdset-id:{fdset_id}" if fd is None else f"fdset-id:{fdset_id}, fd:{fd}"
        raise GenericError(f"File descriptor named '{what}' not found")
    for m in hit:
        m.removed = True
    if ctx.machine.running:
        for m in hit:
            _close(m.fd)
        keep = [m for m in sets[fdset_id] if not m.removed]
        if keep:
            sets[fdset_id] = keep
        else:
            del sets[fdset_id]
    return {}


@command("query-fdsets")
def query_fdsets(ctx: Context, args: dict[str, Any]) -> Any:
    """In QEMU's order: fd sets by descending id, each set's fds in the order they were added."""
    out = []
    for fdset_id, members in sorted(tables(ctx.machine).fdsets.items(), reverse=True):
        fds = []
        for m in members:
            info: dict[str, Any] = {"fd": m.fd}
            if m.opaque is not None:
                info["opaque"] = m.opaque
            fds.append(info)
        out.append({"fdset-id": fdset_id, "fds": fds})
    return out


NETDEV_FD_KEYS = ("fd", "vhostfd")
NETDEV_FDS_KEYS = ("fds", "vhostfds")


def claim_netdev_fds(ctx: Context, args: dict[str, Any]) -> list[int]:
    """monitor_fd_param for a netdev's fd/vhostfd (and colon-separated fds/vhostfds): a number is taken
    as it is, a name is claimed from the monitor's named fds (then the netdev owns it)."""
    names: list[str] = []
    for key in NETDEV_FD_KEYS:
        if isinstance(args.get(key), str):
            names.append(args[key])
    for key in NETDEV_FDS_KEYS:
        if isinstance(args.get(key), str):
            names.extend(args[key].split(":"))
    table = tables(ctx.machine).named.get(_monitor(ctx), {})
    for name in names:
        if name[:1].isdigit() or name in table:
            continue
        raise GenericError(f"File descriptor named '{name}' has not been found")
    claimed = []
    for name in names:
        fd = named_fd(ctx, name, claim=True)
        if fd is not None:
            claimed.append(fd)
    return claimed


def release(fds: list[int]) -> None:
    for fd in fds:
        _close(fd)
