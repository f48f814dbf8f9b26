"""`fakeqemu run --json / --ready-file`: start-up for programs, on free ports they can find."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fakeqemu.cli.friendly import build_parser
from fakeqemu.cli.qemuopts import UsageError, parse_bytes
from fakeqemu.cli.ready import write_atomically
from fakeqemu.http.bind import BindError, check_bind


@contextmanager
def run(*args: str) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    """`fakeqemu run --json ARGS`; yields the process and the JSON it printed once ready."""
    argv = [sys.executable, "-c", "from fakeqemu.cli.friendly import main; main()", "run", "--json", *args]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the condition: the process says it is ready
        assert line, proc.communicate()[1].decode()
        yield proc, orjson.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate()


def greeting(family: int, address: Any) -> bytes:
    with socket.socket(family) as s:
        s.settimeout(10)
        s.connect(address)
        return s.recv(4096)


def test_json_names_free_ports_and_sockets(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    args = ["--dir", str(tmp_path), "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--ready-file", str(ready)]
    with run(*args) as (proc, info):
        assert info["pid"] == proc.pid
        (vm,) = info["vms"]
        assert vm["name"] == "vm0" and vm["machine"] == "pc" and vm["qmp"] == str(tmp_path / "vm0.qmp")
        host, _, port = vm["tcp"].rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0
        assert greeting(socket.AF_UNIX, vm["qmp"]).startswith(b'{"QMP":')
        assert greeting(socket.AF_INET, (host, int(port))).startswith(b'{"QMP":')
        assert info["http"].startswith("http://127.0.0.1:") and not info["http"].endswith(":0")
        assert httpx.get(f"{info['http']}/api/vms", timeout=10).json()[0]["name"] == "vm0"
        # written before the line was printed, whole
        assert orjson.loads(ready.read_bytes()) == info


def test_http_on_a_unix_socket_and_a_fleet(tmp_path: Path) -> None:
    sock = tmp_path / "http.sock"
    with run("--dir", str(tmp_path), "--vms", "3", "--http", f"unix:{sock}") as (_, info):
        assert info["http"] == f"unix:{sock}"
        assert [v["qmp"] for v in info["vms"]] == [str(tmp_path / f"vm0-{i}.qmp") for i in range(3)]
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=10) as client:
            names = [v["name"] for v in client.get("http://fakeqemu/api/vms").json()]
        assert names == ["vm0-0", "vm0-1", "vm0-2"]


def test_no_http_is_null_in_the_json(tmp_path: Path) -> None:
    with run("--dir", str(tmp_path), "--no-http") as (_, info):
        assert info["http"] is None and info["vms"][0]["tcp"] is None


def test_write_atomically_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_atomically(target, b"one")
    write_atomically(target, b"two")
    assert target.read_bytes() == b"two" and os.listdir(tmp_path) == ["r.json"]


def test_sizes_and_binds_are_checked() -> None:
    assert parse_bytes("4M", "x") == 4 << 20 and parse_bytes("1024", "x") == 1024 and parse_bytes("64KiB", "x") == 65536
    with pytest.raises(UsageError, match="--traffic-limit must be a size"):
        parse_bytes("lots", "--traffic-limit")
    assert check_bind("unix:/tmp/x") == "unix:/tmp/x"
    with pytest.raises(BindError):
        check_bind("unix:")
    ns = build_parser().parse_args(["run", "--traffic-limit", "2M", "--ready-file", "/tmp/r", "--json"])
    assert (ns.traffic_limit, ns.ready_file, ns.json) == ("2M", "/tmp/r", True)
