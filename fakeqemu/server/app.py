"""Runs one or many VMs in one trio process, with QEMU's signal handling."""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence

import trio

from fakeqemu.server.vm import VM, VMConfig

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


async def serve_vms(
    configs: Sequence[VMConfig],
    on_ready: Callable[[list[VM]], None] | None = None,
    *,
    http: str | None = None,
    http_token: str | None = None,
    on_http_ready: Callable[[list[str]], None] | None = None,
    task_status: trio.TaskStatus[list[VM]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Start every VM (all listening before ``on_ready``), serve until all have exited.

    SIGTERM, SIGINT and SIGHUP reach every VM as QEMU's host-signal shutdown. A start-up error
    (a socket that cannot be bound, a qtest peer that is not there) propagates before anything is ready.
    ``http`` ("HOST:PORT") also serves the HTTP plane, started once the VMs serve QMP.
    """
    with trio.open_signal_receiver(*EXIT_SIGNALS) as signals:
        async with trio.open_nursery() as nursery:
            vms = [await nursery.start(VM(cfg).run) for cfg in configs]
            if on_ready is not None:
                on_ready(vms)
            task_status.started(vms)

            async def forward_signals() -> None:
                async for signum in signals:
                    for vm in vms:
                        if not vm.exited.is_set():
                            vm.signal(signum)

            nursery.start_soon(forward_signals)
            if http is not None:
                from fakeqemu.http.serve import serve_http

                nursery.start_soon(serve_http, vms, http, http_token, on_http_ready)
            for vm in vms:
                await vm.exited.wait()
            nursery.cancel_scope.cancel()
