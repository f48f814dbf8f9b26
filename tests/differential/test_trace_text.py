"""Differential: QEMU's trace events as Debian's QEMU 7.2 prints them (log backend), line for line on the
unplug scripts (qtest eject, HMP eject, reset with a pending unplug, a q35 root port with its bsel), and the
trace commands (QMP trace-event-get/set-state, HMP trace-event, info trace-events) with their errors.

Trace lines are compared after the process has exited (oracle.Stderr): thread ids, times and pointers
differ between any two runs and are normalised; the events fakeqemu does not emit are never enabled here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.differential.test_cpuhp import SMP, add, regs
from tests.oracle import (
    Expect,
    Gather,
    Qtest,
    Script,
    Send,
    Signal,
    Stderr,
    Sync,
    WaitEvent,
    WaitExit,
    call,
    cmd,
    differential_tests,
    fakeqemu_target,
    script,
)
from tools.launch import Emulator

MONITOR = ["-trace", "qmp_*", "-trace", "monitor_qmp*", "-trace", "handle_qmp_command"]
PCIHP = ["-trace", "acpi_pci*"]


def hmp(line: str) -> list:  # type: ignore[type-arg]
    return call("human-monitor-command", {"command-line": line})


def end() -> list:  # type: ignore[type-arg]
    return [Signal(), WaitExit(), Stderr()]


SCRIPTS: list[Script] = [
    script(
        "trace-qtest-eject",
        call("device_add", {"driver": "virtio-net-pci", "id": "vnic01", "addr": "0x4"}),
        call("device_del", {"id": "vnic01"}, id="del-1"),
        [Qtest(f"inl {hex(p)}") for p in (0xAE00, 0xAE04, 0xAE08, 0xAE0C, 0xAE10, 0xAE14)],
        Qtest("outl 0xae14 0x10"),
        Qtest("outl 0xae08 0x10"),
        WaitEvent("DEVICE_DELETED", device="vnic01"),
        call("device_del", {"id": "nope"}),
        call("query-status", id={"a": [1, 2]}),
        call("qmp_capabilities"),
        call("qmp_capabilities", {"enable": ["bogus"]}),
        call("no-such-command"),
        end(),
        extra_args=[*PCIHP, *MONITOR],
    ),
    script(
        "trace-hmp-eject-timestamps",
        call("device_add", {"driver": "e1000", "id": "nic1", "addr": "0x5"}),
        call("device_del", {"id": "nic1"}),
        hmp("i/w 0xae04"),
        hmp("o/w 0xae10 0xffffffff"),
        hmp("o/w 0xae08 0x20"),
        hmp("o/w 0xae10 0x0"),
        hmp("o/w 0xae08 0x20"),
        WaitEvent("DEVICE_DELETED", device="nic1"),
        end(),
        extra_args=["-msg", "timestamp=on", "-d", "trace:acpi_pci*,guest_errors", "-trace", "handle_hmp_command"],
    ),
    script(
        "trace-reset-with-pending-unplug",
        call("device_add", {"driver": "virtio-blk-pci", "id": "blk0", "addr": "0x6", "drive": "d0"}),
        call("device_del", {"id": "blk0"}),
        Send(cmd("system_reset")),
        Expect(1),  # RESET
        Gather(3),  # the reply races the two DEVICE_DELETED of the removal the reset completes
        Sync(),
        end(),
        extra_args=[*PCIHP, "-blockdev", "driver=null-co,node-name=d0"],
    ),
    script(
        "trace-q35-root-port",
        call("device_add", {"driver": "virtio-net-pci", "id": "net0", "bus": "rp1"}),
        call("device_del", {"id": "net0"}),
        Qtest("outl 0xcd0 0x1"),
        [Qtest(f"inl {hex(p)}") for p in (0xCC0, 0xCC4, 0xCCC, 0xCD0)],
        Qtest("outl 0xcd0 0x0"),
        [Qtest(f"inl {hex(p)}") for p in (0xCC0, 0xCC4, 0xCCC, 0xCD0)],
        Qtest("outl 0xcc8 0x1"),
        WaitEvent("DEVICE_DELETED", device="net0"),
        end(),
        machine="q35",
        extra_args=[*PCIHP, "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x3"],
    ),
    script(
        "trace-cpuhp-modern-unplug",
        Qtest("outb 0xaf00 0x0"),  # the guest's ACPI switches to the modern block
        regs(0xAF00),
        add("c1", **{"socket-id": 1, "core-id": 0, "thread-id": 0}),
        Qtest("outb 0xaf05 0x0"),
        regs(0xAF00),
        Qtest("outb 0xaf04 0x2"),
        call("device_del", {"id": "c1"}),
        Qtest("outl 0xaf00 0x7"),
        Qtest("outb 0xaf04 0x4"),
        Qtest("outl 0xaf00 0x0"),
        Qtest("outb 0xaf05 0x0"),
        Qtest("outb 0xaf05 0x3"),
        regs(0xAF00),
        Qtest("outb 0xaf04 0x4"),
        Qtest("outb 0xaf04 0x10"),
        Qtest("outb 0xaf04 0x8"),
        Qtest("outl 0xaf00 0x1"),
        Qtest("outb 0xaf05 0x1"),
        Qtest("outl 0xaf08 0x103"),
        Qtest("outb 0xaf04 0x8"),
        WaitEvent("DEVICE_DELETED"),  # the local APIC's (see test_cpuhp)
        end(),
        extra_args=[*SMP, "-trace", "cpuhp*"],
    ),
    script(
        "trace-state-commands",
        call("trace-event-get-state", {"name": "acpi_pci_u*"}),
        call("trace-event-get-state", {"name": "nonexist"}),
        call("trace-event-get-state", {"name": "nonexist*"}),
        call("trace-event-set-state", {"name": "acpi_pci_up_read", "enable": True}),
        call("trace-event-get-state", {"name": "acpi_pci_u*"}),
        call("trace-event-set-state", {"name": "nonexist", "enable": True}),
        call("trace-event-set-state", {"name": "qxl_io_write_vga", "enable": True}),
        call("trace-event-set-state", {"name": "qxl*", "enable": True}),
        call("trace-event-set-state", {"name": "qxl*", "enable": True, "ignore-unavailable": True}),
        call("trace-event-get-state", {"name": "qxl_*"}),
        call("trace-event-get-state", {"name": "acpi_pci_up_read", "vcpu": 0}),
        call("trace-event-get-state", {"name": "acpi_pci_up_read", "vcpu": 1}),
        call("trace-event-get-state", {"name": "acpi_pci_up_read", "vcpu": -1}),
        call("trace-event-set-state", {"name": "guest_cpu_reset", "enable": True, "vcpu": 0}),
        call("trace-event-get-state", {"name": "guest_cpu*"}),
        # a vCPU's own state follows on its thread once it runs (racy in QEMU): not compared
        call("trace-event-get-state", {"name": 1}),
        call("trace-event-set-state", {"name": "acpi*"}),
        hmp("trace-event"),
        hmp("trace-event acpi_pci_d* on"),
        hmp("trace-event acpi_pci_down_read maybe"),
        hmp("trace-event nonexist on"),
        hmp("trace-event qxl_io_write_vga on"),
        hmp("trace-event acpi_pci_up_read on 0"),
        hmp("info trace-events acpi_pci_*"),
        hmp("info trace-events nomatch*"),
        hmp("info trace-events nomatch"),
        hmp("info trace-events qxl_io_write_vga"),
        call("trace-event-get-state", {"name": "acpi_pci_*"}),
        end(),
        extra_args=[
            "-trace",
            "nonexist",
            "-trace",
            "enable=nomatch*",
            "-d",
            "trace:nope",
            "-trace",
            "-acpi_pci_rmv_read",
        ],
    ),
]


@pytest.mark.qemu
@pytest.mark.parametrize(
    "args",
    [
        ["-trace", "enable=foo,bar=1"],
        ["-trace", "events=/nonexistent/events"],
        ["-trace", "file=/nonexistent/dir/log"],
        ["-D", "/nonexistent/dir/log"],
        ["-d", "foo"],
        ["-d", "help"],
        ["-d", "trace:acpi_pci_up_read,bogus"],
        ["-msg", "timestamp=maybe"],
        ["-msg", "foo=on"],
    ],
    ids=" ".join,
)
def test_refused_like_qemu(qemu_binary: str, args: list[str]) -> None:
    """Options QEMU refuses at start: the same output, stream and exit status."""

    def run(argv: list[str]) -> tuple[int, bytes, bytes]:
        proc = subprocess.run([*argv, "-M", "none", "-display", "none", *args], capture_output=True, timeout=60)
        return proc.returncode, proc.stdout, proc.stderr

    assert run(list(fakeqemu_target().argv)) == run([qemu_binary])


def test_events_file(tmp_path: Path) -> None:
    """-trace events=FILE: one pattern a line, comments skipped, a leading - switches off, unknown names
    warned about with the file and line; -trace file= receives the lines."""
    events = tmp_path / "events"
    events.write_text("# the pcihp block\nacpi_pci_*\n\n-acpi_pci_rmv_read\nno_such_event\n")
    log = tmp_path / "log"
    with Emulator() as emu:
        qmp_path = emu.path("qmp")
        emu.start([*fakeqemu_target().argv, "-M", "pc", "-display", "none", "-S",
                   "-qmp", f"unix:{qmp_path},server=on,wait=off", "-trace", f"events={events},file={log}"])  # fmt: skip
        sock = emu.connect("qmp")
        with sock, sock.makefile("rwb") as f:
            f.readline()
            for msg in (b'{"execute":"qmp_capabilities"}', b'{"execute":"human-monitor-command","arguments":'
                        b'{"command-line":"i/w 0xae0c"}}', b'{"execute":"human-monitor-command","arguments":'
                        b'{"command-line":"i/w 0xae04"}}'):  # fmt: skip
                f.write(msg)
                f.flush()
                assert b"return" in f.readline()
        assert emu.proc is not None
        emu.proc.terminate()
        emu.proc.wait()
        assert f"qemu-system-x86_64:{events}:5: warning: trace event 'no_such_event' does not exist" in emu.stderr()
    assert log.read_text() == "acpi_pci_down_read 0\n"


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
