"""The displays' passwords (``-vnc ...,password=on``, ``-spice ...,password-secret=``): who a server lets in,
as set_password, expire_password and change-vnc-password leave it (ui/vnc.c, ui/spice-core.c)."""

from __future__ import annotations


class DisplayAuth:
    """``kind``: none, or the password scheme (vnc, spice); the password (None: never set, so every client
    is refused) and when it expires (a wall-clock time; None: never)."""

    __slots__ = ("expires", "kind", "password")

    def __init__(self, kind: str = "none") -> None:
        self.kind = kind
        self.password: str | None = None
        self.expires: float | None = None

    def usable(self, now: float) -> bool:
        """A password is set and has not expired (QEMU compares ``expires < now`` in whole seconds)."""
        return self.password is not None and (self.expires is None or not self.expires < int(now))

    def expire(self, when: str, now: float) -> None:
        """expire_password's ``time``: now, never, +SECONDS or an absolute time (strtoull: digits, else 0)."""
        if when == "now":
            self.expires = 0
        elif when == "never":
            self.expires = None
        elif when.startswith("+"):
            self.expires = int(now) + _strtoull(when[1:])
        else:
            self.expires = _strtoull(when)


def _strtoull(text: str) -> int:
    digits = ""
    for ch in text.lstrip():
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


def vnc_kind(spec: str | None) -> str:
    """``-vnc ADDR,password=on`` (or the bare ``password`` flag, or ``password-secret=ID``): VNC auth."""
    if spec is None:
        return "none"
    for item in spec.split(",")[1:]:
        key, _, value = item.partition("=")
        if key == "password" and value in ("", "on", "yes", "true", "y"):
            return "vnc"
        if key == "password-secret":
            return "vnc"
    return "none"


def spice_kind(spec: str | None) -> str:
    """``-spice ...,password-secret=ID`` (or ``password=``): SPICE tickets; ``disable-ticketing=on``: none."""
    if spec is None:
        return "none"
    keys = {item.partition("=")[0] for item in spec.split(",")}
    return "spice" if keys & {"password", "password-secret"} else "none"


def secret_of(spec: str | None) -> str | None:
    """The ``password-secret=ID`` of a -vnc or -spice option (its initial password is the secret's data)."""
    for item in (spec or "").split(","):
        key, _, value = item.partition("=")
        if key == "password-secret":
            return value
    return None
