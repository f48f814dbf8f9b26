"""Differential: set_password, expire_password and change-vnc-password against QEMU 7.2, with no display,
a VNC server without and with password auth (unix socket and TCP), and SPICE without and with tickets: the
errors and what query-vnc / query-vnc-servers / query-spice then say. (Clients logging in are compared in
tests/cli/test_vnc_password.py.)"""

from __future__ import annotations

import os
import socket

from tests.oracle import Script, Step, call, differential_tests, script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


VNC_UNIX = f"/tmp/fakeqemu-oracle-vnc-{os.getpid()}.sock"
VNC_DISPLAY = free_port() - 5900
SPICE_PORT = free_port()


def commands(protocol: str = "vnc") -> list[Step]:
    steps = [
        *call("set_password", {"protocol": protocol, "password": "x"}),
        *call("set_password", {"protocol": protocol, "password": "x", "connected": "fail"}),
        *call("set_password", {"protocol": protocol, "password": "x", "connected": "keep"}),
        *call("expire_password", {"protocol": protocol, "time": "now"}),
        *call("expire_password", {"protocol": protocol, "time": "+10"}),
    ]
    if protocol == "vnc":
        steps += [
            *call("set_password", {"protocol": "vnc", "password": "x", "display": "nosuch"}),
            *call("set_password", {"protocol": "vnc", "password": "x", "display": "default"}),
            *call("expire_password", {"protocol": "vnc", "time": "never", "display": "nosuch"}),
            *call("change-vnc-password", {"password": "y"}),
            *call("set_password", {"protocol": "spice", "password": "x"}),
            *call("expire_password", {"protocol": "spice", "time": "now"}),
            *call("set_password", {"protocol": "rdp", "password": "x"}),
            *call("query-vnc"),
            *call("query-vnc-servers"),
        ]
    hmp = ["set_password vnc abc", "set_password vnc abc keep", "set_password vnc abc fail", "set_password rdp x",
           "set_password", "set_password vnc", "set_password vnc abc -d default", "set_password vnc abc -d nosuch keep",
           "set_password spice x", "expire_password vnc now", "expire_password vnc", "expire_password spice never",
           "expire_password vnc +5 -d nosuch", "set_password vnc a b c d"]  # fmt: skip
    steps += [step for line in hmp for step in call("human-monitor-command", {"command-line": line})]
    return [*steps, *call("query-spice")]


SCRIPTS: list[Script] = [
    script("passwords-no-display", *commands()),
    script("passwords-vnc-none", *commands(), extra_args=["-vnc", f"unix:{VNC_UNIX}"]),
    script("passwords-vnc-password", *commands(), extra_args=["-vnc", f"unix:{VNC_UNIX},password=on"]),
    script("passwords-vnc-tcp", *commands(), extra_args=["-vnc", f"127.0.0.1:{VNC_DISPLAY},password=on"]),
    script("passwords-vnc-secret", *commands(),
           extra_args=["-object", "secret,id=sec0,data=pw", "-vnc", f"unix:{VNC_UNIX},password-secret=sec0"]),
    script("passwords-spice-none", *commands("spice"),
           extra_args=["-spice", f"port={SPICE_PORT},addr=127.0.0.1,disable-ticketing=on"]),
    script("passwords-spice-secret", *commands("spice"),
           extra_args=["-object", "secret,id=s0,data=abc",
                       "-spice", f"port={SPICE_PORT},addr=127.0.0.1,password-secret=s0"]),
]  # fmt: skip

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
