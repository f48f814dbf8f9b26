"""fakeqemu-system-x86_64's command line: parsing, QEMU-style errors, -daemonize/-pidfile."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fakeqemu.cli.qemu import parse_args
from fakeqemu.cli.qemuopts import UsageError
from tools.launch import FAKEQEMU, Emulator, wait_exit


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FAKEQEMU, *args], capture_output=True, text=True, timeout=30)


def test_libvirt_style_command_line_parses() -> None:
    opts = parse_args(
        [
            "-name",
            "guest=dom1,debug-threads=on",
            "-S",
            "-object",
            '{"qom-type":"memory-backend-ram","id":"pc.ram","size":67108864}',
            "-machine",
            "pc-q35-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram",
            "-accel",
            "tcg",
            "-cpu",
            "qemu64",
            "-m",
            "64",
            "-overcommit",
            "mem-lock=off",
            "-smp",
            "1,sockets=1,cores=1,threads=1",
            "-uuid",
            "c7a5fdbd-cdaf-9455-926a-d65c16db1809",
            "-display",
            "none",
            "-no-user-config",
            "-nodefaults",
            "-chardev",
            "socket,id=charmonitor,fd=25,server=on,wait=off",
            "-mon",
            "chardev=charmonitor,id=monitor,mode=control",
            "-rtc",
            "base=utc",
            "-no-shutdown",
            "-boot",
            "strict=on",
            "-device",
            '{"driver":"pcie-root-port","port":16,"chassis":1,"id":"pci.1","bus":"pcie.0","addr":"0x2"}',
            "-audiodev",
            '{"id":"audio1","driver":"none"}',
            "-sandbox",
            "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
            "-msg",
            "timestamp=on",
        ]
    )
    m = opts.vm.machine
    assert (m.name, m.machine_type, m.paused, m.no_shutdown, m.memory_mb) == ("dom1", "q35", True, True, 64)
    assert m.devices == [
        {"driver": "pcie-root-port", "port": 16, "chassis": 1, "id": "pci.1", "bus": "pcie.0", "addr": "0x2"}
    ]
    assert [(ep.kind, ep.fd) for ep in opts.vm.monitors] == [("fd", 25)]


def test_fakeqemu_settings() -> None:
    m = parse_args(["-fakeqemu", "qemu-version=7.2.0,rcu-grace-ms=0,guest=never"]).vm.machine
    assert (m.qemu_version, m.rcu_grace, m.guest) == ((7, 2, 0), 0.0, "never")
    with pytest.raises(UsageError, match="unknown setting 'bogus'"):
        parse_args(["-fakeqemu", "bogus=1"])


def test_invalid_option_fails_like_qemu() -> None:
    res = run("-foo")
    assert (res.returncode, res.stderr) == (1, "qemu-system-x86_64: -foo: invalid option\n")


def test_missing_argument_fails_like_qemu() -> None:
    res = run("-m")
    assert (res.returncode, res.stderr) == (1, "qemu-system-x86_64: -m: requires an argument\n")


def test_qtest_peer_missing_fails(tmp_path: Path) -> None:
    res = run("-qtest", f"unix:{tmp_path}/nobody")
    assert res.returncode == 1
    assert "Failed to connect to" in res.stderr and "No such file or directory" in res.stderr


def test_version() -> None:
    res = run("-version")
    assert res.returncode == 0 and res.stdout.startswith("QEMU emulator version 7.2.22 (fakeqemu ")


def test_daemonize_exits_once_listening_and_pidfile_written(tmp_path: Path) -> None:
    sock_path, pidfile = tmp_path / "qmp.monitor", tmp_path / "qmp.pid"
    res = run(
        "-S",
        "-no-user-config",
        "-nodefaults",
        "-nographic",
        "-machine",
        "none,accel=kvm:tcg",
        "-qmp",
        f"unix:{sock_path},server=on,wait=off",
        "-pidfile",
        str(pidfile),
        "-daemonize",
    )
    assert res.returncode == 0, res.stderr
    pid = int(pidfile.read_text())
    try:
        client = socket.socket(socket.AF_UNIX)
        client.settimeout(10)
        client.connect(str(sock_path))  # listening already: the parent only exits once it is
        assert client.recv(4096).startswith(b'{"QMP": ')
        client.close()
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_exit(pid)
    assert not pidfile.exists()  # removed at exit, as QEMU does


def test_human_monitors_are_served() -> None:
    opts = parse_args(
        [
            *("-chardev", "socket,id=hmp,path=/tmp/x.sock,server=on,wait=off", "-mon", "chardev=hmp,mode=readline"),
            *("-monitor", "unix:/tmp/y.sock,server=on,wait=off", "-monitor", "none"),
        ]
    )
    assert [(m.path, m.label, m.hmp) for m in opts.vm.monitors] == [
        ("/tmp/y.sock", "compat_monitor0", True),
        ("/tmp/x.sock", "hmp", True),
    ]


@pytest.mark.parametrize("qmp", [False, True])
def test_cold_plug_error_is_reported_like_qemu(tmp_path: Path, qmp: bool) -> None:
    # with a QMP monitor the machine is built before the runtime loads (fakeqemu.server.early): same error
    monitor = ["-qmp", f"unix:{tmp_path / 'qmp'},server=on,wait=off"] if qmp else []
    proc = subprocess.run(
        [sys.executable, "-m", "fakeqemu", "-M", "pc", "-display", "none", *monitor, "-device", "e1000,addr=zz"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "qemu-system-x86_64: -device e1000,addr=zz: Property 'e1000.addr' doesn't take value 'zz'" in proc.stderr


@pytest.mark.parametrize("where", ["file", "none"])
def test_qtest_log_goes_where_asked(tmp_path: Path, where: str) -> None:
    """-qtest-log FILE: the qtest traffic is logged there (truncated first), not on stderr; ``none``: nowhere."""
    log = tmp_path / "qtest.log"
    log.write_text("old\n")
    sock_path = str(tmp_path / "qtest.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(sock_path)
    listener.listen(1)
    listener.settimeout(30)
    target = str(log) if where == "file" else "none"
    with (
        listener,
        subprocess.Popen(
            [*FAKEQEMU, "-M", "pc", "-S", "-display", "none", "-qtest", f"unix:{sock_path}", "-qtest-log", target],
            stderr=subprocess.PIPE,
            text=True,
        ) as proc,
    ):
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"endianness\n")
            reply = b""
            while not reply.endswith(b"\n"):
                reply += conn.recv(100)
            assert reply == b"OK little\n"
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
    assert "endianness" not in stderr
    if where == "file":
        lines = log.read_text().splitlines()
        assert lines[0] == "[I 0.000000] OPENED"
        assert lines[1].startswith("[R +") and lines[1].endswith("] endianness")
        assert lines[2].startswith("[S +") and lines[2].endswith("] OK little")
    else:
        assert log.read_text() == "old\n"


def test_sigterm_names_its_sender_like_qemu() -> None:
    """``terminating on signal 15 from pid N (ARGV0)``, argv[0] as /proc/N/cmdline has it; exit status 0."""
    with Emulator() as emu:
        proc = emu.start(
            [*FAKEQEMU, "-M", "none", "-display", "none", "-qmp", f"unix:{emu.path('qmp.sock')},server=on,wait=off"]
        )
        with emu.connect("qmp.sock") as qmp:  # the greeting is the condition: the process is up and serving
            assert qmp.recv(4096).startswith(b'{"QMP"')
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
    stderr = err.decode()
    argv0 = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")[0].decode()
    assert stderr == f"qemu-system-x86_64: terminating on signal 15 from pid {os.getpid()} ({argv0})\n"
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("setting", "field", "value"),
    [("agent=hung", "agent", "hung"), ("power=delay:5", "power", "delay:5"), ("watchdog=pet:3", "watchdog", "pet:3")],
)
def test_guest_policies(setting: str, field: str, value: str) -> None:
    assert getattr(parse_args(["-fakeqemu", setting]).vm.machine, field) == value
    with pytest.raises(UsageError, match=f"^-fakeqemu: invalid {field} policy 'bogus'"):
        parse_args(["-fakeqemu", f"{field}=bogus"])
