"""``fakeqemu run``'s socket directory, sockets served by another process, and clean-up on exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.procs import Raw
from tools.launch import reap

FRIENDLY = [sys.executable, "-c", "import sys; from fakeqemu.cli.friendly import main; sys.exit(main())"]
NOBODY = 65534


def _env(tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["TMPDIR"] = str(tmpdir)
    return env


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FRIENDLY, "run", "--no-http", *args], capture_output=True, text=True, timeout=60, env=env)


@contextmanager
def _serving(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """A fakeqemu run, once it has printed its sockets (they are bound before that line)."""
    proc = subprocess.Popen(
        [*FRIENDLY, "run", "--no-http", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "QMP on" in line, (line, proc.stderr.read() if proc.stderr else "")
        yield proc
    finally:
        reap(proc)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A /tmp-like directory every user can write to (sticky, 1777)."""
    path = Path(tempfile.mkdtemp(prefix="fakeqemu-shared-", dir="/tmp"))
    path.chmod(0o1777)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=True)


def test_default_dir_is_created_private_and_emptied_on_exit(shared_tmp: Path) -> None:
    env = _env(shared_tmp)
    with _serving(env=env) as proc:
        d = shared_tmp / f"fakeqemu-{os.getuid()}"
        assert (d.stat().st_mode & 0o777, d.stat().st_uid) == (0o700, os.getuid())
        Raw(str(d / "vm0.qmp")).negotiate()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert list(d.iterdir()) == []


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as a second user (setpriv)")
def test_default_dir_made_by_another_user_is_refused(shared_tmp: Path) -> None:
    d = shared_tmp / f"fakeqemu-{os.getuid()}"
    # another local user gets there first and leaves the directory open to all
    subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "mkdir", "-m", "0777", str(d)],
        check=True,
    )
    res = _run(env=_env(shared_tmp))
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and f"belongs to uid {NOBODY}" in res.stderr, res.stderr
    assert list(d.iterdir()) == []


def test_default_dir_with_a_loose_mode_is_refused(shared_tmp: Path) -> None:
    d = shared_tmp / f"fakeqemu-{os.getuid()}"
    d.mkdir()
    d.chmod(0o755)
    res = _run(env=_env(shared_tmp))
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "has mode 755" in res.stderr, res.stderr


def test_a_socket_served_by_a_live_process_is_refused(tmp_path: Path) -> None:
    with _serving("--dir", str(tmp_path)):
        client = Raw(str(tmp_path / "vm0.qmp"))
        client.negotiate()
        res = _run("--dir", str(tmp_path))
        assert res.returncode == 1
        served = f"{tmp_path}/vm0.qmp is served by another process (a fakeqemu already?): stop it or give --dir"
        assert res.stderr == f"fakeqemu: {served}\n"
        assert client.cmd(b'{"execute": "query-status"}').startswith(b'{"return": ')  # the first VM carries on
        client.close()


def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    with _serving("--dir", str(tmp_path)) as proc:
        proc.kill()  # no clean-up: the socket file stays, nobody serves it
        proc.wait()
    assert (tmp_path / "vm0.qmp").exists()
    with _serving("--dir", str(tmp_path)):
        Raw(str(tmp_path / "vm0.qmp")).negotiate()


def test_a_fleet_that_fails_to_start_leaves_no_sockets(tmp_path: Path) -> None:
    (tmp_path / "vm-2.qmp").mkdir()  # the third VM's socket cannot be bound
    res = _run("--dir", str(tmp_path), "--vms", "4", "--name", "vm")
    assert res.returncode == 1
    assert (
        res.stderr.startswith(f"fakeqemu: unix:{tmp_path}/vm-2.qmp: Failed to bind socket to ")
        and res.stderr.count("\n") == 1
    )
    assert [p.name for p in tmp_path.iterdir()] == ["vm-2.qmp"]
