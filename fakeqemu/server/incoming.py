"""The -incoming listening socket, bound with the standard library so that the command line can bind it
before the monitors listen (and before trio is imported): a client that sees the monitor may migrate at once."""

from __future__ import annotations

import contextlib
import os
import socket


def bind_incoming(uri: str) -> socket.socket | None:
    """The destination's listening socket, bound now (before the monitors answer, as QEMU does)."""
    if uri.startswith("unix:"):
        path = uri[5:]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path)
    elif uri.startswith("tcp:"):
        host, _, port = uri[4:].rpartition(":")
        host = host.strip("[]")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host or "0.0.0.0", int(port)))
    else:
        return None
    sock.listen(1)
    return sock
