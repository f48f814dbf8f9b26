"""The dashboard in a real headless chromium: the traffic before the page was opened is shown, the guest
policy control shows the VM's policy, a device hot-added over QMP appears, its unplug is drawn as a
timeline with the pending step highlighted, "eject now" unplugs it, and DEVICE_DELETED shows on the page
(the timeline completes) and reaches a qemu.qmp client. Screenshots of the timeline, pending and complete,
are kept in the test's tmp_path."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from playwright.async_api import async_playwright
from qemu.qmp import QMPClient

from tests.http.plane import running, vm_config
from tests.integration.procs import in_asyncio


async def test_dashboard_shows_hotplug_and_ejects(tmp_path: Path, chromium_binary: str) -> None:
    async with running([vm_config(tmp_path, guest="never")], token="tok") as plane:

        async def scenario() -> dict[str, Any]:
            qmp = QMPClient("dashboard-test")
            await qmp.connect(plane.qmp)
            await qmp.execute("query-name")  # before the page opens: shown from the history
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium_binary, headless=True)
                try:
                    page = await browser.new_page()
                    errors: list[str] = []
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                    await page.goto(f"{plane.url}/?token=tok")
                    await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
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
                    assert errors == []
                    return cast(dict[str, Any], event["data"])
                finally:
                    await browser.close()
                    await qmp.disconnect()

        assert await in_asyncio(scenario, limit=60) == {"device": "nic1", "path": "/machine/peripheral/nic1"}
