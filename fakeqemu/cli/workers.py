"""``fakeqemu run --workers W``: a fleet sharded over W processes, one trio loop each, so that it uses
every core; this process supervises them.

* Worker K runs ``fakeqemu run ... --shard K/W``: the same command line, serving the VMs whose index falls
  in its share (fakeqemu.cli.friendly.shard_range). A VM's name, socket and TCP port do not depend on W.
* Each worker reports its VMs on its stdout (``--json``) once they listen; the supervisor reports the
  whole fleet once (banner, ``--json``, ``--ready-file``), with each VM's worker pid.
* One HTTP plane for the fleet: each worker serves its own on a unix socket beside the VMs' sockets, and
  the supervisor serves the address asked for, behind the same guard (token, Host, body size), routing
  each VM's requests to its worker (fakeqemu.http.proxy).
* SIGTERM, SIGINT and SIGHUP: one line, then every worker gets SIGTERM (its VMs send SHUTDOWN). A worker
  that dies takes only its VMs; the supervisor ends when every worker has, with the first non-zero status.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import trio

from fakeqemu.cli.lifecycle import private_dir
from fakeqemu.cli.ready import write_atomically
from fakeqemu.http.bind import BindError, check_access, check_bind
from fakeqemu.server.signals import exit_signals

#: options of the supervisor's own that its workers do not get (with whether they take a value)
_OWN = {"--workers": True, "--json": False, "--ready-file": True, "--http": True, "--no-http": False}


def worker_args(args: Sequence[str], shard: int, workers: int, http: str | None) -> list[str]:
    """Worker ``shard``'s command line: the supervisor's ``run`` arguments less its own options, plus its
    share, ``--json`` and its HTTP plane (a unix socket) or none."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _OWN:
            skip = _OWN[name] and "=" not in arg
            continue
        out.append(arg)
    out += ["--shard", f"{shard}/{workers}", "--json"]
    out += ["--http", f"unix:{http}"] if http is not None else ["--no-http"]
    return out


def supervise(ns: argparse.Namespace, args: Sequence[str], workers: int) -> int:
    from fakeqemu.cli.friendly import default_socket_dir, http_bind

    if ns.qmp is not None:
        print("fakeqemu: --qmp names one VM's socket; a sharded fleet's go in --dir", file=sys.stderr)
        return 2
    sock_dir = Path(ns.dir) if ns.dir is not None else default_socket_dir()
    try:
        if ns.dir is None:
            private_dir(sock_dir)
        sock_dir.mkdir(parents=True, exist_ok=True)
        http = http_bind(ns)
        if http is not None:
            http = check_bind(http)
            warning = check_access(http, ns.http_token, ns.http_insecure)
            if warning is not None:
                print(f"fakeqemu: {warning}", file=sys.stderr, flush=True)
    except BindError as exc:
        print(f"fakeqemu: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the socket directory's checks (fakeqemu.cli.lifecycle)
        print(f"fakeqemu: {exc}", file=sys.stderr)
        return 1
    shard_http = [str(sock_dir / f".{ns.name}.shard{k}.http") if http is not None else None for k in range(workers)]
    cmd = [sys.executable, "-m", "fakeqemu.cli.friendly"]
    run_at = list(args).index("run") + 1
    procs = [
        subprocess.Popen(
            [*cmd, *args[:run_at], *worker_args(args[run_at:], k, workers, shard_http[k])],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        for k in range(workers)
    ]
    try:
        return trio.run(functools.partial(_run, ns, procs, http, shard_http))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        for path in shard_http:
            if path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


async def _run(ns: argparse.Namespace, procs: list[subprocess.Popen[bytes]], http: str | None,
               shard_http: list[str | None]) -> int:  # fmt: skip
    with exit_signals() as signals:
        reports: list[dict[str, Any]] = []
        for proc in procs:
            assert proc.stdout is not None
            line = await trio.to_thread.run_sync(proc.stdout.readline)
            if not line:  # it failed to start and said why on stderr (shared with ours)
                for other in procs:
                    if other.poll() is None:
                        other.send_signal(signal.SIGTERM)
                return await trio.to_thread.run_sync(proc.wait) or 1
            reports.append(orjson.loads(line))
        owner = {vm["name"]: k for k, report in enumerate(reports) for vm in report["vms"]}
        async with trio.open_nursery() as nursery:
            url = None
            if http is not None:
                from fakeqemu.http.serve import serve_proxy

                shards = [p for p in shard_http if p is not None]
                urls = await nursery.start(serve_proxy, shards, owner, http, ns.http_token, ns.http_allow_host)
                url = urls[0]
            _report(ns, reports, url, procs)
            if signals is not None:
                nursery.start_soon(_forward_signals, signals, procs, len(owner))
            statuses = [await trio.to_thread.run_sync(proc.wait, abandon_on_cancel=True) for proc in procs]
            nursery.cancel_scope.cancel()
    return next((s for s in statuses if s != 0), 0)


async def _forward_signals(signals: Any, procs: list[subprocess.Popen[bytes]], vms: int) -> None:
    async for signum, _sender in signals:
        print(f"fakeqemu: terminating {vms} VMs on signal {signum}", file=sys.stderr, flush=True)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)


def _report(ns: argparse.Namespace, reports: list[dict[str, Any]], http: str | None,
            procs: list[subprocess.Popen[bytes]]) -> None:  # fmt: skip
    vms = [{**vm, "pid": report["pid"]} for report in reports for vm in report["vms"]]
    data = orjson.dumps({"pid": os.getpid(), "http": http, "workers": [p.pid for p in procs], "vms": vms})
    if ns.ready_file:
        write_atomically(ns.ready_file, data + b"\n")
    if ns.json:
        sys.stdout.write(data.decode() + "\n")
        sys.stdout.flush()
        return
    for vm in vms[:5]:
        print(f"fakeqemu: VM {vm['name']} ({vm['machine']}) QMP on {', '.join(vm['addresses'])}")
    if len(vms) > 5:
        print(f"fakeqemu: ... and {len(vms) - 5} more VMs")
    print(f"  workers:  {len(procs)} processes ({', '.join(str(p.pid) for p in procs)})")
    print(f"  connect:  qmp-shell {vms[0]['qmp']}")
    if http is not None:
        print(f"  dashboard: {http}/  (API: {http}/api/vms)")
    print("  stop:     Ctrl-C (clients get SHUTDOWN, as from QEMU)", flush=True)
