"""The guest's agent (qemu-ga 7.2 inside the modelled guest): its state and the commands it answers.

What it reports is the modelled guest: its NICs are the VM's NICs (MACs from the device tree, addresses
from the VM's guest network config), its disks the VM's virtio/SCSI disks, its vCPUs the VM's, its files
an in-memory file system, its commands scripted. Argument checking and error texts are qemu-ga's: the
schema recorded from Debian's qemu-ga (fakeqemu/data/agent-schema.json, tools/record_agent.py) and the
texts of its command implementations (measured where they are safe to run on this machine).

Agent state, a guest policy switchable while the VM runs (``x-fakeqemu-agent``, the HTTP API):

- ``running`` (default): answers while the VM runs (a paused VM's agent answers once it resumes);
- ``delay:<ms>``: answers, each input ``ms`` late;
- ``hung``: the port is open but nothing answers (input waits: it is read when the agent runs again);
- ``absent``: no agent in the guest: the port stays closed (VSERPORT_CHANGE open=false).

The port opens when the guest has booted (the VM first runs), with QEMU's VSERPORT_CHANGE event.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.acpi.pm import SLP_TYP_S3, SLP_TYP_S4
from fakeqemu.machine.core.events import Event
from fakeqemu.machine.guest.hotplug import check_policy, delay_ms
from fakeqemu.qmp.errors import GenericError, QMPError
from fakeqemu.qmp.schema import Schema
from fakeqemu.recorded import document

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

AGENT_PORT_NAME = "org.qemu.guest_agent.0"
AGENT_POLICIES = ("running", "hung", "absent")
#: commands qemu-ga still runs while filesystems are frozen (qga/main.c ga_freeze_allowlist)
FREEZE_ALLOWED = frozenset(
    {"guest-ping", "guest-info", "guest-sync", "guest-sync-delimited", "guest-fsfreeze-status", "guest-fsfreeze-thaw"}
)
FROZEN_HINT = "the agent is in frozen state"
#: qemu-ga's first file handle (QGA_PSTATE_DEFAULT_FD_COUNTER) and read limits
FIRST_HANDLE = 1000
READ_COUNT_DEFAULT = 4096
READ_COUNT_MAX = 48 << 20
#: how long the modelled guest takes to act on guest-shutdown / guest-suspend-*
POWER_DELAY_S = 0.05
BOOT_NS_BEFORE = 60 * 10**9
DISK_BYTES = 10 << 30
MEMORY_BLOCK = 128 << 20
OSINFO = {
    "kernel-release": "6.1.0-13-amd64",
    "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)",
    "machine": "x86_64",
    "id": "debian",
    "name": "Debian GNU/Linux",
    "pretty-name": "Debian GNU/Linux 12 (bookworm)",
    "version": "12 (bookworm)",
    "version-id": "12",
}
CPU_STATS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guestnice")
DISK_STATS = (
    "read-sectors", "read-ios", "read-merges", "write-sectors", "write-ios", "write-merges", "discard-sectors",
    "discard-ios", "discard-merges", "flush-ios", "read-ticks", "write-ticks", "discard-ticks", "flush-ticks",
    "ios-pgr", "total-ticks", "weight-ticks",
)  # fmt: skip


def check_agent_policy(policy: str) -> str:
    return check_policy(policy, AGENT_POLICIES, "agent")


class AgentSchema:
    """qemu-ga's commands and argument types, recorded; loaded once, shared by every VM."""

    _loaded: AgentSchema | None = None

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: str = data["qemu-version"]
        self.commands: list[dict[str, Any]] = data["supported-commands"]
        self.by_name = {c["name"]: c for c in self.commands}
        self.args = Schema(data)

    @classmethod
    def load(cls) -> AgentSchema:
        if cls._loaded is None:
            cls._loaded = cls(document("agent-schema.json"))
        return cls._loaded


class NoResponse:
    """What a command without a success response (guest-shutdown, guest-suspend-*) returns."""


NO_RESPONSE = NoResponse()


@dataclass
class OpenFile:
    path: str
    mode: str
    pos: int = 0


@dataclass
class ExecResult:
    """A scripted guest-exec outcome."""

    exitcode: int = 0
    out: bytes = b""
    err: bytes = b""


@dataclass
class GuestNetConfig:
    """The guest's view of its network: addresses per NIC (by device id), the host name."""

    addresses: dict[str, list[str]] = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise GenericError("Invalid Base64 data") from None


class GuestAgent:
    """One VM's agent; ``port`` is the virtserialport's id (VSERPORT_CHANGE), ``chardev`` its host side."""

    def __init__(
        self, machine: Machine, port: str, chardev: str, policy: str = "running", blocked: tuple[str, ...] = ()
    ) -> None:
        self.machine = machine
        #: RPCs this guest's qemu-ga runs without (qemu-ga -b)
        self.blocked = frozenset(blocked)
        self.port = port
        self.chardev = chardev
        self.policy = check_agent_policy(policy)
        self.schema = AgentSchema.load()
        import fakeqemu.machine.guest.agent_commands
        import fakeqemu.machine.guest.agent_io  # noqa: F401  (they register the commands)

        self.port_open = False
        self.booted = False
        self.frozen = False
        self.fs: dict[str, bytearray] = {"/etc/hostname": bytearray(f"{self.host_name}\n".encode())}
        self.files: dict[int, OpenFile] = {}
        self.next_handle = FIRST_HANDLE
        self.scripts: dict[str, ExecResult] = {}
        self.execs: dict[int, ExecResult] = {}
        self.next_pid = 1000
        self.passwords: dict[str, tuple[str, bool]] = {}
        self.users = ["root"]
        #: authorized keys per user; None: the user has no authorized_keys file
        self.ssh_keys: dict[str, list[str] | None] = {"root": None}
        self.clock_offset_ns = 0
        self.offline_cpus: set[int] = set()
        self.net = GuestNetConfig()
        self.trimmed = 0
        #: called when the agent may now answer input it held (policy or run state changed)
        self.on_wake: list[Callable[[], None]] = []
        #: log of host-visible actions, for the HTTP API: (action, detail)
        self.actions: list[tuple[str, str]] = []
        machine.events.subscribe(self._on_event)
        if machine.running:
            self._boot()

    # --- state -------------------------------------------------------------------------------------

    @property
    def host_name(self) -> str:
        return self.machine.config.name or "fakeqemu-guest"

    @property
    def delay_s(self) -> float:
        ms = delay_ms(self.policy)
        return 0.0 if ms is None else ms / 1000.0

    @property
    def answers(self) -> bool:
        """Whether input is read now (else it waits in the port)."""
        return self.port_open and self.machine.running and self.policy != "hung"

    def set_policy(self, policy: str) -> None:
        self.policy = check_agent_policy(policy)
        if policy == "absent":
            self._set_open(False)
        elif self.booted:
            self._set_open(True)
        self.wake()

    def wake(self) -> None:
        for fn in list(self.on_wake):
            fn()

    def _on_event(self, event: Event) -> None:
        if event.name == "RESUME":
            if not self.booted:
                self._boot()
            self.wake()
        elif event.name == "RESET":
            # the guest reboots: the agent starts again with nothing frozen and no open files
            self.frozen = False
            self.files.clear()

    def _boot(self) -> None:
        self.booted = True
        if self.policy != "absent":
            self._set_open(True)

    def _set_open(self, is_open: bool) -> None:
        if self.port_open == is_open:
            return
        self.port_open = is_open
        self.machine.events.emit("VSERPORT_CHANGE", {"id": self.port, "open": is_open})

    def stop(self) -> None:
        """The guest OS stops its services (a shutdown in progress): the port closes."""
        self._set_open(False)

    def describe(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "port": self.port,
            "chardev": self.chardev,
            "open": self.port_open,
            "frozen": self.frozen,
        }

    # --- dispatch (qapi/qmp-dispatch.c order: lookup, enabled, arguments, the command) -------------

    def execute(self, name: str, args: dict[str, Any]) -> Any:
        """Run one command; its result, NO_RESPONSE, or QMPError."""
        entry = self.schema.by_name.get(name)
        handler = COMMANDS.get(name)
        if entry is None or handler is None:
            raise QMPError(f"The command {name} has not been found", "CommandNotFound")
        if self.frozen and name not in FREEZE_ALLOWED:  # qemu-ga's freeze overrides the reason
            raise QMPError(f"Command {name} has been disabled: {FROZEN_HINT}", "CommandNotFound")
        if not entry["enabled"] or name in self.blocked:
            raise QMPError(f"Command {name} has been disabled", "CommandNotFound")
        checked = self.schema.args.check_args(name, args)
        result = handler(self, checked)
        if not entry["success-response"]:
            return NO_RESPONSE
        return result

    # --- helpers over the machine ------------------------------------------------------------------

    def _pci_devices(self) -> list[Any]:
        board = self.machine.board
        if board is None:
            return []
        return [dev for bus in board.pci_buses() for dev in list(bus.pci_devices)]

    def _bus_number(self, dev: Any) -> int:
        """The bus number the guest's firmware gave ``dev``'s bus: bridges numbered depth first in slot
        order (SeaBIOS), which is also how libvirt numbers its PCI controllers."""
        board = self.machine.board
        if board is None:
            return 0
        numbers: dict[int, int] = {}
        todo = [board.root_bus]
        while todo:
            bus = todo.pop()
            numbers[id(bus)] = len(numbers)
            subs = [sub for d in sorted(bus.pci_devices, key=lambda d: d.devfn) for sub in d.pci_child_buses]
            todo.extend(reversed(subs))
        return numbers.get(id(dev.parent_bus), 0)

    def nics(self) -> list[Any]:
        out = []
        for dev in self._pci_devices():
            try:
                mac = dev.get("mac")
            except QMPError:
                continue
            if isinstance(mac, str):
                out.append(dev)
        return out

    def nic_name(self, dev: Any) -> str:
        bus = self._bus_number(dev)
        return f"ens{dev.slot}" if bus == 0 else f"enp{bus}s{dev.slot}"

    def nic_addresses(self, index: int, dev: Any) -> list[str]:
        configured = self.net.addresses.get(dev.id or "")
        if configured is not None:
            return configured
        return [f"192.168.122.{10 + index}/24"]

    def disks(self) -> list[tuple[str, Any, str]]:
        """(Linux name, device, bus type) of each disk the guest sees."""
        out = []
        n = 0
        for dev in self._pci_devices():
            if dev.type.startswith("virtio-blk"):
                out.append((f"vd{chr(ord('a') + n)}", dev, "virtio"))
                n += 1
        return out

    def vcpu_count(self) -> int:
        return max(1, len(self.machine.cpus.plugged))

    def now_ns(self) -> int:
        return int(self.machine.clock() * 1e6) * 1000 + self.clock_offset_ns  # g_get_real_time: microseconds

    def _power(self, action: str) -> None:
        self.actions.append(("power", action))
        if action == "powerdown":  # the OS's shutdown, as on the power button (its delay, its policy)
            self.machine.guest.power_down(button=False)
            return
        self.machine.timers.call_later(POWER_DELAY_S, lambda: _POWER[action](self.machine))


def _reboot(machine: Machine) -> None:
    machine.system_reset("guest-reset", guest=True)


def _halt(machine: Machine) -> None:
    agent = machine.agent
    if agent is not None:
        agent.stop()  # the OS stopped: its agent is gone until a reset


def _suspend_ram(machine: Machine) -> None:
    """The OS enters S3 through the ACPI PM block's SLP_TYP/SLP_EN (directly where no block is mapped)."""
    if machine.pm is None or not machine.pm.sleep(SLP_TYP_S3):
        machine.suspend()


def _suspend_disk(machine: Machine) -> None:
    """The image is written; the OS enters S4 through the PM block: SUSPEND_DISK, then it powers off."""
    if machine.pm is not None and machine.pm.sleep(SLP_TYP_S4):
        return
    machine.events.emit("SUSPEND_DISK")
    if not machine.exiting:
        machine.shutdown("guest-shutdown", guest=True)


_POWER: dict[str, Callable[[Machine], None]] = {
    "reboot": _reboot,
    "halt": _halt,
    "ram": _suspend_ram,
    "disk": _suspend_disk,
}

# --- the commands: handler(agent, args) -> result, dicts in the schema's member order ---------------------

Handler = Callable[[GuestAgent, dict[str, Any]], Any]
COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = fn
        return fn

    return register
