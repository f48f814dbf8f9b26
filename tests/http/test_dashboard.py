"""The dashboard in a real headless chromium: the traffic before the page was opened is shown, the guest
policy control shows the VM's policy, a device hot-added over QMP appears, its unplug is drawn as a
timeline with the pending step highlighted, "eject now" unplugs it, and DEVICE_DELETED shows on the page
(the timeline completes) and reaches a qemu.qmp client. Screenshots of the timeline, pending and complete,
are kept in the test's tmp_path. The vCPU and DIMM tables show a hot-plugged vCPU and DIMM and their
pending unplugs; "eject now" of the DIMM goes through the memory hotplug block to DEVICE_DELETED; the power
section shows the run state and drives the power policy and the power button (ignored: POWERDOWN only);
the agent section switches the agent to absent (its port closes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from playwright.async_api import Page, async_playwright
from qemu.qmp import QMPClient

from fakeqemu.machine.cpus import Topology
from tests.http.plane import running, vm_config
from tests.integration.procs import in_asyncio


@asynccontextmanager
async def dashboard(chromium_binary: str, url: str) -> AsyncIterator[Page]:
    """The dashboard at ``url`` in a headless chromium, once its script has shown the first VM; on a normal
    exit, no error was thrown in the page."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_binary, headless=True)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(url)
            await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
            yield page
            assert errors == []
        finally:
            await browser.close()


async def test_dashboard_shows_hotplug_and_ejects(tmp_path: Path, chromium_binary: str) -> None:
    async with running([vm_config(tmp_path, guest="never")], token="tok") as plane:

        async def scenario() -> dict[str, Any]:
            qmp = QMPClient("dashboard-test")
            await qmp.connect(plane.qmp)
            await qmp.execute("query-name")  # before the page opens: shown from the history
            try:
                async with dashboard(chromium_binary, f"{plane.url}/?token=tok") as page:
                    assert await page.inner_text("#status") == "running"
                    assert "query-name" in await page.inner_text("#log")
                    assert await page.input_value("#newpolicy") == "never"
                    assert await page.inner_text("#tlwaiting") == "no hot-plug or unplug yet"
                    assert await page.locator("#devices tbody tr").count() > 0  # the board's own devices

                    with qmp.listener(("DEVICE_DELETED",)) as deleted:
                        await qmp.execute("device_add", {"driver": "e1000", "id": "nic1"})
                        await page.wait_for_selector("#devices tr[data-id='nic1']", timeout=5_000)
                        await qmp.execute("device_del", {"id": "nic1"})
                        button = page.locator("#pending tr[data-id='nic1'] button.eject")
                        await button.wait_for(timeout=5_000)
                        assert "unplug pending" in await page.inner_text("#devices tr[data-id='nic1']")
                        pending = page.locator("#timeline .step.pending[data-step='waiting']")
                        await pending.wait_for(timeout=5_000)
                        assert await page.input_value("#tldevice") == "nic1"
                        assert "waiting for the guest to write the eject register" in await pending.inner_text()
                        steps = await page.locator("#timeline .step").evaluate_all(
                            "rows => rows.map(r => r.dataset.step)"
                        )
                        assert steps == ["plugged", "unplug requested", "waiting"]
                        await page.screenshot(path=str(tmp_path / "timeline-pending.png"), full_page=True)
                        await button.click()
                        event = await asyncio.wait_for(deleted.get(), 5)
                    await page.wait_for_function(
                        "document.getElementById('events').textContent.includes('DEVICE_DELETED')", timeout=5_000
                    )
                    await page.wait_for_selector("#devices tr[data-id='nic1']", state="detached", timeout=5_000)
                    await page.wait_for_selector("#timeline .step[data-step='DEVICE_DELETED']", timeout=5_000)
                    assert await page.inner_text("#tlwaiting") == "complete"
                    assert await page.locator("#timeline .step.pending").count() == 0
                    await page.screenshot(path=str(tmp_path / "timeline-complete.png"), full_page=True)
                    log = await page.inner_text("#log")
                    assert '"execute":"device_del"' in log.replace(" ", "")
                    assert "guest eject nic1" in log
                    assert await page.locator("#pending tbody tr").count() == 0
                    return cast(dict[str, Any], event["data"])
            finally:
                await qmp.disconnect()

        assert await in_asyncio(scenario, limit=60) == {"device": "nic1", "path": "/machine/peripheral/nic1"}


async def test_dashboard_shows_vcpus_dimms_and_power(tmp_path: Path, chromium_binary: str) -> None:
    topo = Topology.parse({"cpus": "1", "maxcpus": "2"})
    memory: dict[str, Any] = {"memory_mb": 128, "ram_slots": 2, "maxmem": 1 << 30}
    agent: dict[str, Any] = {"agent_port": "channel0", "agent_chardev": "charchannel0"}
    config = vm_config(tmp_path, topology=topo, smp=1, guest="never", **memory, **agent)
    async with running([config]) as plane:

        async def scenario() -> dict[str, Any]:
            qmp = QMPClient("dashboard-test")
            await qmp.connect(plane.qmp)
            cpu = {"driver": "qemu64-x86_64-cpu", "id": "c1", "socket-id": 1, "core-id": 0, "thread-id": 0}
            await qmp.execute("device_add", cpu)
            await qmp.execute("object-add", {"qom-type": "memory-backend-ram", "id": "m0", "size": 128 << 20})
            await qmp.execute("device_add", {"driver": "pc-dimm", "id": "d0", "memdev": "m0"})
            try:
                async with dashboard(chromium_binary, plane.url) as page:
                    rows = await page.locator("#vcpus tbody tr").evaluate_all(
                        "rows => rows.map(r => [...r.cells].slice(0, 4).map(c => c.textContent))"
                    )
                    assert rows == [["0", "/machine/unattached/device[0]", "0/0/0", ""],
                                    ["1", "/machine/peripheral/c1", "1/0/0", ""]]  # fmt: skip
                    dimm = page.locator("#dimms tr[data-id='d0']")
                    cells = "cells => cells.slice(0, 6).map(c => c.textContent)"
                    assert await dimm.locator("td").evaluate_all(cells) == [
                        "d0", "0", "0x100000000", "128 MiB", "/objects/m0", ""
                    ]  # fmt: skip
                    assert await page.inner_text("#runstate") == "running"
                    assert await page.inner_text("#power") == "prompt"
                    assert await page.is_visible("#agent") and await page.is_hidden("#noagent")
                    assert await page.inner_text("#agentpolicy") == "running"
                    assert await page.inner_text("#agentinfo") == "port channel0 open"
                    await page.select_option("#newagent", "absent")
                    await page.click("#setagent")
                    await page.wait_for_function("document.getElementById('agentinfo').textContent.endsWith('closed')")
                    assert await page.inner_text("#agentpolicy") == "absent"

                    await page.select_option("#newpower", "ignore")
                    await page.click("#setpower")
                    await page.wait_for_function("document.getElementById('power').textContent === 'ignore'")
                    assert plane.vms[0].machine.guest.power == "ignore"
                    await page.click("#powerbutton")  # the guest ignores it: POWERDOWN, still running
                    await page.wait_for_function(
                        "document.getElementById('events').textContent.includes('POWERDOWN')", timeout=5_000
                    )
                    assert await page.inner_text("#runstate") == "running"

                    with qmp.listener(("DEVICE_DELETED",)) as deleted:
                        await qmp.execute("device_del", {"id": "c1"})
                        await qmp.execute("device_del", {"id": "d0"})
                        await page.wait_for_selector("#vcpus tr[data-id='/machine/peripheral/c1'] button.eject")
                        assert "unplug pending" in await page.inner_text("#vcpus tr[data-id='/machine/peripheral/c1']")
                        button = page.locator("#dimms tr[data-id='d0'] button.eject")
                        await button.wait_for(timeout=5_000)
                        assert "unplug pending" in await dimm.inner_text()
                        await page.screenshot(path=str(tmp_path / "vcpus-dimms-pending.png"), full_page=True)
                        await button.click()
                        event = await asyncio.wait_for(deleted.get(), 5)
                    await dimm.wait_for(state="detached", timeout=5_000)
                    assert await page.locator("#vcpus tbody tr").count() == 2  # c1 still waits for the guest
                    assert "guest eject d0 (dimm slot 0)" in await page.inner_text("#log")
                    return cast(dict[str, Any], event["data"])
            finally:
                await qmp.disconnect()

        assert await in_asyncio(scenario, limit=60) == {"device": "d0", "path": "/machine/peripheral/d0"}
