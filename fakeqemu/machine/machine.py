"""One fake VM's machine: configuration, run state, and the parts every command reaches through it.

The QOM/qdev tree (fakeqemu.machine.board), the pcihp block and the guest model hang off this object;
everything a VM owns is reachable from here and nothing lives in module globals.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.acpi.cpuhp import AcpiCpuHp
from fakeqemu.machine.acpi.memhp import AcpiMemHp
from fakeqemu.machine.acpi.pcihp import AcpiPciHp, install
from fakeqemu.machine.acpi.pm import PM_DEVICE, AcpiPm
from fakeqemu.machine.backends import Backends, FdTables, NicClient
from fakeqemu.machine.block import locks
from fakeqemu.machine.block.bitmaps import Bitmaps
from fakeqemu.machine.block.jobs import Jobs
from fakeqemu.machine.block.throttle import ThrottleGroups
from fakeqemu.machine.board import Board, static_tree
from fakeqemu.machine.compat import hotplug_compat
from fakeqemu.machine.config import MachineConfig as MachineConfig  # re-exported: its old home
from fakeqemu.machine.core.events import EventBus
from fakeqemu.machine.core.ioport import IoPorts, MemorySpace
from fakeqemu.machine.core.qdev import PCIDevice
from fakeqemu.machine.core.qom import Tree
from fakeqemu.machine.core.rcu import RcuQueue
from fakeqemu.machine.core.timers import Timers
from fakeqemu.machine.core.trace import Trace, file_sink, stderr_sink
from fakeqemu.machine.core.vclock import VirtualClock
from fakeqemu.machine.cpus import Cpus, Topology
from fakeqemu.machine.devices.dimm import Memory, cli_object
from fakeqemu.machine.devices.display import DisplayAuth, secret_of, spice_kind, vnc_kind
from fakeqemu.machine.devices.input import InputHandlers
from fakeqemu.machine.devices.usb import board_usb
from fakeqemu.machine.faults import Faults
from fakeqemu.machine.guest.hotplug import Guest
from fakeqemu.machine.guest.watchdog import WatchdogDaemon
from fakeqemu.machine.migration.state import Migration
from fakeqemu.machine.pci.firmware import SeaBios
from fakeqemu.machine.pci.host import PciHost
from fakeqemu.machine.pci.regions import low_memory
from fakeqemu.machine.timeline import Timeline
from fakeqemu.machine.traffic import TrafficLog
from fakeqemu.qmp.errors import DeviceNotFound, GenericError, QMPError

if TYPE_CHECKING:
    from fakeqemu.machine.devices.balloon import Balloon
    from fakeqemu.machine.guest.agent import GuestAgent
    from fakeqemu.machine.guest.cdrom import CdromGuest
    from fakeqemu.machine.net.announce import Announcer

#: delay between a host reset of a running VM and the firmware's own reset
GUEST_REBOOT_S = 0.001
#: QEMU's RunState names that fakeqemu reaches
RUNNING_STATES = frozenset({"running"})
#: run states in which QEMU_CLOCK_VIRTUAL runs (S3 pauses the vCPUs, not the clock)
CLOCK_STATES = frozenset({"running", "suspended"})


class ColdPlugError(Exception):
    """A -device (or -blockdev) the machine refused: ``option`` is the option text, ``desc`` QEMU's error."""

    def __init__(self, option: str, desc: str, flag: str = "-device") -> None:
        super().__init__(f"{flag} {option}: {desc}")
        self.option = option
        self.desc = desc


class MachineInitError(ColdPlugError):
    """The machine refused its own options as it was built (QEMU's error_report and exit 1)."""

    def __init__(self, desc: str) -> None:
        super().__init__("", desc)

    def __str__(self) -> str:
        return self.desc


class Machine:
    """A VM's state. Synchronous: each QMP command runs to completion before the next one starts."""

    def __init__(
        self,
        config: MachineConfig | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or MachineConfig()
        #: wall clock, for event timestamps
        self.clock = clock
        self.events = EventBus(clock)
        cfg = self.config
        sink = stderr_sink if cfg.trace_file is None else file_sink(cfg.trace_file)
        self.trace = Trace(sink, cfg.msg_timestamp, clock)
        for pattern in cfg.trace_events:  # the command line warned about unknown names already
            self.trace.enable_option(pattern, lambda _msg: None, self.cpu_count)
        #: timers run on a monotonic clock (the runtime's, so tests can drive it)
        self.timers = Timers(monotonic)
        #: every hot-plug and unplug step, per device (fakeqemu.machine.timeline)
        self.timeline = Timeline(monotonic, clock)
        #: who is writing to the I/O ports now (the timeline names the eject's writer): see ``io_from``
        self.io_source = "guest"
        #: the QMP clients events go to now (set by the runtime; the timeline names DEVICE_DELETED's)
        self.clients: Callable[[], list[str]] = list
        self.rcu = RcuQueue(self.timers, self.config.rcu_grace)
        self.ioports = IoPorts()
        #: guest-physical MMIO (PCI BARs, MMCONFIG); RAM is what a qtest session writes
        self.memory = MemorySpace()
        self.memory.ram_size = self.config.memory_mb << 20
        #: QEMU_CLOCK_VIRTUAL under the qtest accelerator, in ns: moved only by qtest's clock_step/clock_set
        self.virtual_clock_ns = 0
        self.traffic = TrafficLog(clock, self.config.traffic_limit or 0)
        self.faults = Faults.from_json(self.config.faults.to_json())  # a copy: reset restores the config's
        #: QEMU_CLOCK_VIRTUAL for device timers: runs while the VM runs
        self.vclock = VirtualClock(self.timers, monotonic, manual=self.config.accel == "qtest")
        self.backends = Backends()
        self._runstate = ""
        self.runstate = "prelaunch" if self.config.paused or self.config.preconfig else "running"
        #: QEMU's phase before PHASE_MACHINE_READY (--preconfig): left by x-exit-preconfig
        self.preconfig = self.config.preconfig
        #: QEMU's run-state actions (set-action); -no-shutdown is shutdown=pause
        self.actions = dict(self.config.actions)
        if self.config.no_shutdown:
            self.actions["shutdown"] = "pause"
        #: the watchdog and pvpanic devices' models, reset with the machine (fakeqemu.machine.devices)
        self.device_models: list[Any] = []
        #: block backends' I/O limits and their groups (made on first use: fakeqemu.machine.block.throttle)
        self.throttle_groups: ThrottleGroups | None = None
        #: set by the runtime: called once when the process should exit (quit, signal, guest poweroff)
        self.on_exit: Callable[[], None] | None = None
        #: the process's exit status once the VM exits (1 after a panic with panic=exit-failure)
        self.exit_status = 0
        self.exiting = False
        #: the fds passed to this VM (getfd, add-fd): closed with the machine
        self.fds = FdTables()
        #: migration capabilities as migrate-set-capabilities left them (filled with QEMU's defaults on use)
        self.migrate_caps: dict[str, bool] = {}
        self.jobs = Jobs(self.timers, self.events, monotonic)
        self.jobs.rate = self.config.job_rate
        self.jobs.error_at = self._job_error_at
        self.jobs.note = lambda text: self.traffic.add("", "note", text.encode())
        self.bitmaps = Bitmaps()
        self.monotonic = monotonic
        self.migration = Migration(self)
        if self.config.incoming is not None:
            self.runstate = "inmigrate"
            self.migration.incoming = self.config.incoming
        #: HMP's sticky /fmt of the i and o commands (format letter, size)
        self.hmp_default_fmt: tuple[str, int] = ("x", 4)
        #: the QOM/qdev tree (None for -M none), the ACPI PCI hotplug block (None without ACPI), the guest
        self.board: Board | None = None
        #: the input handlers (query-mice): the board's PS/2 ones, then those of USB HID devices
        self.inputs = InputHandlers.for_board(self.config.machine_type in ("pc", "q35"))
        cfg = self.config
        self.cpus = Cpus(self, cfg.topology or Topology(cfg.smp, cfg.smp, 1, 1, 1, cfg.smp))
        self.pcihp: AcpiPciHp | None = None
        self.pci_host: PciHost | None = None
        #: the ACPI PM1 block (sleep states, PM timer); None without ACPI
        self.pm: AcpiPm | None = None
        #: memory backends, DIMMs and the ACPI memory hotplug block (fakeqemu.machine.devices.dimm)
        self.memdevs = Memory(self)
        #: what the machine type's compat properties change in hot(un)plug
        self.compat = hotplug_compat(self.config.machine_type, self.config.machine_name)
        if not self.config.acpi_bridge_hotplug:  # -global PIIX4_PM|ICH9-LPC.acpi-pci-hotplug-with-bridge-support
            self.compat = dataclasses.replace(self.compat, acpi_pcihp_bridge=False)
        if self.config.machine_type in ("pc", "q35"):
            cfg = self.config
            if not self.compat.reserved_memory and (cfg.ram_slots or cfg.maxmem > cfg.memory_mb << 20):
                raise MachineInitError(f"\"-memory 'slots|maxmem'\" is not supported by: {cfg.machine_name}")
            self.board = Board(self.config.machine_type, qtest=self.config.qtest, mtype=self.config.machine_name)
            self.pci_host = PciHost(self.config.machine_type, self.board.root_bus, self.board.tree)
            self.pci_host.install(self.ioports, self.memory)
            self.pcihp = install(self, self.board.root_bus, self.config.machine_type)
            self._pm_globals()
            self._install_pm()
            if self.pcihp is not None:
                self._install_cpuhp()
                if self.config.ram_slots and self.compat.memory_hotplug:
                    self._install_memhp()
            for obj in self.config.memory_objects:
                try:
                    self.memdevs.object_add(*cli_object(obj))
                except QMPError as exc:
                    self.close()
                    raise ColdPlugError(str(obj.get("id", "")), exc.desc, "-object") from None
            self._open_netdevs()
            for n, bd in enumerate(self.config.blockdevs):
                entry: dict[str, Any] = {"options": bd, "attached": None, "backing": _backing(bd)}
                if "id" in bd:  # a -drive: a legacy drive (its unit numbers the anonymous ones)
                    entry.update(legacy=True, unit=sum(1 for e in self.backends.blockdevs.values() if e.get("legacy")))
                self.backends.blockdevs[str(bd["node-name"])] = entry
                adopted = self.config.image_locks.pop(str(bd["node-name"]), None)
                if adopted is not None:
                    entry["lock-fd"] = adopted
                    continue
                try:
                    locks.lock_node(self.backends.blockdevs, str(bd["node-name"]))
                except locks.LockError as exc:
                    self.close()
                    texts = self.config.blockdev_args
                    raise ColdPlugError(texts[n] if n < len(texts) else str(bd), str(exc), "-blockdev") from None
            if self.config.devices or self.config.usb or self.config.board_drives:
                self._cold_plug()
            self.board.reset()  # QEMU's first system reset, once the machine is created: bridges' SHPC
            if self.pcihp is not None:
                self.pcihp.reset()
        else:
            self._open_netdevs()
        self.guest = Guest(self, self.pcihp)
        #: the guest's watchdog daemon (its policy: -fakeqemu watchdog=, x-fakeqemu-watchdog)
        self.watchdog_daemon = WatchdogDaemon(self, self.config.watchdog)
        #: the guest's cdrom driver (None: it never locks a tray, -fakeqemu cdrom=free)
        self.cdrom_guest: CdromGuest | None = None
        if self.config.cdrom != "free":
            from fakeqemu.machine.guest.cdrom import CdromGuest

            self.cdrom_guest = CdromGuest(self, self.config.cdrom)
        #: the virtio balloon and its guest driver's policy (None: the default, see devices.balloon)
        self.balloon: Balloon | None = None
        self.balloon_policy: str | None = None
        #: QEMU's loadable modules are loaded (qom-list-types does it): the SPICE one adds -spice's options
        self.qom_modules_loaded = False
        #: the QOM tree of a machine without a board (-M none, isapc, ...), built when first asked for
        self._static_tree: Tree | None = None
        #: VNC clients connected now (query-vnc's ``clients``: VncClientInfo), kept by the VNC server
        self.vnc_clients: list[dict[str, Any]] = []
        #: who the VNC and SPICE servers let in (set_password, expire_password)
        self.vnc_auth = DisplayAuth(vnc_kind(self.config.vnc))
        self.spice_auth = DisplayAuth(spice_kind(self.config.spice))
        #: SPICE channels linked now (query-spice's ``channels``: SpiceChannel) and the server's RSA key,
        #: kept by the SPICE server (fakeqemu.server.spice)
        self.spice_channels: list[dict[str, Any]] = []
        self.spice_key: Any = None
        for auth, spec in ((self.vnc_auth, self.config.vnc), (self.spice_auth, self.config.spice)):
            secret = secret_of(spec)
            if secret is not None and secret in self.config.secrets:
                auth.password = self.config.secrets[secret]
        self.agent: GuestAgent | None = None
        if self.config.agent_port and self.board is not None:
            from fakeqemu.machine.guest.agent import GuestAgent  # here: only a VM with an agent port loads it

            cfg = self.config
            self.agent = GuestAgent(self, cfg.agent_port, cfg.agent_chardev, cfg.agent, cfg.agent_blocked)
        #: the firmware (SeaBIOS) has yet to set PCI up: it does when the vCPUs first run after a reset,
        #: under TCG or KVM; the qtest accelerator runs no firmware
        self.firmware_due = self.pci_host is not None and self.config.accel != "qtest"
        if self.running:
            self.run_firmware()

    def _cold_plug(self) -> None:
        """The board's USB controller (-usb) and the -device options, in QEMU's order (the plug path, with storage
        and the block graph, is loaded here: a VM without devices does not need it before its first replies)."""
        from fakeqemu.machine.plug import board_device_add, device_add

        for opts in self.config.board_drives:  # made by the board, before any -device
            board_device_add(self, opts)
        texts = self.config.device_args
        for opts in board_usb(self.config.machine_type) if self.config.usb else ():
            device_add(self, opts, hotplug=False)
        # QEMU creates the -device options in QemuOpts syntax first, then the JSON ones (qemu_create_cli_devices)
        is_json = [n < len(texts) and texts[n].startswith("{") for n in range(len(self.config.devices))]
        for n in sorted(range(len(self.config.devices)), key=is_json.__getitem__):
            opts = self.config.devices[n]
            try:
                device_add(self, opts, hotplug=False, from_json=is_json[n])
            except QMPError as exc:
                raise ColdPlugError(texts[n] if n < len(texts) else str(opts), exc.desc) from None

    @contextlib.contextmanager
    def io_from(self, source: str) -> Iterator[None]:
        """Port I/O in this block comes from ``source`` (qtest, hmp, http, ...), not the guest model."""
        before, self.io_source = self.io_source, source
        try:
            yield
        finally:
            self.io_source = before

    def qom_tree(self) -> Tree:
        """The VM's QOM tree: its board's, or the recorded tree of a machine type without a board."""
        if self.board is not None:
            return self.board.tree
        if self._static_tree is None:
            self._static_tree = static_tree(self.config.machine_name, self.config.qtest)
        return self._static_tree

    @property
    def cpu_count(self) -> int:
        """vCPUs that exist (none with -M none)."""
        return 0 if self.config.machine_type == "none" else self.config.smp

    def _gpe_sender(self, handler: str) -> Callable[[int], None]:
        """A hotplug block's acpi_send_event: raise GPE0 status ``bits``, then the guest model's ``handler``."""
        pcihp = self.pcihp
        assert pcihp is not None

        def send_event(bits: int) -> None:
            pcihp.gpe.raise_status(bits)
            guest = getattr(self, "guest", None)
            if guest is not None:
                getattr(guest, handler)()

        return send_event

    def _ost(self, info: dict[str, Any]) -> None:
        self.events.emit("ACPI_DEVICE_OST", {"info": info})

    def _install_cpuhp(self) -> None:
        """The ACPI CPU hotplug block, its GPE bit 2 on the board's GPE0 (answered by the guest model)."""
        pcihp = self.pcihp
        assert pcihp is not None
        topo = self.cpus.topology
        hp = AcpiCpuHp(self.config.machine_type, [topo.arch_id(i) for i in range(topo.maxcpus)],
                       self._gpe_sender("on_cpu_gpe"), self.cpus.eject, self._ost, self.trace)  # fmt: skip
        self.cpus.cpuhp = hp
        self.cpus.plug_boot_cpus()
        self.ioports.map(hp.region())

    def _pm_globals(self) -> None:
        """The PIIX4_PM / ICH9-LPC properties a -global switched off, as qom-get shows them."""
        assert self.board is not None
        dev = next(d for d in self.board.root_bus.pci_devices if d.type == PM_DEVICE[self.config.machine_type])
        for name, on in (
            ("acpi-pci-hotplug-with-bridge-support", self.config.acpi_bridge_hotplug),
            ("acpi-root-pci-hotplug", self.config.acpi_root_hotplug),
        ):
            if not on and name in {p[0] for p in dev.props}:
                self.board.tree.set(dev, name, False)

    def _install_pm(self) -> None:
        """The ACPI PM1 block, the model of the board's PIIX4_PM / ICH9-LPC function; the firmware model
        (fakeqemu.machine.pci.firmware) maps it through the function's configuration space."""
        if not self.config.acpi or self.board is None:
            return
        kind = self.config.machine_type
        pm = AcpiPm(self, kind)
        dev = next((d for d in self.board.root_bus.pci_devices if d.type == PM_DEVICE[kind]), None)
        if dev is None:
            return
        dev.model = pm
        self.device_models.append(pm)
        self.pm = pm

    def _install_memhp(self) -> None:
        """The ACPI memory hotplug block, its GPE bit 3 on the board's GPE0 (answered by the guest model)."""
        hp = AcpiMemHp(self.config.ram_slots, self._gpe_sender("on_mem_gpe"), self.memdevs.eject, self._ost, self.trace)
        self.memdevs.memhp = hp
        self.ioports.map(hp.region())

    @property
    def s3_enabled(self) -> bool:
        return self.config.s3 and self.config.acpi and self.board is not None

    def _job_error_at(self, job_id: str) -> int | None:
        table = self.faults.job_error
        return table.get(job_id, table.get("*"))

    # --- run state (QEMU's vm_start / vm_stop / qemu_system_*_request) -----------------------------

    @property
    def runstate(self) -> str:
        return self._runstate

    @runstate.setter
    def runstate(self, state: str) -> None:
        was = self._runstate in RUNNING_STATES
        self._runstate = state
        if was != (state in RUNNING_STATES):
            self.backends.net_running(not was)
        if state in CLOCK_STATES:
            self.vclock.start()
        else:
            self.vclock.stop()

    @property
    def running(self) -> bool:
        return self.runstate in RUNNING_STATES

    def cont(self) -> None:
        if self.runstate == "inmigrate":  # qmp_cont: run once the incoming migration is loaded
            self.migration.autostart = True
            return
        if self.running:
            return
        self.runstate = "running"
        self.events.emit("RESUME")
        self.run_firmware()

    def run_firmware(self) -> None:
        """SeaBIOS's PCI set-up (fakeqemu.machine.pci.firmware), once per reset, as the vCPUs start. It is
        carried out when PCI is first looked at or touched afterwards (config cycles, BAR decoding,
        query-pci, a hotplug): the same answers, and an idle VM nobody asks keeps no configuration spaces."""
        if not self.firmware_due or self.pci_host is None:
            return
        self.firmware_due = False
        self.pci_host.pending = self._pci_setup

    def pci_now(self) -> None:
        """PCI as the firmware has left it by now (before a query or a hotplug reads or changes it)."""
        if self.pci_host is not None:
            self.pci_host.settle()

    def _pci_setup(self) -> None:
        assert self.pci_host is not None
        mb = self.config.memory_mb << 20
        below = low_memory(self.config.machine_type, mb)
        host = self.pci_host
        SeaBios(self.config.machine_type, host.config_read, host.config_write, below, mb - below).run()

    def stop(self, state: str = "paused") -> None:
        if not self.running:
            return
        self.runstate = state
        self.events.emit("STOP")

    def guest_reset(self) -> None:
        """qemu_system_reset_request(SHUTDOWN_CAUSE_GUEST_RESET): a reset, or a shutdown when the reboot
        action is ``shutdown`` (-no-reboot)."""
        if self.actions["reboot"] == "shutdown":
            self.shutdown("guest-reset", guest=True)
        else:
            self.system_reset("guest-reset", guest=True)

    def _reset_devices(self) -> None:
        """qemu_system_reset's device reset: the firmware runs again when the vCPUs next start."""
        for model in list(self.device_models):
            model.reset()
        if self.pci_host is not None:
            self.pci_host.reset()
            self.pci_host.pending = None
            self.firmware_due = self.config.accel != "qtest"
        if self.board is not None:
            self.board.reset()  # the bridges' slots, on their reset configuration spaces

    def virtual_ms(self) -> int:
        """QEMU_CLOCK_VIRTUAL in ms: under the qtest accelerator what clock_step/clock_set made it, else the
        time the VM has run."""
        if self.config.accel == "qtest":
            return self.virtual_clock_ns // 1_000_000
        return self.vclock.now_ns() // 1_000_000

    def system_reset(self, reason: str = "host-qmp-system-reset", guest: bool = False) -> None:
        self._reset_devices()
        self.events.emit("RESET", {"guest": guest, "reason": reason})
        if not self.running and self.runstate not in ("inmigrate", "finish-migrate"):
            # main_loop_should_exit: a VM that is not running after a reset is left in prelaunch
            self.runstate = "prelaunch"
        self.run_firmware() if self.running else None
        if self.running and not guest:
            # measured on QEMU 7.2: a running VM's firmware (SeaBIOS) answers a warm reset with a reboot
            # of its own, so a second RESET follows the reply
            self.timers.call_later(
                GUEST_REBOOT_S, lambda: self.events.emit("RESET", {"guest": True, "reason": "guest-reset"})
            )

    def forget_model(self, model: Any) -> None:
        """A device with a model left the VM (unrealize): its timers and registers go."""
        if model in self.device_models:
            self.device_models.remove(model)
            model.remove()

    def system_powerdown(self) -> None:
        self.events.emit("POWERDOWN")

    def suspend(self) -> None:
        """The guest entered ACPI S3: SUSPEND, run state suspended (vCPUs stop) until system_wakeup."""
        if not self.running:
            return
        self.runstate = "suspended"
        self.events.emit("SUSPEND")

    def wakeup(self) -> None:
        """qemu_system_wakeup: the machine resets without a RESET event (the ACPI blocks too: a pending PCI
        unplug completes, the PM block is unmapped until the firmware maps it again), the PM block shows
        WAK_STS, the vCPUs run again, WAKEUP (no RESUME); the guest carries on with what waited for it."""
        if self.runstate != "suspended":
            raise GenericError("Unable to wake up: guest is not in suspended state")
        self.runstate = "running"
        self._reset_devices()
        self.guest.on_reset()
        if self.pm is not None:
            self.pm.woke()
        self.events.emit("WAKEUP")
        self.run_firmware()
        self.guest.kick()
        if self.agent is not None:
            self.agent.wake()

    def shutdown(self, reason: str, guest: bool) -> None:
        """QEMU's shutdown request: SHUTDOWN, then exit, or stop when -no-shutdown (guest-initiated only)."""
        self.events.emit("SHUTDOWN", {"guest": guest, "reason": reason})
        if self.actions["shutdown"] == "pause" and guest:
            self.stop("shutdown")
            return
        if reason == "guest-panic" and self.actions["panic"] == "exit-failure":
            self.exit_status = 1  # main_loop_should_exit: EXIT_FAILURE
        self.request_exit()

    @functools.cached_property
    def announcer(self) -> Announcer:
        """announce-self's timers (fakeqemu.machine.net.announce), made when first used."""
        from fakeqemu.machine.net.announce import Announcer

        return Announcer(self.timers, self.trace, self.backends.nics, self._send_frame, self._nic_announce)

    def _open_netdevs(self) -> None:
        """-netdev: each backend as QEMU's net_init_clients makes it (a socket netdev opens its socket)."""
        from fakeqemu.machine.net.sockets import NetdevError, open_netdev, parse_fd

        texts = self.config.netdev_args
        for n, nd in enumerate(self.config.netdevs):
            try:
                net = open_netdev(str(nd["id"]), nd, parse_fd)
            except NetdevError as exc:
                self.close()
                raise ColdPlugError(texts[n] if n < len(texts) else f"id={nd['id']}", str(exc), "-netdev") from None
            self.backends.add_netdev(str(nd["id"]), {"options": nd, "attached": None, "socket": net})

    def _send_frame(self, nic: NicClient, frame: bytes) -> None:
        """qemu_send_packet_raw from a NIC: to its peer's socket (a NIC with no peer drops it)."""
        if nic.peer_socket is not None and not nic.link_down:
            nic.peer_socket.receive(frame, self.running)

    def set_link(self, name: str, up: bool) -> None:
        """qmp_set_link; DeviceNotFound if no net client has that name."""
        nics = self.backends.set_link(name, up)
        if nics is None:
            raise DeviceNotFound(f"Device '{name}' not found")
        from fakeqemu.machine.net.guest import link_changed

        for nic in nics:
            if self.pci_host is not None and isinstance(nic.device, PCIDevice) and nic.model.startswith("virtio-net"):
                link_changed(self.pci_host.function(nic.device), up)

    def _nic_announce(self, nic: NicClient) -> None:
        """NetClientInfo.announce: virtio-net's guest announce (fakeqemu.machine.net.guest)."""
        from fakeqemu.machine.net.guest import guest_announce

        guest_announce(nic.device)

    def close(self) -> None:
        """Give back what the VM holds of the host: the fds passed to it, and those its netdevs own. The
        machine is done with (a reset builds a new one); its vCPU threads end."""
        self.fds.close()
        if "announcer" in self.__dict__:  # made when first used
            self.announcer.close()
        self.backends.close()
        self.cpus.close()
        for entry in self.backends.blockdevs.values():
            locks.release(entry)

    def request_exit(self) -> None:
        if self.exiting:
            return
        self.exiting = True
        self.jobs.cancel_all()
        self.cpus.close()
        if self.on_exit is not None:
            self.on_exit()


def _backing(opts: dict[str, Any]) -> str | None:
    b = opts.get("backing")
    return b if isinstance(b, str) else None
