"""A process's resources for a fleet: the soft fd limit raised to the hard one at start, and the fleet's
need checked against it (each VM holds one listening socket per monitor and one per connected client); the
start-up heap frozen out of garbage collection."""

from __future__ import annotations

import gc
import resource

#: descriptors the process holds whatever the fleet (stdio, trio's wakeup socketpair and epoll, files)
BASE_FDS = 32


def fleet_need(vms: int, sockets_per_vm: int) -> int:
    """Descriptors ``vms`` VMs need with a client on every socket."""
    return BASE_FDS + vms * sockets_per_vm * 2


def _nr_open() -> int:
    """The kernel's ceiling for any process's RLIMIT_NOFILE (fs.nr_open)."""
    try:
        with open("/proc/sys/fs/nr_open") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1 << 20


def raise_soft_limit(need: int = 0) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit, and the hard one too where the process may (root:
    up to fs.nr_open) when ``need`` is more than it; return (soft, hard) as they are now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if need > hard != resource.RLIM_INFINITY:
        target = min(need, _nr_open())
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
            return target, target
        except (ValueError, OSError):
            pass  # not privileged: the soft limit goes as far as the hard one, and the warning says the rest
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft, hard


def fleet_warning(vms: int, sockets_per_vm: int, soft: int) -> str | None:
    """A clear message when ``vms`` VMs, each with a client on every socket, would not fit in ``soft``."""
    need = fleet_need(vms, sockets_per_vm)
    if need <= soft:
        return None
    return (
        f"{vms} VMs with a client on each of their {sockets_per_vm} socket(s) need about {need} file descriptors; "
        f"the limit is {soft}: clients past it wait until others leave. Raise it with `ulimit -n {need}` "
        "(the hard limit too, as root) before starting fakeqemu"
    )


def freeze_heap() -> None:
    """What start-up built lives as long as the process: keep it out of every later collection, whose
    pauses would otherwise grow with the fleet (a full collection with 2,000 VMs: 268 ms, 0.0 ms frozen).
    For the process's own entry points only, not for a library caller's heap. Collection, paused while the
    process started (``pause_collection``), goes on from here."""
    gc.freeze()
    gc.enable()


def pause_collection() -> None:
    """No garbage collection while the process starts: what it builds (modules, the recorded facts, the
    machine) lives on, and collections in the middle of it cost ~7% of the time to the first replies."""
    gc.disable()
