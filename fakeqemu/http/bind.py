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


def bind_host(bind: str) -> str:
    """The host part of ``HOST:PORT`` (``[::1]:8780`` -> ``::1``)."""
    host = bind.rpartition(":")[0]
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_access(bind: str, token: str | None, insecure: bool) -> str | None:
    """Refuse what would expose the API (which runs any QMP command) by mistake: an empty token, or an
    address beyond loopback without a token unless ``insecure``; then the warning to print, if any."""
    if token is not None and not token:
        raise BindError("the HTTP token must not be empty (leave it out to serve without one on loopback)")
    if token is not None or bind.startswith("unix:") or _loopback(bind_host(bind)):
        return None
    if not insecure:
        raise BindError(
            f"{bind} serves the HTTP API, which drives the VMs, beyond this machine: give a token "
            "(--http-token, -fakeqemu http-token=T), or allow it without one (--http-insecure, http-insecure=on)"
        )
    return f"warning: the HTTP API on {bind} has no token: anyone who can reach it can drive the VMs"
