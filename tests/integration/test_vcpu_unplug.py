"""An orchestrator's view of vCPU hot(un)plug through qemu.qmp, as libvirt's setvcpus --live drives it:
query-hotpluggable-cpus, device_add of the free slot's type and props, query-cpus-fast for the new vCPU's
thread, device_del, then wait for DEVICE_DELETED. The guest model decides whether the eject comes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient

from tests.integration.procs import fakeqemu, in_asyncio
from tests.integration.test_unplug_flow import connect, deleted_once_answered, wait_deleted
from tools.launch import threads_exit

SMP = ["-smp", "1,maxcpus=4,sockets=2,cores=2,threads=1"]


async def q(c: QMPClient, command: str, args: dict[str, Any] | None = None) -> Any:
    return await c.execute(command, args)


async def plug_next_vcpu(c: QMPClient, dev_id: str) -> dict[str, Any]:
    """What libvirt does: the first free slot of query-hotpluggable-cpus, plugged with its own props."""
    slots = await q(c, "query-hotpluggable-cpus")
    free = [s for s in slots if "qom-path" not in s]
    slot = free[-1]  # QEMU lists the last possible CPU first
    await c.execute("device_add", {"driver": slot["type"], "id": dev_id, **slot["props"]})
    cpus = await q(c, "query-cpus-fast")
    return next(cpu for cpu in cpus if cpu["qom-path"] == f"/machine/peripheral/{dev_id}")


def has_thread(pid: int, tid: int) -> bool:
    return os.path.exists(f"/proc/{pid}/task/{tid}")


async def unplug_requested(c: QMPClient) -> dict[str, Any]:
    """Run the VM, plug a vCPU, ask for its removal; the vCPU as query-cpus-fast showed it."""
    await c.execute("cont")
    cpu = await plug_next_vcpu(c, "vcpu1")
    await c.execute("device_del", {"id": "vcpu1"})
    return cpu


async def test_default_guest_onlines_and_ejects(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, *SMP) as proc:
        pid = proc.popen.pid

        async def scenario() -> tuple[dict[str, Any], bool, list[Any], int, int, bool]:
            c = await connect(proc.sockets[0])
            try:
                with c.listener() as listener:
                    await c.execute("cont")
                    cpu = await plug_next_vcpu(c, "vcpu1")
                    thread = has_thread(pid, cpu["thread-id"])  # a real thread of fakeqemu
                    await c.execute("device_del", {"id": "vcpu1"})
                    seen = await wait_deleted(c, listener, "vcpu1", 5.0)
                    left = len(await q(c, "query-cpus-fast"))
                    slots = sum("qom-path" in s for s in await q(c, "query-hotpluggable-cpus"))
                    gone = threads_exit(pid, [cpu["thread-id"]])
                return cpu, thread, seen, left, slots, gone
            finally:
                await c.disconnect()

        cpu, thread, seen, left, slots, gone = await in_asyncio(scenario)
        assert cpu["props"] == {"socket-id": 0, "core-id": 1, "thread-id": 0} and cpu["cpu-index"] == 1
        assert cpu["thread-id"] != pid and thread and gone
        assert seen == [
            {"path": "/machine/peripheral/vcpu1/lapic"},
            {"device": "vcpu1", "path": "/machine/peripheral/vcpu1"},
        ]
        assert left == 1 and slots == 1


async def test_never_guest_times_out_until_the_eject_is_injected(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, *SMP, "-fakeqemu", "guest=never") as proc:

        async def scenario() -> tuple[bool, int, list[Any], int]:
            c = await connect(proc.sockets[0])
            try:
                with c.listener() as listener:
                    await unplug_requested(c)
                    timed_out = not await deleted_once_answered(c, listener, "vcpu1")
                    still = len(await q(c, "query-cpus-fast"))
                    await c.execute("x-fakeqemu-eject", {"id": "vcpu1"})
                    seen = await wait_deleted(c, listener, "vcpu1", 5.0)
                    left = len(await q(c, "query-cpus-fast"))
                return timed_out, still, seen, left
            finally:
                await c.disconnect()

        timed_out, still, seen, left = await in_asyncio(scenario)
        assert timed_out and still == 2
        assert seen[-1] == {"device": "vcpu1", "path": "/machine/peripheral/vcpu1"} and left == 1


async def test_eject_through_hmp_port_writes(tmp_path: Path) -> None:
    """QEMU's own way to play the guest: select the CPU in the modern block, write its eject flag."""
    with fakeqemu(tmp_path, *SMP, "-fakeqemu", "guest=never") as proc:

        async def scenario() -> list[Any]:
            c = await connect(proc.sockets[0])
            try:
                with c.listener() as listener:
                    await unplug_requested(c)
                    for line in ("o/w 0xaf00 1", "o/b 0xaf04 8"):
                        await c.execute("human-monitor-command", {"command-line": line})
                    return await wait_deleted(c, listener, "vcpu1", 5.0)
            finally:
                await c.disconnect()

        seen = await in_asyncio(scenario)
        assert seen[-1]["device"] == "vcpu1"
