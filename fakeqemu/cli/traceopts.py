"""The tracing and logging options: ``-trace``, ``-d``, ``-D``, ``-msg`` (QEMU 7.2: trace/control.c's
trace_opt_parse, util/log.c, softmmu/vl.c).

* ``-trace PATTERN`` or ``-trace [enable=PATTERN][,events=FILE][,file=FILE]``; ``-trace help`` lists the
  events fakeqemu emits and exits 0. An events file holds one pattern a line (``#`` comments, a leading
  ``-`` switches off); a missing one is fatal, an unknown name a warning, as in QEMU.
* ``-d ITEM,...``: ``trace:PATTERN`` enables events; QEMU's other items are accepted (fakeqemu runs no
  guest code, so they log nothing); an unknown item prints QEMU's list of items and exits 1;
  ``-d trace:help`` lists the events and exits 0.
* ``-D FILE``: where the lines go (opened, and so checked, once the command line is read).
* ``-msg timestamp=on|off``: trace lines and start-up messages carry times.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from fakeqemu.cli.qemuopts import UsageError, split_opts

if TYPE_CHECKING:
    from fakeqemu.machine.config import MachineConfig

PROG = "qemu-system-x86_64"
#: -d's items other than trace: (QEMU 7.2, x86_64 system emulation)
LOG_ITEMS = frozenset(
    [
        "out_asm",
        "in_asm",
        "op",
        "op_opt",
        "op_ind",
        "int",
        "exec",
        "cpu",
        "fpu",
        "mmu",
        "pcall",
        "cpu_reset",
        "unimp",
        "guest_errors",
        "page",
        "nochain",
        "plugin",
        "strace",
        "tid",
    ]
)


#: what QEMU 7.2 prints for ``-d help`` or an unknown item (qemu_print_log_usage)
LOG_USAGE = """\
Log items (comma separated):
out_asm         show generated host assembly code for each compiled TB
in_asm          show target assembly code for each compiled TB
op              show micro ops for each compiled TB
op_opt          show micro ops after optimization
op_ind          show micro ops before indirect lowering
int             show interrupts/exceptions in short format
exec            show trace before each executed TB (lots of logs)
cpu             show CPU registers before entering a TB (lots of logs)
fpu             include FPU registers in the 'cpu' logging
mmu             log MMU-related activities
pcall           x86 only: show protected mode far calls/returns/exceptions
cpu_reset       show CPU state before CPU resets
unimp           log unimplemented functionality
guest_errors    log when the guest OS does something invalid (eg accessing a
non-existent register)
page            dump pages at beginning of user mode emulation
nochain         do not chain compiled TBs so that "exec" and "cpu" show
complete traces
plugin          output from TCG plugins

strace          log every user-mode syscall, its input, and its result
tid             open a separate log file per thread; filename must contain '%d'
trace:PATTERN   enable trace events

Use "-d trace:help" to get a list of trace events.

"""


class ListAndExit(Exception):
    """Stop at once: print ``text`` (to stdout: a list that was asked for; to stderr: ``error``) and exit
    with ``status``."""

    def __init__(self, text: str, status: int, error: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.status = status
        self.error = error

    def show(self) -> int:
        print(self.text, end="", file=sys.stderr if self.error else sys.stdout)
        return self.status


def report(cfg: MachineConfig, text: str, where: str = "") -> str:
    """error_report's line: ``PROG: TEXT``, or ``PROG:FILE:LINE: TEXT`` for a place in a file, with
    -msg timestamp=on's time first."""
    stamp = ""
    if cfg.msg_timestamp:
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1_000_000):06d}Z "
    return f"{stamp}{PROG}:{where} {text}\n"


def warn(cfg: MachineConfig, text: str, where: str = "") -> None:
    print(report(cfg, f"warning: {text}", where), end="", file=sys.stderr)


def _events_list() -> str:
    """The events fakeqemu prints, in QEMU's order (-trace help)."""
    import fakeqemu.commands.all  # noqa: F401  (fills the command table, loaded only for this list)
    from fakeqemu.commands.registry import COMMANDS
    from fakeqemu.machine.core.trace import catalogue, emitted

    served = frozenset(name.replace("-", "_") for name in COMMANDS)
    return "".join(f"{n}\n" for n in catalogue().names if emitted(n, served))


def _enable(cfg: MachineConfig, pattern: str, say: Callable[[str], None]) -> None:
    """Check ``pattern`` now (QEMU warns while it reads the option) and keep it for the machine."""
    from fakeqemu.machine.core.trace import Trace  # the catalogue: only when a trace option is given

    Trace().enable_option(pattern, say)
    cfg.trace_events.append(pattern)


def apply(cfg: MachineConfig, arg: str, name: str, value: str) -> None:
    """One of -trace, -d, -D, -msg (``arg`` as written, ``name`` without dashes)."""
    if name == "msg":
        for key, val in split_opts(value).items():
            if key not in ("timestamp", "guest-name"):
                raise UsageError(f"{arg} {value}: Invalid parameter '{key}'")
            if val not in ("on", "off"):
                raise UsageError(f"{arg} {value}: Parameter '{key}' expects 'on' or 'off'")
            if key == "timestamp":
                cfg.msg_timestamp = val == "on"
    elif name == "D":
        cfg.trace_file = value
    elif name == "d":
        items = value.split(",")
        if "trace:help" in items:
            raise ListAndExit(_events_list(), 0)
        for item in items:
            if item.startswith("trace:") and item != "trace:":
                _enable(cfg, item[len("trace:") :], lambda text: warn(cfg, text))
            elif item not in LOG_ITEMS:
                raise ListAndExit(LOG_USAGE, 1)
    elif name == "trace":
        opts = split_opts(value, implied="enable")
        for key in opts:
            if key not in ("enable", "events", "file"):
                raise UsageError(f"{arg} {value}: Invalid parameter '{key}'")
        if opts.get("enable") == "help":
            raise ListAndExit(_events_list(), 0)
        if "events" in opts:
            _events_file(cfg, opts["events"])
        if "enable" in opts:
            _enable(cfg, opts["enable"], lambda text: warn(cfg, text, f" {arg} {value}:"))
        if "file" in opts:
            cfg.trace_file = opts["file"]


def _events_file(cfg: MachineConfig, path: str) -> None:
    """trace_init_events: one pattern a line, blank lines and ``#`` comments skipped."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise ListAndExit(report(cfg, str(exc.strerror), f"{path}:"), 1, error=True) from None
    for n, line in enumerate(lines, 1):
        pattern = line.strip()
        if pattern and not pattern.startswith("#"):
            _enable(cfg, pattern, functools.partial(_warn_at, cfg, f"{path}:{n}:"))


def _warn_at(cfg: MachineConfig, where: str, text: str) -> None:
    warn(cfg, text, where)


def open_log(cfg: MachineConfig) -> None:
    """Open (and empty) the log file once the command line is read, as QEMU does."""
    if cfg.trace_file is None:
        return
    try:
        open(cfg.trace_file, "w").close()
    except OSError as exc:
        raise UsageError(f"Error opening logfile {cfg.trace_file}: {exc.strerror}") from None
