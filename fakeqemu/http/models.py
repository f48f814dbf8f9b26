"""The HTTP API's request and response bodies (they make the OpenAPI document at /openapi.json)."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from fakeqemu.machine.faults import MAX_ENTRIES, MAX_NAME


def _not_bool(value: Any) -> Any:
    """JSON true is not the number 1 (pydantic's lax mode would take it as one)."""
    if isinstance(value, bool):
        raise ValueError("a number is required, not a boolean")
    return value


#: numbers in request bodies: 5 and 5.0 (the same JSON number), never true/false (constraints go
#: before it in Annotated, or they are lost from the JSON schema)
NotBool = BeforeValidator(_not_bool)
Port = Annotated[int, Field(ge=0, le=0xFFFF), NotBool]
#: fakeqemu.machine.guest.hotplug's policies
POLICY_PATTERN = r"^(auto|prompt|never|refuse|passive|delay:[0-9]{1,9})$"


class AccessSize(IntEnum):
    """An I/O access of 1, 2 or 4 bytes."""

    BYTE = 1
    WORD = 2
    LONG = 4


Name = Annotated[str, Field(min_length=1, max_length=128)]


class Problem(BaseModel):
    """An error: QMP's error class and desc (QEMU's text when it comes from a QMP command)."""

    class_: str = Field(alias="class")
    desc: str


class ErrorBody(BaseModel):
    detail: Problem


class VMSummary(BaseModel):
    name: str
    machine: str = Field(description="pc, q35 or none")
    status: str = Field(description="QEMU's run state, as query-status reports it")
    running: bool
    qmp: list[str] = Field(description="the QMP monitors' addresses")
    connections: int = Field(description="QMP clients connected now")


class QMPRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    execute: Name
    arguments: dict[str, Any] = Field(default_factory=dict)


class QOMProperty(BaseModel):
    name: str
    type: str


class QOMNode(BaseModel):
    name: str
    path: str
    type: str
    properties: list[QOMProperty] | None = Field(default=None, description="qom-list, when asked for")
    children: list[QOMNode]


class DeviceView(BaseModel):
    id: str | None = Field(description="the device's id, None for an anonymous device")
    type: str
    path: str = Field(description="QOM path")
    bus: str = Field(description="the bus's name (pci.0, a bridge's id, ...)")
    slot: int
    function: int
    addr: str = Field(description="slot.function as QEMU writes it (05.0)")
    hotplugged: bool
    hotpluggable: bool
    hotplug: str = Field(description="how this slot is unplugged: acpi (pcihp), native (SHPC/PCIe) or none")
    unplug_requested: bool = Field(description="device_del was accepted and the guest has not ejected yet")
    slot_down: bool = Field(description="the slot's bit is set in the pcihp 'down' register")


class BusView(BaseModel):
    name: str
    path: str
    type: str
    bsel: int | None = Field(description="ACPI hotplug bus selector; None when pcihp does not serve this bus")
    hotplug: str = Field(description="acpi, native or none")
    devices: list[DeviceView]


class DevicesView(BaseModel):
    buses: list[BusView]
    pending_unplugs: list[DeviceView] = Field(description="devices whose unplug waits for the guest")


class BselRegisters(BaseModel):
    bsel: int
    bus: str | None
    up: int
    down: int
    rmv: int
    pending_slots: list[int] = Field(description="slots set in 'down'")


class GpeRegisters(BaseModel):
    base: int | None
    status: int = Field(description="GPE0 status bytes (little endian)")
    enable: int = Field(description="GPE0 enable bytes (little endian)")
    sci: bool = Field(description="the SCI line: a status bit set with its enable bit")


class PcihpView(BaseModel):
    base: int = Field(description="I/O port of the register block")
    select: int = Field(description="the 'sel' register")
    buses: list[BselRegisters]
    gpe: GpeRegisters


class GuestDevicePolicy(BaseModel):
    id: str
    policy: str


class AgentView(BaseModel):
    policy: str = Field(description="running, delay:<ms>, hung, absent")
    port: str = Field(description="the virtserialport's id")
    chardev: str
    open: bool = Field(description="the guest has the port open (VSERPORT_CHANGE)")
    frozen: bool = Field(description="guest-fsfreeze-freeze is in effect")


class VcpuView(BaseModel):
    index: int = Field(description="the possible CPU's index (the ACPI CPU hotplug selector)")
    qom_path: str = Field(alias="qom-path")
    props: dict[str, int]
    removing: bool = Field(description="device_del asked, the guest has not ejected it yet")


class DimmView(BaseModel):
    id: str | None = Field(default=None, description="the DIMM's id, if it has one")
    qom_path: str = Field(alias="qom-path")
    memdev: str = Field(description="its memory backend's QOM path")
    slot: int = Field(description="its slot in the ACPI memory hotplug block")
    addr: int = Field(description="its guest-physical address")
    size: int
    node: int
    hotplugged: bool
    hotpluggable: bool
    removing: bool = Field(description="device_del asked, the guest has not ejected it yet")


class GuestView(BaseModel):
    policy: str
    effective_policy: str = Field(alias="effective-policy")
    devices: list[GuestDevicePolicy]
    booted: bool
    power: str = Field(description="what the OS does on shutdown: prompt, delay:<ms>, ignore, hang")
    powerdown_pending: bool = Field(
        alias="powerdown-pending",
        description="the power button was pressed and the guest has not answered it (guest never, passive, VM stopped)",
    )
    sci_pending: bool = Field(
        alias="sci-pending", description="a hotplug GPE was raised and the guest's handler has not run yet"
    )
    actions: list[list[str]] = Field(description="the last things the guest did: [action, detail]")
    agent: AgentView | None = Field(default=None, description="the guest agent, if the VM has its port")
    vcpus: list[VcpuView] = Field(default_factory=list, description="plugged vCPUs")
    dimms: list[DimmView] = Field(default_factory=list, description="plugged DIMMs (pc-dimm)")


class GuestPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(
        pattern=POLICY_PATTERN,
        description="auto, prompt, delay:<ms> (eject late), never (no answer: eject dropped), refuse, passive",
    )
    device: str | None = Field(default=None, max_length=256, description="a device id; none means the whole VM")


class PowerPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(
        pattern=r"^(prompt|ignore|hang|delay:[0-9]{1,9})$", description="prompt, delay:<ms>, ignore, hang"
    )


class AgentPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(
        pattern=r"^(running|hung|absent|delay:[0-9]{1,9})$", description="running, delay:<ms>, hung, absent"
    )


class WatchdogPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(
        pattern=r"^(off|(pet|hang)(:[1-9][0-9]{0,3})?)$",
        description="the guest's watchdog daemon: off, pet[:<s>] (arms, pets), hang[:<s>] (arms, stops petting)",
    )


class WatchdogView(BaseModel):
    policy: str
    device: str = Field(description="the watchdog device (ib700, i6300esb), empty without one")
    guest_armed: bool = Field(alias="guest-armed", description="the guest armed it since it last booted")
    device_armed: bool = Field(alias="device-armed", description="the device's timer runs")


class Panic(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kdump: bool = Field(default=False, description="a crash kernel takes over (GUEST_CRASHLOADED)")


class Panicked(BaseModel):
    reported: bool = Field(description="a pvpanic device told QEMU (GUEST_PANICKED); else the guest just stops")


class IOWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: Port
    size: AccessSize = AccessSize.LONG
    value: Annotated[int, Field(ge=0, le=0xFFFFFFFF), NotBool]


class IOValue(BaseModel):
    value: int


class Ejected(BaseModel):
    id: str
    bsel: int | None = Field(description="the PCI bus selector; null for a vCPU, a DIMM or a native PCIe slot")
    slot: int


class QMPEvent(BaseModel):
    event: str
    timestamp: dict[str, int]
    data: dict[str, Any] | None = None


class TrafficRecord(BaseModel):
    seq: int
    time: float
    connection: str = Field(description="monitor0#3 (monitor and connection number), http, ...")
    direction: str = Field(description="in, out or note (a fault, a close, an action of the control plane)")
    data: str
    size: int = Field(description="the message's length in bytes; data is cut to the record's limit")
    message: Any = Field(default=None, description="the JSON value the message carries (null for notes)")


class TrafficView(BaseModel):
    records: list[TrafficRecord]
    dropped: int = Field(description="records the bounded log has dropped")
    last_seq: int = Field(description="the last sequence number; pass it as ?since= to poll for new records")
    limit: int = Field(description="bytes the record keeps (0: not recording)")
    bytes: int = Field(description="bytes the kept records count against the limit")


Count = Annotated[int, Field(ge=0, le=2**31), NotBool]
Seconds = Annotated[float, Field(ge=0, le=3600), NotBool]


class FaultCount(BaseModel):
    """When a fault fires: not for the first ``after`` matching requests, then ``times`` times (None: always)."""

    model_config = ConfigDict(extra="forbid")
    times: Count | None = None
    after: Count | None = None

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> Any:
        """An entry is written as it was given: the keys left out stay out."""
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class QMPFailure(FaultCount):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    class_: str = Field(default="GenericError", alias="class", max_length=128)
    desc: str = Field(max_length=4096)


class FixedDelay(FaultCount):
    seconds: Seconds


class UniformDelay(FaultCount):
    uniform: tuple[Seconds, Seconds] = Field(description="[lo, hi]")


class ExponentialDelay(FaultCount):
    exponential: Seconds = Field(description="the mean")


class NormalDelay(FaultCount):
    normal: tuple[Seconds, Seconds] = Field(description="[mean, sd]; a draw below 0 waits 0")


DelayFault = FixedDelay | UniformDelay | ExponentialDelay | NormalDelay


class CloseAfter(FaultCount):
    requests: Count


#: a fault table's key (a command name, a job id) and its size, as fakeqemu.machine.faults bounds them
FaultKey = Annotated[str, Field(max_length=MAX_NAME)]
CommandFaults = (
    Annotated[list[FaultKey], Field(max_length=MAX_ENTRIES)]
    | Annotated[dict[FaultKey, FaultCount], Field(max_length=MAX_ENTRIES)]
)


class FaultsBody(BaseModel):
    """The VM's faults (see fakeqemu.machine.faults). QMP faults act on QMP connections; ``guest`` is the
    guest's eject behaviour."""

    model_config = ConfigDict(extra="forbid")
    delay: dict[FaultKey, Seconds | DelayFault] = Field(
        max_length=MAX_ENTRIES,
        default_factory=dict,
        description="command -> seconds (or a distribution) to wait before the reply",
    )
    fail: dict[FaultKey, QMPFailure] = Field(
        default_factory=dict, max_length=MAX_ENTRIES, description="command -> the QMP error to answer"
    )
    close_after: Count | CloseAfter | None = Field(default=None, description="close a connection after N requests")
    close_mid_reply: CommandFaults = Field(default_factory=list, description="commands whose reply is cut in half")
    crash_on: CommandFaults = Field(default_factory=list, description="commands that kill the process (SIGKILL)")
    drop: CommandFaults = Field(default_factory=list, description="commands read and never answered")
    disconnect: CommandFaults = Field(
        default_factory=list, description="commands that run, then the connection closes before the reply"
    )
    kill_vm: CommandFaults = Field(default_factory=list, description="commands that end this VM only")
    seed: Count | None = Field(default=None, description="seed of the delay distributions' generator")
    job_error: dict[FaultKey, Annotated[int, Field(ge=0), NotBool]] = Field(
        default_factory=dict,
        max_length=MAX_ENTRIES,
        description="job id (or *) -> byte offset where its I/O fails once (EIO)",
    )
    migration_cut: Literal["setup", "active", "ram", "device"] | None = Field(
        default=None, description="the outgoing migration stream is cut at this step (ram: mid-way)"
    )
    migration_vanish: Literal["setup", "ram", "device"] | None = Field(
        default=None, description="this VM, a migration's destination, dies when its stream reaches this step"
    )
    migration_stuck: bool = Field(default=False, description="the outgoing migration never converges")
    guest: str | None = Field(
        default=None,
        pattern=POLICY_PATTERN,
        description="guest policy: delay:<ms> delays the eject, never drops it, refuse vetoes it; None: unchanged",
    )


class TimelineStep(BaseModel):
    step: str = Field(description="request, GPE, register read, eject write, unparent, finalize, DEVICE_DELETED, ...")
    t: float = Field(description="seconds since the VM started (its monotonic clock)")
    wall: float = Field(description="wall-clock time (Unix seconds)")
    detail: str = Field(description="bus and slot, who wrote the register, the object finalized, the clients")


class DeviceTimeline(BaseModel):
    device: str = Field(description="the device's id, or its QOM path when it has none")
    waiting: str | None = Field(description="what the device waits for now; null when nothing is pending")
    steps: list[TimelineStep]


class Health(BaseModel):
    status: str = Field(description="ok: every VM serves; degraded: some have ended")
    vms: int = Field(description="VMs this process was started with")
    live: int = Field(description="VMs still serving")
