"""The dashboard in a real headless chromium: a device hot-added over QMP appears, "eject now" unplugs
it, and DEVICE_DELETED shows on the page and reaches a qemu.qmp client."""

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
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium_binary, headless=True)
                try:
                    page = await browser.new_page()
                    errors: list[str] = []
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                    await page.goto(f"{plane.url}/?token=tok")
                    await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
                    assert await page.inner_text("#status") == "running"
                    assert await page.locator("#devices tbody tr").count() > 0  # the board's own devices

                    with qmp.listener(("DEVICE_DELETED",)) as deleted:
                        await qmp.execute("device_add", {"driver": "e1000", "id": "nic1"})
                        await page.wait_for_selector("#devices tr[data-id='nic1']", timeout=5_000)
                        await qmp.execute("device_del", {"id": "nic1"})
                        button = page.locator("#pending tr[data-id='nic1'] button.eject")
                        await button.wait_for(timeout=5_000)
                        assert "unplug pending" in await page.inner_text("#devices tr[data-id='nic1']")
                        await button.click()
                        event = await asyncio.wait_for(deleted.get(), 5)
                    await page.wait_for_function(
                        "document.getElementById('events').textContent.includes('DEVICE_DELETED')", timeout=5_000
                    )
                    await page.wait_for_selector("#devices tr[data-id='nic1']", state="detached", timeout=5_000)
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
