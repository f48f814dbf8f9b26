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


def load(path: str | Path) -> tuple[Faults, str | None]:
    """The faults and the guest policy (None when the file sets none); FaultConfigError when bad."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FaultConfigError(f"cannot read faults from {path}: {exc}") from None
    guest = data.pop("guest", None)
    if guest is not None:
        try:
            check_policy(str(guest))
        except PolicyError as exc:
            raise FaultConfigError(f"{path}: {exc}") from None
        guest = str(guest)
    return Faults.from_json(data), guest
