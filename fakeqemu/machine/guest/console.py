"""The guest's serial console, sans I/O: what the modelled OS prints on ttyS0 when it boots (a short boot
log naming the VM, then a login prompt) and how it answers what is typed (the line discipline echoes it;
Enter asks for the password, then prompts again, as getty and login do for an unknown user)."""

from __future__ import annotations

#: the OS the guest model plays
OS_NAME = "Debian GNU/Linux 12"


class SerialConsole:
    """One serial line: ``boot()`` once the guest runs, ``typed(data)`` for each chunk read from the host
    side; both return the bytes the guest writes back."""

    def __init__(self, vm_name: str) -> None:
        self.hostname = vm_name or "debian"
        self.booted = False
        self.line = b""
        #: waiting for the password (what is typed is not echoed)
        self.password = False

    def boot(self) -> bytes:
        if self.booted:
            return b""
        self.booted = True
        log = [
            "SeaBIOS (version 1.16.2-debian-1.16.2-1)",
            "Booting from Hard Disk...",
            f"[    0.000000] Linux version 6.1.0-fakeqemu ({OS_NAME})",
            "[    0.512000] Run /sbin/init as init process",
            "[  OK  ] Reached target multi-user.target - Multi-User System.",
            "",
            f"{OS_NAME} {self.hostname} ttyS0",
            "",
        ]
        return ("\r\n".join(log) + "\r\n" + self.prompt()).encode()

    def prompt(self) -> str:
        return f"{self.hostname} login: "

    def typed(self, data: bytes) -> bytes:
        if not self.booted:
            return b""
        out = bytearray()
        for byte in data:
            ch = bytes([byte])
            if ch in (b"\r", b"\n"):
                out += b"\r\n"
                if self.password:
                    self.password = False
                    out += b"\r\nLogin incorrect\r\n" + self.prompt().encode()
                elif self.line:
                    self.password = True
                    out += b"Password: "
                else:
                    out += self.prompt().encode()
                self.line = b""
            elif ch in (b"\x7f", b"\x08"):
                if self.line:
                    self.line = self.line[:-1]
                    if not self.password:
                        out += b"\x08 \x08"
            else:
                self.line += ch
                if not self.password:
                    out += ch
        return bytes(out)
