"""Serve the HTTP plane with hypercorn's trio worker, in the VMs' own trio run.

The accept loop is ours, not hypercorn's: it keeps at most MAX_CONNECTIONS connections open (the next
client waits in the listen backlog until one closes), so a flood of idle TCP connections cannot use up
the process's file descriptors, and it carries on when accept() fails for want of them.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import trio

from fakeqemu.http.guard import Guard, HostCheck

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM

log = logging.getLogger("fakeqemu.http")

#: HTTP connections open at once (a dashboard tab holds one for its live stream and a few for requests)
MAX_CONNECTIONS = 64
#: accept() errors that mean "no resources now": wait and try again
_TRANSIENT = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS, errno.ECONNABORTED, errno.EPROTO}


def _build(vms: list[VM], bind: str, token: str | None, allow_hosts: Sequence[str]) -> Any:
    from fakeqemu.http.app import build_app

    return Guard(build_app(vms), token, HostCheck(bind, allow_hosts))


async def serve_http(
    vms: list[VM],
    bind: str,
    token: str | None = None,
    on_ready: Callable[[list[str]], None] | None = None,
    allow_hosts: Sequence[str] = (),
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Bind ``bind`` ("127.0.0.1:8780") and serve until cancelled; ``on_ready`` gets the bound URLs.

    FastAPI and pydantic take about half a second to import: that happens in a worker thread, so the
    QMP monitors (already serving) never wait for it.
    """
    app = await trio.to_thread.run_sync(_build, vms, bind, token, allow_hosts)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(_serve, app, _config(bind))
        if on_ready is not None:
            on_ready(binds)
        task_status.started(binds)


def _config(bind: str) -> Any:
    from hypercorn.config import Config

    config = Config()
    config.bind = [bind]
    config.accesslog = None
    config.errorlog = log
    config.graceful_timeout = 1.0
    return config


async def serve_proxy(
    shards: list[str],
    owner: dict[str, int],
    bind: str,
    token: str | None = None,
    allow_hosts: Sequence[str] = (),
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A sharded fleet's one HTTP plane (fakeqemu.http.proxy) on ``bind``, behind the same guard."""
    from fakeqemu.http.proxy import Proxy

    app = Guard(Proxy(shards, owner), token, HostCheck(bind, allow_hosts))
    async with trio.open_nursery() as nursery:
        task_status.started(await nursery.start(_serve, app, _config(bind)))


async def _serve(app: Any, config: Any, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
    from hypercorn.trio.tcp_server import TCPServer
    from hypercorn.trio.worker_context import WorkerContext
    from hypercorn.typing import ConnectionState
    from hypercorn.utils import repr_socket_addr, wrap_app

    wrapped = wrap_app(app, config.wsgi_max_body_size, "asgi")
    context = WorkerContext(None)
    sockets = config.create_sockets().insecure_sockets
    slots = trio.Semaphore(MAX_CONNECTIONS)

    async def handle(stream: trio.SocketStream) -> None:
        try:
            await TCPServer(wrapped, config, context, ConnectionState({}), stream).run()  # type: ignore[arg-type]  # plain streams work too
        finally:
            slots.release()
            await trio.aclose_forcefully(stream)

    async def accept_loop(listener: trio.socket.SocketType, nursery: trio.Nursery) -> None:
        with listener:
            while True:
                await slots.acquire()
                try:
                    sock, _ = await listener.accept()
                except OSError as exc:
                    slots.release()
                    if exc.errno not in _TRANSIENT:
                        raise
                    log.warning("HTTP accept failed (%s); trying again", exc.strerror)
                    await trio.sleep(0.1)
                    continue
                nursery.start_soon(handle, trio.SocketStream(sock))

    async with trio.open_nursery() as nursery:
        binds = []
        for sock in sockets:
            sock.listen(config.backlog)
            binds.append(f"http://{repr_socket_addr(sock.family, sock.getsockname())}")
            nursery.start_soon(accept_loop, trio.socket.from_stdlib_socket(sock), nursery)
        task_status.started(binds)
