"""``make bench``, fakeqemu as a test library (fakeqemu.testing, the pytest plugin): how long a test waits
for its VM.

- start to ready: ``FakeQemu().start()`` in-process (a background thread) and with
  ``isolation="process"``, medians, beside QEMU's exec -> greeting from the same run;
- a suite of N tests (each connects, hotplugs and unplugs a NIC, waits for DEVICE_DELETED): wall time
  with the plugin's shared, reset-per-test VM against one ``fakeqemu run --json`` process per test.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from fakeqemu.testing import FakeQemu

SCENARIO = """
import json, socket

def unplug_cycle(path):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b'{"execute": "qmp_capabilities"}'
                  b'{"execute": "device_add", "arguments": {"driver": "e1000", "id": "n1"}}'
                  b'{"execute": "device_del", "arguments": {"id": "n1"}}')
        seen = []
        while "DEVICE_DELETED" not in seen:
            seen.append(json.loads(f.readline()).get("event"))
        f.close()
"""

WITH_PLUGIN = """
import pytest
from scenario import unplug_cycle

@pytest.mark.fakeqemu(rcu_grace_ms=0)
@pytest.mark.parametrize("n", range({n}))
def test_vm(fakeqemu_vm, n):
    unplug_cycle(fakeqemu_vm.qmp_path)
"""

PER_TEST_PROCESS = """
import json, subprocess, sys, tempfile
import pytest
from scenario import unplug_cycle

@pytest.fixture
def qmp_path():
    with tempfile.TemporaryDirectory() as d:
        argv = [sys.executable, "-m", "fakeqemu.cli.friendly", "run", "--json", "--no-http", "--dir", d,
                "--rcu-grace-ms", "0"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            yield json.loads(proc.stdout.readline())["vms"][0]["qmp"]
        finally:
            proc.terminate()
            proc.wait()
            proc.stdout.close()

@pytest.mark.parametrize("n", range({n}))
def test_vm(qmp_path, n):
    unplug_cycle(qmp_path)
"""


def start_ms(isolation: str, n: int) -> tuple[float, float]:
    """(first start, median of the next ``n``) in ms: FakeQemu().start() until its sockets listen."""
    times = []
    for _ in range(n + 1):
        t0 = time.perf_counter()
        fq = FakeQemu(isolation=isolation).start()
        times.append((time.perf_counter() - t0) * 1000)
        fq.close()
    return times[0], statistics.median(times[1:])


def suite_s(body: str, n: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as d:
        root = Path(d)
        (root / "scenario.py").write_text(SCENARIO)
        (root / "test_suite.py").write_text(textwrap.dedent(body.replace("{n}", str(n))))
        (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_suite.py"],
            cwd=root,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"the bench suite failed:\n{proc.stdout[-2000:]}")
        return elapsed


def bench(qemu_greeting_ms: float | None = None, starts: int = 30, tests: int = 100) -> None:
    first, warm = start_ms("thread", starts)
    verdict = "ok" if warm <= 5 else "MISSES"
    print(
        f"{'testing: VM start, in-process':<34}first={first:7.1f} ms  median={warm:6.2f} ms  {verdict} (goal <= 5 ms)"
    )
    pfirst, pwarm = start_ms("process", max(3, starts // 6))
    print(f"{'testing: VM start, child process':<34}first={pfirst:7.1f} ms  median={pwarm:6.1f} ms")
    if qemu_greeting_ms:
        ratio = warm / qemu_greeting_ms
        print(f"{'testing: QEMU exec -> greeting':<34}{qemu_greeting_ms:7.1f} ms  (in-process: {ratio:.2f}x)")
    plugin = suite_s(WITH_PLUGIN, tests)
    per_test = suite_s(PER_TEST_PROCESS, tests)
    print(
        f"{f'testing: {tests}-test suite, wall':<34}plugin={plugin:6.2f} s  process per test={per_test:6.2f} s  "
        f"({per_test / plugin:.1f}x faster with the plugin)"
    )


if __name__ == "__main__":
    bench()
