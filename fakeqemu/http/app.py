"""The HTTP API: FastAPI on hypercorn's trio worker, beside the QMP monitors in the same process.

Every route works through the same command handlers the QMP monitors run (fakeqemu.commands) or the
VM's own objects (traffic record, faults, event log), so what the API shows is what QMP clients see.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any

import orjson
import trio
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from fakeqemu import __version__
from fakeqemu.commands.registry import COMMANDS, Context
from fakeqemu.machine.events import Event
from fakeqemu.machine.faults import FaultConfigError, Faults
from fakeqemu.machine.traffic import Record
from fakeqemu.qmp.errors import QMPError
from fakeqemu.server.vm import VM

#: live-feed items buffered per stream client; a client slower than this loses items (counted)
FEED_BUFFER = 4096


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# --- request and response bodies --------------------------------------------------------------------


class QMPRequestBody(BaseModel):
    execute: str = Field(min_length=1, max_length=128)
    arguments: dict[str, Any] = Field(default_factory=dict)


class IOWrite(BaseModel):
    port: int = Field(ge=0, le=0xFFFF)
    size: int = Field(default=4, description="1, 2 or 4 bytes")
    value: int = Field(ge=0, le=0xFFFFFFFF)


class GuestPolicy(BaseModel):
    policy: str = Field(description="auto, prompt, delay:<ms>, never or refuse", max_length=64)
    device: str | None = Field(default=None, description="a device id; none means the whole VM", max_length=256)


class FaultsBody(BaseModel):
    delay: dict[str, Annotated[float, Field(ge=0, le=3600)]] = Field(default_factory=dict)
    fail: dict[str, dict[str, str]] = Field(default_factory=dict, description='command -> {"class": ..., "desc": ...}')
    close_after: int | None = Field(default=None, ge=0)
    close_mid_reply: list[str] = Field(default_factory=list)
    crash_on: list[str] = Field(default_factory=list)


class VMSummary(BaseModel):
    name: str
    machine: str
    status: str
    running: bool
    qmp: list[str]
    connections: int


def _error(status: int, desc: str, cls: str = "GenericError") -> HTTPException:
    return HTTPException(status_code=status, detail={"class": cls, "desc": desc})


def build_app(vms: list[VM], token: str | None = None) -> FastAPI:
    by_name = {vm.name: vm for vm in vms}
    app = FastAPI(
        title="fakeqemu control plane",
        version=__version__,
        description="See and steer fake VMs while your code talks QMP to them.",
        docs_url=None,  # Swagger UI would load its assets from a CDN; the dashboard is at /
        redoc_url=None,
        default_response_class=JSON,
    )

    def authorize(request: Request) -> None:
        # EventSource cannot send headers: the live stream may pass the token as ?token=
        if token is None:
            return
        if request.headers.get("authorization") == f"Bearer {token}" or request.query_params.get("token") == token:
            return
        raise _error(401, "a bearer token is required (Authorization: Bearer ...)")

    def get_vm(name: str) -> VM:
        vm = by_name.get(name)
        if vm is None or vm.exited.is_set():
            raise _error(404, f"no VM named '{name}'", "DeviceNotFound")
        return vm

    VMDep = Annotated[VM, Depends(get_vm)]
    auth = [Depends(authorize)]

    def call(vm: VM, command: str, arguments: dict[str, Any] | None = None) -> Any:
        cmd = COMMANDS.get(command)
        if cmd is None:
            raise _error(501, f"fakeqemu does not implement {command}", "CommandNotFound")
        args = dict(arguments or {})
        try:
            if not cmd.any_args:
                args = vm.dispatcher.schema.check_args(command, args)
            return cmd.handler(Context(vm.machine, monitor="http"), args)
        except QMPError as exc:
            raise _error(400, exc.desc, exc.cls) from None

    def summary(vm: VM) -> dict[str, Any]:
        m = vm.machine
        return {
            "name": vm.name,
            "machine": m.config.machine_type,
            "status": m.runstate,
            "running": m.running,
            "qmp": list(vm.addresses),
            "connections": len(vm.connections),
        }

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        page = resources.files("fakeqemu.http").joinpath("dashboard.html").read_text()
        return HTMLResponse(page)

    @app.get("/api/vms", dependencies=auth)
    async def list_vms() -> list[VMSummary]:
        return [VMSummary(**summary(vm)) for vm in vms if not vm.exited.is_set()]

    @app.get("/api/vms/{name}", dependencies=auth)
    async def get_vm_summary(vm: VMDep) -> VMSummary:
        return VMSummary(**summary(vm))

    @app.post("/api/vms/{name}/qmp", dependencies=auth)
    async def qmp(vm: VMDep, body: QMPRequestBody) -> dict[str, Any]:
        """Run one QMP command as a monitor would (recorded in the traffic record as 'http')."""
        vm.machine.traffic.add("http", "in", orjson.dumps(body.model_dump()))
        try:
            result = call(vm, body.execute, body.arguments)
            reply: dict[str, Any] = {"return": {} if result is None else result}
        except HTTPException as exc:
            if exc.status_code == 401:
                raise
            reply = {"error": exc.detail}
        vm.machine.traffic.add("http", "out", orjson.dumps(reply))
        return reply

    @app.get("/api/vms/{name}/qom", dependencies=auth)
    async def qom(
        vm: VMDep,
        path: Annotated[str, Query(max_length=1024)] = "/machine",
        depth: Annotated[int, Query(ge=0, le=16)] = 8,
    ) -> dict[str, Any]:
        """The QOM tree under ``path``: each node's type and children, as qom-list sees it."""

        def walk(p: str, level: int) -> dict[str, Any]:
            props = call(vm, "qom-list", {"path": p})
            node: dict[str, Any] = {"path": p, "type": None, "children": []}
            for prop in props:
                ptype = prop.get("type", "")
                if prop.get("name") == "type":
                    node["type"] = call(vm, "qom-get", {"path": p, "property": "type"})
                elif ptype.startswith("child<") and level < depth:
                    child = f"{p.rstrip('/')}/{prop['name']}"
                    node["children"].append(walk(child, level + 1))
            return node

        return walk(path, 0)

    @app.get("/api/vms/{name}/pci", dependencies=auth)
    async def pci(vm: VMDep) -> Any:
        return call(vm, "query-pci")

    @app.get("/api/vms/{name}/guest", dependencies=auth)
    async def guest(vm: VMDep) -> Any:
        return call(vm, "x-fakeqemu-query-guest")

    @app.put("/api/vms/{name}/guest", dependencies=auth)
    async def set_guest(vm: VMDep, body: GuestPolicy) -> Any:
        args: dict[str, Any] = {"policy": body.policy}
        if body.device is not None:
            args["device"] = body.device
        call(vm, "x-fakeqemu-guest-policy", args)
        return call(vm, "x-fakeqemu-query-guest")

    @app.post("/api/vms/{name}/devices/{device}/eject", dependencies=auth)
    async def eject(vm: VMDep, device: str) -> Any:
        """The guest ejects this device now, through the pcihp eject register."""
        call(vm, "x-fakeqemu-eject", {"id": device})
        return {}

    @app.post("/api/vms/{name}/io", dependencies=auth)
    async def io_write(vm: VMDep, body: IOWrite) -> Any:
        if body.size not in (1, 2, 4):
            raise _error(422, "size must be 1, 2 or 4")
        vm.machine.ioports.write(body.port, body.size, body.value)
        return {}

    @app.get("/api/vms/{name}/io", dependencies=auth)
    async def io_read(
        vm: VMDep, port: Annotated[int, Query(ge=0, le=0xFFFF)], size: Annotated[int, Query(ge=1, le=4)] = 4
    ) -> dict[str, int]:
        """A guest read of an I/O port. Reads have the guest's side effects (reading 'up' clears it)."""
        if size not in (1, 2, 4):
            raise _error(422, "size must be 1, 2 or 4")
        return {"value": vm.machine.ioports.read(port, size)}

    @app.get("/api/vms/{name}/events", dependencies=auth)
    async def events(vm: VMDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        return [e.to_qobject() for e in list(vm.event_log)[-limit:]]

    @app.get("/api/vms/{name}/traffic", dependencies=auth)
    async def traffic(
        vm: VMDep,
        since: Annotated[int, Query(ge=0)] = 0,
        connection: Annotated[str | None, Query(max_length=128)] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> dict[str, Any]:
        """Every QMP message in and out since sequence number ``since`` (and fault notes)."""
        records = [r for r in vm.machine.traffic.since(since) if connection is None or r.connection == connection]
        return {"records": [r.to_json() for r in records[:limit]], "dropped": vm.machine.traffic.dropped}

    @app.get("/api/vms/{name}/faults", dependencies=auth)
    async def get_faults(vm: VMDep) -> FaultsBody:
        return FaultsBody(**vm.machine.faults.to_json())

    @app.put("/api/vms/{name}/faults", dependencies=auth)
    async def set_faults(vm: VMDep, body: FaultsBody) -> FaultsBody:
        try:
            vm.machine.faults = Faults.from_json(body.model_dump())
        except FaultConfigError as exc:
            raise _error(422, str(exc)) from None
        vm.machine.traffic.add("http", "note", orjson.dumps({"faults": vm.machine.faults.to_json()}))
        return FaultsBody(**vm.machine.faults.to_json())

    @app.post("/api/vms/{name}/reset", dependencies=auth)
    async def reset(vm: VMDep) -> VMSummary:
        """Back to the state the VM started in; QMP clients stay connected."""
        vm.reset()
        return VMSummary(**summary(vm))

    @app.get(
        "/api/vms/{name}/stream",
        dependencies=auth,
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream(vm: VMDep) -> StreamingResponse:
        """Server-sent events: 'qmp-event' for each QMP event, 'traffic' for each traffic record."""
        send, receive = trio.open_memory_channel[tuple[str, object]](FEED_BUFFER)

        def on_item(kind: str, item: object) -> None:
            # a slow reader loses items; the QMP path never waits for it
            with contextlib.suppress(trio.WouldBlock):
                send.send_nowait((kind, item))

        async def body() -> AsyncIterator[bytes]:
            vm.feed.append(on_item)
            try:
                yield b": fakeqemu live feed\n\n"
                async with receive:
                    async for kind, item in receive:
                        yield _sse(kind, item)
            finally:
                if on_item in vm.feed:
                    vm.feed.remove(on_item)

        return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    return app


def _sse(kind: str, item: object) -> bytes:
    if isinstance(item, Event):
        return b"event: qmp-event\ndata: " + orjson.dumps(item.to_qobject()) + b"\n\n"
    assert isinstance(item, Record)
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(item.to_json()) + b"\n\n"
