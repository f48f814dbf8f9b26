"""Differential: vCPU hot(un)plug against QEMU 7.2: topology answers, device_add checks, the legacy and the
modern ACPI CPU hotplug blocks as a guest drives them (qtest port I/O), the eject and DEVICE_DELETED."""

from __future__ import annotations

from tests.oracle import Qtest, Script, Step, WaitEvent, call, differential_tests, script

CPU = "qemu64-x86_64-cpu"
SMP = ["-smp", "1,maxcpus=3,sockets=3,cores=1,threads=1"]


def add(dev_id: str, **ids: int) -> list[Step]:
    return call("device_add", {"driver": CPU, "id": dev_id, **ids})


def regs(base: int) -> list[Step]:
    """The modern block as a guest reads it: flags, command data, command data 2."""
    return [Qtest(f"inb {hex(base + 4)}"), Qtest(f"inl {hex(base + 8)}"), Qtest(f"inl {hex(base)}")]


def flow(machine: str, base: int, gpe: int | None) -> list[Script]:
    extra = SMP
    gpe_read = [Qtest(f"inb {hex(gpe)}")] if gpe is not None else []
    return [
        script(
            f"cpuhp-{machine}-topology-and-checks",
            call("query-hotpluggable-cpus"),
            call("query-cpus-fast"),
            add("c1", **{"socket-id": 1, "core-id": 0, "thread-id": 0}),
            add("c1b", **{"socket-id": 1, "core-id": 0, "thread-id": 0}),
            add("c9", **{"socket-id": 9, "core-id": 0, "thread-id": 0}),
            add("cx"),
            add("cy", **{"socket-id": 2}),
            call("query-cpus-fast"),
            call("query-hotpluggable-cpus"),
            machine=machine,
            extra_args=extra,
        ),
        script(
            f"cpuhp-{machine}-legacy",
            [Qtest(f"inb {hex(base + i)}") for i in range(2)],
            Qtest(f"inl {hex(base)}"),
            add("c2", **{"socket-id": 2, "core-id": 0, "thread-id": 0}),
            Qtest(f"inb {hex(base)}"),
            gpe_read,
            call("device_del", {"id": "c2"}),
            machine=machine,
            extra_args=extra,
        ),
        script(
            f"cpuhp-{machine}-modern-unplug",
            Qtest(f"outb {hex(base)} 0x0"),
            regs(base),
            Qtest(f"inb {hex(base + 12)}"),
            add("c1", **{"socket-id": 1, "core-id": 0, "thread-id": 0}),
            gpe_read,
            Qtest(f"outb {hex(base + 5)} 0x0"),
            regs(base),
            Qtest(f"outb {hex(base + 4)} 0x2"),
            regs(base),
            call("device_del", {"id": "c1"}),
            Qtest(f"outl {hex(base)} 0x7"),
            regs(base),
            Qtest(f"outl {hex(base)} 0x0"),
            Qtest(f"outb {hex(base + 5)} 0x0"),
            regs(base),
            Qtest(f"outb {hex(base + 5)} 0x3"),
            regs(base),
            Qtest(f"outb {hex(base + 4)} 0x4"),
            Qtest(f"outl {hex(base)} 0x0"),
            Qtest(f"outb {hex(base + 4)} 0x8"),
            Qtest(f"outl {hex(base)} 0x1"),
            Qtest(f"outb {hex(base + 4)} 0x8"),
            # QEMU under qtest sends the local APIC's DEVICE_DELETED, but never finalizes the CPU itself (its
            # qtest vCPU thread does not end): the script stops at the first event
            WaitEvent("DEVICE_DELETED"),
            machine=machine,
            extra_args=extra,
        ),
    ]


def boot_cpus(machine: str) -> Script:
    """Boot CPUs past the first: their qom-paths in query-cpus-fast and query-hotpluggable-cpus (device[0],
    then device[2]...: device[1] is the first CPU's kvmvapic), and a hot-added one beside them."""
    return script(
        f"cpuhp-{machine}-boot-cpus",
        call("query-cpus-fast"),
        call("query-hotpluggable-cpus"),
        add("c3", **{"socket-id": 3, "core-id": 0, "thread-id": 0}),
        call("query-cpus-fast"),
        machine=machine,
        extra_args=["-smp", "3,maxcpus=4,sockets=4,cores=1,threads=1"],
    )


SCRIPTS: list[Script] = [
    *flow("pc", 0xAF00, 0xAFE0),
    *flow("q35", 0x0CD8, None),
    boot_cpus("pc"),
    boot_cpus("q35"),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
