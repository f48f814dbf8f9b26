"""``make bench``: fakeqemu against Debian's QEMU 7.2 in the same run, as ratios.

Measures, for each emulator: exec -> QMP greeting (ms), exec -> greeting and the replies to the first two
commands (ms; target within 2.5x QEMU's), and the round trip of ``query-status`` through
qemu.qmp's QMPClient (p50/p99 in microseconds). Later sections (hotplug cycle, image) add to RESULTS.
Targets: round trip p50 <= 0.6x QEMU's; greeting within 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from qemu.qmp import QMPClient

from tools.launch import BARE
from tools.launch import Emulator as Launched

QEMU = "qemu-system-x86_64"


@dataclass
class Emulator:
    name: str
    argv: list[str]


def emulators() -> list[Emulator]:
    fake = Emulator("fakeqemu", [sys.executable, "-m", "fakeqemu"])
    qemu = shutil.which(QEMU)
    if qemu is None:
        print(f"note: {QEMU} not found (apt-get install -y qemu-system-x86): fakeqemu alone, no ratios")
        return [fake]
    return [Emulator("qemu", [qemu]), fake]


def _start(emu: Emulator) -> Launched:
    """A paused pc VM with one QMP socket (``qmp``), started through the one launcher."""
    run = Launched(prefix=f"bench-{emu.name}-")
    run.start([*emu.argv, "-M", "pc", *BARE, "-S", "-qmp", f"unix:{run.path('qmp')},server=on,wait=off"])
    return run


def greeting_ms(emu: Emulator) -> float:
    """exec -> first byte of the greeting read by a client that polls for the socket."""
    t0 = time.perf_counter()
    with _start(emu) as run, run.connect("qmp", interval=0.0005) as s:
        s.recv(4096)
        return (time.perf_counter() - t0) * 1000


def first_replies_ms(emu: Emulator) -> float:
    """exec -> greeting -> the replies to qmp_capabilities and query-status, as a client polling for the
    socket sees them (what a management tool waits for before it can act)."""
    t0 = time.perf_counter()
    with _start(emu) as run, run.connect("qmp", interval=0.0005) as s:
        buf = b""
        for command in (b"", b'{"execute":"qmp_capabilities"}', b'{"execute":"query-status"}'):
            s.sendall(command)
            while b"\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise EOFError(buf)
                buf += chunk
            buf = buf.partition(b"\r\n")[2]
        return (time.perf_counter() - t0) * 1000


async def _roundtrips(path: str, n: int) -> list[float]:
    client = QMPClient("bench")
    await client.connect(path)
    try:
        for _ in range(200):  # warm-up
            await client.execute("query-status")
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            await client.execute("query-status")
            samples.append((time.perf_counter() - t0) * 1e6)
        return samples
    finally:
        await client.disconnect()


def roundtrip_us(emu: Emulator, n: int) -> list[float]:
    with _start(emu) as run:
        run.connect("qmp").close()  # accepting: qemu.qmp's connect does not retry
        return asyncio.run(_roundtrips(run.path("qmp"), n))


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(label: str, values: dict[str, float], unit: str, better: Callable[[float], str] | None = None) -> None:
    cells = "  ".join(f"{k}={v:9.1f} {unit}" for k, v in values.items())
    ratio = ""
    if "qemu" in values and "fakeqemu" in values and values["qemu"]:
        r = values["fakeqemu"] / values["qemu"]
        ratio = f"  ratio={r:.2f}x" + (f"  {better(r)}" if better else "")
    print(f"{label:<34}{cells}{ratio}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5000, help="query-status round trips per emulator")
    parser.add_argument("--starts", type=int, default=10, help="process starts per emulator")
    parser.add_argument("--no-docker", action="store_true", help="skip the Docker image section")
    args = parser.parse_args(argv)
    emus = emulators()
    greet = {e.name: statistics.median(greeting_ms(e) for _ in range(args.starts)) for e in emus}
    row("exec -> greeting (median)", greet, "ms")
    first = {e.name: statistics.median(first_replies_ms(e) for _ in range(args.starts)) for e in emus}
    row(
        "exec -> first two replies (median)",
        first,
        "ms",
        lambda r: "ok (target <= 2.5x)" if r <= 2.5 else "MISSES target <= 2.5x",
    )
    rtt = {e.name: roundtrip_us(e, args.rounds) for e in emus}
    row(
        "query-status round trip p50",
        {k: pct(v, 0.5) for k, v in rtt.items()},
        "us",
        lambda r: "ok (target <= 0.6x)" if r <= 0.6 else "MISSES target <= 0.6x",
    )
    row("query-status round trip p99", {k: pct(v, 0.99) for k, v in rtt.items()}, "us")
    if "fakeqemu" in greet:
        verdict = "ok" if greet["fakeqemu"] <= 150 else "MISSES"
        print(f"{'greeting target (<= 150 ms)':<34}{verdict}")
    # the unplug cycle: device_add, device_del, the guest's eject, both DEVICE_DELETED
    from tools.bench_hotplug import bench as hotplug_bench

    qemu_argv = next((e.argv for e in emus if e.name == "qemu"), None)
    fake_argv = next(e.argv for e in emus if e.name == "fakeqemu")
    hotplug_bench(qemu_argv, fake_argv)
    # block jobs and migration: a 1 GiB mirror, an idle VM's migration (tools/bench_jobs.py)
    from tools.bench_jobs import bench as jobs_bench

    jobs_bench(qemu_argv, fake_argv)
    # libvirt starting virt-install's default q35 domain, each emulator in the same private libvirtd
    from tools.bench_libvirt import bench as libvirt_bench

    libvirt_bench()
    # the HTTP plane must not slow QMP: fakeqemu alone, with a dashboard's live stream connected
    from tools.bench_http import measure

    for label, samples in measure(_roundtrips, args.rounds).items():
        print(f"{'fakeqemu rtt, ' + label:<34}p50={pct(samples, 0.5):7.1f} us  p99={pct(samples, 0.99):7.1f} us")
    # fakeqemu as a test library: VM start in-process, a 100-test suite with the plugin (tools/bench_testing.py)
    from tools.bench_testing import bench as testing_bench

    testing_bench(greet.get("qemu"))
    # a fleet's throughput with one worker and with every core's, QEMU processes beside (tools/bench_fleet.py)
    from tools.bench_fleet import bench as fleet_bench

    fleet_bench()
    if not args.no_docker:  # image size, `docker run` -> QMP greeting (tools/bench_docker.py)
        from tools.bench_docker import bench as docker_bench

        docker_bench(starts=args.starts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
