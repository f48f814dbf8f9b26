"""fakeqemu.cli.limits: a fleet's file descriptors."""

from __future__ import annotations

import resource
import subprocess
import sys

from fakeqemu.cli import limits

PROBE = "from fakeqemu.cli import limits; import resource; limits.raise_soft_limit({need}); " \
        "print(*resource.getrlimit(resource.RLIMIT_NOFILE))"  # fmt: skip


def _limits_after(need: int, start: tuple[int, int]) -> tuple[int, int]:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, start)

    out = subprocess.run([sys.executable, "-c", PROBE.format(need=need)], preexec_fn=lower, capture_output=True,
                         text=True, check=True, timeout=60).stdout.split()  # fmt: skip
    return int(out[0]), int(out[1])


def test_soft_limit_goes_up_to_the_hard_one() -> None:
    assert _limits_after(0, (256, 1024)) == (1024, 1024)


def _may_raise_hard() -> bool:
    """Whether this machine lets a process raise its hard limit (root with CAP_SYS_RESOURCE; a sandbox's
    root may lack it)."""
    probe = "import resource; s, h = resource.getrlimit(resource.RLIMIT_NOFILE); " \
            "resource.setrlimit(resource.RLIMIT_NOFILE, (h + 1, h + 1))"  # fmt: skip
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60).returncode == 0


def test_the_hard_limit_is_raised_where_the_process_may() -> None:
    need = limits.fleet_need(10_000, 1)  # 10,000 VMs, a client each: 20,032 descriptors
    assert need == 20_032
    after = _limits_after(need, (1024, 1024))
    # raised to the need where allowed; elsewhere the soft limit reaches the hard one and the start-up
    # warning names the limit to ask for
    assert after == ((need, need) if _may_raise_hard() else (1024, 1024))
    assert limits.fleet_warning(10_000, 1, need) is None
    assert "ulimit -n 20032" in str(limits.fleet_warning(10_000, 1, 20_000))
