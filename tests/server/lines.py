"""Reading a client's replies line by line over a trio socket."""

from __future__ import annotations

import trio


async def read_line(sock: trio.socket.SocketType, buf: bytearray) -> bytes:
    """The next CRLF-terminated line (without it); what follows stays in ``buf``."""
    while b"\r\n" not in buf:
        chunk = await sock.recv(65536)
        if not chunk:
            raise EOFError(bytes(buf))
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\r\n")
    buf[:] = rest
    return line
