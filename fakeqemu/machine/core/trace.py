"""QEMU's trace events, as Debian's QEMU 7.2 prints them with its ``log`` backend.

Rules (QEMU 7.2: trace/control.c, trace/qmp.c, scripts/tracetool/backend/log.py):

* The catalogue is QEMU's: every event its build knows, in the order it walks them (``-trace help``),
  recorded by tools/record_trace.py. Two of them were left out of Debian's build (``unavailable``).
  fakeqemu prints only the events of the paths it models (``FORMATS``); the others can be enabled and
  queried as in QEMU but never fire.
* A name with ``*`` or ``?`` is a pattern (glob). A name that is no pattern and no event is an error over
  QMP (``unknown event "X"``) and a warning on the command line (``trace event 'X' does not exist``).
* ``trace-event-get-state`` lists the matches in the reverse of the walk (QAPI_LIST_PREPEND).
* A line is ``NAME ARGS`` or, with ``-msg timestamp=on``, ``TID@SECONDS.MICROSECONDS:NAME ARGS``; it goes to
  the log file (``-D FILE``, ``-trace file=FILE``) or to stderr.
* Pointers (``%p``) print as the Python object's address: they differ from QEMU's as any two runs' do.

One ``Trace`` per VM: an empty set while nothing is enabled, so an idle VM pays nothing.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fakeqemu.qmp.errors import GenericError
from fakeqemu.recorded import document

#: what each event fakeqemu emits prints after its name (QEMU 7.2's trace-events files, printf turned
#: into Python %-formats; %p arguments are passed already formatted by ``pointer``)
FORMATS: dict[str, str] = {
    # net/trace-events (announce.c)
    "qemu_announce_self_iter": "%s:%s:%s skip: %d",
    "qemu_announce_timer_del": "free named: %d free timer: %d id: %s",
    # hw/acpi/trace-events (pcihp.c)
    "acpi_pci_eject_slot": "bsel: %u slot: %u",
    "acpi_pci_unplug": "bsel: %d slot: %d",
    "acpi_pci_unplug_request": "bsel: %d slot: %d",
    "acpi_pci_up_read": "%u",
    "acpi_pci_down_read": "%u",
    "acpi_pci_features_read": "%u",
    "acpi_pci_acpi_index_read": "%u",
    "acpi_pci_acpi_index_write": "bsel: %u slot: %u aidx: %u",
    "acpi_pci_rmv_read": "%u",
    "acpi_pci_sel_read": "%u",
    "acpi_pci_ej_write": "0x%x <== %u",
    "acpi_pci_sel_write": "0x%x <== %u",
    # hw/acpi/trace-events (cpu.c: the modern CPU hotplug block)
    "cpuhp_acpi_invalid_idx_selected": "0x%x",
    "cpuhp_acpi_read_flags": "idx[0x%x] flags: 0x%x",
    "cpuhp_acpi_write_idx": "set active cpu idx: 0x%x",
    "cpuhp_acpi_write_cmd": "idx[0x%x] cmd: 0x%x",
    "cpuhp_acpi_read_cmd_data": "idx[0x%x] data: 0x%x",
    "cpuhp_acpi_read_cmd_data2": "idx[0x%x] data: 0x%x",
    "cpuhp_acpi_cpu_has_events": "idx[0x%x] inserting: %d, removing: %d",
    "cpuhp_acpi_clear_inserting_evt": "idx[0x%x]",
    "cpuhp_acpi_clear_remove_evt": "idx[0x%x]",
    "cpuhp_acpi_ejecting_invalid_cpu": "0x%x",
    "cpuhp_acpi_ejecting_cpu": "0x%x",
    "cpuhp_acpi_fw_remove_invalid_cpu": "0x%x",
    "cpuhp_acpi_fw_remove_cpu": "0x%x",
    "cpuhp_acpi_write_ost_ev": "idx[0x%x] OST EVENT: 0x%x",
    "cpuhp_acpi_write_ost_status": "idx[0x%x] OST STATUS: 0x%x",
    # monitor/trace-events
    "handle_hmp_command": "mon %s cmdline: %s",
    "monitor_qmp_in_band_enqueue": "%s mon %s len %u",
    "monitor_qmp_in_band_dequeue": "%s len %u",
    "monitor_qmp_cmd_in_band": "%s",
    "monitor_qmp_err_in_band": "%s",
    "monitor_qmp_cmd_out_of_band": "%s",
    "monitor_qmp_respond": "mon %s resp: %s",
    "handle_qmp_command": "mon %s req: %s",
}


def format_of(name: str) -> str:
    """What ``name`` prints after its name: FORMATS, or the QAPI generator's per-command pair."""
    fmt = FORMATS.get(name)
    if fmt is None:
        # scripts/qapi/commands.py: qmp_enter_CMD(const char *json) "%s",
        # qmp_exit_CMD(const char *result, bool succeeded) "%s %d"
        fmt = "%s" if name.startswith("qmp_enter_") else "%s %d"
    return fmt


def emitted(name: str, commands: frozenset[str]) -> bool:
    """Whether fakeqemu ever prints ``name``: an event of FORMATS, or the enter/exit pair of a command it
    serves (``commands``: QMP names)."""
    if name in FORMATS:
        return True
    for prefix in ("qmp_enter_", "qmp_exit_"):
        if name.startswith(prefix):
            return name[len(prefix) :] in commands
    return False


@dataclass(frozen=True)
class Catalogue:
    """QEMU 7.2's trace events: names in walk order, with the vCPU-specific and the unavailable ones."""

    names: tuple[str, ...]
    index: frozenset[str]
    vcpu: frozenset[str]
    unavailable: frozenset[str]

    def matching(self, pattern: str) -> list[str]:
        if not is_pattern(pattern):
            return [pattern] if pattern in self.index else []
        return [n for n in self.names if fnmatch.fnmatchcase(n, pattern)]


@functools.cache
def catalogue() -> Catalogue:
    """Read once per process, when a trace command or option first needs it (read-only data)."""
    raw = document("trace-events.json")
    names = tuple(raw["events"])
    return Catalogue(names, frozenset(names), frozenset(raw["vcpu"]), frozenset(raw["unavailable"]))


def is_pattern(name: str) -> bool:
    """trace_event_is_pattern"""
    return "*" in name or "?" in name


def pointer(obj: object) -> str:
    """How ``%p`` prints ``obj``."""
    return f"0x{id(obj):x}"


def stderr_sink(line: str) -> None:
    sys.stderr.write(line)
    sys.stderr.flush()


def file_sink(path: str) -> Callable[[str], None]:
    """Append to ``path`` (the command line truncated it at start), one write per line, nothing held open."""

    def write(line: str) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)

    return write


class Trace:
    """One VM's trace state: which events are on, and where their lines go."""

    __slots__ = ("_wall", "enabled", "timestamps", "vcpu_on", "write")

    def __init__(
        self,
        write: Callable[[str], None] = stderr_sink,
        timestamps: bool = False,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.enabled: set[str] = set()
        #: vCPU-specific events: which vCPUs have each on
        self.vcpu_on: dict[str, set[int]] = {}
        self.write = write
        self.timestamps = timestamps
        self._wall = wall

    def __call__(self, name: str, *args: Any) -> None:
        """Print ``name``'s line if it is on. Call sites that build costly arguments check
        ``name in trace.enabled`` first."""
        if name in self.enabled:
            text = format_of(name) % args
            if self.timestamps:
                now = self._wall()
                sec = int(now)
                self.write(f"{os.getpid()}@{sec}.{int((now - sec) * 1_000_000):06d}:{name} {text}\n")
            else:
                self.write(f"{name} {text}\n")

    # --- the command line: warnings, never errors --------------------------------------------------

    def enable_option(self, pattern: str, warn: Callable[[str], None], cpus: int = 1) -> None:
        """trace_enable_events: ``-trace PATTERN``, ``-d trace:PATTERN``, an events file's line (a leading
        ``-`` turns the events off)."""
        enable = not pattern.startswith("-")
        name = pattern if enable else pattern[1:]
        cat = catalogue()
        if not is_pattern(name) and name not in cat.index:
            warn(f"trace event '{name}' does not exist")
            return
        self._apply(cat, cat.matching(name), enable, cpus)

    def _apply(
        self, cat: Catalogue, names: Iterable[str], enable: bool, cpus: int = 1, vcpu: int | None = None
    ) -> None:
        """trace_event_set_state_dynamic / _vcpu_state_dynamic: a vCPU event is on per vCPU (all of them
        when no vCPU is named), and reads as on while any vCPU has it."""
        for n in names:
            if n in cat.unavailable or (vcpu is not None and n not in cat.vcpu):
                continue
            if n in cat.vcpu:
                on = self.vcpu_on.setdefault(n, set())
                targets = range(cpus) if vcpu is None else (vcpu,)
                if enable:
                    on.update(targets)
                else:
                    on.difference_update(targets)
                if on:
                    self.enabled.add(n)
                else:
                    self.enabled.discard(n)
                    del self.vcpu_on[n]
            elif enable:
                self.enabled.add(n)
            else:
                self.enabled.discard(n)

    # --- QMP: trace-event-get-state, trace-event-set-state (trace/qmp.c) --------------------------

    def _check(self, cat: Catalogue, name: str, cpus: int, vcpu: int | None, ignore_unavailable: bool) -> list[str]:
        if vcpu is not None and not 0 <= vcpu < cpus:
            raise GenericError(f"invalid vCPU index {vcpu & 0xFFFFFFFF}")
        matches = cat.matching(name)
        if not is_pattern(name):
            if not matches:
                raise GenericError(f'unknown event "{name}"')
            if vcpu is not None and name not in cat.vcpu:
                raise GenericError(f'event "{name}" is not vCPU-specific')
        if not ignore_unavailable:
            for n in matches:
                if n in cat.unavailable:
                    raise GenericError(f'event "{n}" is disabled')
        return matches

    def get_state(self, name: str, cpus: int, vcpu: int | None = None) -> list[dict[str, Any]]:
        cat = catalogue()
        out: list[dict[str, Any]] = []
        for n in self._check(cat, name, cpus, vcpu, True):
            is_vcpu = n in cat.vcpu
            if vcpu is not None and not is_vcpu:
                continue
            if n in cat.unavailable:
                state = "unavailable"
            elif vcpu is not None:
                state = "enabled" if vcpu in self.vcpu_on.get(n, ()) else "disabled"
            else:
                state = "enabled" if n in self.enabled else "disabled"
            out.append({"name": n, "state": state, "vcpu": is_vcpu})
        out.reverse()
        return out

    def set_state(
        self, name: str, enable: bool, cpus: int, ignore_unavailable: bool = False, vcpu: int | None = None
    ) -> None:
        cat = catalogue()
        self._apply(cat, self._check(cat, name, cpus, vcpu, ignore_unavailable), enable, cpus, vcpu)
