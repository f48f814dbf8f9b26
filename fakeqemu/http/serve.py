"""Serve the HTTP plane with hypercorn's trio worker, in the VMs' own trio run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM

log = logging.getLogger("fakeqemu.http")


def _build(vms: list[VM], token: str | None) -> Any:
    from fakeqemu.http.app import build_app

    return build_app(vms, token)


async def serve_http(
    vms: list[VM],
    bind: str,
    token: str | None = None,
    on_ready: Callable[[list[str]], None] | None = None,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Bind ``bind`` ("127.0.0.1:8780") and serve until cancelled; ``on_ready`` gets the bound URLs.

    FastAPI and pydantic take about half a second to import: that happens in a worker thread, so the
    QMP monitors (already serving) never wait for it.
    """
    from hypercorn.config import Config

    app = await trio.to_thread.run_sync(_build, vms, token)
    config = Config()
    config.bind = [bind]
    config.accesslog = None
    config.errorlog = log
    config.graceful_timeout = 1.0
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(_serve, app, config)
        if on_ready is not None:
            on_ready(binds)
        task_status.started(binds)


async def _serve(app: Any, config: Any, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
    import hypercorn.trio

    await hypercorn.trio.serve(app, config, mode="asgi", task_status=task_status)
