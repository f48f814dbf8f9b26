"""Fleets: scale with a client per VM, and throughput with one worker and with every core's.

* Scale, for N VMs in one process with one QMP client each (``--scale 100,1000,10000``): start to ready,
  resident memory per VM, paced polling (every VM asked query-status every 5 s, for one period) p50/p99,
  and an unplug cycle (device_add, device_del, the guest's eject, DEVICE_DELETED) on 100 VMs at once.
  Targets (issue 15): 10,000 VMs with 10,000 clients, no error, p99 <= 50 ms, <= 64 KiB per idle VM.
* Throughput: each emulator serves VMS VMs; CLIENTS client processes split the VMs' sockets between them
  and keep DEPTH requests in flight on each (pipelined, so the client side is not what is measured) for
  SECONDS; replies per second over all VMs, fakeqemu with 1 and with every core's workers (``--workers``),
  QEMU processes beside. Target: with 2 workers at least 1.7x one worker's throughput.

Usage: python -m tools.bench_fleet [--vms 20] [--seconds 3] [--qemu 10] [--scale 100,1000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fakeqemu.cli.limits import raise_soft_limit
from tools.launch import BARE, connect

REQUEST = b'{"execute":"query-status"}'
DEPTH = 8


def _client(paths: list[str], seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Keep DEPTH query-status in flight on each socket until the deadline; put the replies counted."""
    sel = selectors.DefaultSelector()
    socks = []
    for path in paths:
        sock = connect(path)
        sock.recv(65536)  # greeting
        sock.sendall(b'{"execute":"qmp_capabilities"}')
        while b"return" not in sock.recv(65536):
            pass
        sock.setblocking(False)
        socks.append(sock)
        sel.register(sock, selectors.EVENT_READ, bytearray())
    for sock in socks:
        sock.sendall(REQUEST * DEPTH)
    replies = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in sel.select(0.1):
            conn = key.fileobj
            assert isinstance(conn, socket.socket)
            data = conn.recv(1 << 16)
            n = data.count(b"\r\n")
            replies += n
            if n:
                conn.sendall(REQUEST * n)
    for sock in socks:
        sock.close()
    out.put(replies)


def throughput(paths: list[str], seconds: float, clients: int) -> float:
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    shares = [paths[i::clients] for i in range(clients)]
    procs = [multiprocessing.Process(target=_client, args=(share, seconds, queue)) for share in shares if share]
    for p in procs:
        p.start()
    total = sum(queue.get(timeout=seconds + 120) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def fakeqemu_fleet(vms: int, workers: int, seconds: float, clients: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        argv = [str(Path(sys.executable).parent / "fakeqemu"), "run", "--vms", str(vms), "--workers", str(workers),
                "--dir", tmp, "--no-http", "--json", "--guest", "never"]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            assert proc.stdout is not None
            ready = json.loads(proc.stdout.readline())
            return throughput([vm["qmp"] for vm in ready["vms"]], seconds, clients)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)


def qemu_fleet(binary: str, vms: int, seconds: float, clients: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-qemu-fleet-") as tmp:
        procs, paths = [], []
        try:
            for i in range(vms):
                path = os.path.join(tmp, f"q{i}.qmp")
                argv = [binary, "-M", "pc", *BARE, "-S", "-qmp", f"unix:{path},server=on,wait=off"]
                procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL))
                paths.append(path)
            return throughput(paths, seconds, clients)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _lines(sock: socket.socket, want: int, buf: bytearray) -> list[bytes]:
    """Read until ``want`` complete lines have come (blocking socket); the rest stays in ``buf``."""
    while buf.count(b"\r\n") < want:
        data = sock.recv(1 << 16)
        if not data:
            raise ConnectionError("closed")
        buf += data
    out = bytes(buf).split(b"\r\n")
    lines, rest = out[:want], b"\r\n".join(out[want:])
    buf[:] = rest
    return lines


def feasible(n: int) -> int:
    """How many VMs with a client each fit in the descriptors this machine allows (the hard limit, which a
    process without CAP_SYS_RESOURCE cannot raise); says so when that is fewer than ``n``."""
    from fakeqemu.cli.limits import BASE_FDS, fleet_need

    _soft, hard = raise_soft_limit(fleet_need(n, 1))
    if fleet_need(n, 1) <= hard:
        return n
    fit = (hard - BASE_FDS) // 2
    print(f"note: {n} VMs with a client each need {fleet_need(n, 1)} file descriptors, the hard limit here is "
          f"{hard} (raise it as root with CAP_SYS_RESOURCE): measuring {fit} VMs")  # fmt: skip
    return fit


def scale(n: int, period: float = 5.0) -> dict[str, float]:
    """One process with ``n`` VMs and a client on each: ready time, RSS per VM, paced polling, an unplug
    cycle on 100 VMs at once."""
    import resource

    n = feasible(n)
    base_kib = _base_rss_kib()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    raise_soft_limit(n + 64)  # n client sockets here too
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        argv = [str(Path(sys.executable).parent / "fakeqemu"), "run", "--vms", str(n), "--dir", tmp, "--no-http",
                "--json", "--guest", "prompt", "--rcu-grace-ms", "0"]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        socks: list[socket.socket] = []
        try:
            assert proc.stdout is not None
            ready = json.loads(proc.stdout.readline())
            ready_s = time.perf_counter() - t0
            idle_kib = _rss_kib(proc.pid)
            bufs = []
            for vm in ready["vms"]:
                sock = connect(vm["qmp"], proc)
                sock.sendall(b'{"execute":"qmp_capabilities"}')
                socks.append(sock)
                bufs.append(bytearray())
            for sock, buf in zip(socks, bufs, strict=True):
                _lines(sock, 2, buf)  # greeting and the capabilities' reply
            clients_kib = _rss_kib(proc.pid)
            latencies = _paced(socks, bufs, period)
            cycle_ms = _unplug_cycle(socks[:100], bufs[:100])
        finally:
            for sock in socks:
                sock.close()
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=120)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    latencies.sort()
    return {
        "vms": n,
        "ready_s": ready_s,
        "idle_kib_per_vm": (idle_kib - base_kib) / n,
        "kib_per_vm_with_client": (clients_kib - base_kib) / n,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "cycle_100_ms": cycle_ms,
    }


def _base_rss_kib() -> int:
    """A one-VM process's resident memory: what a fleet's VMs come on top of."""
    with tempfile.TemporaryDirectory(prefix="bench-base-") as tmp:
        argv = [str(Path(sys.executable).parent / "fakeqemu"), "run", "--dir", tmp, "--no-http", "--json"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            assert proc.stdout is not None
            proc.stdout.readline()
            return _rss_kib(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)


def _paced(socks: list[socket.socket], bufs: list[bytearray], period: float) -> list[float]:
    """Every VM asked query-status once in ``period`` seconds, spread evenly; each reply's latency."""
    sel = selectors.DefaultSelector()
    sent: dict[int, float] = {}
    for i, sock in enumerate(socks):
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, i)
    latencies: list[float] = []
    start = time.perf_counter()
    step = period / len(socks)
    nxt = 0
    while len(latencies) < len(socks):
        now = time.perf_counter()
        while nxt < len(socks) and start + nxt * step <= now:
            socks[nxt].sendall(REQUEST)
            sent[nxt] = time.perf_counter()
            nxt += 1
        for key, _ in sel.select(0.001):
            i = key.data
            bufs[i] += socks[i].recv(1 << 16)
            if b"\r\n" in bufs[i]:
                latencies.append(time.perf_counter() - sent[i])
                bufs[i].clear()
    for sock in socks:
        sel.unregister(sock)
        sock.setblocking(True)
    return latencies


def _unplug_cycle(socks: list[socket.socket], bufs: list[bytearray]) -> float:
    """device_add + device_del on every VM at once, until each has sent the device's DEVICE_DELETED."""
    t0 = time.perf_counter()
    for sock in socks:
        sock.sendall(b'{"execute":"device_add","arguments":{"driver":"e1000","id":"b0"}}'
                     b'{"execute":"device_del","arguments":{"id":"b0"}}')  # fmt: skip
    for sock, buf in zip(socks, bufs, strict=True):
        while b'"device": "b0"' not in buf:
            data = sock.recv(1 << 16)
            if not data:
                raise ConnectionError("closed")
            buf += data
    return (time.perf_counter() - t0) * 1000


def bench(
    vms: int = 20, seconds: float = 3.0, qemu_vms: int = 10, clients: int = 2, sizes: tuple[int, ...] = (100, 1000)
) -> dict[str, float]:
    for n in sizes:
        r = scale(n)
        n = int(r["vms"])
        verdict = "ok" if r["p99_ms"] <= 50 and r["idle_kib_per_vm"] <= 64 else "MISSES"
        print(f"{f'fleet of {n}, a client each':<34}ready {r['ready_s']:6.2f} s, "
              f"RSS {r['idle_kib_per_vm']:5.1f} KiB/VM idle, {r['kib_per_vm_with_client']:5.1f} with its client, "
              f"poll p50 {r['p50_ms']:5.2f} ms p99 {r['p99_ms']:6.2f} ms, "
              f"100-VM unplug cycle {r['cycle_100_ms']:6.1f} ms  {verdict}")  # fmt: skip
    cores = os.cpu_count() or 1
    results = {"fakeqemu, 1 worker": fakeqemu_fleet(vms, 1, seconds, clients)}
    results[f"fakeqemu, {cores} workers"] = fakeqemu_fleet(vms, cores, seconds, clients)
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is not None and qemu_vms:
        results[f"QEMU, {qemu_vms} processes"] = qemu_fleet(qemu, qemu_vms, seconds, clients)
    for label, rate in results.items():
        print(f"{'fleet query-status/s, ' + label:<44}{rate:10.0f} /s")
    if cores > 1:
        ratio = results[f"fakeqemu, {cores} workers"] / results["fakeqemu, 1 worker"]
        verdict = "ok" if ratio >= 1.7 else "MISSES"
        print(f"{f'{cores} workers / 1 worker':<44}{ratio:10.2f}x  {verdict} (target >= 1.7x with 2)")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--qemu", type=int, default=10, help="QEMU processes to compare with (0: none)")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--scale", default="100,1000", help="fleet sizes with a client per VM (e.g. 100,1000,10000)")
    args = parser.parse_args(argv)
    sizes = tuple(int(x) for x in args.scale.split(",") if x)
    bench(args.vms, args.seconds, args.qemu, args.clients, sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
