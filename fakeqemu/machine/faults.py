"""Fault injection for one VM: what a test asks fakeqemu to get wrong on purpose.

Set through the HTTP API, the CLI (``-fakeqemu faults=FILE``), fakeqemu.testing or a config file; every
fault that fires leaves a ``note`` in the traffic record, so a test can tell a fault from a bug.

Per command (each entry may also take ``times``, how often it fires, and ``after``, how many of that
command's requests pass untouched first; counted per VM from when the faults were set):

- ``delay``: seconds to wait before replying (the monitor stays busy, as a slow QEMU's does): a number,
  or ``{"seconds": s}``, ``{"uniform": [lo, hi]}``, ``{"exponential": mean}``, ``{"normal": [mean, sd]}``
  (drawn per request from a generator seeded with ``seed``, if given)
- ``fail``: ``{"class": ..., "desc": ...}``, the QMP error answered instead of running the command
- ``drop``: the request is read and never answered (nor run); the connection carries on
- ``disconnect``: the command runs, then the connection is closed before its reply is sent
- ``close_mid_reply``: half the reply is sent, then the connection is closed
- ``crash_on``: the process dies by SIGKILL when the command arrives (restart-recovery tests)
- ``kill_vm``: only this VM dies when the command arrives (a fleet's other VMs carry on)

The list-like ones are written ``["cmd", ...]`` or ``{"cmd": {"times": 1, "after": 2}}``. Per connection:
``close_after``: close each connection after it has been answered this many requests (``N``, or
``{"requests": N, "times": T}`` to close only the first T connections that get there).

Jobs and migration:
- ``job_error``: job id (or ``*``) -> byte offset: the job's I/O fails there once (EIO), and the job's
  ``on-error`` policy decides (report: BLOCK_JOB_ERROR and the job ends with the error; stop: it pauses
  until resumed; ignore: it goes on)
- ``migration_cut``: ``setup``, ``active``, ``ram`` (mid-way through the RAM, in the middle of a frame) or
  ``device``: the outgoing migration stream is cut at that step (the source fails and runs on; the
  destination fails to load and exits, as QEMU's does)
- ``migration_vanish``: ``setup``, ``ram`` or ``device``: set on a destination, it dies (as ``kill_vm``)
  when its incoming stream reaches that step; the source finds its peer gone and fails
- ``migration_stuck``: true: the guest dirties its RAM as fast as it goes, so the migration never
  converges (pass after pass, MIGRATION_PASS each) until it is cancelled or the fault is lifted
Guest-side faults (eject delayed or never) are the guest policy's: see fakeqemu.machine.guest.hotplug.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

#: the faults that name commands and fire once per matching request, ``[cmd]`` or ``{cmd: counts}``
COMMAND_SETS = ("close_mid_reply", "crash_on", "drop", "disconnect", "kill_vm")
KNOWN = ("delay", "fail", "close_after", *COMMAND_SETS, "seed", "job_error", "migration_cut", "migration_vanish",
         "migration_stuck")  # fmt: skip
#: the steps of a migration stream a cut or a vanishing destination can pick
CUT_STEPS = ("setup", "active", "ram", "device")
VANISH_STEPS = ("setup", "ram", "device")
DISTRIBUTIONS = ("seconds", "uniform", "exponential", "normal")
#: the longest delay a fault may ask for
MAX_DELAY_S = 3600.0
#: entries per fault table (QEMU 7.2 has about 250 commands); longer command names are not commands
MAX_ENTRIES = 1024
MAX_NAME = 128


class FaultConfigError(ValueError):
    pass


@dataclass
class Rule:
    """When one fault fires: not for the first ``after`` matching requests, then ``times`` times (or
    for good)."""

    times: int | None = None
    after: int = 0
    seen: int = 0
    fired: int = 0

    def take(self) -> bool:
        """Count one matching request; whether the fault fires for it."""
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True

    @property
    def plain(self) -> bool:
        return self.times is None and self.after == 0

    def counts(self) -> dict[str, int]:
        out = {} if self.times is None else {"times": self.times}
        return {**out, "after": self.after} if self.after else out


@dataclass
class Delay(Rule):
    """A delay before a command's reply: fixed seconds or drawn from a distribution."""

    kind: str = "seconds"  # one of DISTRIBUTIONS
    params: tuple[float, ...] = (0.0,)

    def sample(self, rng: random.Random) -> float:
        p = self.params
        if self.kind == "uniform":
            value = rng.uniform(p[0], p[1])
        elif self.kind == "exponential":
            value = rng.expovariate(1.0 / p[0]) if p[0] > 0 else 0.0
        elif self.kind == "normal":
            value = rng.gauss(p[0], p[1])
        else:
            value = p[0]
        return min(MAX_DELAY_S, max(0.0, value))

    def to_json(self) -> Any:
        if self.kind == "seconds" and self.plain:
            return self.params[0]
        value: Any = self.params[0] if len(self.params) == 1 else list(self.params)
        return {self.kind: value, **self.counts()}


@dataclass
class Failure(Rule):
    """A command answered with this QMP error instead of running."""

    cls: str = "GenericError"
    desc: str = ""


@dataclass
class CloseAfter(Rule):
    """The connection closed after this many requests."""

    requests: int = 0

    def to_json(self) -> Any:
        return self.requests if self.plain else {"requests": self.requests, **self.counts()}


@dataclass
class Faults:
    """A VM's fault table: every injected fault, by kind and command."""

    delay: dict[str, Delay] = field(default_factory=dict)
    fail: dict[str, Failure] = field(default_factory=dict)
    close_after: CloseAfter | None = None
    close_mid_reply: dict[str, Rule] = field(default_factory=dict)
    crash_on: dict[str, Rule] = field(default_factory=dict)
    drop: dict[str, Rule] = field(default_factory=dict)
    disconnect: dict[str, Rule] = field(default_factory=dict)
    kill_vm: dict[str, Rule] = field(default_factory=dict)
    seed: int | None = None
    job_error: dict[str, int] = field(default_factory=dict)
    migration_cut: str | None = None
    migration_vanish: str | None = None
    migration_stuck: bool = False
    #: the delays' random source, made when a delay first samples it (a Mersenne Twister is 2.5 KiB,
    #: most VMs never need one); seeded from ``seed`` when given
    _rng: random.Random | None = field(default=None, repr=False, compare=False)

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    @property
    def active(self) -> bool:
        return bool(
            self.delay or self.fail or self.close_after is not None or any(getattr(self, k) for k in COMMAND_SETS)
        )

    def fires(self, kind: str, command: str) -> Rule | None:
        """The ``kind`` fault for ``command`` if it fires for this request (counting it), else None."""
        rules: dict[str, Any] = getattr(self, kind)
        rule = rules.get(command)
        return rule if rule is not None and rule.take() else None

    def delay_for(self, command: str) -> float | None:
        """Seconds to delay this request's reply by, when a delay fires for it."""
        rule = self.fires("delay", command)
        return rule.sample(self.rng) if isinstance(rule, Delay) else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "delay": {k: d.to_json() for k, d in self.delay.items()},
            "fail": {k: {"class": f.cls, "desc": f.desc, **f.counts()} for k, f in self.fail.items()},
            "close_after": None if self.close_after is None else self.close_after.to_json(),
        }
        for kind in COMMAND_SETS:
            rules: dict[str, Rule] = getattr(self, kind)
            if all(r.plain for r in rules.values()):
                out[kind] = sorted(rules)
            else:
                out[kind] = {k: r.counts() for k, r in sorted(rules.items())}
        out["seed"] = self.seed
        out["job_error"] = dict(self.job_error)
        out["migration_cut"] = self.migration_cut
        out["migration_vanish"] = self.migration_vanish
        out["migration_stuck"] = self.migration_stuck
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        """Build from the JSON/TOML shape of ``to_json``; unknown keys and bad values are errors."""
        unknown = set(data) - set(KNOWN)
        if unknown:
            raise FaultConfigError(f"unknown fault(s): {', '.join(sorted(unknown))}; known: {', '.join(KNOWN)}")
        for key in ("delay", "fail", *COMMAND_SETS, "job_error"):
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
            return _parse(data)
        except FaultConfigError:
            raise
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise FaultConfigError(f"bad fault configuration: {exc}") from None


def _count(value: Any, what: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FaultConfigError(f"{what} must be a whole number >= {minimum}")
    return value


def _rule_args(spec: dict[str, Any], what: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """``times`` and ``after`` of one entry (None values count as absent); other keys must be ``allowed``."""
    spec = {k: v for k, v in spec.items() if v is not None}
    extra = set(spec) - {"times", "after", *allowed}
    if extra:
        raise FaultConfigError(f"{what}: unknown key(s) {', '.join(sorted(extra))}")
    args: dict[str, Any] = {}
    if "times" in spec:
        args["times"] = _count(spec["times"], f"{what}: times", 0)
    if "after" in spec:
        args["after"] = _count(spec["after"], f"{what}: after", 0)
    return args


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise FaultConfigError(f"{what} must be a number of seconds")
    seconds = float(value)
    if not 0 <= seconds <= MAX_DELAY_S:
        raise FaultConfigError(f"{what} must be 0..{MAX_DELAY_S:g} seconds")
    return seconds


def _delay(cmd: str, spec: Any) -> Delay:
    what = f"delay for {cmd}"
    if not isinstance(spec, dict):
        return Delay(params=(_seconds(spec, what),))
    spec = {k: v for k, v in spec.items() if v is not None}
    kinds = [k for k in DISTRIBUTIONS if k in spec]
    if len(kinds) != 1:
        raise FaultConfigError(f"{what} needs one of {', '.join(DISTRIBUTIONS)}")
    kind = kinds[0]
    args = _rule_args(spec, what, DISTRIBUTIONS)
    raw = spec[kind]
    params: tuple[float, ...]
    if kind in ("uniform", "normal"):
        if not isinstance(raw, list | tuple) or len(raw) != 2:
            raise FaultConfigError(
                f"{what}: {kind} takes two numbers, [{'lo, hi' if kind == 'uniform' else 'mean, sd'}]"
            )
        params = (_seconds(raw[0], what), _seconds(raw[1], what))
        if kind == "uniform":
            params = (min(params), max(params))
    else:
        params = (_seconds(raw, what),)
    return Delay(kind=kind, params=params, **args)


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise FaultConfigError(f"{key} must be a table of command = value")
    return value


def _parse(data: dict[str, Any]) -> Faults:
    faults = Faults(seed=None if data.get("seed") is None else _count(data["seed"], "seed", 0))
    for cmd, spec in _table(data, "delay").items():
        faults.delay[str(cmd)] = _delay(str(cmd), spec)
    for cmd, err in _table(data, "fail").items():
        if not isinstance(err, dict) or not isinstance(err.get("desc"), str):
            raise FaultConfigError(f"fail for {cmd} needs {{'class': ..., 'desc': ...}}")
        args = _rule_args(err, f"fail for {cmd}", ("class", "desc"))
        faults.fail[str(cmd)] = Failure(cls=str(err.get("class") or "GenericError"), desc=err["desc"], **args)
    close = data.get("close_after")
    if isinstance(close, dict):
        args = _rule_args(close, "close_after", ("requests",))
        faults.close_after = CloseAfter(requests=_count(close.get("requests"), "close_after: requests", 0), **args)
    elif close is not None:
        faults.close_after = CloseAfter(requests=_count(close, "close_after", 0))
    for kind in COMMAND_SETS:
        value = data.get(kind) or []
        rules: dict[str, Rule] = getattr(faults, kind)
        if isinstance(value, dict):
            for cmd, spec in value.items():
                rules[str(cmd)] = Rule(**_rule_args(dict(spec or {}), f"{kind} for {cmd}", ()))
        elif isinstance(value, list | tuple) and all(isinstance(cmd, str) for cmd in value):
            for cmd in value:
                rules[cmd] = Rule()
        else:
            raise FaultConfigError(
                f'{kind} must be a list of command names, e.g. {kind} = ["query-status"], or a table of them'
            )
    for job, offset in _table(data, "job_error").items():
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise FaultConfigError(f"job_error for {job} must be a byte offset >= 0")
        faults.job_error[str(job)] = offset
    cut = data.get("migration_cut")
    if cut is not None and cut not in CUT_STEPS:
        raise FaultConfigError(f"migration_cut must be {', '.join(CUT_STEPS[:-1])} or {CUT_STEPS[-1]}")
    faults.migration_cut = cut
    vanish = data.get("migration_vanish")
    if vanish is not None and vanish not in VANISH_STEPS:
        raise FaultConfigError(f"migration_vanish must be {', '.join(VANISH_STEPS[:-1])} or {VANISH_STEPS[-1]}")
    faults.migration_vanish = vanish
    stuck = data.get("migration_stuck", False)
    if not isinstance(stuck, bool):
        raise FaultConfigError("migration_stuck must be true or false")
    faults.migration_stuck = stuck
    return faults
