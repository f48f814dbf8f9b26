"""An orchestrator's view of DIMM hot(un)plug through qemu.qmp, as libvirt's attach-device/detach-device of
a <memory model='dimm'> drives it: object-add of a memory-backend-ram, device_add pc-dimm, device_del, then
wait for DEVICE_DELETED and object-del of the backend. The guest model decides whether the eject comes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient

from tests.integration.procs import fakeqemu, in_asyncio
from tests.integration.test_unplug_flow import connect, deleted_once_answered, wait_deleted

MEM = ["-m", "128M,slots=4,maxmem=2G"]
SIZE = 256 << 20


async def plug_dimm(c: QMPClient, dev_id: str) -> None:
    await c.execute("object-add", {"qom-type": "memory-backend-ram", "id": f"mem{dev_id}", "size": SIZE})
    await c.execute("device_add", {"driver": "pc-dimm", "node": 0, "memdev": f"mem{dev_id}", "id": dev_id})


async def sizes(c: QMPClient) -> tuple[int, list[Any]]:
    summary: Any = await c.execute("query-memory-size-summary")
    devices: Any = await c.execute("query-memory-devices")
    return summary["plugged-memory"], devices


async def test_default_guest_onlines_and_ejects(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, *MEM) as proc:

        async def scenario() -> tuple[tuple[int, list[Any]], list[Any], tuple[int, list[Any]]]:
            c = await connect(proc.sockets[0])
            try:
                with c.listener() as listener:
                    await c.execute("cont")
                    await plug_dimm(c, "dimm0")
                    plugged = await sizes(c)
                    await c.execute("device_del", {"id": "dimm0"})
                    seen = await wait_deleted(c, listener, "dimm0", 5.0)
                    after = await sizes(c)
                    await c.execute("object-del", {"id": "memdimm0"})  # free again once the DIMM is gone
                return plugged, seen, after
            finally:
                await c.disconnect()

        plugged, seen, after = await in_asyncio(scenario)
        assert plugged[0] == SIZE and plugged[1][0]["data"]["slot"] == 0 and plugged[1][0]["data"]["addr"] == 1 << 32
        assert seen == [{"device": "dimm0", "path": "/machine/peripheral/dimm0"}]
        assert after == (0, [])


async def test_never_guest_times_out_until_the_eject_is_injected(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, *MEM, "-fakeqemu", "guest=never") as proc:

        async def scenario() -> tuple[bool, int, str, list[Any], int]:
            c = await connect(proc.sockets[0])
            try:
                with c.listener() as listener:
                    await c.execute("cont")
                    await plug_dimm(c, "dimm0")
                    await c.execute("device_del", {"id": "dimm0"})
                    timed_out = not await deleted_once_answered(c, listener, "dimm0")
                    still = (await sizes(c))[0]
                    try:
                        await c.execute("object-del", {"id": "memdimm0"})
                        refused = ""
                    except Exception as exc:  # the backend is in use while the DIMM stays
                        refused = str(exc)
                    await c.execute("x-fakeqemu-eject", {"id": "dimm0"})
                    seen = await wait_deleted(c, listener, "dimm0", 5.0)
                    left = (await sizes(c))[0]
                return timed_out, still, refused, seen, left
            finally:
                await c.disconnect()

        timed_out, still, refused, seen, left = await in_asyncio(scenario)
        assert timed_out and still == SIZE
        assert refused == "object 'memdimm0' is in use, can not be deleted"
        assert seen == [{"device": "dimm0", "path": "/machine/peripheral/dimm0"}] and left == 0
