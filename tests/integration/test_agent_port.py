"""The guest agent through the real binary: libvirt's command line (a virtserialport named
org.qemu.guest_agent.0 on a socket chardev), VSERPORT_CHANGE and query-chardev's frontend-open as QEMU
reports them, the agent answering on the chardev, and its state switched live over QMP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient

from tests.integration.procs import Raw, fakeqemu, in_asyncio, wait_for_socket


def agent_args(path: Path) -> list[str]:
    return [
        "-chardev", f"socket,id=charchannel0,path={path},server=on,wait=off",
        "-device", '{"driver":"virtio-serial-pci","id":"virtio-serial0"}',
        "-device", '{"driver":"virtserialport","bus":"virtio-serial0.0","nr":1,"chardev":"charchannel0",'
        '"id":"channel0","name":"org.qemu.guest_agent.0"}',
    ]  # fmt: skip


def frontend_open(chardevs: Any) -> bool:
    return bool(next(c for c in chardevs if c["label"] == "charchannel0")["frontend-open"])


async def test_agent_port_opens_answers_and_follows_its_policy(tmp_path: Path) -> None:
    ga = tmp_path / "ga.sock"
    with fakeqemu(tmp_path, *agent_args(ga)) as proc:
        wait_for_socket(str(ga), proc.popen)

        async def scenario() -> dict[str, Any]:
            seen: dict[str, Any] = {}
            client = QMPClient("t")
            await client.connect(proc.sockets[0])
            try:
                with client.listener("VSERPORT_CHANGE") as changes:
                    seen["before"] = frontend_open(await client.execute("query-chardev"))
                    await client.execute("cont")
                    seen["opened"] = (await changes.get())["data"]
                    seen["after"] = frontend_open(await client.execute("query-chardev"))
                    agent = Raw(str(ga), eol=b"\n")
                    try:
                        seen["sync"] = agent.cmd(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":42}}')
                        seen["parse-error"] = seen["sync"]
                        seen["sync2"] = agent.line()
                        await client.execute("x-fakeqemu-agent", {"policy": "absent"})
                        seen["closed"] = (await changes.get())["data"]
                        seen["absent"] = frontend_open(await client.execute("query-chardev"))
                        agent.send(b'{"execute":"guest-ping"}')
                        state = await client.execute("x-fakeqemu-agent", {"policy": "running"})
                        seen["state"] = state
                        seen["reopened"] = (await changes.get())["data"]
                        seen["late-ping"] = agent.line()
                    finally:
                        agent.close()
            finally:
                await client.disconnect()
            return seen

        seen = await in_asyncio(scenario)
    assert seen["before"] is False and seen["after"] is True
    assert seen["opened"] == {"id": "channel0", "open": True}
    assert seen["parse-error"] == b'{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}'
    assert seen["sync2"] == b'\xff{"return": 42}'
    assert seen["closed"] == {"id": "channel0", "open": False} and seen["absent"] is False
    assert seen["state"]["policy"] == "running" and seen["state"]["open"] is True
    assert seen["reopened"] == {"id": "channel0", "open": True}
    assert seen["late-ping"] == b'{"return": {}}'  # the input waited in the closed port
