"""The command lines that switch the HTTP plane on and off, the fault file, and the crash fault."""

from __future__ import annotations

import contextlib
import signal
import socket
from pathlib import Path

import httpx
import pytest

from fakeqemu.cli import faultfile
from fakeqemu.cli.friendly import build_parser, http_bind
from fakeqemu.cli.qemu import parse_args
from fakeqemu.cli.qemuopts import UsageError
from fakeqemu.http.bind import DEFAULT_BIND, BindError
from fakeqemu.machine.faults import FaultConfigError
from tests.integration.procs import Raw
from tools.launch import BARE, FAKEQEMU, Emulator

FAULTS = """
close_after = 3
crash_on = ["device_del"]
guest = "delay:500"
[delay]
query-status = 0.5
[fail.device_add]
desc = "out of slots"
"""


def friendly(*args: str) -> str | None:
    return http_bind(build_parser().parse_args(["run", *args]))


def test_friendly_cli_http_flags() -> None:
    assert friendly("--http", "127.0.0.1:9999") == "127.0.0.1:9999"
    assert friendly("--no-http") is None
    assert friendly("--http", "0.0.0.0:1", "--no-http") is None
    with pytest.raises(BindError):
        friendly("--http", "8080")
    taken = socket.socket()
    host, _, port = DEFAULT_BIND.rpartition(":")
    with contextlib.suppress(OSError):  # if something holds it already, the fallback applies all the same
        taken.bind((host, int(port)))
    try:
        assert friendly() == f"{host}:0"  # taken: any free port (printed on start)
    finally:
        taken.close()
    assert build_parser().parse_args(["run", "--http-token", "t"]).http_token == "t"


def test_qemu_cli_http_is_off_unless_asked() -> None:
    assert parse_args(["-M", "pc"]).http is None
    opts = parse_args(["-fakeqemu", "http=127.0.0.1:0,http-token=abc"])
    assert (opts.http, opts.http_token) == ("127.0.0.1:0", "abc")
    with pytest.raises(UsageError, match="is not HOST:PORT"):
        parse_args(["-fakeqemu", "http=nowhere"])


def test_fault_file(tmp_path: Path) -> None:
    path = tmp_path / "faults.toml"
    path.write_text(FAULTS)
    faults, guest = faultfile.load(path)
    assert guest == "delay:500"
    assert faults.to_json() == {
        "delay": {"query-status": 0.5},
        "fail": {"device_add": {"class": "GenericError", "desc": "out of slots"}},
        "close_after": 3,
        "close_mid_reply": [],
        "crash_on": ["device_del"],
        "drop": [],
        "disconnect": [],
        "kill_vm": [],
        "seed": None,
        "job_error": {},
        "migration_cut": None,
        "migration_vanish": None,
        "migration_stuck": False,
    }
    cfg = parse_args(["-fakeqemu", f"faults={path}"]).vm.machine
    assert (cfg.guest, cfg.faults.to_json()["close_after"]) == ("delay:500", 3)
    path.write_text('guest = "sometimes"')
    with pytest.raises(FaultConfigError, match="invalid guest policy"):
        faultfile.load(path)
    path.write_text("explode = true")
    with pytest.raises(UsageError, match="unknown fault"):
        parse_args(["-fakeqemu", f"faults={path}"])


def test_crash_fault_kills_the_process_and_is_recorded_first(tmp_path: Path) -> None:
    """crash_on set over HTTP: the command is noted in the traffic record, then the process dies by
    SIGKILL (what restart-recovery tests need)."""
    with Emulator(prefix="crash-") as emu:
        sock = emu.path("q.sock")
        argv = [*FAKEQEMU, "-M", "pc", *BARE, "-qmp", f"unix:{sock},server=on,wait=off"]
        argv += ["-fakeqemu", "http=127.0.0.1:0"]
        proc = emu.start(argv, log=True)
        url = emu.wait_log(r"dashboard at (\S+)/").group(1)
        r = httpx.put(f"{url}/api/vms/vm0/faults", json={"crash_on": ["query-pci"]})
        assert r.status_code == 200 and r.json()["crash_on"] == ["query-pci"]
        client = Raw(sock)
        client.negotiate()
        assert client.cmd(b'{"execute":"query-status"}').startswith(b'{"return": ')
        client.send(b'{"execute":"query-pci"}')
        with pytest.raises((EOFError, ConnectionResetError)):
            client.line()
        assert proc.wait(timeout=20) == -signal.SIGKILL
