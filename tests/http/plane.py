"""A fakeqemu with its HTTP plane, in this trio run (real hypercorn, real sockets), for the HTTP tests."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import trio

from fakeqemu.machine.machine import MachineConfig
from fakeqemu.server.app import serve_vms
from fakeqemu.server.chardev import Endpoint
from fakeqemu.server.vm import VM, VMConfig


@dataclass
class Plane:
    vms: list[VM]
    url: str
    qmp: str  # the first VM's QMP socket
    client: httpx.AsyncClient

    async def get(self, path: str, **kw: Any) -> Any:
        r = await self.client.get(path, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    async def send(self, method: str, path: str, body: Any = None) -> Any:
        r = await self.client.request(method, path, json=body)
        assert r.status_code == 200, r.text
        return r.json()


def vm_config(tmp: Path, name: str = "vm0", **machine: Any) -> VMConfig:
    mcfg = MachineConfig(name=name, **machine)
    return VMConfig(machine=mcfg, monitors=[Endpoint("unix", path=str(tmp / f"{name}.qmp"))])


@asynccontextmanager
async def running(
    configs: list[VMConfig], token: str | None = None, allow_hosts: tuple[str, ...] = ()
) -> AsyncIterator[Plane]:
    """Serve ``configs`` with HTTP on a free port of 127.0.0.1; cancelled on exit."""
    urls: list[str] = []
    up = trio.Event()

    def ready(bound: list[str]) -> None:
        urls.extend(bound)
        up.set()

    async with trio.open_nursery() as nursery:
        serve = functools.partial(
            serve_vms, configs, http="127.0.0.1:0", http_token=token, on_http_ready=ready, http_allow_hosts=allow_hosts
        )
        vms: list[VM] = await nursery.start(serve)
        with trio.fail_after(20):
            await up.wait()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=urls[0], headers=headers, timeout=10) as client:
            yield Plane(vms, urls[0], configs[0].monitors[0].path, client)
        nursery.cancel_scope.cancel()


class EventStream:
    """A server-sent events reader on a plain trio socket (HTTP/1.0: the body is the raw stream)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = b""
        self.status = 0
        self.headers: dict[str, str] = {}

    async def _fill(self) -> None:
        chunk = await self.stream.receive_some(65536)
        if not chunk:
            raise EOFError(self.buf)
        self.buf += chunk

    async def start(self, path: str, headers: dict[str, str]) -> None:
        lines = [f"GET {path} HTTP/1.0", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        await self.stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            await self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status, *fields = head.decode().split("\r\n")
        self.status = int(status.split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}

    async def block(self) -> str:
        """The next blank-line-terminated SSE block (a message or a comment), as text."""
        while b"\n\n" not in self.buf:
            await self._fill()
        block, _, self.buf = self.buf.partition(b"\n\n")
        return block.decode()

    async def message(self) -> tuple[str, Any]:
        """The next SSE message as (event, parsed data); comments are skipped."""
        while True:
            fields = dict(line.split(": ", 1) for line in (await self.block()).split("\n") if ": " in line)
            if "event" in fields:
                return fields["event"], orjson.loads(fields["data"])


@asynccontextmanager
async def event_stream(plane: Plane, path: str, headers: dict[str, str] | None = None) -> AsyncIterator[EventStream]:
    host, _, port = plane.url.removeprefix("http://").rpartition(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        reader = EventStream(stream)
        if headers is None:  # the plane's token, if any
            headers = {k: v for k, v in plane.client.headers.items() if k.lower() == "authorization"}
        await reader.start(path, headers)
        yield reader
