"""Runs one or many VMs in one trio process, with QEMU's signal handling."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence

import trio

from fakeqemu.machine.traffic import DEFAULT_LIMIT
from fakeqemu.server.signals import describe, exit_signals
from fakeqemu.server.vm import VM, VMConfig


class MonotonicClock(trio.abc.Clock):
    """trio's clock on time.monotonic, the machine's own default: a machine built before the runtime ran
    (fakeqemu.cli.qemu) keeps its timers' deadlines."""

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return time.monotonic()

    def deadline_to_sleep_time(self, deadline: float) -> float:
        return deadline - time.monotonic()


async def serve_vms(
    configs: Sequence[VMConfig],
    on_ready: Callable[[list[VM]], None] | None = None,
    *,
    http: str | None = None,
    http_token: str | None = None,
    on_http_ready: Callable[[list[str]], None] | None = None,
    http_allow_hosts: Sequence[str] = (),
    quiet: bool = False,
    task_status: trio.TaskStatus[list[VM]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Start every VM (all listening before ``on_ready``), serve until all have exited.

    SIGTERM, SIGINT and SIGHUP reach every VM as QEMU's host-signal shutdown (when run in the main
    thread: in another thread, e.g. fakeqemu.testing's, the caller stops the VMs). A start-up error
    (a socket that cannot be bound, a qtest peer that is not there) propagates before anything is ready.
    ``http`` ("HOST:PORT") also serves the HTTP plane (``Host`` names beyond its address: ``http_allow_hosts``),
    started once the VMs serve QMP; it turns the
    traffic record on, with its default size, for VMs whose configuration leaves it to the runtime.
    ``quiet``: no line on stderr for an exit signal (a worker of a sharded fleet: fakeqemu.cli.workers).
    """
    if http is not None:
        for cfg in configs:
            if cfg.machine.traffic_limit is None:
                cfg.machine.traffic_limit = DEFAULT_LIMIT
    with exit_signals() as signals:
        async with trio.open_nursery() as nursery:
            vms = [await nursery.start(VM(cfg).run) for cfg in configs]
            if on_ready is not None:
                on_ready(vms)
            task_status.started(vms)

            async def forward_signals(receiver: AsyncIterator[tuple[int, int]]) -> None:
                async for signum, sender in receiver:
                    live = [vm for vm in vms if not vm.exited.is_set()]
                    # one line for a fleet, none from a worker of a sharded one (its supervisor says it)
                    if len(vms) == 1 and not quiet:
                        print(f"qemu-system-x86_64: {describe(signum, sender)}", file=sys.stderr, flush=True)
                    elif live and not quiet:
                        print(f"fakeqemu: terminating {len(live)} VMs on signal {signum}", file=sys.stderr, flush=True)
                    for vm in live:
                        vm.signal(signum)

            if signals is not None:
                nursery.start_soon(forward_signals, signals)
            if http is not None:
                from fakeqemu.http.serve import serve_http

                nursery.start_soon(serve_http, vms, http, http_token, on_http_ready, http_allow_hosts)
            for vm in vms:
                await vm.exited.wait()
            nursery.cancel_scope.cancel()
