"""``-vnc``: a real RFB 3.8 server (security None) showing the guest model's screen (the VM's name and run
state), VNC_CONNECTED / VNC_INITIALIZED / VNC_DISCONNECTED and query-vnc's clients as QEMU reports them,
an update when the screen changes, and ``screendump`` writing the same pixels as PPM and PNG."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

from qemu.qmp.legacy import QEMUMonitorProtocol

from fakeqemu.machine.devices.framebuffer import HEIGHT, WIDTH
from tests.integration.procs import legacy_monitor
from tools.launch import connect, recv_exact


def read_update(s: socket.socket) -> bytes:
    """One FramebufferUpdate with one Raw rectangle of the whole screen, as RGB bytes."""
    head = recv_exact(s, 4)
    assert head[0] == 0 and struct.unpack(">H", head[2:4])[0] == 1
    x, y, w, h, enc = struct.unpack(">HHHHi", recv_exact(s, 12))
    assert (x, y, w, h, enc) == (0, 0, WIDTH, HEIGHT, 0)
    pixels = recv_exact(s, w * h * 4)
    rgb = bytearray(w * h * 3)  # the default format: little endian, red at bit 16
    rgb[0::3], rgb[1::3], rgb[2::3] = pixels[2::4], pixels[1::4], pixels[0::4]
    return bytes(rgb)


def event_names(mon: QEMUMonitorProtocol) -> list[object]:
    """The events received so far (taken from the monitor's queue)."""
    names = [e["event"] for e in mon.get_events(wait=False)]
    mon.clear_events()
    return names


def test_vnc_server(tmp_path: Path) -> None:
    qmp, vnc = tmp_path / "qmp.sock", tmp_path / "vnc.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakeqemu", "-M", "pc", "-display", "none", "-nodefaults", "-S", "-name", "vm7",
         "-device", "VGA", "-vnc", f"unix:{vnc}", "-qmp", f"unix:{qmp},server=on,wait=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        connect(str(qmp), proc).close()  # wait until it serves (the monitor is bound first)
        with legacy_monitor(str(qmp)) as mon:
            with connect(str(vnc), proc) as s:
                assert recv_exact(s, 12) == b"RFB 003.008\n"
                s.sendall(b"RFB 003.008\n")
                assert recv_exact(s, 2) == b"\x01\x01"  # one security type: None
                s.sendall(b"\x01")
                assert recv_exact(s, 4) == b"\x00\x00\x00\x00"
                s.sendall(b"\x01")  # ClientInit, shared
                init = recv_exact(s, 24)
                assert struct.unpack(">HH", init[:4]) == (WIDTH, HEIGHT)
                assert init[4:20].hex() == "2018000100ff00ff00ff100800000000"  # QEMU's default pixel format
                assert recv_exact(s, struct.unpack(">I", init[20:24])[0]) == b"QEMU (vm7)"
                s.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, WIDTH, HEIGHT))
                prelaunch = read_update(s)
                assert prelaunch.count(b"\xff\xff\xff") > 100  # the text is drawn
                mon.cmd("query-status")  # a round trip: the events are in
                assert event_names(mon) == ["VNC_CONNECTED", "VNC_INITIALIZED"]
                clients = mon.cmd("query-vnc")
                assert isinstance(clients, dict) and len(clients["clients"]) == 1
                # an incremental request waits until the screen changes: the guest runs
                s.sendall(struct.pack(">BBHHHH", 3, 1, 0, 0, WIDTH, HEIGHT))
                mon.cmd("cont")
                running = read_update(s)
                assert running != prelaunch
                shot = tmp_path / "shot.ppm"
                mon.cmd("screendump", filename=str(shot))
                assert shot.read_bytes() == f"P6\n{WIDTH} {HEIGHT}\n255\n".encode() + running
                png = tmp_path / "shot.png"
                mon.cmd("screendump", filename=str(png), format="png")
                data = png.read_bytes()
                assert data.startswith(b"\x89PNG\r\n\x1a\n")
                raw = zlib.decompress(data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8])
                assert raw[1 : 1 + WIDTH * 3] == running[: WIDTH * 3]
            event = mon.pull_event(wait=5.0)  # the server sees the client go
            while event is not None and event["event"] != "VNC_DISCONNECTED":
                event = mon.pull_event(wait=5.0)
            assert event is not None
            assert mon.cmd("query-vnc")["clients"] == []  # type: ignore[index]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_screendump_without_a_display(tmp_path: Path) -> None:
    qmp = tmp_path / "qmp.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakeqemu", "-M", "pc", "-display", "none", "-nodefaults", "-S",
         "-qmp", f"unix:{qmp},server=on,wait=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        connect(str(qmp), proc).close()
        with legacy_monitor(str(qmp)) as mon:
            reply = mon.cmd_raw("screendump", {"filename": str(tmp_path / "x.ppm")})
            assert reply["error"]["desc"] == "There is no console to take a screendump from"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
