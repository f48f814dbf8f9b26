"""fakeqemu run --workers: a fleet sharded over processes behind one HTTP plane, named and reached as
from one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tools.launch import connect

FAKEQEMU = str(Path(sys.executable).parent / "fakeqemu")


def qmp(address: str | tuple[str, int], proc: subprocess.Popen[bytes], *commands: bytes) -> list[bytes]:
    with connect(address, proc) as sock, sock.makefile("rwb") as f:
        assert b'"QMP"' in f.readline()
        f.write(b'{"execute":"qmp_capabilities"}' + b"".join(commands))
        f.flush()
        assert f.readline() == b'{"return": {}}\r\n'
        return [f.readline() for _ in commands]


def test_sharded_fleet(tmp_path: Path) -> None:
    argv = [FAKEQEMU, "run", "--vms", "5", "--workers", "2", "--dir", str(tmp_path), "--tcp", "127.0.0.1:0",
            "--http", "127.0.0.1:0", "--http-token", "tok", "--guest", "never", "--json"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # once every worker's VMs listen
        assert line, proc.communicate(timeout=60)[1].decode()
        ready: dict[str, Any] = json.loads(line)
        names = [f"vm0-{i}" for i in range(5)]
        assert [vm["name"] for vm in ready["vms"]] == names
        assert len(set(ready["workers"])) == 2 and ready["pid"] == proc.pid
        pids = [vm["pid"] for vm in ready["vms"]]
        assert pids == [ready["workers"][0]] * 2 + [ready["workers"][1]] * 3  # contiguous shares
        for i, vm in enumerate(ready["vms"]):
            assert vm["qmp"] == str(tmp_path / f"vm0-{i}.qmp")  # as with one process
            host, _, port = vm["tcp"].rpartition(":")
            assert qmp((host, int(port)), proc, b'{"execute":"query-name"}') == [
                f'{{"return": {{"name": "vm0-{i}"}}}}\r\n'.encode()
            ]

        http = httpx.Client(base_url=ready["http"], headers={"Authorization": "Bearer tok"}, timeout=30)
        with http:
            assert [v["name"] for v in http.get("/api/vms").json()] == names
            assert httpx.get(f"{ready['http']}/api/vms", timeout=30).status_code == 401  # the guard is in front
            assert http.get("/healthz").json() == {"status": "ok", "vms": 5, "live": 5}
            # a VM of the second worker, through the one plane: its unplug, its timeline, its eject
            assert qmp(ready["vms"][4]["qmp"], proc, b'{"execute":"device_add","arguments":{"driver":"e1000",'
                       b'"id":"nic1"}}', b'{"execute":"device_del","arguments":{"id":"nic1"}}') == [
                b'{"return": {}}\r\n', b'{"return": {}}\r\n']  # fmt: skip
            timeline = http.get("/api/vms/vm0-4/devices/nic1/timeline").json()
            assert timeline["waiting"] == "waiting for the guest to write the eject register"
            assert http.post("/api/vms/vm0-4/devices/nic1/eject").status_code == 200
            assert http.get("/api/vms/vm0-1/devices/nic1/timeline").status_code == 404  # not that VM's
            assert http.get("/api/vms/nope").status_code == 404
            assert "fakeqemu" in http.get("/").text  # the dashboard page

            os.kill(ready["workers"][0], signal.SIGKILL)  # one worker dies: its VMs are gone, the rest serve
            health = http.get("/healthz")
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            assert [v["name"] for v in http.get("/api/vms").json()] == names[2:]
            assert http.get("/api/vms/vm0-0").status_code == 404
            assert "fakeqemu" in http.get("/").text  # from the worker that lives
            assert qmp(ready["vms"][3]["qmp"], proc, b'{"execute":"query-status"}')[0].startswith(b'{"return"')
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert err.decode().count("terminating") == 1, err
    assert "fakeqemu: terminating 5 VMs on signal 15" in err.decode()
    assert proc.returncode != 0  # the killed worker's status
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vm0-0.qmp", "vm0-1.qmp"]  # the killed worker's


def test_workers_default_to_the_cores_and_never_exceed_the_vms(tmp_path: Path) -> None:
    argv = [FAKEQEMU, "run", "--vms", "1", "--workers", "0", "--dir", str(tmp_path), "--no-http", "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert "workers" not in ready and [vm["name"] for vm in ready["vms"]] == ["vm0"]  # one VM: one process
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
