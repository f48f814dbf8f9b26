"""The commands libvirt needs, on the real fakeqemu binary: the capability probe (-daemonize -pidfile, as
libvirt runs it), its answers' consistency with each other and with what fakeqemu implements, the start-up
queries, block nodes, fd passing with SCM_RIGHTS, libvirt's command line (listening monitor passed as
fd=N, JSON -netdev/-object/-device), and, where Debian's QEMU 7.2 is installed, the same questions asked of
both binaries with byte-for-byte equal answers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fakeqemu.commands.probe import probe_data
from fakeqemu.commands.registry import COMMANDS
from fakeqemu.machine.machine_types import resolve
from tools.launch import Emulator, connect, wait_exit

FAKEQEMU = [sys.executable, "-m", "fakeqemu"]
LIBVIRT_DEVICE_TYPES = list(probe_data()["device-list-properties"])


class Client:
    """A blocking QMP client that can pass fds; ``raw`` returns the reply line as sent."""

    def __init__(self, path: str, proc: subprocess.Popen[bytes] | None = None) -> None:
        self.sock = connect(path, proc)  # as soon as it accepts (QEMU binds a moment before it listens)
        self.sock.settimeout(20)
        self.file = self.sock.makefile("rb")
        self.greeting = json.loads(self.file.readline())
        self.events: list[dict[str, Any]] = []
        self.raw("qmp_capabilities")

    def raw(self, execute: str, args: dict[str, Any] | None = None, fds: list[int] | None = None) -> bytes:
        msg: dict[str, Any] = {"execute": execute}
        if args is not None:
            msg["arguments"] = args
        data = json.dumps(msg).encode() + b"\r\n"
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.sendall(data)
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError(f"connection closed after {execute}")
            if line.startswith(b'{"timestamp"'):
                self.events.append(json.loads(line))
                continue
            return line

    def q(self, execute: str, args: dict[str, Any] | None = None, fds: list[int] | None = None) -> Any:
        reply: dict[str, Any] = json.loads(self.raw(execute, args, fds))
        if "error" in reply:
            raise QMPFailure(reply["error"]["class"], reply["error"]["desc"])
        return reply["return"]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class QMPFailure(Exception):
    def __init__(self, cls: str, desc: str) -> None:
        super().__init__(f"{cls}: {desc}")
        self.cls, self.desc = cls, desc


@contextmanager
def running(argv: list[str], sock: Path, pass_fds: tuple[int, ...] = ()) -> Iterator[Client]:
    with Emulator(prefix="libvirt-q-") as emu:
        proc = emu.start([*argv, "-qmp", f"unix:{sock},server=on,wait=off"], pass_fds=pass_fds)
        client = Client(str(sock), proc)
        try:
            yield client
        finally:
            client.close()
            emu.terminate()


PROBE_ARGS = ["-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", "none,accel=tcg"]


# --- the probe as libvirt runs it ----------------------------------------------------------------------


def test_probe_daemonizes_like_qemu(tmp_path: Path) -> None:
    sock, pidfile = tmp_path / "qmp.monitor", tmp_path / "qmp.pid"
    argv = [*FAKEQEMU, *PROBE_ARGS, "-qmp", f"unix:{sock},server=on,wait=off", "-pidfile", str(pidfile), "-daemonize"]
    fg = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert fg.returncode == 0, fg.stderr
    # the foreground process has exited: the monitor listens and the pidfile names the daemon
    assert sock.exists()
    pid = int(pidfile.read_text())
    os.kill(pid, 0)
    c = Client(str(sock))
    assert c.q("query-kvm") == {"enabled": False, "present": True}
    assert c.q("query-status")["status"] == "prelaunch"
    c.close()
    os.kill(pid, signal.SIGTERM)
    wait_exit(pid)
    assert not pidfile.exists()  # removed at exit, as QEMU does


def test_probe_answers_are_consistent(tmp_path: Path) -> None:
    with running([*FAKEQEMU, *PROBE_ARGS], tmp_path / "q.sock") as c:
        commands = {e["name"] for e in c.q("query-commands")}
        schema = c.q("query-qmp-schema")
        in_schema = {e["name"] for e in schema if e["meta-type"] == "command"}
        # what the schema lists is what fakeqemu serves, and everything libvirt asks is among it
        assert commands == in_schema
        assert set(COMMANDS) <= commands
        for name in ("query-target", "query-machines", "query-cpu-definitions", "query-cpu-model-expansion",
                     "qom-list-properties", "query-command-line-options", "query-migrate-capabilities",
                     "migrate-set-capabilities", "query-tpm-models", "query-tpm-types", "query-sev-capabilities",
                     "query-chardev", "query-hotpluggable-cpus", "query-cpus-fast", "query-iothreads",
                     "query-named-block-nodes", "query-block", "query-jobs", "getfd", "closefd", "add-fd",
                     "remove-fd", "query-fdsets", "blockdev-add", "blockdev-del"):  # fmt: skip
            assert name in commands, name
        # machines: every one QEMU 7.2 has, and -M takes each of them
        machines = {m["name"] for m in c.q("query-machines")}
        assert len(machines) == 59 and {"pc-i440fx-7.2", "pc-q35-7.2", "none", "isapc", "pc-q35-2.4"} <= machines
        assert all(resolve(name) is not None for name in machines)
        assert c.q("query-tpm-models") == [] and c.q("query-tpm-types") == []
        # a device type is listed exactly when device-list-properties knows it
        listed = {t["name"] for t in c.q("qom-list-types", {"implements": "device"})}
        for typ in LIBVIRT_DEVICE_TYPES:
            try:
                c.q("device-list-properties", {"typename": typ})
                assert typ in listed, typ
            except QMPFailure as exc:
                assert exc.cls == "DeviceNotFound" and typ not in listed, (typ, exc)
        # and what is listed can be plugged, or is built into a board, or is a CPU model
        for typ in (
            "virtio-net-pci",
            "virtio-blk-pci",
            "pcie-root-port",
            "PIIX4_PM",
            "ICH9-LPC",
            "qemu64-x86_64-cpu",
            "qxl",
            "VGA",
            "piix3-usb-uhci",
            "qemu-xhci",
            "usb-tablet",
            "virtio-vga",
            "virtio-rng-pci",
        ):
            assert typ in listed, typ
        for typ in ("vfio-pci", "usb-host"):
            assert typ not in listed, typ
        # every CPU model libvirt can pick has its QOM type listed
        types = {t["name"] for t in c.q("qom-list-types")}
        for cpu in c.q("query-cpu-definitions"):
            assert cpu["typename"] in types, cpu


def test_kvm_follows_the_accelerator(tmp_path: Path) -> None:
    usable = True
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError:
        usable = False
    argv = [*FAKEQEMU, "-S", "-nodefaults", "-machine", "none,accel=kvm:tcg"]
    with running(argv, tmp_path / "q.sock") as c:
        assert c.q("query-kvm") == {"enabled": usable, "present": True}
    if not usable:
        res = subprocess.run([*FAKEQEMU, "-M", "none", "-accel", "kvm"], capture_output=True, text=True, timeout=30)
        assert res.returncode == 1
        assert "-accel kvm: failed to initialize kvm" in res.stderr
    res = subprocess.run([*FAKEQEMU, "-M", "none", "-accel", "bogus"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 1 and "invalid accelerator bogus" in res.stderr


# --- libvirt's domain command line ----------------------------------------------------------------------


def libvirt_argv(name: str, machine: str, monitor_fd: int, extra: list[str]) -> list[str]:
    return [
        *FAKEQEMU, "-name", f"guest={name},debug-threads=on", "-S",
        "-object", '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/nonexistent/master-key.aes"}',
        "-machine", f"{machine},usb=off,dump-guest-core=off,memory-backend=pc.ram", "-accel", "tcg",
        "-cpu", "qemu64", "-m", "64", "-object", '{"qom-type":"memory-backend-ram","id":"pc.ram","size":67108864}',
        "-overcommit", "mem-lock=off", "-smp", "1,sockets=1,cores=1,threads=1",
        "-uuid", "70873e2b-cef9-4211-9dee-74c3e3445cd4", "-display", "none", "-no-user-config", "-nodefaults",
        "-chardev", f"socket,id=charmonitor,fd={monitor_fd},server=on,wait=off",
        "-mon", "chardev=charmonitor,id=monitor,mode=control", "-rtc", "base=utc", "-no-shutdown",
        "-boot", "strict=on", "-netdev", '{"type":"user","id":"hostnet0"}',
        "-device", '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","mac":"52:54:00:00:00:01",'
        '"bus":"pci.0","addr":"0x2"}',
        "-audiodev", '{"id":"audio1","driver":"none"}',
        "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        "-msg", "timestamp=on", *extra,
    ]  # fmt: skip


@contextmanager
def libvirt_vm(
    tmp_path: Path, extra: tuple[str, ...] = (), binary: list[str] | None = None
) -> Iterator[tuple[Client, Client]]:
    """A VM started as libvirt starts it: the monitor is a listening socket passed down as fd=N; plus a
    -qmp side monitor. Yields (libvirt's monitor, side monitor)."""
    mon_path = tmp_path / "monitor.sock"
    lsn = socket.socket(socket.AF_UNIX)
    try:
        lsn.bind(str(mon_path))
        lsn.listen(1)
    except OSError:
        lsn.close()
        raise
    key = tmp_path / "master-key.aes"
    key.write_bytes(b"k" * 32)
    argv = libvirt_argv("fq", "pc-i440fx-7.2", lsn.fileno(), [*extra]).copy()
    argv = [a.replace("/nonexistent/master-key.aes", str(key)) for a in argv]
    if binary is not None:
        argv = binary + argv[len(FAKEQEMU) :]
    side = tmp_path / "side.sock"
    with running(argv, side, pass_fds=(lsn.fileno(),)) as side_client:
        lsn.close()
        mon = Client(str(mon_path))
        try:
            yield mon, side_client
        finally:
            mon.close()


def test_libvirt_command_line_and_startup_queries(tmp_path: Path) -> None:
    with libvirt_vm(tmp_path) as (mon, _side):
        assert mon.q("query-name") == {"name": "fq"}
        assert mon.q("query-kvm")["enabled"] is False
        chardevs = mon.q("query-chardev")
        assert chardevs == [
            {"frontend-open": True, "filename": f"unix:{tmp_path / 'side.sock'},server=on", "label": "compat_monitor0"},
            {"frontend-open": True, "filename": f"unix:{tmp_path / 'monitor.sock'},server=on", "label": "charmonitor"},
        ]
        cpus = mon.q("query-cpus-fast")
        assert [c["qom-path"] for c in cpus] == ["/machine/unattached/device[0]"]
        hot = mon.q("query-hotpluggable-cpus")
        assert hot[0]["qom-path"] == cpus[0]["qom-path"]
        assert mon.q("qom-get", {"path": hot[0]["qom-path"], "property": "type"}) == hot[0]["type"]
        caps = mon.q("query-migrate-capabilities")
        assert {"capability": "events", "state": False} in caps
        mon.q("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
        assert {"capability": "events", "state": True} in mon.q("query-migrate-capabilities")
        assert mon.q("query-iothreads") == [] and mon.q("query-jobs") == []
        assert mon.q("qom-list", {"path": "/machine/peripheral"})[1] == {
            "name": "net0",
            "type": "child<virtio-net-pci>",
        }
        mon.q("cont")
        assert mon.q("query-status")["status"] == "running"


def test_block_nodes_as_libvirt_adds_them(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.truncate(1 << 20)
    storage = {"driver": "file", "filename": str(image), "node-name": "libvirt-2-storage",
               "auto-read-only": True, "discard": "unmap"}  # fmt: skip
    fmt = {"node-name": "libvirt-2-format", "read-only": False, "driver": "raw", "file": "libvirt-2-storage"}
    with libvirt_vm(tmp_path) as (mon, _side):
        with pytest.raises(QMPFailure, match="Cannot find device='libvirt-2-storage' nor node-name"):
            mon.q("blockdev-add", fmt)
        with pytest.raises(QMPFailure, match=r"Could not open '.*missing': No such file or directory"):
            mon.q("blockdev-add", {**storage, "filename": str(image) + ".missing"})
        mon.q("blockdev-add", storage)
        mon.q("blockdev-add", fmt)
        nodes = mon.q("query-named-block-nodes", {"flat": True})
        assert [(n["node-name"], n["drv"], n["image"]["virtual-size"]) for n in nodes] == [
            ("libvirt-2-format", "raw", 1 << 20), ("libvirt-2-storage", "file", 1 << 20)]  # fmt: skip
        assert mon.q("query-block") == []
        with pytest.raises(QMPFailure, match="Block device libvirt-2-storage is in use"):
            mon.q("blockdev-del", {"node-name": "libvirt-2-storage"})
        mon.q("device_add", {"driver": "virtio-blk-pci", "bus": "pci.0", "addr": "0x4", "drive": "libvirt-2-format",
                             "id": "virtio-disk1"})  # fmt: skip
        block = mon.q("query-block")
        assert [(b["device"], b["qdev"], b["inserted"]["node-name"]) for b in block] == [
            ("", "/machine/peripheral/virtio-disk1/virtio-backend", "libvirt-2-format")]  # fmt: skip
        with pytest.raises(QMPFailure, match="Node libvirt-2-format is in use"):
            mon.q("blockdev-del", {"node-name": "libvirt-2-format"})
        mon.q("cont")
        mon.q("device_del", {"id": "virtio-disk1"})  # the default guest ejects it
        deadline = time.monotonic() + 5
        while not any(e["event"] == "DEVICE_DELETED" and e["data"].get("device") == "virtio-disk1" for e in mon.events):
            assert time.monotonic() < deadline
            mon.q("query-status")
        mon.q("blockdev-del", {"node-name": "libvirt-2-format"})
        mon.q("blockdev-del", {"node-name": "libvirt-2-storage"})
        assert mon.q("query-named-block-nodes", {"flat": True}) == []


def test_fd_passing(tmp_path: Path) -> None:
    with libvirt_vm(tmp_path) as (mon, _side):
        with pytest.raises(QMPFailure, match="No file descriptor supplied via SCM_RIGHTS"):
            mon.q("getfd", {"fdname": "tap0"})
        r, w = os.pipe()
        try:
            with pytest.raises(QMPFailure, match="expects a name not starting with a digit"):
                mon.q("getfd", {"fdname": "0tap"}, fds=[r])
            mon.q("getfd", {"fdname": "tap0"}, fds=[w])
            # the named fd is claimed by a tap netdev, as libvirt does for <interface type='bridge'>
            with pytest.raises(QMPFailure, match="File descriptor named 'tap9' has not been found"):
                mon.q("netdev_add", {"type": "tap", "id": "hostnet1", "fd": "tap9"})
            mon.q("netdev_add", {"type": "tap", "id": "hostnet1", "fd": "tap0"})
            with pytest.raises(QMPFailure, match="File descriptor named 'tap0' not found"):
                mon.q("closefd", {"fdname": "tap0"})
            mon.q("getfd", {"fdname": "spare"}, fds=[r])
            mon.q("closefd", {"fdname": "spare"})
            set1 = mon.q("add-fd", {"fdset-id": 1}, fds=[r])
            assert set1["fdset-id"] == 1 and isinstance(set1["fd"], int)
            set0 = mon.q("add-fd", {"opaque": "rdonly"}, fds=[w])
            assert set0["fdset-id"] == 0
            assert mon.q("query-fdsets") == [
                {"fds": [{"fd": set1["fd"]}], "fdset-id": 1},
                {"fds": [{"fd": set0["fd"], "opaque": "rdonly"}], "fdset-id": 0},
            ]
            with pytest.raises(QMPFailure, match="File descriptor named 'fdset-id:7, fd:3' not found"):
                mon.q("remove-fd", {"fdset-id": 7, "fd": 3})
            mon.q("cont")
            mon.q("remove-fd", {"fdset-id": 1})
            assert [s["fdset-id"] for s in mon.q("query-fdsets")] == [0]
        finally:
            os.close(r)
            os.close(w)


def test_never_guest_ignores_the_power_button(tmp_path: Path) -> None:
    with libvirt_vm(tmp_path, ("-fakeqemu", "guest=never")) as (mon, _side):
        mon.q("cont")
        mon.q("system_powerdown")
        # the guest handles POWERDOWN as it is emitted: a button left pending is one it will not answer
        assert mon.q("x-fakeqemu-query-guest")["powerdown-pending"] is True
        assert mon.q("query-status")["status"] == "running"
        assert [e["event"] for e in mon.events] == ["RESUME", "POWERDOWN"]


def test_default_guest_powers_off_and_no_shutdown_stops(tmp_path: Path) -> None:
    with libvirt_vm(tmp_path) as (mon, _side):
        mon.q("cont")
        mon.q("system_powerdown")
        deadline = time.monotonic() + 5
        while mon.q("query-status")["status"] != "shutdown":
            assert time.monotonic() < deadline
        shutdown = [e for e in mon.events if e["event"] == "SHUTDOWN"]
        assert shutdown[0]["data"] == {"guest": True, "reason": "guest-shutdown"}


# --- the same questions to Debian's QEMU 7.2: byte-for-byte equal answers ------------------------------

_THREAD = re.compile(rb'"thread-id": \d+')


def _answers(c: Client, image: Path) -> list[bytes]:
    out = [
        c.raw("query-target"),
        c.raw("query-cpu-definitions"),
        c.raw("query-cpu-model-expansion", {"type": "static", "model": {"name": "max"}}),
        c.raw("query-cpu-model-expansion", {"type": "full", "model": {"name": "max", "props": {"migratable": False}}}),
        c.raw("query-cpu-model-expansion", {"type": "static", "model": {"name": "nosuch"}}),
        c.raw("qom-list-properties", {"typename": "memory-backend-file"}),
        c.raw("qom-list-properties", {"typename": "nosuch"}),
        c.raw("device-list-properties", {"typename": "PIIX4_PM"}),
        c.raw("query-command-line-options"),
        c.raw("query-migrate-capabilities"),
        c.raw("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]}),
        c.raw("query-migrate-capabilities"),
        c.raw("query-sev-capabilities"),
        c.raw("query-chardev"),
        _THREAD.sub(b'"thread-id": 0', c.raw("query-cpus-fast")),
        c.raw("query-hotpluggable-cpus"),
        c.raw("query-iothreads"),
        c.raw("query-jobs"),
        c.raw("query-migrate"),
        c.raw(
            "blockdev-add",
            {"driver": "file", "filename": str(image), "node-name": "s1", "auto-read-only": True, "discard": "unmap"},
        ),
        c.raw("blockdev-add", {"node-name": "f1", "read-only": False, "driver": "raw", "file": "s1"}),
        c.raw("query-named-block-nodes", {"flat": True}),
        c.raw("device_add", {"driver": "virtio-blk-pci", "drive": "f1", "id": "d1", "bus": "pci.0", "addr": "0x5"}),
        c.raw("query-block"),
        c.raw("blockdev-del", {"node-name": "s1"}),
        c.raw("getfd", {"fdname": "x"}),
        c.raw("closefd", {"fdname": "x"}),
        c.raw("query-fdsets"),
    ]
    return [line.replace(str(image).encode(), b"IMAGE") for line in out]


@pytest.mark.qemu
def test_same_answers_as_qemu(tmp_path: Path, qemu_binary: str) -> None:
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.truncate(1 << 20)
    (tmp_path / "fq").mkdir()
    (tmp_path / "qemu").mkdir()
    with libvirt_vm(tmp_path / "fq") as (mon, _):
        ours = [line.replace(str(tmp_path / "fq").encode(), b"DIR") for line in _answers(mon, image)]
    with libvirt_vm(tmp_path / "qemu", binary=[qemu_binary]) as (mon, _):
        theirs = [line.replace(str(tmp_path / "qemu").encode(), b"DIR") for line in _answers(mon, image)]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a == b
    # query-machines: every machine type, in QEMU's order, each exactly as QEMU describes it
    (tmp_path / "fq2").mkdir()
    (tmp_path / "qemu2").mkdir()
    with libvirt_vm(tmp_path / "fq2") as (mon, _):
        ours_m = json.loads(mon.raw("query-machines"), object_pairs_hook=list)
    with libvirt_vm(tmp_path / "qemu2", binary=[qemu_binary]) as (mon, _):
        theirs_m = json.loads(mon.raw("query-machines"), object_pairs_hook=list)
    assert ours_m == theirs_m
