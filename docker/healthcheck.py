"""The image's HEALTHCHECK: healthy when one of fakeqemu's QMP monitors answers ``query-status``.

Which monitors: $FAKEQEMU_HEALTHCHECK_QMP if set (``unix:PATH`` or ``tcp:HOST:PORT``, comma-free, several
separated by spaces), else every ``-qmp``/``-chardev socket`` endpoint on the running fakeqemu's own
command line (read from /proc), so the check follows whatever QEMU command line the container was given.
A monitor serves one client at a time, so a busy one times out quickly and the next one is tried.
Standard library only; exit status 0 = healthy, 1 = unhealthy (Docker's convention).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import sys
from pathlib import Path

TIMEOUT = 1.5  # seconds per monitor; the HEALTHCHECK's own --timeout bounds the whole check


def _cmdlines() -> list[tuple[list[str], str]]:
    """(argv, cwd) of every process in this container that looks like fakeqemu, oldest first."""
    found: list[tuple[int, list[str], str]] = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            argv = [a.decode() for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if any("fakeqemu" in a for a in argv[:3]) and not any(a.endswith("healthcheck.py") for a in argv):
            found.append((int(entry.name), argv, cwd))
    return [(argv, cwd) for _, argv, cwd in sorted(found)]


def _opts(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, part in enumerate(text.split(",")):
        key, sep, value = part.partition("=")
        out[key if sep or i else "_"] = value if sep else ("on" if i else part)
    return out


def endpoints_from_argv(argv: list[str], cwd: str) -> list[str]:
    """``unix:PATH`` / ``tcp:HOST:PORT`` for each listening monitor or socket chardev in a QEMU command line."""
    eps: list[str] = []
    for opt, value in itertools.pairwise(argv):
        if opt in ("-qmp", "--qmp"):
            target = value.split(",", 1)[0]
            if target.startswith("unix:"):
                eps.append("unix:" + os.path.join(cwd, target[5:]))
            elif target.startswith("tcp:"):
                eps.append(target)
        elif opt in ("-chardev", "--chardev") and value.startswith("socket,"):
            o = _opts(value)
            if "path" in o:
                eps.append("unix:" + os.path.join(cwd, o["path"]))
            elif "port" in o:
                eps.append(f"tcp:{o.get('host', '')}:{o['port']}")
    return eps


def _connect(ep: str) -> socket.socket:
    if ep.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(ep[5:])
        return s
    host, _, port = ep[4:].rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1" if host != "::" else "::1"
    return socket.create_connection((host, int(port)), timeout=TIMEOUT)


def query_status(ep: str) -> str:
    """Greeting, negotiation, query-status; returns the run state ("running", "prelaunch", ...)."""
    with _connect(ep) as s, s.makefile("rwb") as f:
        if "QMP" not in json.loads(f.readline()):
            raise ValueError("no QMP greeting")
        for cmd in ("qmp_capabilities", "query-status"):
            f.write(json.dumps({"execute": cmd, "id": cmd}).encode())
            f.flush()
            while True:
                msg = json.loads(f.readline())
                if msg.get("id") == cmd:
                    break
            if "return" not in msg:
                raise ValueError(f"{cmd}: {msg}")
        return str(msg["return"]["status"])


def main() -> int:
    configured = os.environ.get("FAKEQEMU_HEALTHCHECK_QMP", "").split()
    eps = configured or [ep for argv, cwd in _cmdlines() for ep in endpoints_from_argv(argv, cwd)]
    if not eps:
        print("unhealthy: no fakeqemu process with a QMP monitor found")
        return 1
    errors = []
    for ep in eps:
        try:
            print(f"healthy: {ep} query-status: {query_status(ep)}")
            return 0
        except (OSError, ValueError, KeyError) as exc:
            errors.append(f"{ep}: {exc!r}")
    print("unhealthy: " + "; ".join(errors))
    return 1


if __name__ == "__main__":
    sys.exit(main())
