"""Fault injection for one VM: what a test asks fakeqemu to get wrong on purpose.

Set through the HTTP API, the CLI (``-fakeqemu faults=FILE``) or a config file; every fault that fires
leaves a ``note`` in the traffic record, so a test can tell a fault from a bug.

- ``delay``: command -> seconds to wait before replying (the monitor stays busy, as a slow QEMU's does)
- ``fail``: command -> (error class, desc) returned instead of running the command
- ``close_after``: close each connection after it has received this many requests (replies sent)
- ``close_mid_reply``: commands whose reply is cut in the middle, then the connection is closed
- ``crash_on``: commands that kill the process with SIGKILL when received (restart-recovery tests)
- ``job_error``: job id (or ``*``) -> byte offset: the job's I/O fails there once (EIO), and the job's
  ``on-error`` policy decides (report: BLOCK_JOB_ERROR and the job ends with the error; stop: it pauses
  until resumed; ignore: it goes on)
- ``migration_cut``: ``setup``, ``active`` or ``device``: the outgoing migration stream is cut at that
  step (the source fails and runs on; the destination fails to load and exits, as QEMU's does)
Guest-side faults (eject delayed or never) are the guest policy's: see fakeqemu.machine.guest.hotplug.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: entries per fault table (QEMU 7.2 has about 250 commands); longer command names are not commands
MAX_ENTRIES = 1024
MAX_NAME = 128


class FaultConfigError(ValueError):
    pass


def _names(data: dict[str, Any], key: str) -> set[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FaultConfigError(f'{key} must be a list of command names, e.g. {key} = ["query-status"]')
    return set(value)


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise FaultConfigError(f"{key} must be a table of command = value")
    return value


@dataclass
class Faults:
    delay: dict[str, float] = field(default_factory=dict)
    fail: dict[str, tuple[str, str]] = field(default_factory=dict)
    close_after: int | None = None
    close_mid_reply: set[str] = field(default_factory=set)
    crash_on: set[str] = field(default_factory=set)
    job_error: dict[str, int] = field(default_factory=dict)
    migration_cut: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.delay or self.fail or self.close_after is not None or self.close_mid_reply or self.crash_on)

    def to_json(self) -> dict[str, Any]:
        return {
            "delay": dict(self.delay),
            "fail": {k: {"class": c, "desc": d} for k, (c, d) in self.fail.items()},
            "close_after": self.close_after,
            "close_mid_reply": sorted(self.close_mid_reply),
            "crash_on": sorted(self.crash_on),
            "job_error": dict(self.job_error),
            "migration_cut": self.migration_cut,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        """Build from the JSON/TOML shape of ``to_json``; unknown keys and bad values are errors."""
        known = {"delay", "fail", "close_after", "close_mid_reply", "crash_on", "job_error", "migration_cut"}
        unknown = set(data) - known
        if unknown:
            raise FaultConfigError(f"unknown fault(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        faults = cls()
        for key in known - {"close_after"}:
            entries = data.get(key)
            if isinstance(entries, dict | list):
                if len(entries) > MAX_ENTRIES:
                    raise FaultConfigError(f"{key} has {len(entries)} entries; at most {MAX_ENTRIES}")
                long = next((n for n in entries if isinstance(n, str) and len(n) > MAX_NAME), None)
                if long is not None:
                    raise FaultConfigError(
                        f"{key}: '{long[:32]}...' is not a command name (over {MAX_NAME} characters)"
                    )
        try:
            for cmd, seconds in _table(data, "delay").items():
                value = float(seconds)
                if not 0 <= value <= 3600:
                    raise FaultConfigError(f"delay for {cmd} must be 0..3600 seconds")
                faults.delay[str(cmd)] = value
            for cmd, err in _table(data, "fail").items():
                if not isinstance(err, dict) or not isinstance(err.get("desc"), str):
                    raise FaultConfigError(f"fail for {cmd} needs {{'class': ..., 'desc': ...}}")
                faults.fail[str(cmd)] = (str(err.get("class", "GenericError")), err["desc"])
            after = data.get("close_after")
            if after is not None:
                if not isinstance(after, int) or isinstance(after, bool) or after < 0:
                    raise FaultConfigError("close_after must be a whole number >= 0")
                faults.close_after = after
            faults.close_mid_reply = _names(data, "close_mid_reply")
            faults.crash_on = _names(data, "crash_on")
            for job, offset in _table(data, "job_error").items():
                if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
                    raise FaultConfigError(f"job_error for {job} must be a byte offset >= 0")
                faults.job_error[str(job)] = offset
            cut = data.get("migration_cut")
            if cut is not None and cut not in ("setup", "active", "device"):
                raise FaultConfigError("migration_cut must be setup, active or device")
            faults.migration_cut = cut
        except (TypeError, ValueError) as exc:
            if isinstance(exc, FaultConfigError):
                raise
            raise FaultConfigError(f"bad fault configuration: {exc}") from None
        return faults
