"""The HTTP API: FastAPI on hypercorn's trio worker, beside the QMP monitors in the same process.

Every route runs in the VMs' own trio thread (all handlers are ``async def``; the machine is not thread
safe) and works on the same machine objects the QMP commands use (fakeqemu.machine), so what the API
shows is what QMP clients see. What the control plane changes (an injected write, an eject, new faults,
a reset) is written to the VM's traffic record as a ``note`` from connection ``http``.
"""

import logging
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fakeqemu import __version__
from fakeqemu.commands.dispatch import run
from fakeqemu.commands.registry import Context
from fakeqemu.http import models, views
from fakeqemu.http.jsonio import dumps
from fakeqemu.http.stream import sse
from fakeqemu.http.traffic import ndjson
from fakeqemu.machine.core.qdev import PCIBus, PCIDevice
from fakeqemu.machine.faults import FaultConfigError, Faults
from fakeqemu.machine.guest.hotplug import PolicyError, check_policy, is_native_slot
from fakeqemu.machine.guest.panic import panic
from fakeqemu.machine.guest.watchdog import WatchdogPolicyError
from fakeqemu.machine.traffic import TrafficFilter
from fakeqemu.qmp.errors import QMPError
from fakeqemu.server.vm import VM

log = logging.getLogger("fakeqemu.http")

#: the traffic record's connection name for what the control plane does
HTTP_CONNECTION = "http"


class JSON(JSONResponse):
    """JSON written by orjson."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def _error(status: int, desc: str, cls: str = "GenericError") -> HTTPException:
    return HTTPException(status_code=status, detail={"class": cls, "desc": desc})


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": models.ErrorBody} for code in codes}


def note(vm: VM, text: str) -> None:
    vm.machine.traffic.add(HTTP_CONNECTION, "note", text.encode())


def traffic_filter(
    connection: Annotated[str | None, Query(max_length=128)] = None,
    direction: Literal["in", "out", "note"] | None = None,
    command: Annotated[str | None, Query(max_length=128)] = None,
    event: Annotated[str | None, Query(max_length=128)] = None,
    since_time: Annotated[float | None, Query(ge=0)] = None,
    until_time: Annotated[float | None, Query(ge=0)] = None,
) -> TrafficFilter:
    return TrafficFilter(connection, direction, command, event, since_time, until_time)


def build_app(vms: list[VM]) -> FastAPI:
    by_name = {vm.name: vm for vm in vms}
    app = FastAPI(
        title="fakeqemu control plane",
        version=__version__,
        description="See and steer fake VMs while your code talks QMP to them.",
        openapi_url="/openapi.json",
        docs_url=None,  # Swagger UI would load its assets from a CDN; the dashboard is at /
        redoc_url=None,
        default_response_class=JSON,
    )

    async def get_vm(name: str) -> VM:
        vm = by_name.get(name)
        if vm is None or vm.exited.is_set():
            raise _error(404, f"no VM named '{name}'", "DeviceNotFound")
        return vm

    VMDep = Annotated[VM, Depends(get_vm)]

    @app.exception_handler(StarletteHTTPException)
    async def uniform_errors(request: Request, exc: StarletteHTTPException) -> JSON:
        """Every error body is {"detail": {"class", "desc"}}, FastAPI's own (a body that does not parse) too."""
        detail = exc.detail if isinstance(exc.detail, dict) else {"class": "GenericError", "desc": str(exc.detail)}
        return JSON({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    # a body that is not JSON is a 400 on any route; the token (401), the Host header (403) and the body's
    # size (413) are checked before a route runs (fakeqemu.http.guard)
    api = APIRouter(prefix="/api", responses=_errors(400, 401, 403, 413))
    with_vm = _errors(404)

    def find_pci_device(vm: VM, dev_id: str) -> tuple[PCIBus, PCIDevice]:
        board = vm.machine.board
        dev = board.find_device(dev_id) if board is not None else None
        if dev is None:
            raise _error(404, f"Device '{dev_id}' not found", "DeviceNotFound")
        bus = dev.parent_bus
        if not isinstance(dev, PCIDevice) or not isinstance(bus, PCIBus):
            raise _error(409, f"{dev_id} is not a PCI device")
        return bus, dev

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        page = resources.files("fakeqemu.http").joinpath("dashboard.html").read_text()
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/healthz", responses={503: {"model": models.Health}})
    async def healthz() -> JSON:
        """For liveness and readiness probes (no token needed; it tells no more than that the VMs run):
        200 while every VM of this process serves, 503 once one has ended."""
        live = sum(1 for vm in vms if not vm.exited.is_set())
        body = models.Health(status="ok" if live == len(vms) else "degraded", vms=len(vms), live=live)
        return JSON(body.model_dump(), status_code=200 if live == len(vms) else 503)

    @api.get("/vms")
    async def list_vms() -> list[models.VMSummary]:
        return [models.VMSummary(**views.summary(vm)) for vm in vms if not vm.exited.is_set()]

    @api.get("/vms/{name}", responses=with_vm)
    async def get_vm_summary(vm: VMDep) -> models.VMSummary:
        return models.VMSummary(**views.summary(vm))

    @api.post("/vms/{name}/qmp", responses=with_vm)
    async def qmp(vm: VMDep, body: models.QMPRequestBody) -> dict[str, Any]:
        """Run one QMP command, as a monitor would, and answer QMP's reply object (``return`` or
        ``error``). Recorded in the traffic record as connection ``http``; the command faults (``fail``,
        ``crash_on``) apply, the connection faults (delay, closing) do not."""
        vm.machine.traffic.add(HTTP_CONNECTION, "in", dumps(body.model_dump()))
        reply = run_command(vm, body.execute, body.arguments)
        vm.machine.traffic.add(HTTP_CONNECTION, "out", dumps(reply))
        return reply

    @api.get("/vms/{name}/qom", responses=_errors(404))
    async def qom(
        vm: VMDep,
        path: Annotated[str, Query(max_length=1024)] = "/machine",
        depth: Annotated[int, Query(ge=0, le=64)] = 3,
        properties: bool = False,
    ) -> models.QOMNode:
        """The QOM tree under ``path`` (absolute or partial, as qom-list takes it), ``depth`` levels deep."""
        board = vm.machine.board
        obj = board.tree.resolve(path) if board is not None else None
        if obj is None:
            raise _error(404, f"Device '{path}' not found", "DeviceNotFound")
        return models.QOMNode.model_validate(views.qom_node(obj, depth, properties))

    @api.get("/vms/{name}/devices", responses=with_vm)
    async def devices(vm: VMDep) -> models.DevicesView:
        """PCI buses and devices with their hotplug state; ``pending_unplugs`` wait for the guest."""
        return models.DevicesView.model_validate(views.devices(vm.machine))

    def device_timeline(vm: VM, device: str) -> models.DeviceTimeline:
        tl = vm.machine.timeline
        steps = [models.TimelineStep(step=s.step, t=s.t, wall=s.wall, detail=s.detail) for s in tl.steps(device)]
        return models.DeviceTimeline(device=device, waiting=tl.waiting(device), steps=steps)

    @api.get("/vms/{name}/timeline", responses=with_vm)
    async def timeline(vm: VMDep) -> list[models.DeviceTimeline]:
        """Every device hot-plugged or unplugged since the VM started (or was reset), with its steps."""
        return [device_timeline(vm, d) for d in vm.machine.timeline.devices()]

    @api.get("/vms/{name}/devices/{device}/timeline", responses=_errors(404))
    async def timeline_of(vm: VMDep, device: str) -> models.DeviceTimeline:
        """One device's hot-plug and unplug steps: request, GPE, guest reads, eject write (and who wrote it),
        unparent, RCU grace, finalize, DEVICE_DELETED (and to which clients); ``waiting`` is the pending step."""
        if device not in vm.machine.timeline.devices():
            raise _error(404, f"Device '{device}' has no hot-plug steps", "DeviceNotFound")
        return device_timeline(vm, device)

    @api.post("/vms/{name}/devices/{device}/eject", responses=_errors(404, 409))
    async def eject(vm: VMDep, device: str) -> models.Ejected:
        """The guest ejects this device now, whatever the guest policy: a PCI device's slot (its _EJ0:
        select the bus, write the eject register), a vCPU through the CPU hotplug block, a DIMM through
        the memory hotplug block. DEVICE_DELETED follows after the RCU grace period."""
        board = vm.machine.board
        found = board.find_device(device) if board is not None else None
        vcpu = vm.machine.cpus.find(found) if found is not None else None
        dimm = vm.machine.memdevs.find(found) if found is not None else None
        bsel: int | None = None
        if found is not None and vcpu is not None:
            slot, where, dev = vcpu.index, f"cpu {vcpu.index}", found
        elif found is not None and dimm is not None:
            slot, where, dev = dimm.slot, f"dimm slot {dimm.slot}", found
        else:
            bus, dev = find_pci_device(vm, device)
            if is_native_slot(bus):
                slot, where = dev.slot, f"PCIe slot of {bus.bus_name}"
            elif vm.machine.pcihp is None or bus.bsel is None:
                raise _error(409, f"{device} is not on an ACPI hotplug bus (bus {bus.bus_name})")
            else:
                bsel, slot = bus.bsel, dev.slot
                where = f"bsel {bsel} slot {slot}"
        note(vm, f"guest eject {device} ({where})")
        try:
            with vm.machine.io_from("http"):
                vm.machine.guest.eject_device(dev)
        except PolicyError as exc:
            raise _error(409, str(exc)) from None
        return models.Ejected(id=device, bsel=bsel, slot=slot)

    @api.get("/vms/{name}/pcihp", responses=_errors(404))
    async def pcihp(vm: VMDep) -> models.PcihpView:
        """The ACPI PCI hotplug registers per bus selector and GPE0, without a guest read's side effects."""
        hp = vm.machine.pcihp
        if hp is None:
            raise _error(404, "this VM has no ACPI PCI hotplug (-M none, or ACPI off)")
        return models.PcihpView.model_validate(views.pcihp(hp))

    @api.get("/vms/{name}/guest", responses=with_vm)
    async def guest(vm: VMDep) -> models.GuestView:
        return models.GuestView.model_validate(views.guest(vm.machine))

    @api.put("/vms/{name}/guest", responses=_errors(400, 404))
    async def set_guest(vm: VMDep, body: models.GuestPolicy) -> models.GuestView:
        """Change how the guest answers unplug requests, for the VM or one device."""
        board = vm.machine.board
        if body.device is not None and (board is None or board.find_device(body.device) is None):
            raise _error(404, f"Device '{body.device}' not found", "DeviceNotFound")
        try:
            vm.machine.guest.set_policy(body.policy, body.device)
        except PolicyError as exc:
            raise _error(400, str(exc)) from None
        where = "" if body.device is None else f" for {body.device}"
        note(vm, f"guest policy {body.policy}{where}")
        return models.GuestView.model_validate(views.guest(vm.machine))

    @api.put("/vms/{name}/guest/power", responses=_errors(400, 404))
    async def set_power(vm: VMDep, body: models.PowerPolicy) -> models.GuestView:
        """What the guest OS does on the power button or a shutdown: prompt, delay:<ms>, ignore, hang."""
        vm.machine.guest.set_power(body.policy)
        note(vm, f"guest power policy {body.policy}")
        return models.GuestView.model_validate(views.guest(vm.machine))

    @api.put("/vms/{name}/guest/agent", responses=_errors(400, 404))
    async def set_agent(vm: VMDep, body: models.AgentPolicy) -> models.AgentView:
        """The guest agent's state: running, delay:<ms> (answers late), hung (reads nothing), absent
        (its port closes: VSERPORT_CHANGE)."""
        agent = vm.machine.agent
        if agent is None:
            raise _error(404, "this VM has no guest agent port (org.qemu.guest_agent.0)")
        agent.set_policy(body.policy)
        note(vm, f"guest agent policy {body.policy}")
        return models.AgentView.model_validate(agent.describe())

    @api.get("/vms/{name}/guest/watchdog", responses=with_vm)
    async def watchdog(vm: VMDep) -> models.WatchdogView:
        return models.WatchdogView.model_validate(vm.machine.watchdog_daemon.describe())

    @api.put("/vms/{name}/guest/watchdog", responses=_errors(400, 404))
    async def set_watchdog(vm: VMDep, body: models.WatchdogPolicy) -> models.WatchdogView:
        """What the guest's watchdog daemon does: off, pet[:<s>], hang[:<s>] (the watchdog fires s later)."""
        try:
            vm.machine.watchdog_daemon.set_policy(body.policy)
        except WatchdogPolicyError as exc:
            raise _error(400, str(exc)) from None
        note(vm, f"watchdog policy {body.policy}")
        return models.WatchdogView.model_validate(vm.machine.watchdog_daemon.describe())

    @api.post("/vms/{name}/guest/panic", responses=with_vm)
    async def guest_panic(vm: VMDep, body: models.Panic) -> models.Panicked:
        """The guest kernel panics now: through pvpanic, QEMU's panic action follows."""
        note(vm, "guest panic" + (" (kdump)" if body.kdump else ""))
        return models.Panicked(reported=panic(vm.machine, body.kdump))

    @api.post("/vms/{name}/io", responses=with_vm)
    async def io_write(vm: VMDep, body: models.IOWrite) -> models.IOWrite:
        """A guest write to an I/O port (the pcihp registers, GPE0, ...), with the guest's effects."""
        size = int(body.size)
        value = body.value & ((1 << (8 * size)) - 1)
        note(vm, f"io write port 0x{body.port:x} size {size} value 0x{value:x}")
        with vm.machine.io_from("http"):
            vm.machine.ioports.write(body.port, size, value)
        return models.IOWrite(port=body.port, size=body.size, value=value)

    @api.get("/vms/{name}/io", responses=with_vm)
    async def io_read(
        vm: VMDep, port: Annotated[int, Query(ge=0, le=0xFFFF)], size: models.AccessSize = models.AccessSize.LONG
    ) -> models.IOValue:
        """A guest read of an I/O port. Reads have the guest's side effects (reading 'up' clears it)."""
        with vm.machine.io_from("http"):
            return models.IOValue(value=vm.machine.ioports.read(port, int(size)))

    @api.get("/vms/{name}/events", responses=with_vm)
    async def events(vm: VMDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[models.QMPEvent]:
        """The last QMP events, oldest first, as QMP clients received them."""
        log_ = list(vm.event_log)[-limit:]
        return [models.QMPEvent.model_validate(e.to_qobject()) for e in log_]

    TrafficFilters = Annotated[TrafficFilter, Depends(traffic_filter)]
    ndjson_response = {**with_vm, 200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}}

    @api.get("/vms/{name}/traffic", responses=ndjson_response)
    async def traffic(
        vm: VMDep,
        keep: TrafficFilters,
        since: Annotated[int, Query(ge=0, le=2**53)] = 0,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
        format: Literal["json", "ndjson"] = "json",
    ) -> Any:
        """The QMP messages in and out after sequence number ``since``, per connection, with fault
        notes, each with ``message`` (the JSON value it carries). Filters: ``connection``, ``direction``,
        ``command`` (its requests and their replies), ``event``, ``since_time``/``until_time`` (seconds
        since the epoch). ``format=ndjson``: one record per line, all of them."""
        record = vm.machine.traffic
        if format == "ndjson":
            return StreamingResponse(ndjson(vm, since, keep, follow=False), media_type="application/x-ndjson")
        out: list[dict[str, object]] = []
        last = since
        for r in record.since(since):
            last = r.seq
            if keep(r):
                out.append(r.to_json())
                if len(out) >= limit:
                    break
        return models.TrafficView.model_validate(
            {
                "records": out,
                "dropped": record.dropped,
                "last_seq": last,
                "limit": record.limit,
                "bytes": record.kept_bytes,
            }
        )

    @api.get("/vms/{name}/traffic/stream", response_class=StreamingResponse, responses=ndjson_response)
    async def traffic_stream(
        vm: VMDep, keep: TrafficFilters, since: Annotated[int, Query(ge=0, le=2**53)] = 0
    ) -> StreamingResponse:
        """NDJSON: the records after ``since`` that pass the filters, then each new one as it is made
        (a blank line every 15 s while there are none; ``{"dropped": n}`` when a slow reader lost some)."""
        return StreamingResponse(
            ndjson(vm, since, keep, follow=True),
            media_type="application/x-ndjson",
            headers={"Cache-Control": "no-store"},
        )

    @api.get("/vms/{name}/faults", responses=with_vm)
    async def get_faults(vm: VMDep) -> models.FaultsBody:
        return models.FaultsBody.model_validate({**vm.machine.faults.to_json(), "guest": vm.machine.guest.policy})

    @api.put("/vms/{name}/faults", responses=_errors(400, 404))
    async def set_faults(vm: VMDep, body: models.FaultsBody) -> models.FaultsBody:
        """Replace the VM's faults (each one that fires leaves a note in the traffic record)."""
        data = body.model_dump(by_alias=True)
        policy = data.pop("guest")
        try:
            faults = Faults.from_json(data)
            if policy is not None:
                check_policy(policy)
        except (FaultConfigError, PolicyError) as exc:
            raise _error(400, str(exc)) from None
        vm.machine.faults = faults
        if policy is not None:
            vm.machine.guest.set_policy(policy)
        shown = {**faults.to_json(), "guest": vm.machine.guest.policy}
        note(vm, "faults " + dumps(shown).decode())
        return models.FaultsBody.model_validate(shown)

    @api.post("/vms/{name}/reset", responses=with_vm)
    async def reset(vm: VMDep) -> models.VMSummary:
        """Back to the state the VM started in: devices, run state, guest policy, faults, event log and
        traffic record. QMP clients stay connected; live streams get a ``reset`` event."""
        vm.reset()
        note(vm, "reset")
        state = views.summary(vm)
        for fn in list(vm.feed):
            fn("reset", state)
        return models.VMSummary(**state)

    @api.get(
        "/vms/{name}/stream",
        response_class=StreamingResponse,
        responses={**with_vm, 200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
    )
    async def stream(vm: VMDep) -> StreamingResponse:
        """Server-sent events: ``qmp-event`` (each QMP event), ``traffic`` (each traffic record), ``reset``,
        ``dropped`` (items a slow reader lost). Sent in batches, at most every 50 ms."""
        return StreamingResponse(
            sse(vm), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    app.include_router(api)
    return app


def run_command(vm: VM, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A QMP command through the monitors' own command path (fakeqemu.commands.dispatch.run): the same
    handlers, schema check, oob rules, command faults (fail, crash_on) and error texts."""
    try:
        result = run(Context(vm.machine, monitor=HTTP_CONNECTION), name, arguments)
    except QMPError as exc:
        return {"error": {"class": exc.cls, "desc": exc.desc}}
    return {"return": result}
