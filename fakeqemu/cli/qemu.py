"""``fakeqemu-system-x86_64``: QEMU's command line, so a tool can run fakeqemu where it runs QEMU.

Options fakeqemu models change the fake VM; harmless ones it does not model are accepted and ignored;
anything else fails like QEMU: ``qemu-system-x86_64: -foo: invalid option`` and exit status 1.
fakeqemu's own settings are ``-fakeqemu key=value[,key=value...]``.
"""

from __future__ import annotations

import functools
import gc
import os
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from fakeqemu import __version__
from fakeqemu.cli import idedrives, limits, traceopts
from fakeqemu.cli.chardevs import parse_legacy, parse_socket
from fakeqemu.cli.lifecycle import MonitorSockets, PidFile, StartupError, ignore_signals
from fakeqemu.cli.qemuopts import (
    UsageError,
    device_opts,
    flag_warnings,
    keyval_help,
    parse_bytes,
    parse_memory,
    split_opts,
)
from fakeqemu.commands.devicehelp import is_help, wants_help
from fakeqemu.machine.block import locks
from fakeqemu.machine.config import IDENTIFIER, MachineConfig
from fakeqemu.server.backends import BackendError, OpenBackends, open_chardev, open_spice, open_vnc
from fakeqemu.server.chardev import ChardevError, Endpoint, connect, is_listening
from fakeqemu.server.signals import block_exit_signals

# The machine model, trio and the options' own modules are imported where they are needed: the monitors
# are bound (and greeted, fakeqemu.server.prestart) before any of them is loaded.
if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine
    from fakeqemu.server.vm import VM, VMConfig

PROG = "qemu-system-x86_64"

#: options that take no argument
FLAGS = frozenset(
    [
        "S",
        "nodefaults",
        "no-user-config",
        "nographic",
        "daemonize",
        "no-shutdown",
        "no-reboot",
        "no-acpi",
        "no-hpet",
        "enable-kvm",
        "snapshot",
        "no-fd-bootchk",
        "full-screen",
        "s",
        "version",
        "help",
        "h",
        "preconfig",
        "only-migratable",
        "enable-fips",
        "no-quit",
        "alt-grab",
        "ctrl-grab",
        "win2k-hack",
        "no-frame",
        "usb",
    ]
)
#: options that take one argument and that fakeqemu accepts without modelling them
IGNORED = frozenset(
    [
        "cpu",
        "accel",
        "smp",
        "uuid",
        "global",
        "overcommit",
        "sandbox",
        "audiodev",
        "drive",
        "blockdev",
        "netdev",
        "net",
        "nic",
        "vga",
        "serial",
        "parallel",
        "boot",
        "rtc",
        "kernel",
        "initrd",
        "append",
        "bios",
        "object",
        "fsdev",
        "k",
        "L",
        "numa",
        "smbios",
        "usbdevice",
        "compat",
        "loadvm",
        "runas",
        "chroot",
        "chardev",
        "display",
        "monitor",
        "mem-path",
        "mem-prealloc",
        "icount",
        "fw_cfg",
        "device-global",
        "iscsi",
        "rtc-td-hack",
        "tpmdev",
        "virtfs",
        "dump-vmstate",
        "cpu-pm",
        "machine-opts",
        "set",
        "mon",
        "qmp-pretty",
    ]
)


@dataclass
class VMSpec:
    """What the command line asks for; becomes a fakeqemu.server.vm.VMConfig once trio is loaded."""

    machine: MachineConfig = field(default_factory=MachineConfig)
    monitors: list[Endpoint] = field(default_factory=list)
    #: each monitor's option as given (``-qmp unix:/x,server=on``): what QEMU's errors about it start with
    origins: list[str] = field(default_factory=list)
    qtest: Endpoint | None = None
    #: serial ports on sockets (``-serial unix:...``, ``-serial chardev:ID``): served, nothing is written
    consoles: list[Endpoint] = field(default_factory=list)
    console_chardevs: list[str] = field(default_factory=list)
    #: the chardev behind the guest agent's virtserialport
    agent: Endpoint | None = None
    #: the other chardevs (pty, socket, null, spicevmc, ...): their -chardev options, a socket's address
    chardevs: list[tuple[dict[str, str], Endpoint | None]] = field(default_factory=list)
    #: -add-fd set=N,fd=M: the file descriptors passed down, by set (a chardev's path=/dev/fdset/N)
    fdsets: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class Options:
    """The parsed command line: the VM's spec and the process's own options."""

    vm: VMSpec = field(default_factory=VMSpec)
    daemonize: bool = False
    pidfile: str | None = None
    print_version: bool = False
    #: -fakeqemu http=HOST:PORT: the dashboard and HTTP API (off unless asked)
    http: str | None = None
    http_token: str | None = None
    #: -fakeqemu http-allow-host=NAME (repeatable), http-insecure=on
    http_allow_hosts: list[str] = field(default_factory=list)
    http_insecure: bool = False
    http_warning: str | None = None
    #: each -chardev's option as given, by id
    chardev_origins: dict[str, str] = field(default_factory=dict)


def _bool(value: str) -> bool:
    return value in ("on", "yes", "true", "y")


def _apply_machine(cfg: MachineConfig, text: str) -> None:
    opts = split_opts(text, implied="type")
    mtype = opts.get("type")
    if mtype is not None:
        from fakeqemu.machine.machine_types import resolve

        picked = resolve(mtype)
        if picked is None:
            raise UsageError("unsupported machine type\nUse -machine help to list supported machines")
        cfg.machine_type, cfg.machine_name = picked
    if "acpi" in opts:
        cfg.acpi = _bool(opts["acpi"])
    if "accel" in opts:
        cfg.accel = opts["accel"]  # resolved by _pick_accel once the whole command line is read
    if "usb" in opts:
        cfg.usb = _bool(opts["usb"])


def _policy_check(key: str) -> Callable[[str], str]:
    """What checks ``-fakeqemu agent=``, ``power=`` or ``watchdog=`` (its model loaded only when it is given)."""
    if key == "agent":
        from fakeqemu.machine.guest.agent import check_agent_policy

        return check_agent_policy
    if key == "power":
        from fakeqemu.machine.guest.hotplug import POWER_POLICIES, check_policy

        return lambda value: check_policy(value, POWER_POLICIES, "power")
    from fakeqemu.machine.guest.watchdog import check_watchdog_policy

    return check_watchdog_policy


def _apply_fakeqemu(cfg: MachineConfig, text: str, opts: Options | None = None) -> None:
    for key, value in split_opts(text).items():
        if key in ("http", "http-token", "http-allow-host", "http-insecure") and opts is not None:
            _apply_http(opts, key, value)
        elif key == "qemu-version":
            parts = value.split(".")
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                raise UsageError(f"-fakeqemu: qemu-version must look like 7.2.0, not '{value}'")
            cfg.qemu_version = (int(parts[0]), int(parts[1]), int(parts[2]))
        elif key == "package":
            cfg.package = value
        elif key == "rcu-grace-ms":
            try:
                cfg.rcu_grace = float(value) / 1000.0
            except ValueError:
                raise UsageError(f"-fakeqemu: rcu-grace-ms must be a number, not '{value}'") from None
        elif key == "guest":
            cfg.guest = value
        elif key in ("agent", "power", "watchdog"):
            try:
                setattr(cfg, key, _policy_check(key)(value))  # MachineConfig.agent, .power, .watchdog
            except ValueError as exc:  # the models' PolicyError, WatchdogPolicyError
                raise UsageError(f"-fakeqemu: {exc}") from None
        elif key == "agent-block":
            cfg.agent_blocked = tuple(n for n in value.split(":") if n)
        elif key == "balloon":
            from fakeqemu.machine.devices.balloon import POLICIES as BALLOON_POLICIES

            if value not in BALLOON_POLICIES:
                raise UsageError(f"-fakeqemu: balloon must be one of {', '.join(BALLOON_POLICIES)}, not '{value}'")
            cfg.balloon = value
        elif key == "cdrom":
            if value not in ("free", "lock", "hold"):  # fakeqemu.machine.guest.cdrom.POLICIES
                raise UsageError(f"-fakeqemu: cdrom must be one of free, lock, hold, not '{value}'")
            cfg.cdrom = value
        elif key == "traffic-limit":
            cfg.traffic_limit = parse_bytes(value, "-fakeqemu: traffic-limit")
        elif key == "job-rate":
            cfg.job_rate = _job_rate(value)
        elif key == "faults":
            from fakeqemu.cli import faultfile
            from fakeqemu.machine.faults import FaultConfigError

            try:
                cfg.faults, guest = faultfile.load(value)
            except FaultConfigError as exc:
                raise UsageError(f"-fakeqemu: {exc}") from None
            if guest is not None:
                cfg.guest = guest
        else:
            raise UsageError(
                f"-fakeqemu: unknown setting '{key}' "
                "(known: qemu-version, package, rcu-grace-ms, guest, agent, agent-block, balloon, cdrom, power, "
                "watchdog, "
                "job-rate, faults, traffic-limit, http, http-token, http-allow-host, http-insecure)"
            )


#: the values each run-state action takes (qapi/run-state.json)
ACTION_VALUES = {
    "reboot": ("reset", "shutdown"),
    "shutdown": ("poweroff", "pause"),
    "panic": ("pause", "shutdown", "exit-failure", "none"),
    "watchdog": ("reset", "shutdown", "poweroff", "pause", "debug", "none", "inject-nmi"),
}


def _apply_actions(cfg: MachineConfig, opts: dict[str, str], where: str) -> None:
    """-action reboot=...,shutdown=...,panic=...,watchdog=... and -watchdog-action A (QEMU's set-action)."""
    for key, value in opts.items():
        if key not in ACTION_VALUES:
            raise UsageError(f"{where}: Invalid parameter '{key}'")
        if value not in ACTION_VALUES[key]:
            raise UsageError(f"{where}: Parameter '{key}' does not accept value '{value}'")
        cfg.actions[key] = value


def _job_rate(value: str) -> float:
    """``quick`` (0: jobs take no time), ``qemu`` (QEMU's copy rate here) or bytes per second."""
    if value == "quick":
        return 0.0
    if value == "qemu":
        from fakeqemu.machine.block.jobs import QEMU_JOB_RATE

        return QEMU_JOB_RATE
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if rate < 0:
        raise UsageError(f"-fakeqemu: job-rate must be quick, qemu or bytes per second, not '{value}'")
    return rate


def _apply_http(opts: Options, key: str, value: str) -> None:
    if key == "http-token":
        opts.http_token = value
        return
    if key == "http-allow-host":
        opts.http_allow_hosts.append(value)
        return
    if key == "http-insecure":
        opts.http_insecure = value in ("on", "yes", "true", "y", "")
        return
    from fakeqemu.http.bind import BindError, check_bind

    try:
        opts.http = check_bind(value)
    except BindError as exc:
        raise UsageError(f"-fakeqemu http: {exc}") from None


def parse_args(argv: Sequence[str]) -> Options:
    o = Options()
    cfg = o.vm.machine
    chardevs: dict[str, dict[str, str]] = {}
    sockets: dict[str, Endpoint] = {}
    mons: list[dict[str, str]] = []
    accels: list[str] = []
    compat_monitors = 0
    help_request: traceopts.ListAndExit | None = None
    machine_named: str | None = None  # the type the -M options so far name (machine_opts_dict's "type")
    cpu_option: str | None = None
    late_error: UsageError | None = None
    device_ids: set[str] = set()  # of the QemuOpts-syntax -device options
    ide_drives: list[tuple[int, str, dict[str, str]]] = []
    nodefaults = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            raise UsageError(f"{arg}: drive with bus=0, unit=0 (index=0) exists")  # QEMU's -hda shorthand
        name = arg[2:] if arg.startswith("--") else arg[1:]
        if name in FLAGS:
            if name == "S":
                cfg.paused = True
            elif name == "preconfig":
                cfg.preconfig = True
            elif name == "daemonize":
                o.daemonize = True
            elif name == "no-shutdown":
                cfg.no_shutdown = True
                cfg.actions["shutdown"] = "pause"
            elif name == "no-reboot":
                cfg.actions["reboot"] = "shutdown"
            elif name == "no-acpi":
                cfg.acpi = False
            elif name == "usb":
                cfg.usb = True
            elif name == "nodefaults":
                nodefaults = True
            elif name == "version":
                o.print_version = True
            elif name in ("help", "h"):
                raise UsageError("fakeqemu models a subset of QEMU's options; see `fakeqemu --help`")
            continue
        if i >= len(argv):
            if name in IGNORED or name in _WITH_ARG:
                raise UsageError(f"{arg}: requires an argument")
            raise UsageError(f"{arg}: invalid option")
        value = argv[i]
        i += 1
        if name in ("machine", "M"):
            machine_named, asked = keyval_help(value, "type", machine_named)
            if asked:  # QEMU answers it as it parses the option (machine_help_func), then exits 0
                from fakeqemu.commands.machinehelp import machine_help

                raise traceopts.ListAndExit(machine_help(machine_named), 0)
            try:
                _apply_machine(cfg, value)
            except UsageError as exc:  # QEMU selects the machine after it has answered -device help
                late_error = late_error or exc
        elif name in ("action", "watchdog-action"):
            _apply_actions(cfg, split_opts(value) if name == "action" else {"watchdog": value}, f"{arg} {value}")
        elif name == "name":
            cfg.name = split_opts(value, implied="guest").get("guest")
        elif name == "m":
            cfg.memory_mb, cfg.ram_slots, cfg.maxmem = parse_memory(value)
        elif name == "smp":
            from fakeqemu.machine.cpus import Topology

            try:
                cfg.topology = Topology.parse(split_opts(value, implied="cpus"))
            except ValueError as exc:
                raise UsageError(f"{exc}") from None
            cfg.smp = cfg.topology.cpus
        elif name == "uuid":
            cfg.uuid = value
        elif name == "incoming":
            cfg.incoming = value
        elif name == "qmp":
            o.vm.monitors.append(_endpoint(arg, value, f"compat_monitor{compat_monitors}"))
            o.vm.origins.append(f"{arg} {value}")
            cfg.chardevs.append(f"compat_monitor{compat_monitors}")
            compat_monitors += 1
        elif name == "monitor":
            if value.split(":", 1)[0] in ("unix", "tcp"):
                ep = _endpoint(arg, value, f"compat_monitor{compat_monitors}")
                o.vm.monitors.append(replace(ep, hmp=True))
                o.vm.origins.append(f"{arg} {value}")
                cfg.chardevs.append(f"compat_monitor{compat_monitors}")
                compat_monitors += 1
            # stdio, vc, none...: nothing to serve
        elif name == "serial":
            if value.split(":", 1)[0] in ("unix", "tcp"):  # a console nobody types into: served, silent
                o.vm.consoles.append(_endpoint(arg, value, f"serial{len(o.vm.consoles)}"))
            elif value.startswith("chardev:"):
                o.vm.console_chardevs.append(value[8:])
        elif name == "qtest":
            o.vm.qtest = _endpoint(arg, value, "qtest")
            cfg.qtest = True
        elif name == "qtest-log":
            cfg.qtest_log = value
        elif name == "chardev":
            opts = split_opts(value, implied="backend")
            if "id" in opts:
                chardevs[opts["id"]] = opts
                o.chardev_origins[opts["id"]] = f"{arg} {value}"
                if opts.get("backend") == "socket":
                    cfg.chardevs.append(opts["id"])
                    try:
                        sockets[opts["id"]] = replace(parse_socket(opts, opts["id"]), option=f"{arg} {value}")
                    except ChardevError as exc:  # QEMU opens chardevs after it has answered -device help
                        late_error = late_error or UsageError(f"{arg} {value}: {exc}")
        elif name == "mon":
            mons.append(split_opts(value, implied="chardev"))
        elif name == "device":
            dev = device_opts(value)
            if not value.startswith("{"):
                _check_qemuopts_id(arg, value, dev, device_ids)
                for warning in flag_warnings(value, implied="driver"):
                    print(f"{PROG}: {arg} {value}: {warning}", file=sys.stderr)
                if help_request is None and wants_help(dev):
                    help_request = _device_help(arg, value)
            _agent_port(cfg, dev)
            cfg.devices.append(dev)
            cfg.device_args.append(value)
        elif name == "object":
            obj = device_opts(value, "-object") if value.startswith("{") else split_opts(value, implied="qom-type")
            if str(obj.get("qom-type", "")).startswith("memory-backend-") and obj.get("id") != "pc.ram":
                cfg.memory_objects.append(obj)
            elif obj.get("qom-type") == "secret" and isinstance(obj.get("data"), str):
                cfg.secrets[str(obj.get("id"))] = str(obj["data"])
        elif name == "global":
            _apply_global(cfg, value)
        elif name == "accel":
            accel = split_opts(value, implied="accel").get("accel")
            if accel is None or is_help(accel):  # QEMU lists its accelerators as it parses the option
                from fakeqemu.commands.machinehelp import accel_help

                raise traceopts.ListAndExit(accel_help(), 0)
            accels.append(accel)
        elif name == "cpu":
            cpu_option = value
        elif name == "netdev":
            nd = split_opts(value, implied="type") if not value.startswith("{") else {}
            if value.startswith("{") or nd.get("type") in ("stream", "dgram"):  # netdev_is_modern
                from fakeqemu.cli.keyval import visit_option

                nd = visit_option(arg, value, ("netdev_add", "arg-type"), implied="type")
            if "id" not in nd:
                raise UsageError(f"-netdev {value}: Parameter 'id' is missing")
            cfg.netdevs.append(nd)
            cfg.netdev_args.append(value)
        elif name == "blockdev":
            from fakeqemu.cli.keyval import visit_option

            cfg.blockdevs.append(visit_option(arg, value, ("blockdev-add", "arg-type"), implied="driver"))
            cfg.blockdev_args.append(value)
        elif name == "drive" or name in idedrives.SHORTHANDS:
            drive = split_opts(value) if name == "drive" else idedrives.shorthand(name, value)
            if idedrives.is_ide(drive):  # numbered once the machine is known
                ide_drives.append((len(cfg.blockdevs), value, drive))
            elif "id" in drive:
                cfg.blockdevs.append({**drive, "node-name": drive["id"]})
        elif name == "pidfile":
            o.pidfile = value
        elif name == "add-fd":
            fd_opts = split_opts(value)
            try:
                o.vm.fdsets.setdefault(int(fd_opts["set"]), []).append(int(fd_opts["fd"]))
            except (KeyError, ValueError):
                raise UsageError(f"-add-fd {value}: Parameter 'set' and 'fd' must be numbers") from None
        elif name == "display":
            _apply_display(cfg, arg, value)
        elif name == "vnc":
            cfg.vnc = value
        elif name == "spice":
            cfg.spice = value
        elif name == "fakeqemu":
            _apply_fakeqemu(cfg, value, o)
        elif name in ("trace", "d", "D", "msg"):
            traceopts.apply(cfg, arg, name, value)
        elif name in IGNORED:
            pass
        else:
            raise UsageError(f"{arg}: invalid option")
    if cpu_option is not None and is_help(cpu_option):  # qemu_process_help_options: before -device help
        from fakeqemu.commands.machinehelp import cpu_help

        raise traceopts.ListAndExit(cpu_help(), 0)
    if help_request is not None:
        raise help_request
    if late_error is not None:
        raise late_error
    gl = (cfg.display or {}).get("gl", "off")
    if gl != "off" and (cfg.display or {}).get("type") == "none":  # display_opengl, at display init
        raise UsageError("OpenGL is not supported by the display")
    idedrives.resolve(cfg, ide_drives)
    if o.vm.qtest is not None:
        cfg.chardevs.append("qtest")
    for mon in mons:
        hmp = mon.get("mode", "readline") != "control"
        chardev = chardevs.get(mon.get("chardev", ""))
        if chardev is None:
            raise UsageError(f'-mon chardev={mon.get("chardev", "")}: chardev "{mon.get("chardev", "")}" not found')
        if chardev.get("backend") != "socket":
            raise UsageError(f"-chardev {chardev.get('backend')}: fakeqemu serves monitors on sockets only")
        o.vm.monitors.append(replace(sockets[chardev["id"]], hmp=hmp))
        o.vm.origins.append(o.chardev_origins[chardev["id"]])
    if cfg.agent_chardev:
        chardev = chardevs.get(cfg.agent_chardev)
        if chardev is None:
            raise UsageError(
                f"-device virtserialport: Property 'virtserialport.chardev' can't find value '{cfg.agent_chardev}'"
            )
        if chardev.get("backend") == "socket":
            o.vm.agent = sockets[cfg.agent_chardev]
        else:
            # the port on another backend (null, pty, ...): QEMU accepts it; no agent answers there
            cfg.agent_chardev = cfg.agent_port = ""
    for chardev_id in o.vm.console_chardevs:
        if chardev_id in sockets:
            o.vm.consoles.append(sockets[chardev_id])
    cfg.accel = _pick_accel(accels or [cfg.accel])
    # qemu_machine_creation_done: net_check_clients once there is no default network (-nodefaults or a
    # -netdev), unless under the qtest accelerator with -nodefaults
    cfg.net_check = (nodefaults or bool(cfg.netdevs)) and (cfg.accel != "qtest" or not nodefaults)
    if o.http is not None:
        from fakeqemu.http.bind import BindError, check_access

        try:
            o.http_warning = check_access(o.http, o.http_token, o.http_insecure)
        except BindError as exc:
            raise UsageError(f"-fakeqemu http: {exc}") from None
    served = {mon.get("chardev", "") for mon in mons} | {cfg.agent_chardev}
    served |= {cid for cid in o.vm.console_chardevs if cid in sockets}
    o.vm.chardevs = [(c, sockets.get(cid)) for cid, c in chardevs.items() if cid not in served]
    # a frontend is open once its device is realized, but a virtio-serial port only when the guest opens it
    # (a device's chardev properties: chardev, or ipoctal232's chardev0..chardev7)
    fronts = {
        str(v): str(d.get("driver")) for d in cfg.devices for k, v in d.items() if k.rstrip("01234567") == "chardev"
    }
    cfg.chardev_closed = {
        cid for cid in chardevs if cid not in served and fronts.get(cid, "virtserialport") == "virtserialport"
    }
    return o


def _apply_display(cfg: MachineConfig, arg: str, value: str) -> None:
    """parse_display: ``vnc=DISPLAY`` is -vnc's; anything else is parse_display_qapi's, DisplayOptions
    visited (keyval, implied key ``type``, or JSON), which query-display-options answers. fakeqemu shows no
    display of any type (``help`` is taken and not answered)."""
    from fakeqemu.commands.devicehelp import is_help

    if is_help(value):
        return
    if value.startswith("vnc"):
        if value[3:4] != "=":
            raise UsageError(f"{arg} {value}: VNC requires a display argument vnc=<display>")
        cfg.vnc = value[4:]
        return
    from fakeqemu.cli.keyval import visit_option

    cfg.display = visit_option(arg, value, ("query-display-options", "ret-type"), implied="type")


def _agent_port(cfg: MachineConfig, dev: dict[str, Any]) -> bool:
    """A ``virtserialport`` named org.qemu.guest_agent.0: the guest agent's port, whose chardev the agent
    model serves (the port device itself is plugged like any other)."""
    if dev.get("driver") != "virtserialport":
        return False
    from fakeqemu.machine.guest.agent import AGENT_PORT_NAME

    if dev.get("name") != AGENT_PORT_NAME:
        return False
    cfg.agent_chardev = str(dev.get("chardev", ""))
    cfg.agent_port = str(dev.get("id") or "channel0")
    return True


def _apply_global(cfg: MachineConfig, value: str) -> None:
    """``-global PIIX4_PM.disable_s3=1`` / ``ICH9-LPC.disable_s3=1`` (libvirt's <pm> element): S3 off;
    ``acpi-pci-hotplug-with-bridge-support`` of either: ACPI hotplug on bridges' buses; PIIX4_PM's
    ``acpi-root-pci-hotplug``: on pci.0."""
    key, _, setting = value.partition("=")
    if key.endswith(".disable_s3"):
        cfg.s3 = setting not in ("1", "on", "true", "yes")
    if key in ("PIIX4_PM.acpi-pci-hotplug-with-bridge-support", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support"):
        cfg.acpi_bridge_hotplug = setting in ("on", "yes", "true", "y")
    if key == "PIIX4_PM.acpi-root-pci-hotplug":
        cfg.acpi_root_hotplug = setting in ("on", "yes", "true", "y")


def kvm_usable() -> bool:
    """What QEMU's KVM accelerator needs first: /dev/kvm opened read-write."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
    except OSError:
        return False
    return True


def _pick_accel(requested: list[str]) -> str:
    """configure_accelerators: the first of the accelerators asked for (``kvm:tcg``, or one -accel each)
    that initialises. fakeqemu runs no guest code, so this only decides what query-kvm and the probe answers
    say, as QEMU's would on this host."""
    names = [n for item in requested for n in item.split(":") if n]
    for name in names:
        if name == "qtest":
            # upstream QEMU's qtest accelerator (libqtest always asks for it; Debian's build lacks it): no
            # guest code, a virtual clock that moves only with qtest's clock_step/clock_set
            return name
        if name not in ("kvm", "tcg"):
            if name in ("xen", "hax", "whpx", "hvf", "nvmm"):
                continue  # not built into Debian's x86 QEMU: fall through as QEMU does
            raise UsageError(f"-accel {name}: invalid accelerator {name}")
        if name == "tcg" or kvm_usable():
            return name
    if names == ["kvm"]:
        raise UsageError("-accel kvm: failed to initialize kvm: No such file or directory")
    return "tcg"


_WITH_ARG = frozenset(
    {"machine", "M", "name", "m", "qmp", "qtest", "device", "pidfile", "fakeqemu", "action", "watchdog-action",
     *idedrives.SHORTHANDS}
)  # fmt: skip


def _check_qemuopts_id(arg: str, value: str, dev: dict[str, Any], ids: set[str]) -> None:
    """QemuOpts checks an ``id=`` as it parses the option (opts_create): an identifier (with a hint on the
    line after), not taken by an earlier option of the same kind."""
    if "id" not in dev:
        return
    if not IDENTIFIER.fullmatch(dev["id"]):
        raise UsageError(
            f"{arg} {value}: Parameter 'id' expects an identifier\n"
            "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter."
        )
    if dev["id"] in ids:
        raise UsageError(f"{arg} {value}: Duplicate ID '{dev['id']}' for device")
    ids.add(dev["id"])


def _device_help(arg: str, value: str) -> traceopts.ListAndExit:
    """``-device help`` (every device) or ``-device DRIVER,help`` (its properties): QEMU prints it once the
    whole command line is read (qemu_process_help_options) and exits 0, even when the driver is unknown."""
    from fakeqemu.commands.devicehelp import device_help

    text, error = device_help(split_opts(value, implied="driver")["driver"])
    if error is not None:
        return traceopts.ListAndExit(f"{PROG}: {arg} {value}: {error}\n", 0, error=True)
    return traceopts.ListAndExit(text, 0)


def _endpoint(arg: str, value: str, label: str) -> Endpoint:
    try:
        return replace(parse_legacy(value, label), option=f"{arg} {value}")
    except ChardevError as exc:
        text = f"{arg} {value}: {exc}"
        if exc.parse_error:  # QEMU's second line for a legacy address
            text += f"\n{PROG}: {arg} {value}: parse error: {exc.parse_error}"
        raise UsageError(text) from None


def _chardev_filename(ep: Endpoint, sock: socket.socket | None) -> str:
    """qemu_chr_compute_filename for a socket chardev (fd=N: the address it is bound to). A connected
    socket (client mode, fd=N of a socketpair) is named by its own address and its peer's, as QEMU does:
    ``unix:`` for an unnamed unix socket, ``tcp:LOCAL <-> PEER``."""
    if sock is None:
        return f"disconnected:{ep.describe()}"
    inet = sock.family in (socket.AF_INET, socket.AF_INET6)
    if not is_listening(sock):
        if not inet:
            return f"unix:{sock.getsockname() or ''}"
        local, peer = sock.getsockname()[:2], sock.getpeername()[:2]
        return f"tcp:{local[0]}:{local[1]} <-> {peer[0]}:{peer[1]}"
    if inet:
        host, port = sock.getsockname()[:2]
        return f"tcp:{host}:{port},server=on"
    path = ep.path if ep.kind == "unix" else str(sock.getsockname())
    return f"unix:{path},server=on"


async def serve(opts: Options, config: VMConfig, ready_fd: int | None = None) -> int:
    from fakeqemu.machine.machine import ColdPlugError
    from fakeqemu.server.app import serve_vms
    from fakeqemu.server.migration import MigrationLoadError

    served: list[VM] = []

    def ready(vms: list[VM]) -> None:
        served.extend(vms)
        limits.freeze_heap()
        if ready_fd is not None:
            os.write(ready_fd, b"1")
            os.close(ready_fd)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)

    status = 0
    try:
        await serve_vms(
            [config],
            ready,
            http=opts.http,
            http_token=opts.http_token,
            on_http_ready=_http_ready,
            http_allow_hosts=opts.http_allow_hosts,
        )
    except* MigrationLoadError as group:
        err = _leaf(group)
        for line in err.lines() if isinstance(err, MigrationLoadError) else [str(err)]:
            print(f"{PROG}: {line}", file=sys.stderr)
        status = 1
    except* ColdPlugError as group:
        print(f"{PROG}: {group.exceptions[0]}", file=sys.stderr)
        status = 1
    except* ChardevError as group:
        qtest = opts.vm.qtest
        where = f"-qtest {qtest.describe()}" if qtest else "-chardev"
        print(f"{PROG}: {where}: {group.exceptions[0]}", file=sys.stderr)
        status = 1
    except* OSError as group:
        where = f"-fakeqemu http={opts.http}: " if opts.http is not None else ""
        print(f"{PROG}: {where}{group.exceptions[0]}", file=sys.stderr)
        status = 1
    if status == 0 and served:
        status = max(vm.machine.exit_status for vm in served)
    return status


def _leaf(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _http_ready(urls: list[str]) -> None:
    print(f"fakeqemu: dashboard at {urls[0]}/", file=sys.stderr, flush=True)


def _daemonize() -> int | None:
    """Fork like QEMU's -daemonize: the parent exits 0 once the child is ready (monitors listening,
    pidfile written), or 1 if the child failed. Returns the child's ready fd, in the child."""
    rfd, wfd = os.pipe()
    if os.fork() > 0:
        os.close(wfd)
        ok = os.read(rfd, 1)
        os._exit(0 if ok == b"1" else 1)
    os.close(rfd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    return wfd


def main(argv: Sequence[str] | None = None) -> int:
    limits.pause_collection()  # until the VM is ready (limits.freeze_heap), or main returns
    try:
        return _main(argv)
    finally:
        gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    ignore_signals()
    block_exit_signals()  # taken by the runtime once it runs (fakeqemu.server.signals)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        opts = parse_args(args)
        traceopts.open_log(opts.vm.machine)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except traceopts.ListAndExit as stop:
        return stop.show()
    if opts.print_version:
        major, minor, micro = opts.vm.machine.qemu_version
        print(
            f"QEMU emulator version {major}.{minor}.{micro} (fakeqemu {__version__})\n"
            "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers"
        )
        return 0
    cfg = opts.vm.machine
    if not cfg.qtest:
        from fakeqemu.machine.machine_types import deprecation

        deprecated = deprecation(cfg.machine_name)
        if deprecated is not None:
            traceopts.warn(cfg, deprecated)
    if opts.http_warning is not None:
        print(f"fakeqemu: {opts.http_warning}", file=sys.stderr, flush=True)
    limits.raise_soft_limit()
    # QEMU's order: daemonize, the pid file, the monitors, then the qtest link
    ready_fd = _daemonize() if opts.daemonize else None
    pidfile = PidFile(opts.pidfile) if opts.pidfile else None
    sockets = MonitorSockets()
    incoming: socket.socket | None = None
    try:
        if pidfile is not None:
            pidfile.write()
        incoming = _bind_incoming(opts)  # before the monitors: a client that sees them may migrate at once
        _open_blockdevs(opts.vm.machine)  # QEMU opens the -blockdev nodes before its monitors answer
        sockets.bind(opts.vm.monitors, opts.vm.origins)
        return _start(opts, sockets, ready_fd, incoming)
    except StartupError as exc:
        sockets.close()
        if incoming is not None:
            incoming.close()
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    finally:
        sockets.remove_files()
        if pidfile is not None:
            pidfile.remove()


def _bind_incoming(opts: Options) -> socket.socket | None:
    uri = opts.vm.machine.incoming
    if uri is None or uri == "defer":
        return None
    from fakeqemu.server.incoming import bind_incoming

    try:
        return bind_incoming(uri)
    except (OSError, ValueError) as exc:
        raise StartupError(f"-incoming {uri}: {exc}") from None


def _open_blockdevs(cfg: MachineConfig) -> None:
    """configure_blockdev: open each -blockdev as qmp_blockdev_add opens a node (its name, its children,
    an inline ``file`` child as a node of its own, its file, the image locks a writer takes), and lock the
    images of the legacy drives, as QEMU does at start-up; the first failure is QEMU's error for that
    option. The machine adopts the nodes as opened (MachineConfig.blockdevs) and their locks
    (MachineConfig.image_locks)."""
    if not cfg.blockdevs:
        return
    from fakeqemu.machine.block.nodes import add_node
    from fakeqemu.qmp.errors import GenericError

    table: dict[str, dict[str, Any]] = {}
    texts: dict[str, str] = {}
    args = iter(cfg.blockdev_args)  # the -blockdev texts, in the order of the nodes that are not drives
    for bd in cfg.blockdevs:
        legacy = "id" in bd  # a -drive: its node is the drive's
        text = "-drive " + ",".join(f"{k}={v}" for k, v in bd.items() if k != "node-name") if legacy else ""
        text = text or f"-blockdev {next(args)}"
        try:
            if legacy:
                name = str(bd["node-name"])
                table[name] = {"options": bd}
                locks.lock_node(table, name)
            elif "node-name" not in bd:  # qmp_blockdev_add, before it opens anything
                raise GenericError("'node-name' must be specified for the root node")
            else:
                add_node(table, bd, hint=True, warn=functools.partial(traceopts.warn, cfg, where=f" {text}:"))
        except (GenericError, locks.LockError) as exc:
            for entry in table.values():
                locks.release(entry)
            raise StartupError(f"{text}: {exc}") from None
        texts.update((name, text.partition(" ")[2]) for name in table if name not in texts)
    cfg.blockdevs = [entry["options"] for entry in table.values()]
    cfg.blockdev_args = list(texts.values())
    cfg.image_locks = {name: e["lock-fd"] for name, e in table.items() if "lock-fd" in e}


def _open_backends(opts: Options) -> OpenBackends:
    """Open the chardevs that are neither monitors nor the guest agent's, and bind the displays, as QEMU
    does at start-up; a StartupError with QEMU's message when one fails."""
    held = OpenBackends()
    cfg = opts.vm.machine
    where = ""
    try:
        for chardev, ep in opts.vm.chardevs:
            where = opts.chardev_origins.get(chardev["id"], f"-chardev {chardev['id']}")
            cfg.chardev_files[chardev["id"]] = filename = open_chardev(held, chardev, ep, opts.vm.fdsets)
            if filename.startswith("pty:"):
                print(f"char device redirected to {filename[4:]} (label {chardev['id']})", flush=True)
        if cfg.vnc is not None:
            where = f"-vnc {cfg.vnc}"
            cfg.vnc_address = open_vnc(held, cfg.vnc)
        if cfg.spice is not None:
            where = f"-spice {cfg.spice}"
            cfg.spice_address = open_spice(held, split_opts(cfg.spice))
    except (BackendError, ChardevError, OSError) as exc:
        held.close()
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StartupError(f"{where}: {text}") from None
    return held


def _start(opts: Options, sockets: MonitorSockets, ready_fd: int | None, incoming: socket.socket | None) -> int:
    listeners = list(sockets.socks)
    for ep, sock in zip(opts.vm.monitors, listeners, strict=True):
        if ep.label:
            opts.vm.machine.chardev_files[ep.label] = _chardev_filename(ep, sock)
    agent_listener = None
    if opts.vm.agent is not None:
        agent = opts.vm.agent
        sockets.bind([agent], [opts.chardev_origins.get(agent.label, f"-chardev {agent.label}")])
        agent_listener = sockets.socks[-1]
        opts.vm.machine.chardev_files[agent.label] = _chardev_filename(agent, agent_listener)
    consoles = sockets.bind(opts.vm.consoles, [ep.option for ep in opts.vm.consoles])
    held = _open_backends(opts)
    qtest_sock = None
    if opts.vm.qtest is not None:
        try:
            qtest_sock = connect(opts.vm.qtest)
        except ChardevError as exc:
            spec = opts.vm.qtest.option.partition(" ")[2]
            raise StartupError(f'{exc}\n{PROG}: Failed to initialize device for qtest: "{spec}"') from None
        # qtest_server_init's chardev, made after the command line's (and -qmp/-monitor's) chardevs
        opts.vm.machine.chardev_files["qtest"] = _chardev_filename(opts.vm.qtest, qtest_sock)
        opts.vm.machine.connected_chardevs.add("qtest")
    greeter = None
    if any(listeners) and ready_fd is None:
        from fakeqemu.protocols.readline import banner
        from fakeqemu.qmp.session import greeting_bytes
        from fakeqemu.server.prestart import EarlyGreeter

        cfg = opts.vm.machine
        qmp_greeting = greeting_bytes(cfg.qemu_version, cfg.package)
        hmp_banner = banner(".".join(map(str, cfg.qemu_version)))
        monitors = opts.vm.monitors
        greeter = EarlyGreeter(
            listeners, [hmp_banner if ep.hmp else qmp_greeting for ep in monitors], [not ep.hmp for ep in monitors]
        )
        greeter.start()
    machine: Machine | None = None
    failed: Exception | None = None
    if greeter is not None and _answers_early(opts):
        from fakeqemu.machine.machine import Machine

        try:
            machine = Machine(opts.vm.machine)
        except Exception as exc:  # a -device the machine refuses (ColdPlugError): raised as the VM starts
            failed = exc
    if greeter is not None and machine is not None:
        from fakeqemu.qmp.schema import Schema
        from fakeqemu.server.early import EarlyQMP

        Schema.load()  # here, not in the greeter's thread while this one goes on importing
        greeter.answer_with(lambda: EarlyQMP.start(machine))
    import trio

    from fakeqemu.server.app import MonotonicClock
    from fakeqemu.server.vm import VMConfig

    config = VMConfig(opts.vm.machine, opts.vm.monitors, opts.vm.qtest, listeners, qtest_sock, held=held)
    config.agent, config.agent_listener = opts.vm.agent, agent_listener
    config.incoming_listener = incoming
    config.consoles, config.console_socks = opts.vm.consoles, consoles
    config.built, config.build_error = machine, failed
    if greeter is not None:
        config.early = greeter.stop()
        config.answered = greeter.answered
    # the runtime's clock is the machine's (time.monotonic): a machine built before trio ran keeps its timers
    return trio.run(serve, opts, config, ready_fd, clock=MonotonicClock())


def _answers_early(opts: Options) -> bool:
    """Whether the VM's machine is built before the runtime loads, for the early thread to answer the first
    commands with (fakeqemu.server.early): not when what the VM was asked for needs the runtime's own
    monitor from the first byte (traced commands, injected faults, the traffic record, the HTTP plane), nor
    without a QMP monitor."""
    cfg = opts.vm.machine
    if cfg.trace_events or cfg.faults.active or cfg.traffic_limit or opts.http is not None:
        return False
    return any(not ep.hmp for ep in opts.vm.monitors)


if __name__ == "__main__":
    sys.exit(main())
