"""Socket addresses QEMU 7.2 refuses, in every spelling, refused the same way: the same stderr and exit
status from Debian's QEMU and from fakeqemu (the path of a missing socket is the test's own)."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.oracle import Target, fakeqemu_target, qemu_target
from tools.launch import Emulator

BASE = ("-M", "none", "-display", "none", "-nodefaults")

#: (name, arguments); NOPE is a path where nobody listens
REFUSED = [
    ("qmp-client-missing", ["-qmp", "unix:NOPE"]),
    ("qmp-client-path-key", ["-qmp", "unix:path=NOPE"]),
    ("qmp-client-with-wait", ["-qmp", "unix:NOPE,wait=off"]),
    ("qmp-bad-flag", ["-qmp", "unix:NOPE,server=maybe"]),
    ("qmp-unknown-key", ["-qmp", "unix:NOPE,server=on,wait=off,bogus=1"]),
    ("qmp-tcp-no-port", ["-qmp", "tcp:127.0.0.1,server=on,wait=off"]),
    ("qmp-tcp-bad-service", ["-qmp", "tcp:127.0.0.1:abc,server=on,wait=off"]),
    ("qmp-no-driver", ["-qmp", "foo:bar"]),
    ("monitor-client-missing", ["-monitor", "unix:NOPE"]),
    ("chardev-client-missing", ["-chardev", "socket,id=m,path=NOPE", "-mon", "chardev=m,mode=control"]),
    ("chardev-no-address", ["-chardev", "socket,id=m", "-mon", "chardev=m,mode=control"]),
    ("chardev-port-only", ["-chardev", "socket,id=m,port=1", "-mon", "chardev=m,mode=control"]),
    ("chardev-host-only", ["-chardev", "socket,id=m,host=127.0.0.1", "-mon", "chardev=m,mode=control"]),
    ("chardev-path-and-fd", ["-chardev", "socket,id=m,path=NOPE,fd=3,server=on,wait=off", "-mon", "chardev=m"]),
    ("chardev-bad-fd", ["-chardev", "socket,id=m,fd=abc", "-mon", "chardev=m,mode=control"]),
    ("chardev-fd-not-open", ["-chardev", "socket,id=m,fd=99,server=on,wait=off", "-mon", "chardev=m"]),
    (
        "chardev-server-reconnect",
        ["-chardev", "socket,id=m,path=NOPE,server=on,wait=off,reconnect=1", "-mon", "chardev=m"],
    ),
    ("chardev-bad-reconnect", ["-chardev", "socket,id=m,path=NOPE,reconnect=x", "-mon", "chardev=m,mode=control"]),
    ("chardev-unknown-key", ["-chardev", "socket,id=m,path=NOPE,server=on,wait=off,bogus=1", "-mon", "chardev=m"]),
    ("chardev-tcp-refused", ["-chardev", "socket,id=m,host=127.0.0.1,port=PORT", "-mon", "chardev=m,mode=control"]),
    ("qtest-path-key-missing", ["-qtest", "unix:path=NOPE"]),
    ("qtest-missing", ["-qtest", "unix:NOPE"]),
]


def _closed_port() -> int:
    with socket.socket() as probe:  # bound, never listening: connecting to it is refused
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(argv: list[str]) -> tuple[int, str]:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return res.returncode, res.stderr


@pytest.mark.qemu
@pytest.mark.parametrize(("name", "args"), REFUSED, ids=[n for n, _ in REFUSED])
def test_refused_like_qemu(qemu_binary: str, tmp_path: Path, name: str, args: list[str]) -> None:
    port = str(_closed_port())
    filled = [a.replace("NOPE", str(tmp_path / "nope")).replace("PORT", port) for a in args]
    expected = _run(qemu_target().command([*BASE, *filled]))
    actual = _run(fakeqemu_target().command([*BASE, *filled]))
    assert expected[0] == 1, expected
    assert actual == expected


def _session(emu: Emulator, sock: socket.socket) -> list[bytes]:
    """Greeting, negotiation, a query and quit on a monitor connection; the lines as received."""
    lines = sock.makefile("rb")
    try:
        out = [lines.readline()]
        commands = (b'{"execute":"qmp_capabilities"}', b'{"execute":"query-status"}', b'{"execute":"query-chardev"}')
        for command in (*commands, b'{"execute":"quit"}'):
            sock.sendall(command)
            out.append(lines.readline())
        out.append(lines.readline())  # quit: SHUTDOWN, then the reply
        out.append(lines.readline())  # then the connection closes: b""
    finally:
        lines.close()
        sock.close()
    assert emu.proc is not None
    emu.proc.wait(timeout=30)
    out.append(b"exit %d" % emu.proc.returncode)
    out = [re.sub(rb'"(package|seconds|microseconds)": ("[^"]*"|\d+)', rb'"\1": X', line) for line in out]
    return [re.sub(rb"(127\.0\.0\.1:)\d+", rb"\1PORT", line.replace(emu.dir.encode(), b"DIR")) for line in out]


#: monitors fakeqemu reaches as a client, or through a socket given to it: how each is set up
CLIENTS = [
    ("chardev-client", ["-chardev", "socket,id=mon,path=LISTEN", "-mon", "chardev=mon,mode=control"]),
    ("qmp-client", ["-qmp", "unix:LISTEN"]),
    ("qmp-client-path-key", ["-qmp", "unix:path=LISTEN"]),
    (
        "chardev-client-reconnect",
        ["-chardev", "socket,id=mon,path=LISTEN,reconnect=1", "-mon", "chardev=mon,mode=control"],
    ),
    ("chardev-tcp-client", ["-chardev", "socket,id=mon,host=127.0.0.1,port=TCP", "-mon", "chardev=mon,mode=control"]),
    ("chardev-fd-connected", ["-chardev", "socket,id=mon,fd=FD", "-mon", "chardev=mon,mode=control"]),
]


def _client_transcript(target: Target, args: list[str]) -> list[bytes]:
    joined = " ".join(args)
    with Emulator() as emu, socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(1)
        tcp.settimeout(20)
        ours, theirs = socket.socketpair()
        with ours, theirs:
            listen = emu.listen("mon.sock")
            port = str(tcp.getsockname()[1])
            filled = [
                a.replace("LISTEN", listen).replace("FD", str(theirs.fileno())).replace("TCP", port) for a in args
            ]
            argv = target.command(["-M", "none", "-display", "none", "-nodefaults", "-S", *filled])
            emu.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=[theirs.fileno()]
            )
            theirs.close()
            if "FD" in joined:
                sock = ours.dup()
            elif "TCP" in joined:
                sock = tcp.accept()[0]
                sock.settimeout(None)
            else:
                sock = emu.accept("mon.sock")
            return _session(emu, sock)


@pytest.mark.qemu
@pytest.mark.parametrize(("name", "args"), CLIENTS, ids=[n for n, _ in CLIENTS])
def test_client_monitors_like_qemu(qemu_binary: str, name: str, args: list[str]) -> None:
    expected = _client_transcript(qemu_target(), args)
    assert expected[0].startswith(b'{"QMP"') and expected[-1] == b"exit 0", expected
    assert _client_transcript(fakeqemu_target(), args) == expected


def _reconnect_transcript(target: Target) -> list[bytes]:
    """Started with nobody listening on a reconnect=1 chardev: QEMU reports it and carries on; once a
    listener appears it connects; after that connection ends, it connects again."""
    with Emulator() as emu:
        path = emu.path("late.sock")
        argv = ["-M", "none", "-display", "none", "-nodefaults", "-S"]
        argv += ["-chardev", f"socket,id=mon,path={path},reconnect=1", "-mon", "chardev=mon,mode=control"]
        emu.proc = subprocess.Popen(target.command(argv), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert emu.proc.stderr is not None
        out = [emu.proc.stderr.readline().replace(path.encode(), b"PATH")]
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(path)
            listener.listen(1)
            listener.settimeout(20)
            for _ in range(2):
                conn, _ = listener.accept()
                with conn, conn.makefile("rb") as lines:
                    out.append(re.sub(rb'"package": "[^"]*"', b'"package": X', lines.readline()))
        out.append(b"running" if emu.proc.poll() is None else b"exited")
        return out


@pytest.mark.qemu
def test_reconnect_like_qemu(qemu_binary: str) -> None:
    expected = _reconnect_transcript(qemu_target())
    assert expected[0].startswith(b"qemu-system-x86_64: Unable to connect character device mon"), expected
    assert _reconnect_transcript(fakeqemu_target()) == expected
