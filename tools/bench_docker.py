"""Docker image helpers for ``make bench`` (image size, cold start) and tests/docker/test_image.py.

Where no image registry is reachable, the image is built from a local stand-in base made from Debian's
mirror (docker/local-base.sh), so the stand-in's Python is Debian's 3.11 rather than python:3.11-slim's.
The engine is the one DOCKER_HOST (or /var/run/docker.sock) names if it answers; otherwise, as root, a
private dockerd (Debian's docker.io) is started with its state in $FAKEQEMU_DOCKER_ROOT (default
/var/tmp/fakeqemu-docker, kept between runs so that later runs are warm) and stopped afterwards.

Settings (environment): FAKEQEMU_DOCKER_BASE: base image to build on instead of the stand-in (empty: the
Dockerfile's pinned default, which needs a registry); FAKEQEMU_DOCKER_ROOT: private dockerd's data root.

    python -m tools.bench_docker [--starts N]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tools.launch import connect

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"
LOCAL_BASE_SCRIPT = ROOT / "docker" / "local-base.sh"
LOCAL_BASE = "fakeqemu-local-base:bookworm"
DEFAULT_ROOT = "/var/tmp/fakeqemu-docker"
#: every container the tests and the bench start carries this label, so leftovers can be removed
LABEL = "fakeqemu.test=1"
INSTALL_HINT = "apt-get install -y docker.io mmdebstrap (and run as root), or point DOCKER_HOST at an engine"
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])


class EngineUnavailable(Exception):
    """No container engine can be used here; the message says why and how to get one."""


@dataclass
class Engine:
    """A docker client bound to one engine; ``close()`` stops the engine if this process started it."""

    client: str
    env: dict[str, str]
    daemon: subprocess.Popen[bytes] | None = None
    exec_root: str | None = None
    temp_root: str | None = None
    lock: IO[bytes] | None = None
    log: str | None = None
    started_in: float = 0.0
    notes: list[str] = field(default_factory=list)

    def run(
        self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.client, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def answers(self) -> bool:
        try:
            return self.run("version", "--format", "{{.Server.Version}}", check=False, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def remove_labelled(self) -> None:
        ids = self.run("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
        if ids:
            self.run("rm", "-f", *ids, check=False)

    def close(self) -> None:
        if self.daemon is not None:
            self.remove_labelled()
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
            self.daemon = None
        if self.lock is not None:
            self.lock.close()
            self.lock = None
        for d in (self.exec_root, self.temp_root):
            if d:
                _unmount_under(d)  # dockerd leaves netns/default bind-mounted in its exec root
                shutil.rmtree(d, ignore_errors=True)
        self.exec_root = self.temp_root = None


def _unmount_under(path: str) -> None:
    prefix = os.path.realpath(path) + "/"
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _client() -> str:
    client = shutil.which("docker")
    if client is None:
        raise EngineUnavailable(f"no docker client: {INSTALL_HINT}")
    return client


def start_engine(timeout: float = 60) -> Engine:
    """Use a running engine if one answers, else start a private dockerd (root only)."""
    client = _client()
    env = dict(os.environ)
    if env.get("DOCKER_HOST") or os.path.exists("/var/run/docker.sock"):
        engine = Engine(client, env)
        if engine.answers():
            return engine
        if env.get("DOCKER_HOST"):
            raise EngineUnavailable(f"DOCKER_HOST={env['DOCKER_HOST']} does not answer `docker version`")
    dockerd = shutil.which("dockerd", path=SBIN_PATH)
    if dockerd is None:
        raise EngineUnavailable(f"no running engine and no dockerd: {INSTALL_HINT}")
    if os.geteuid() != 0:
        raise EngineUnavailable(f"no running engine, and starting dockerd needs root: {INSTALL_HINT}")
    t0 = time.perf_counter()
    data_root = os.environ.get("FAKEQEMU_DOCKER_ROOT", DEFAULT_ROOT)
    os.makedirs(data_root, mode=0o700, exist_ok=True)
    lock: IO[bytes] | None = open(os.path.join(data_root, ".fakeqemu.lock"), "wb")  # noqa: SIM115 (held open)
    temp_root = None
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[union-attr]
    except OSError:  # another run owns the persistent state: use a throw-away one (cold)
        assert lock is not None
        lock.close()
        lock = None
        temp_root = data_root = tempfile.mkdtemp(prefix="fakeqemu-docker-", dir="/var/tmp")
    exec_root = tempfile.mkdtemp(prefix="fqd-", dir="/tmp")  # short: unix socket paths live under it
    sock = os.path.join(exec_root, "docker.sock")
    log = os.path.join(exec_root, "dockerd.log")
    with open(log, "wb") as logf:
        daemon = subprocess.Popen(
            [
                dockerd,
                "--data-root",
                data_root,
                "--exec-root",
                exec_root,
                "--pidfile",
                os.path.join(exec_root, "dockerd.pid"),
                "-H",
                f"unix://{sock}",
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--log-level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    env["DOCKER_HOST"] = f"unix://{sock}"
    engine = Engine(client, env, daemon, exec_root, temp_root, lock, log)
    deadline = time.monotonic() + timeout
    while not (os.path.exists(sock) and engine.answers()):
        if daemon.poll() is not None or time.monotonic() > deadline:
            text = Path(log).read_text(errors="replace")[-3000:]
            engine.close()
            raise RuntimeError(f"dockerd did not come up (see {log}):\n{text}")
        time.sleep(0.1)
    engine.started_in = time.perf_counter() - t0
    engine.remove_labelled()
    return engine


def prepare_base(engine: Engine) -> str:
    """The base image to build on: $FAKEQEMU_DOCKER_BASE, or the local stand-in (made or reused)."""
    base = os.environ.get("FAKEQEMU_DOCKER_BASE")
    if base is not None:
        return base
    if (
        shutil.which("mmdebstrap", path=SBIN_PATH) is None
        and engine.run("image", "inspect", LOCAL_BASE, check=False).returncode
    ):
        raise EngineUnavailable("the local stand-in base image needs mmdebstrap: apt-get install -y mmdebstrap")
    env = dict(engine.env, DOCKER=engine.client)
    proc = subprocess.run(
        ["bash", str(LOCAL_BASE_SCRIPT), LOCAL_BASE], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"docker/local-base.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return LOCAL_BASE


def build_image(engine: Engine, base: str, tag: str) -> subprocess.CompletedProcess[str]:
    """Build docker/Dockerfile (the real one) from the repository root; raises with the log on failure."""
    args = ["build", "--network", "host", "-f", str(DOCKERFILE), "-t", tag]
    if base:
        args += ["--build-arg", f"BASE={base}"]
    proc = engine.run(*args, str(ROOT), check=False, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"docker build failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    # Old builds' leftovers, so the state dir stays bounded. Only old ones: the legacy builder's cache for the
    # `wheels` and `install` stages is made of untagged images, which a plain prune would delete.
    engine.run("image", "prune", "-f", "--filter", "until=168h", check=False)
    return proc


def image_size(engine: Engine, image: str) -> int:
    return int(engine.run("image", "inspect", "-f", "{{.Size}}", image).stdout.strip())


def read_greeting(path: str, timeout: float) -> bytes:
    """Connect to a unix socket as soon as it accepts; the first line the server sends."""
    deadline = time.monotonic() + timeout
    with connect(path, timeout=timeout) as s:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def volume_dir() -> str:
    """A host folder to mount at /run/fakeqemu, writable by the image's unprivileged user."""
    d = tempfile.mkdtemp(prefix="fakeqemu-vol-")
    os.chmod(d, 0o777)
    return d


def cold_start_ms(engine: Engine, image: str) -> float:
    """`docker run` of the default command -> QMP greeting read from the socket in the mounted volume."""
    vol = volume_dir()
    name = f"fakeqemu-bench-{os.getpid()}-{time.monotonic_ns()}"
    try:
        t0 = time.perf_counter()
        engine.run(
            "run", "-d", "--name", name, "--label", LABEL, "--network", "none", "-v", f"{vol}:/run/fakeqemu", image
        )
        greeting = read_greeting(os.path.join(vol, "qmp.sock"), 30)
        elapsed = (time.perf_counter() - t0) * 1000
        if not greeting.startswith(b'{"QMP": '):
            raise RuntimeError(f"unexpected greeting {greeting!r}")
        return elapsed
    finally:
        engine.run("rm", "-f", name, check=False)
        shutil.rmtree(vol, ignore_errors=True)


def bench(starts: int = 5, tag: str = "fakeqemu:local") -> dict[str, float]:
    """The `docker` section of `make bench`: prints its rows, returns the numbers ({} if no engine)."""
    try:
        engine = start_engine()
    except EngineUnavailable as exc:
        print(f"note: docker section skipped: {exc}")
        return {}
    try:
        base = prepare_base(engine)
        t0 = time.perf_counter()
        build_image(engine, base, tag)
        build_s = time.perf_counter() - t0
        size = image_size(engine, tag)
        base_size = image_size(engine, base) if base else 0
        cold = [cold_start_ms(engine, tag) for _ in range(starts)]
        what = "local stand-in base (Debian's Python 3.11)" if base == LOCAL_BASE else (base or "Dockerfile default")
        print(f"{'docker image size':<34}{size / 1e6:9.1f} MB  (base {base_size / 1e6:.1f} MB: {what})")
        print(f"{'docker image, fakeqemu layers':<34}{(size - base_size) / 1e6:9.1f} MB")
        median = statistics.median(cold)
        print(f"{'docker run -> greeting (median)':<34}{median:9.1f} ms  (min {min(cold):.1f}, n={starts})")
        print(f"{'docker build (this run)':<34}{build_s:9.1f} s")
        return {
            "image_bytes": float(size),
            "fakeqemu_layer_bytes": float(size - base_size),
            "cold_start_ms": median,
            "build_s": build_s,
        }
    finally:
        engine.close()  # the image stays: its layers are the next build's cache


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=5, help="container starts to measure (default 5)")
    args = parser.parse_args(argv)
    bench(args.starts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
