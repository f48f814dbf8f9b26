"""One client's heavy but legal input against another client's wait, fakeqemu and QEMU 7.2 in the same run.

Client A sends one heavy message (2 Mi tokens, a 1 M-element id, 100,000-deep nesting) and waits for the
answers; meanwhile client B, on a second monitor and from a process of its own, runs query-status round
trips back to back. Reported:
B's worst round trip while A's message is being handled, and how long A waited, per emulator.

    python -m tools.bench_fairness [--only fakeqemu|qemu] [--case nesting] [--runs N]

With ``--runs N`` each case runs N times, the emulators taking turns, and the median of each is printed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import statistics
import sys
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

from tools.launch import BARE, FAKEQEMU, Emulator

QEMU = "qemu-system-x86_64"
PAYLOADS = {
    "2 Mi tokens": b'{"execute": "query-status", "id": [' + b"1," * ((2 << 20) // 2) + b"1]}",
    "1 M-element id": b'{"execute": "query-status", "id": [' + b"1," * 999_999 + b"1]}",
    "100,000-deep nesting": b"[" * 100_000 + b"]" * 100_000,
}
MARKER = b'\xff{"execute": "query-name", "id": "mark"}'


def _negotiate(sock: socket.socket) -> socket.SocketIO:
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b'{"execute": "qmp_capabilities"}')
    f.readline()
    return f  # type: ignore[return-value]


def _other(sock: socket.socket, started: Event, stop: Event, worst: Synchronized[float]) -> None:
    """Client B, in a process of its own (in a thread its waits would include this process's GIL, which the
    thread reading A's replies holds: the faster the emulator answers A, the more B's wait grew)."""
    fb = sock.makefile("rb")
    started.set()
    while not stop.is_set():
        t = time.perf_counter()
        sock.sendall(b'{"execute": "query-status"}')
        fb.readline()
        worst.value = max(worst.value, time.perf_counter() - t)


def measure(argv: list[str], payload: bytes) -> tuple[float, float]:
    with Emulator(prefix="fair-") as emu:
        a_path, b_path = emu.path("a.sock"), emu.path("b.sock")
        monitors = ["-qmp", f"unix:{a_path},server=on,wait=off", "-qmp", f"unix:{b_path},server=on,wait=off"]
        emu.start([*argv, "-M", "pc", *BARE, "-S", *monitors])
        a, b = emu.connect("a.sock"), emu.connect("b.sock")
        fa = _negotiate(a)
        _negotiate(b)
        ctx = multiprocessing.get_context("fork")
        started, stop, worst = ctx.Event(), ctx.Event(), ctx.Value("d", 0.0)
        other = ctx.Process(target=_other, args=(b, started, stop, worst))
        other.start()
        started.wait()  # B is sending before A does
        start = time.perf_counter()
        a.sendall(payload + MARKER)
        while b'"mark"' not in fa.readline():
            pass
        elapsed = time.perf_counter() - start
        stop.set()
        other.join()
        for s in (a, b):
            s.close()
        return worst.value, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["fakeqemu", "qemu"])
    parser.add_argument("--case", help="only the cases whose name contains this (e.g. nesting)")
    parser.add_argument("--runs", type=int, default=1, help="runs per case and emulator (median printed)")
    ns = parser.parse_args()
    emulators = {"fakeqemu": list(FAKEQEMU)}
    if shutil.which(QEMU):
        emulators["qemu"] = [QEMU]
    for name, payload in PAYLOADS.items():
        if ns.case and ns.case not in name:
            continue
        waits: dict[str, list[float]] = {}
        for _ in range(ns.runs):
            for emu, argv in emulators.items():
                if ns.only and emu != ns.only:
                    continue
                worst, elapsed = measure(argv, payload)
                waits.setdefault(emu, []).append(worst)
                print(
                    f"{name:22} {emu:9} other client's worst wait {worst * 1000:8.1f} ms; heavy client {elapsed:6.2f} s"
                )
                sys.stdout.flush()
        if ns.runs > 1:
            for emu, values in waits.items():
                ms = sorted(round(v * 1000, 1) for v in values)
                print(f"{name:22} {emu:9} median {statistics.median(ms):8.1f} ms over {len(ms)} runs: {ms}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
