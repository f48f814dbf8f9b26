"""A VM's configuration (what the command line asks for): light on imports, so the command line can be
read and the monitors bound before the machine model is loaded (fakeqemu.machine.machine re-exports it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fakeqemu import __version__
from fakeqemu.machine.core.rcu import DEFAULT_GRACE_S
from fakeqemu.machine.faults import Faults

if TYPE_CHECKING:
    from fakeqemu.machine.cpus import Topology

#: what QEMU's id_wellformed accepts as an id (QemuOpts ids, device_add's, netdev_add's)
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


#: QEMU's run-state actions (set-action, -action, -no-reboot, -no-shutdown, -watchdog-action) and defaults
DEFAULT_ACTIONS = {"reboot": "reset", "shutdown": "poweroff", "panic": "shutdown", "watchdog": "reset"}


_SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def size_bytes(text: str) -> int:
    """A QEMU size option in bytes: a number, or with a suffix K, M, G or T (powers of 1024); ValueError
    when it is not one."""
    low = text.strip().lower()
    value = int(float(low[:-1]) * _SIZE_UNITS[low[-1]]) if low[-1:] in _SIZE_UNITS else int(low)
    if value < 0:
        raise ValueError(text)
    return value


@dataclass
class MachineConfig:
    """What a VM was started with: its command line, as the machine model reads it."""

    machine_type: str = "pc"  # "pc" (i440fx), "q35" or "none" (no board: -M none, isapc, microvm, x-remote)
    #: the machine type when it is not the 7.2 board of machine_type (pc-i440fx-2.0, isapc, ...)
    machine_name: str = ""
    name: str | None = None
    paused: bool = False  # -S
    #: --preconfig: prelaunch, only allow-preconfig commands until x-exit-preconfig
    preconfig: bool = False
    no_shutdown: bool = False  # -no-shutdown
    #: what the VM does on a guest reboot, shutdown, panic and watchdog expiry (QEMU's set-action)
    actions: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    acpi: bool = True  # -no-acpi clears it; then PCI hotplug is refused
    qtest: bool = False
    #: -qtest-log: where the qtest link's log goes (None: stderr, "none": nowhere, else a file, truncated)
    qtest_log: str | None = None
    rcu_grace: float = DEFAULT_GRACE_S
    #: guest policy: "auto" (passive under qtest, else prompt), "prompt", "delay:<ms>", "never", "refuse"
    guest: str = "auto"
    qemu_version: tuple[int, int, int] = (7, 2, 22)
    package: str = f"fakeqemu {__version__}"
    #: cold-plugged devices (-device), each as the option dict QEMU would build
    devices: list[dict[str, Any]] = field(default_factory=list)
    #: the -device option texts, parallel to ``devices`` (for QEMU's error messages)
    device_args: list[str] = field(default_factory=list)
    #: backends defined on the command line: -netdev (by id), -blockdev (by node-name), -drive (by id)
    netdevs: list[dict[str, Any]] = field(default_factory=list)
    #: print net_check_clients' warnings once the machine is made (fakeqemu.cli.qemu sets it as QEMU would)
    net_check: bool = False
    #: the -netdev options as given (QEMU's start-up errors quote them), in the order of ``netdevs``
    netdev_args: list[str] = field(default_factory=list)
    blockdevs: list[dict[str, Any]] = field(default_factory=list)
    #: the ide-hd / ide-cd devices the board makes for -drive if=ide, -cdrom, -hda (fakeqemu.cli.idedrives)
    board_drives: list[dict[str, str]] = field(default_factory=list)
    #: the -blockdev option texts, parallel to ``blockdevs`` (for QEMU's error messages)
    blockdev_args: list[str] = field(default_factory=list)
    #: image locks the CLI took before the monitors answered, by node name: the first machine adopts them
    image_locks: dict[str, int] = field(default_factory=dict)
    memory_mb: int = 128
    #: -m slots= and maxmem= (bytes; 0: no maxmem): DIMM slots and the device-memory region
    ram_slots: int = 0
    maxmem: int = 0
    #: -object memory-backend-ram/-file options (the object-add arguments), made when the machine is built
    memory_objects: list[dict[str, Any]] = field(default_factory=list)
    smp: int = 1
    #: -smp's topology (None: ``smp`` sockets of one core, no hotpluggable CPUs)
    topology: Topology | None = None
    uuid: str = "00000000-0000-0000-0000-000000000000"
    #: ids of the socket chardevs, in QEMU's creation order (what query-yank lists)
    chardevs: list[str] = field(default_factory=list)
    #: the accelerator QEMU would pick from -accel / -machine accel= ("kvm" or "tcg"; query-kvm)
    accel: str = "tcg"
    #: chardev id -> QEMU's filename for it while connected ("unix:PATH,server=on"; query-chardev)
    chardev_files: dict[str, str] = field(default_factory=dict)
    #: chardev ids with a client connected now (kept here: it outlives a machine reset, as connections do)
    connected_chardevs: set[str] = field(default_factory=set)
    #: faults injected from the start (-fakeqemu faults=FILE); the HTTP API changes machine.faults
    faults: Faults = field(default_factory=Faults)
    #: the guest agent's virtserialport (its id; "" when the VM has none) and the chardev behind it
    agent_port: str = ""
    agent_chardev: str = ""
    #: the agent's state: running, delay:<ms>, hung, absent (fakeqemu.machine.guest.agent)
    agent: str = "running"
    #: RPCs the guest's qemu-ga was started without (its ``-b``): listed disabled, refused
    agent_blocked: tuple[str, ...] = ()
    #: the guest's watchdog daemon: off, pet[:<s>], hang[:<s>] (fakeqemu.machine.guest.watchdog)
    watchdog: str = "off"
    #: the guest's cdrom driver: free, lock or hold (fakeqemu.machine.guest.cdrom)
    cdrom: str = "free"
    #: what the guest OS does on shutdown (fakeqemu.machine.guest.hotplug.Guest.power_down)
    power: str = "prompt"
    #: acpi-pci-hotplug-with-bridge-support of PIIX4_PM / ICH9-LPC (-global): ACPI takes over the buses of
    #: cold-plugged bridges and root ports (on, the default); off, they keep their own SHPC / PCIe hotplug
    acpi_bridge_hotplug: bool = True
    #: -global PIIX4_PM.acpi-root-pci-hotplug (libvirt's pci-root hotplug='off'): ACPI hotplug on pci.0
    acpi_root_hotplug: bool = True
    #: ACPI S3 offered to the guest (QEMU's PIIX4_PM / ICH9-LPC disable_s3=0; libvirt's suspend-to-mem)
    s3: bool = True
    #: bytes of QMP traffic recorded (fakeqemu.machine.traffic); 0 or None: not recorded. None lets the
    #: runtime decide (the HTTP plane turns recording on with its default limit)
    traffic_limit: int | None = None
    #: bytes per second block jobs copy at: 0 is quick (no time but what a `speed` limit asks for);
    #: -fakeqemu job-rate=qemu picks QEMU_JOB_RATE
    job_rate: float = 0.0
    #: trace events switched on (or, with a leading "-", off) by -trace / -d trace: / an events file, in order
    trace_events: list[str] = field(default_factory=list)
    #: where trace lines go (-D FILE, -trace file=FILE); stderr when None
    trace_file: str | None = None
    #: -msg timestamp=on: trace lines carry TID@SECONDS.MICROSECONDS
    msg_timestamp: bool = False
    #: -incoming URI ("defer": wait for migrate-incoming); the VM starts in run state inmigrate
    incoming: str | None = None
    #: chardev ids whose frontend is not open (a virtio-serial port the guest has not opened, no frontend)
    chardev_closed: set[str] = field(default_factory=set)
    #: -usb / -machine usb=on: the board's own USB controller
    usb: bool = False
    #: the guest's balloon driver: follow, ignore or partial (None: ignore under qtest, else follow)
    balloon: str | None = None
    #: the displays: -vnc and -spice option texts, and the addresses they are bound to (host, port)
    vnc: str | None = None
    #: -display's DisplayOptions as visited (None: no -display, or vnc=), what query-display-options answers
    display: dict[str, Any] | None = None
    vnc_address: tuple[str, int] | None = None
    spice: str | None = None
    #: -object secret,id=ID,data=DATA: the secrets' data by id (password-secret=)
    secrets: dict[str, str] = field(default_factory=dict)
    spice_address: tuple[str, int] | None = None
