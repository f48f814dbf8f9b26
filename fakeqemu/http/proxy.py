"""The HTTP plane of a sharded fleet (fakeqemu.cli.workers): one address for all of it, in front of the
workers' own planes (each on a unix socket, serving its VMs).

Routing: ``/api/vms/NAME/...`` goes to NAME's worker; ``GET /api/vms`` joins every worker's list (in VM
order); ``/healthz`` is 200 only while every worker answers 200, with the fleet's counts; anything else
(the dashboard page, ``/openapi.json``) comes from the first worker. Responses are streamed through, so
the live streams (server-sent events) work as from one process. The guard in front (fakeqemu.http.guard)
has checked the token, Host and body size; the request goes on as it came.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: headers not passed on: hop-by-hop ones, those the client library sets, those our own server adds
_HOP = {b"host", b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"upgrade", b"date", b"server"}


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


class Proxy:
    def __init__(self, shards: list[str], owner: dict[str, int]) -> None:
        """``shards``: each worker's HTTP unix socket; ``owner``: VM name -> its worker's index."""
        self.owner = owner
        self.clients = [
            httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=path), base_url="http://shard", timeout=None)
            for path in shards
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            for client in self.clients:
                await client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        parts = path.split("/")
        if path == "/api/vms" and scope["method"] == "GET":
            await self._joined(scope, send)
        elif path == "/healthz":
            await self._health(send)
        elif len(parts) > 3 and parts[:3] == ["", "api", "vms"] and parts[3] in self.owner:
            try:
                await self._forward(self.clients[self.owner[parts[3]]], scope, receive, send)
            except httpx.TransportError:  # its worker has ended: as one process answers for an ended VM
                await self._json(
                    send, 404, {"detail": {"class": "DeviceNotFound", "desc": f"no VM named '{parts[3]}'"}}
                )
        else:  # the page, the OpenAPI document, an unknown VM (its 404 comes from a worker): any live one
            for client in self.clients:
                try:
                    await self._forward(client, scope, receive, send)
                    return
                except httpx.TransportError:
                    continue
            await self._json(send, 503, {"detail": {"class": "GenericError", "desc": "no worker of the fleet serves"}})

    @staticmethod
    def _headers(scope: Scope) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP]

    async def _forward(self, client: httpx.AsyncClient, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and stream the answer back; TransportError (before anything was sent back)
        when the worker does not answer."""
        if "fakeqemu.body" not in scope:  # read once: a retry on another worker sends it again
            scope["fakeqemu.body"] = await _read_body(receive)
        body: bytes = scope["fakeqemu.body"]
        query = scope.get("query_string", b"").decode("latin-1")
        request = client.build_request(
            scope["method"], scope["path"] + (f"?{query}" if query else ""), headers=self._headers(scope), content=body
        )
        response = await client.send(request, stream=True)
        try:
            headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def _json(self, send: Send, status: int, value: Any) -> None:
        body = orjson.dumps(value)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _joined(self, scope: Scope, send: Send) -> None:
        joined: list[Any] = []
        for client in self.clients:
            try:
                r = await client.get("/api/vms", headers=self._headers(scope))
            except httpx.TransportError:  # an ended worker's VMs are not listed, as ended VMs are not
                continue
            if r.status_code != 200:
                await self._json(send, r.status_code, r.json())
                return
            joined += r.json()
        await self._json(send, 200, joined)

    async def _health(self, send: Send) -> None:
        vms = live = 0
        healthy = True
        for client in self.clients:
            try:
                r = await client.get("/healthz")
            except httpx.HTTPError:  # a worker that died: its VMs are not served
                healthy = False
                continue
            data = r.json()
            vms, live = vms + data["vms"], live + data["live"]
            healthy = healthy and r.status_code == 200
        vms = max(vms, len(self.owner))
        status = "ok" if healthy else "degraded"
        await self._json(send, 200 if healthy else 503, {"status": status, "vms": vms, "live": live})
