"""What every HTTP request passes before the API sees it (an ASGI wrapper around the FastAPI app):

- without a token, the ``Host`` header must name the address the plane is bound to (or a name given with
  ``--http-allow-host``): a web page that rebinds its own DNS name to 127.0.0.1 cannot drive the API;
- with a token, every ``/api`` request carries it (``Authorization: Bearer T`` or ``?token=T``), checked
  before the body is read;
- a request body is at most MAX_BODY bytes: a larger ``Content-Length`` is refused before reading, and a
  body sent without one is cut off as soon as it grows past the limit.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qs

from fakeqemu.http.bind import bind_host
from fakeqemu.http.jsonio import dumps

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the largest request body (the API's bodies are a few hundred bytes; a fault table fits many times over)
MAX_BODY = 1024 * 1024


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def host_name(header: str) -> str:
    """The host of a ``Host`` header: ``[::1]:8780`` -> ``::1``, ``Example.org.:80`` -> ``example.org``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0].rstrip(".") if ":" in header else header.rstrip(".")


class HostCheck:
    """Which ``Host`` headers name this server: its bound address (any IP address when bound to all of
    them), ``localhost``, and the names allowed explicitly; any on a unix socket. A DNS
    name is what a rebinding page must use, so only names given on purpose pass."""

    def __init__(self, bind: str, allow: Sequence[str] = ()) -> None:
        #: a unix socket is out of a web page's reach: any Host
        self.anything = bind.startswith("unix:")
        host = bind_host(bind)
        ip = _ip(host)
        self.any_ip = ip is not None and ip.is_unspecified
        self.loopback = ip is not None and ip.is_loopback
        # "localhost" is never a rebinding page's name (it does not resolve through the page's DNS)
        self.names = {host.lower(), "localhost", *(name.lower().rstrip(".") for name in allow)}

    def allows(self, header: str) -> bool:
        name = host_name(header)
        if self.anything or name in self.names:
            return True
        ip = _ip(name)
        return ip is not None and (self.any_ip or (self.loopback and ip.is_loopback))


class Guard:
    def __init__(self, app: ASGIApp, token: str | None, hosts: HostCheck) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token is None:
            host = headers.get("host")
            if host is not None and not self.hosts.allows(host):
                await _refuse(send, 403, "Forbidden", f"Host '{host}' is not this server (see --http-allow-host)")
                return
        elif scope["path"].startswith("/api") and not self._authorized(scope, headers):
            await _refuse(
                send,
                401,
                "Unauthorized",
                "a bearer token is required (Authorization: Bearer ...)",
                [(b"www-authenticate", b"Bearer")],
            )
            return
        length = headers.get("content-length", "")
        if length and (not length.isdigit() or int(length) > MAX_BODY):
            await _refuse(send, 413, "PayloadTooLarge", f"request bodies are at most {MAX_BODY} bytes")
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        total, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > MAX_BODY:
                await _refuse(send, 413, "PayloadTooLarge", f"request bodies are at most {MAX_BODY} bytes")
                return
            chunks.append(body)
            more = message.get("more_body", False)
        replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def receive_again() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, receive_again, send)

    def _authorized(self, scope: Scope, headers: dict[str, str]) -> bool:
        # EventSource cannot send headers: the live stream (and any route) may pass ?token= instead
        assert self.token is not None
        header = headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            given = header[7:]
        else:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = query.get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())


async def _refuse(send: Send, status: int, cls: str, desc: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = dumps({"detail": {"class": cls, "desc": desc}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
