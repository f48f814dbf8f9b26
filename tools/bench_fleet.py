"""Fleet throughput: back-to-back query-status over many VMs, with one worker and with every core's
(``fakeqemu run --workers``), and QEMU processes for the same number of VMs beside it.

Each emulator serves VMS VMs; CLIENTS client processes split the VMs' sockets between them and keep
DEPTH requests in flight on each (pipelined, so the client side is not what is measured) for SECONDS;
the figure is replies per second over all VMs. Target (issue 15): with 2 workers at least 1.7x one
worker's throughput. Usage: python -m tools.bench_fleet [--vms 20] [--seconds 3] [--qemu 10]
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


def bench(vms: int = 20, seconds: float = 3.0, qemu_vms: int = 10, clients: int = 2) -> dict[str, float]:
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
    args = parser.parse_args(argv)
    bench(args.vms, args.seconds, args.qemu, args.clients)
    return 0


if __name__ == "__main__":
    sys.exit(main())
