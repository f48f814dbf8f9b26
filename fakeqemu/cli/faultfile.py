"""The fault file both command lines take (``--faults FILE``, ``-fakeqemu faults=FILE``).

TOML with fakeqemu.machine.faults' keys, plus ``guest``, the guest policy for unplug requests (how the
guest's eject is delayed or dropped)::

    close_after = 3
    crash_on = ["device_del"]
    guest = "delay:500"       # eject 500 ms late; "never": no eject at all; "refuse": vetoed
    [delay]
    query-status = 0.5
    [fail.device_add]
    class = "GenericError"
    desc = "out of slots"
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from fakeqemu.machine.faults import FaultConfigError, Faults
from fakeqemu.machine.guest.hotplug import PolicyError, check_policy

#: the largest fault file read (a full table of every command is a few KiB)
MAX_SIZE = 256 * 1024


def load(path: str | Path) -> tuple[Faults, str | None]:
    """The faults and the guest policy (None when the file sets none); FaultConfigError, with a one-line
    message, when the file is unreadable, too big, not UTF-8 TOML, nested too deep or has bad values."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SIZE + 1)
    except OSError as exc:
        raise FaultConfigError(f"cannot read faults from {path}: {exc.strerror}") from None
    if len(raw) > MAX_SIZE:
        raise FaultConfigError(f"cannot read faults from {path}: larger than {MAX_SIZE} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FaultConfigError(f"cannot read faults from {path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise FaultConfigError(f"cannot read faults from {path}: {exc}") from None
    except RecursionError:
        raise FaultConfigError(f"cannot read faults from {path}: nested too deep") from None
    guest = data.pop("guest", None)
    if guest is not None:
        try:
            check_policy(str(guest))
        except PolicyError as exc:
            raise FaultConfigError(f"{path}: {exc}") from None
        guest = str(guest)
    return Faults.from_json(data), guest
