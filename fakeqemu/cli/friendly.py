"""``fakeqemu``: the friendly command line.

fakeqemu run                      one fake VM (pc), QMP socket printed on start
fakeqemu run --machine q35 --tcp 127.0.0.1:4444
fakeqemu run --vms 50             a fleet of 50 VMs in one process, one socket each
fakeqemu run --http 0.0.0.0:8780  the dashboard and HTTP API there (default 127.0.0.1:8780; --no-http: off)
fakeqemu qemu-args -- ARGS...     the same as fakeqemu-system-x86_64 ARGS...
"""

from __future__ import annotations

import argparse
import functools
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import trio

from fakeqemu import __version__
from fakeqemu.cli import faultfile, limits
from fakeqemu.cli.chardevs import parse_legacy
from fakeqemu.cli.lifecycle import MonitorSockets, StartupError, ignore_signals, private_dir, served
from fakeqemu.cli.qemuopts import UsageError, device_opts, parse_bytes
from fakeqemu.cli.ready import Ready
from fakeqemu.http.bind import DEFAULT_BIND, BindError, check_access, check_bind
from fakeqemu.machine.faults import FaultConfigError
from fakeqemu.machine.machine import MachineConfig
from fakeqemu.server.app import serve_vms
from fakeqemu.server.chardev import Endpoint
from fakeqemu.server.vm import VM, VMConfig

GUEST_POLICIES = "auto, prompt, delay:<ms>, never, refuse"


def default_socket_dir() -> Path:
    """``$XDG_RUNTIME_DIR/fakeqemu``, else ``/tmp/fakeqemu-UID`` (``$TMPDIR`` if set): made private (0700)
    when used, refused when someone else made it."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "fakeqemu"
    return Path(tempfile.gettempdir()) / f"fakeqemu-{os.getuid()}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fakeqemu",
        description="A fake QEMU that speaks QMP like QEMU 7.2, for testing VM management software.",
        epilog="For QEMU's own command line use fakeqemu-system-x86_64 (or python -m fakeqemu).",
    )
    parser.add_argument("--version", action="version", version=f"fakeqemu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="start fake VMs and serve QMP until Ctrl-C",
        description="Start one fake VM (or a fleet) and serve QMP on a unix socket until Ctrl-C or SIGTERM.",
    )
    run.add_argument("--machine", "-M", default="pc", choices=["pc", "q35"], help="machine type (default pc)")
    run.add_argument("--name", default="vm0", help="VM name, also the socket's name (default vm0)")
    run.add_argument("--qmp", metavar="PATH", help="QMP unix socket (default: DIR/NAME.qmp, see --dir)")
    run.add_argument(
        "--dir", metavar="DIR", type=Path, default=None, help=f"where sockets go (default {default_socket_dir()})"
    )
    run.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        help="also serve QMP on TCP; a fleet's VM i on PORT+i (PORT 0: a free port each, listed by --json)",
    )
    run.add_argument("--vms", type=int, default=1, metavar="N", help="run N VMs in this process (NAME-0 ...)")
    run.add_argument("--paused", "-S", action="store_true", help="start paused (prelaunch), like -S")
    run.add_argument(
        "--guest",
        default="auto",
        metavar="POLICY",
        help=f"how the modelled guest answers unplug requests: {GUEST_POLICIES} (default auto)",
    )
    run.add_argument(
        "--rcu-grace-ms",
        type=float,
        default=None,
        metavar="MS",
        help="delay between eject and DEVICE_DELETED (default: like QEMU, 10)",
    )
    run.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="DRIVER,KEY=VAL...",
        help="cold-plug a device, like -device (repeatable)",
    )
    run.add_argument(
        "--faults",
        metavar="FILE",
        help="inject faults from a TOML file (delay/fail commands, close connections, guest eject; see README)",
    )
    run.add_argument(
        "--http",
        metavar="HOST:PORT",
        help=f"serve the dashboard and HTTP API here (default {DEFAULT_BIND}, or a free port if that is taken)",
    )
    run.add_argument("--no-http", action="store_true", help="no dashboard, no HTTP API")
    run.add_argument(
        "--http-allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the HTTP plane answers to besides its address (without a token, others get 403)",
    )
    run.add_argument(
        "--http-insecure",
        action="store_true",
        help="serve the HTTP API beyond loopback without a token (anyone who reaches it drives the VMs)",
    )
    run.add_argument(
        "--http-token",
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' (or ?token=TOKEN) on the HTTP API",
    )
    run.add_argument(
        "--traffic-limit",
        metavar="SIZE",
        help="record QMP traffic, keeping SIZE bytes per VM (e.g. 4M; 0: off). Default: 1M while the HTTP "
        "plane serves, else off",
    )
    run.add_argument(
        "--ready-file",
        metavar="PATH",
        help="once every socket listens, write the socket paths, TCP and HTTP addresses and pid there as JSON",
    )
    run.add_argument("--json", action="store_true", help="print that JSON (one line) on stdout instead of the banner")
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="shard the fleet over N processes (0: one per core), behind one HTTP plane; VM names, sockets "
        "and ports stay as with one process (default 1)",
    )
    run.add_argument("--shard", metavar="K/W", help=argparse.SUPPRESS)  # one worker's share (fakeqemu.cli.workers)
    sub.add_parser(
        "qemu-args", help="run with QEMU's command line: fakeqemu qemu-args -- -M q35 -qmp ...", add_help=True
    )
    return parser


def shard_range(shard: str | None, vms: int) -> range:
    """The VM indexes worker K of W serves (``--shard K/W``): a contiguous share; all of them without one."""
    if shard is None:
        return range(vms)
    k, _, w = shard.partition("/")
    if not (k.isdigit() and w.isdigit() and int(k) < int(w) <= vms):
        raise UsageError(f"--shard {shard}: expected K/W with K < W <= --vms")
    return range(int(k) * vms // int(w), (int(k) + 1) * vms // int(w))


def _tcp_base(text: str, vms: int) -> tuple[str, int]:
    """``--tcp HOST:PORT``: the host and the first VM's port (a fleet's VM i listens on PORT+i)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--tcp {text}: expected HOST:PORT")
    if int(port) and int(port) + vms - 1 > 65535:
        raise UsageError(f"--tcp {text}: {vms} VMs need ports {port}-{int(port) + vms - 1}, past 65535")
    return host, int(port)


def _configs(ns: argparse.Namespace) -> list[VMConfig]:
    if ns.vms < 1:
        raise UsageError("--vms must be at least 1")
    tcp_host, tcp_port = _tcp_base(ns.tcp, ns.vms) if ns.tcp else ("", 0)
    sock_dir = ns.dir or default_socket_dir()
    if ns.dir is None and not (ns.qmp and ns.vms == 1):
        private_dir(sock_dir)
    faults, guest = None, ns.guest
    if ns.faults:
        try:
            faults, file_guest = faultfile.load(ns.faults)
        except FaultConfigError as exc:
            raise UsageError(str(exc)) from None
        if file_guest is not None and ns.guest == "auto":
            guest = file_guest
    configs = []
    for i in shard_range(ns.shard, ns.vms):
        name = ns.name if ns.vms == 1 else f"{ns.name}-{i}"
        path = ns.qmp if (ns.qmp and ns.vms == 1) else str(sock_dir / f"{name}.qmp")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if served(path):
            raise StartupError(f"{path} is served by another process (a fakeqemu already?): stop it or give --dir")
        mcfg = MachineConfig(
            machine_type=ns.machine,
            name=name,
            paused=ns.paused,
            guest=guest,
            devices=[device_opts(d) for d in ns.device],
        )
        if faults is not None:
            mcfg.faults = faults
        if ns.rcu_grace_ms is not None:
            mcfg.rcu_grace = ns.rcu_grace_ms / 1000.0
        if ns.traffic_limit is not None:
            mcfg.traffic_limit = parse_bytes(ns.traffic_limit, "--traffic-limit")
        monitors = [Endpoint("unix", path=path)]
        if ns.tcp:
            port = tcp_port + i if tcp_port else 0
            monitors.append(parse_legacy(f"tcp:{tcp_host}:{port},server=on,wait=off"))
        mcfg.chardevs = [f"compat_monitor{i}" for i in range(len(monitors))]
        configs.append(VMConfig(machine=mcfg, monitors=monitors))
    return configs


def _announce(vms: list[VM]) -> None:
    for vm in vms[:5]:
        cfg = vm.machine.config
        print(f"fakeqemu: VM {cfg.name} ({cfg.machine_type}) QMP on {', '.join(vm.addresses)}")
    if len(vms) > 5:
        print(f"fakeqemu: ... and {len(vms) - 5} more VMs")
    first = vms[0].config.monitors[0]
    print(f"  connect:  qmp-shell {first.path}")
    print("  stop:     Ctrl-C (clients get SHUTDOWN, as from QEMU)", flush=True)


def _announce_http(urls: list[str]) -> None:
    print(f"  dashboard: {urls[0]}/  (API: {urls[0]}/api/vms, OpenAPI: {urls[0]}/openapi.json)", flush=True)


def http_bind(ns: argparse.Namespace) -> str | None:
    """Where the HTTP plane listens: --http, else the default port (a free one when it is taken)."""
    if ns.no_http:
        return None
    if ns.http:
        return check_bind(ns.http)
    host, _, port = DEFAULT_BIND.rpartition(":")
    probe = socket.socket()
    try:
        probe.bind((host, int(port)))
    except OSError:
        return f"{host}:0"
    finally:
        probe.close()
    return DEFAULT_BIND


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["qemu-args"]:
        from fakeqemu.cli.qemu import main as qemu_main

        rest = args[1:]
        return qemu_main(rest[1:] if rest[:1] == ["--"] else rest)
    ignore_signals()
    ns = build_parser().parse_args(args)
    if ns.workers < 0:
        print("fakeqemu: --workers must be 0 (one per core) or more", file=sys.stderr)
        return 2
    workers = min(ns.workers or os.cpu_count() or 1, ns.vms)  # never more processes than VMs
    if workers > 1 and ns.shard is None:
        from fakeqemu.cli.workers import supervise

        return supervise(ns, args, workers)
    try:
        configs = _configs(ns)
        http = http_bind(ns)
        http_warning = check_access(http, ns.http_token, ns.http_insecure) if http is not None else None
    except (UsageError, BindError) as exc:
        print(f"fakeqemu: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"fakeqemu: {exc}", file=sys.stderr)
        return 1
    if http_warning is not None:
        print(f"fakeqemu: {http_warning}", file=sys.stderr, flush=True)
    soft, _hard = limits.raise_soft_limit(limits.fleet_need(len(configs), len(configs[0].monitors)))
    warning = limits.fleet_warning(len(configs), len(configs[0].monitors), soft)
    if warning is not None:
        print(f"fakeqemu: {warning}", file=sys.stderr, flush=True)
    sockets = MonitorSockets()
    try:
        for cfg in configs:
            first = len(sockets.socks)
            sockets.bind(cfg.monitors, [ep.describe() for ep in cfg.monitors])
            cfg.listeners = sockets.socks[first:]
    except StartupError as exc:
        print(f"fakeqemu: {exc}", file=sys.stderr)
        return 1
    ready = Ready(ns.ready_file, ns.json, http is not None)

    def on_ready(vms: list[VM]) -> None:
        limits.freeze_heap()
        if not ns.json:
            _announce(vms)
        ready.vms_ready(vms)

    def on_http_ready(urls: list[str]) -> None:
        if not ns.json:
            _announce_http(urls)
        ready.http_ready(urls)

    status = 0
    try:
        trio.run(
            functools.partial(
                serve_vms,
                configs,
                on_ready,
                http=http,
                http_token=ns.http_token,
                on_http_ready=on_http_ready,
                http_allow_hosts=ns.http_allow_host,
                quiet=ns.shard is not None,
            )
        )
    except* OSError as group:
        print(f"fakeqemu: {group.exceptions[0]}", file=sys.stderr)
        status = 1
    finally:
        sockets.remove_files()
    return status


if __name__ == "__main__":
    sys.exit(main())
