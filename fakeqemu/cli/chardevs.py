"""Socket addresses in QEMU's chardev syntax, parsed as QEMU 7.2 parses them (chardev/char.c
qemu_chr_parse_compat, chardev/char-socket.c qemu_chr_parse_socket), with its error texts.

Legacy (``-qmp``, ``-monitor``, ``-qtest``, ``-serial``): ``unix:PATH`` or ``unix:path=PATH``, ``tcp:HOST:PORT``
or ``tcp::PORT``, each followed by ``,key=value`` options. ``-chardev socket,...``: ``path=`` (with
``abstract=``, ``tight=``), ``host=,port=`` (with ``to=``, ``ipv4=``, ``ipv6=``) or ``fd=``; ``server=``,
``wait=`` (and the old bare ``server``, ``nowait``), ``reconnect=``. Without ``server`` the chardev connects.
"""

from __future__ import annotations

import re
from dataclasses import replace

from fakeqemu.cli.qemuopts import split_opts
from fakeqemu.server.chardev import ChardevError, Endpoint

#: every key of QEMU's chardev option list (qemu_chardev_opts): others are "Invalid parameter"
KNOWN_KEYS = frozenset(
    [
        "backend",
        "path",
        "host",
        "port",
        "fd",
        "local",
        "addr",
        "localport",
        "to",
        "ipv4",
        "ipv6",
        "wait",
        "server",
        "delay",
        "nodelay",
        "reconnect",
        "telnet",
        "tn3270",
        "websocket",
        "tls-creds",
        "tls-authz",
        "width",
        "height",
        "cols",
        "rows",
        "mux",
        "signal",
        "name",
        "debug",
        "size",
        "chardev",
        "append",
        "logfile",
        "logappend",
        "abstract",
        "tight",
        "id",
    ]
)
#: legacy backends QEMU knows that fakeqemu does not serve
OTHER_BACKENDS = (
    "null",
    "vc",
    "stdio",
    "pty",
    "braille",
    "msmouse",
    "testdev",
    "file:",
    "pipe:",
    "udp:",
    "telnet:",
    "tn3270:",
    "websocket:",
    "mon:",
    "serial:",
    "tty:",
    "parallel:",
    "vc:",
    "chardev:",
)
_TCP = re.compile(r"([^:]{1,64}):([^,]{1,32})|:([^,]{1,32})")


def parse_legacy(spec: str, label: str = "") -> Endpoint:
    """``-qmp`` / ``-monitor`` / ``-qtest`` / ``-serial`` socket addresses."""
    if spec.startswith("unix:"):
        return parse_socket(split_opts(spec[5:], implied="path"), label, legacy=spec)
    if spec.startswith("tcp:"):
        rest = spec[4:]
        m = _TCP.match(rest)
        if m is None:
            raise ChardevError(f"parse error: {spec}")
        host, port = (m.group(1), m.group(2)) if m.group(2) is not None else ("", m.group(3))
        opts = {"host": host, "port": port}
        tail = rest[m.end() :]
        if tail.startswith(","):
            opts.update(split_opts(tail[1:]))
        return parse_socket(opts, label, legacy=spec)
    if spec.startswith(OTHER_BACKENDS):
        raise ChardevError(f"'{spec}': fakeqemu serves unix: and tcp: sockets only")
    raise ChardevError(f"'{spec}' is not a valid char driver", parse_error=spec)


def _flag(opts: dict[str, str], key: str, default: bool) -> bool:
    value = opts.get(key)
    if value is None:
        return default
    if value in ("on", "yes", "true", "y"):
        return True
    if value in ("off", "no", "false", "n"):
        return False
    raise ChardevError(f"Parameter '{key}' expects 'on' or 'off'")


def _number(opts: dict[str, str], key: str) -> int:
    value = opts.get(key, "0")
    if not value.isdigit():
        raise ChardevError(f"Parameter '{key}' expects a number")
    return int(value)


def parse_socket(opts: dict[str, str], label: str = "", legacy: str = "") -> Endpoint:
    """A socket chardev's options (``-chardev socket,...``, or what a legacy address stands for)."""
    for key in opts:
        if key not in KNOWN_KEYS:
            raise ChardevError(f"Invalid parameter '{key}'", parse_error=legacy)
    try:
        server = _flag(opts, "server", False)
        wait = _flag(opts, "wait", True)
        abstract = _flag(opts, "abstract", False)
        tight = _flag(opts, "tight", True)
        ipv4 = _flag(opts, "ipv4", False)
        ipv6 = _flag(opts, "ipv6", False)
        reconnect = _number(opts, "reconnect")
        to = _number(opts, "to")
    except ChardevError as exc:
        raise ChardevError(str(exc), parse_error=legacy) from None
    path, host, fd = opts.get("path"), opts.get("host"), opts.get("fd")
    if (path is not None) + (host is not None) + (fd is not None) > 1:
        raise ChardevError("None or one of 'path', 'fd' or 'host' option required.")
    if path is not None:
        ep = Endpoint("unix", path=path, abstract=abstract, tight=tight)
    elif host is not None:
        if "port" not in opts:
            raise ChardevError("chardev: socket: no port given")
        port = opts["port"]
        family = "ipv4" if ipv4 and not ipv6 else "ipv6" if ipv6 and not ipv4 else ""
        ep = Endpoint("tcp", host=host, port=int(port) if port.isdigit() else 0, service=port, to=to, family=family)
    else:
        if fd is None or not fd.isdigit():
            raise ChardevError(f"Unable to parse FD number {fd or ''}")
        ep = Endpoint("fd", fd=int(fd))
    if not server and "wait" in opts:
        raise ChardevError("'wait' option is incompatible with socket in client connect mode")
    if server and reconnect:
        raise ChardevError("'reconnect' option is incompatible with socket in server listen mode")
    return replace(ep, server=server, wait=wait, reconnect=reconnect, label=label)
