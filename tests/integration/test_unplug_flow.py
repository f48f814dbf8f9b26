"""An orchestrator's view of unplug, through qemu.qmp as libvirt-style code uses it: device_del, then wait
for DEVICE_DELETED with a timeout. The fake guest decides whether and when the eject happens."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

from qemu.qmp import QMPClient

from tests.integration.procs import fakeqemu, in_asyncio


async def wait_deleted(client: QMPClient, listener: Any, device: str, limit: float) -> list[dict[str, Any]]:
    """Every DEVICE_DELETED up to the one for ``device`` (TimeoutError if it does not come)."""
    seen: list[dict[str, Any]] = []

    async def collect() -> None:
        while True:
            event = await listener.get()
            if event["event"] == "DEVICE_DELETED":
                seen.append(event["data"])
                if event["data"].get("device") == device:
                    return

    await asyncio.wait_for(collect(), limit)
    return seen


async def deleted_once_answered(client: QMPClient, listener: Any, device: str) -> bool:
    """Whether DEVICE_DELETED for ``device`` has come once the guest has answered the hotplug GPE (its
    handler runs on the next tick: x-fakeqemu-query-guest's sci-pending goes false; a CPU's GPE is answered
    at once). Under guest never or refuse nothing is left to come after that: no eject, no finalize timer."""
    async with asyncio.timeout(10.0):
        while cast(dict[str, Any], await client.execute("x-fakeqemu-query-guest"))["sci-pending"]:
            pass  # each query is a round trip: the guest's tick comes between two of them
    return any(e["event"] == "DEVICE_DELETED" and e["data"].get("device") == device for e in listener.clear())


async def unplug_requested(client: QMPClient) -> None:
    """What an orchestrator does: run the VM, hot-add a NIC, ask for its removal."""
    await client.execute("cont")
    await client.execute("device_add", {"driver": "virtio-net-pci", "id": "net0"})
    await client.execute("device_del", {"id": "net0"})


async def connect(path: str) -> QMPClient:
    client = QMPClient(path)
    await client.connect(path)
    return client


def devices(reply: Any) -> list[str]:
    return [p["name"] for p in reply if p["type"].startswith("child<")]


BOTH = [
    {"path": "/machine/peripheral/net0/virtio-backend"},
    {"device": "net0", "path": "/machine/peripheral/net0"},
]


async def test_prompt_guest_completes_the_unplug_and_every_client_sees_it(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, monitors=2) as proc:

        async def scenario() -> tuple[list[Any], list[Any], list[str]]:
            a, b = await connect(proc.sockets[0]), await connect(proc.sockets[1])
            try:
                with a.listener() as la, b.listener() as lb:
                    await a.execute("cont")
                    await a.execute("device_add", {"driver": "virtio-net-pci", "id": "net0"})
                    await a.execute("device_del", {"id": "net0"})
                    seen_a = await wait_deleted(a, la, "net0", 20.0)
                    seen_b = await wait_deleted(b, lb, "net0", 5.0)
                    left = devices(await b.execute("qom-list", {"path": "/machine/peripheral"}))
                return seen_a, seen_b, left
            finally:
                await a.disconnect()
                await b.disconnect()

        seen_a, seen_b, left = await in_asyncio(scenario, limit=30)
        assert seen_a == BOTH and seen_b == BOTH
        assert left == []


async def test_never_guest_times_out_until_the_eject_is_injected(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, "-fakeqemu", "guest=never") as proc:

        async def scenario() -> tuple[bool, list[str], list[Any], list[str]]:
            c = await connect(proc.sockets[0])
            try:
                with c.listener() as listener:
                    await unplug_requested(c)
                    timed_out = not await deleted_once_answered(c, listener, "net0")
                    still = devices(await c.execute("qom-list", {"path": "/machine/peripheral"}))
                    await c.execute("x-fakeqemu-eject", {"id": "net0"})
                    seen = await wait_deleted(c, listener, "net0", 5.0)
                    left = devices(await c.execute("qom-list", {"path": "/machine/peripheral"}))
                return timed_out, still, seen, left
            finally:
                await c.disconnect()

        timed_out, still, seen, left = await in_asyncio(scenario)
        assert timed_out and still == ["net0"]
        assert seen == BOTH and left == []


async def test_policy_switched_while_running_answers_the_pending_request(tmp_path: Path) -> None:
    with fakeqemu(tmp_path, "-fakeqemu", "guest=refuse") as proc:

        async def scenario() -> tuple[bool, list[Any], float]:
            c = await connect(proc.sockets[0])
            try:
                with c.listener() as listener:
                    await unplug_requested(c)
                    refused = not await deleted_once_answered(c, listener, "net0")
                    start = time.monotonic()
                    await c.execute("x-fakeqemu-guest-policy", {"policy": "delay:200"})
                    seen = await wait_deleted(c, listener, "net0", 5.0)
                return refused, seen, time.monotonic() - start
            finally:
                await c.disconnect()

        refused, seen, took = await in_asyncio(scenario)
        assert refused and seen == BOTH
        assert took >= 0.2
