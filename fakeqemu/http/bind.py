"""The HTTP plane's address: parsed without importing the runtime (the QEMU-style CLI stays quick)."""

from __future__ import annotations

#: the friendly CLI's default address (the QEMU-style CLI serves HTTP only when asked)
DEFAULT_BIND = "127.0.0.1:8780"


class BindError(ValueError):
    pass


def check_bind(text: str) -> str:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; the port may be 0: any free port) or ``unix:PATH``."""
    if text.startswith("unix:"):
        if len(text) == 5:
            raise BindError(f"'{text}' names no socket path")
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise BindError(f"'{text}' is not HOST:PORT")
    return text
