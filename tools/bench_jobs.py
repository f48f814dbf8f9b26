"""``make bench``: a block mirror of a 1 GiB image and a live migration, fakeqemu against QEMU 7.2 in the
same run.

Mirror: a 1 GiB qcow2 image fully written (qemu-io), blockdev-mirror sync=full to an empty 1 GiB image,
timed from the command to BLOCK_JOB_READY; fakeqemu in its quick mode (the default) and at QEMU's rate
(``-fakeqemu job-rate=qemu``). Migration: an idle 128 MiB pc VM to a second process of the same emulator
started with ``-incoming unix:``, timed from ``migrate`` to the source's MIGRATION completed.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time

from tools.launch import BARE, Monitor, connect

GiB = 1 << 30


def _spawn(argv: list[str], workdir: str, name: str, extra: list[str]) -> tuple[subprocess.Popen[bytes], Monitor]:
    path = os.path.join(workdir, f"{name}.qmp")
    proc = subprocess.Popen(
        [*argv, "-M", "pc", *BARE, "-S", "-qmp", f"unix:{path},server=on,wait=off", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, Monitor(connect(path, proc))


def _stop(proc: subprocess.Popen[bytes], qmp: Monitor) -> None:
    qmp.close()
    proc.kill()
    proc.wait()


def mirror_ms(argv: list[str], workdir: str, source: str) -> float:
    target = os.path.join(workdir, "target.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", target, "1G"], check=True)
    proc, qmp = _spawn(argv, workdir, "mirror", [])
    try:
        for name, path in (("src", source), ("dst", target)):
            qmp.cmd("blockdev-add", {"driver": "file", "node-name": f"{name}-file", "filename": path})
            qmp.cmd("blockdev-add", {"driver": "qcow2", "node-name": name, "file": f"{name}-file"})
        t0 = time.perf_counter()
        qmp.cmd("blockdev-mirror", {"job-id": "m", "device": "src", "target": "dst", "sync": "full"})
        qmp.until("BLOCK_JOB_READY")
        return (time.perf_counter() - t0) * 1000
    finally:
        _stop(proc, qmp)
        os.unlink(target)


def migration_ms(argv: list[str], workdir: str) -> float:
    sock = os.path.join(workdir, "mig.sock")
    dst_proc, dst = _spawn(argv, workdir, "dst", ["-incoming", f"unix:{sock}"])
    src_proc, src = _spawn(argv, workdir, "src", [])
    try:
        for q in (src, dst):
            q.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
        while not os.path.exists(sock):  # QEMU binds -incoming in its main loop, after the monitor
            time.sleep(0.001)
        t0 = time.perf_counter()
        src.cmd("migrate", {"uri": f"unix:{sock}"})
        src.until("MIGRATION", status="completed")
        return (time.perf_counter() - t0) * 1000
    finally:
        _stop(src_proc, src)
        _stop(dst_proc, dst)


def bench(qemu: list[str] | None, fake: list[str], runs: int = 3) -> None:
    if shutil.which("qemu-img") is None or shutil.which("qemu-io") is None:
        print("note: qemu-img/qemu-io not found (apt-get install -y qemu-utils): no mirror or migration rows")
        return
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as workdir:
        source = os.path.join(workdir, "source.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", source, "1G"], check=True)
        subprocess.run(["qemu-io", "-c", "write -P 0x55 0 1G", source], check=True, capture_output=True)
        mirror: dict[str, float] = {}
        if qemu is not None:
            mirror["qemu"] = statistics.median(mirror_ms(qemu, workdir, source) for _ in range(runs))
        mirror["fakeqemu quick"] = statistics.median(mirror_ms(fake, workdir, source) for _ in range(runs))
        slow = [*fake, "-fakeqemu", "job-rate=qemu"]
        mirror["fakeqemu job-rate=qemu"] = statistics.median(mirror_ms(slow, workdir, source) for _ in range(runs))
        _rows("1 GiB mirror to READY", mirror)
        migrate: dict[str, float] = {}
        if qemu is not None:
            migrate["qemu"] = statistics.median(migration_ms(qemu, workdir) for _ in range(runs))
        migrate["fakeqemu"] = statistics.median(migration_ms(fake, workdir) for _ in range(runs))
        _rows("migration, idle 128 MiB", migrate)


def _rows(label: str, values: dict[str, float]) -> None:
    q = values.get("qemu")
    for name, value in values.items():
        ratio = f"  ratio={value / q:.2f}x" if q and name != "qemu" else ""
        print(f"{label + ', ' + name:<44}{value:9.1f} ms{ratio}")


if __name__ == "__main__":
    import sys

    bench([q] if (q := shutil.which("qemu-system-x86_64")) else None, [sys.executable, "-m", "fakeqemu"])
