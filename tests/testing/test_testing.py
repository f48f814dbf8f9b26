"""fakeqemu.testing: fake VMs started in-process (a background thread) or in a child process, driven by
a QMP client on one side and the control methods on the other."""

from __future__ import annotations

import asyncio
import os
import socket

import httpx
import pytest
import trio
from qemu.qmp import QMPClient

from fakeqemu.testing import FakeQemu, OptionsError, QMPCommandError, run_vm
from tests.integration.procs import Raw, in_asyncio


def negotiated(path: str) -> Raw:
    client = Raw(path)
    client.negotiate()
    return client


def test_hotplug_unplug_events_and_traffic() -> None:
    with FakeQemu(machine="q35", rcu_grace_ms=0, devices=["pcie-root-port,id=rp1,chassis=1"]) as fq:
        client = negotiated(fq.qmp_path)
        assert client.cmd(
            b'{"execute": "device_add", "arguments": {"driver": "e1000e", "id": "n1", "bus": "rp1"}}'
        ) == (b'{"return": {}}')
        fq.set_guest("never", device="n1")
        client.cmd(b'{"execute": "device_del", "arguments": {"id": "n1"}}')
        with pytest.raises(TimeoutError, match="no DEVICE_DELETED event"):
            fq.wait_for_event("DEVICE_DELETED", timeout=0.05)
        fq.eject("n1")
        event = fq.wait_for_event("DEVICE_DELETED", device="n1")
        assert event["data"] == {"device": "n1", "path": "/machine/peripheral/n1"}
        assert fq.commands() == ["qmp_capabilities", "device_add", "device_del"]
        notes = [r.text for r in fq.traffic(direction="note")]
        assert notes == ["fault: guest never: removal of bsel 0 slot 0 not answered"]
        assert any("x-fakeqemu-eject" in r.text for r in fq.traffic(connection="testing"))
        replies = [r.message for r in fq.traffic(command="device_add") if r.direction == "out"]
        assert replies == [{"return": {}}]
        client.close()
        path = fq.qmp_path
    assert not os.path.exists(path)


def test_faults_reset_and_disconnect() -> None:
    with run_vm() as fq:
        client = negotiated(fq.qmp_path)
        fq.faults.set(fail={"device_add": {"class": "GenericError", "desc": "out of slots"}})
        reply = client.cmd(b'{"execute": "device_add", "arguments": {"driver": "e1000", "id": "n1"}}')
        assert reply == b'{"error": {"class": "GenericError", "desc": "out of slots"}}'
        assert fq.traffic(direction="note")[-1].is_fault
        fq.faults.clear()
        assert fq.faults.get()["fail"] == {}
        fq.qmp("device_add", driver="e1000", id="n2")
        fq.reset(disconnect=True)
        with pytest.raises(EOFError):
            client.line()  # the test's leftover client is gone: the next one is served at once
        client.close()
        again = negotiated(fq.qmp_path)
        with pytest.raises(QMPCommandError) as exc:
            fq.qmp("device_del", id="n2")
        assert exc.value.cls == "DeviceNotFound"
        assert fq.commands() == ["qmp_capabilities"]
        again.close()


def test_fleet_one_vm_killed_the_other_serves() -> None:
    with FakeQemu(vms=2, tcp=True, name="node") as fleet:
        assert [v.name for v in fleet.vms] == ["node-0", "node-1"]
        fleet.vm("node-0").kill()
        with socket.socket(socket.AF_UNIX) as s, pytest.raises(ConnectionRefusedError):
            s.connect(fleet.vm("node-0").qmp_path)  # its socket is closed (the file stays, as QEMU's)
        address = fleet.vm("node-1").qmp_address
        assert address is not None
        client = negotiated(address)  # type: ignore[arg-type]
        assert client.cmd(b'{"execute": "query-name"}') == b'{"return": {"name": "node-1"}}'
        client.close()
        with pytest.raises(KeyError):
            fleet.vm("node-9")


def test_options_are_checked() -> None:
    with pytest.raises(OptionsError, match="invalid guest policy"):
        FakeQemu(guest="sometimes")
    with pytest.raises(OptionsError, match="unknown fault"):
        FakeQemu(faults={"explode": True})
    with pytest.raises(OptionsError, match="qemu_version"):
        FakeQemu(qemu_version="seven")


def test_child_process_isolation_and_http() -> None:
    with FakeQemu(isolation="process", http=True, qemu_version="8.0.1") as fq:
        assert fq.pid != os.getpid() and fq.http_url is not None
        greeting = Raw(fq.qmp_path)
        assert b'"major": 8' in greeting.line()
        greeting.close()
        assert httpx.get(f"{fq.http_url}/api/vms", timeout=10).json()[0]["name"] == "vm0"
        with pytest.raises(QMPCommandError, match="CommandNotFound"):
            fq.qmp("no-such-command")
        fq.qmp("stop")
        assert fq.wait_for_event("STOP")["event"] == "STOP"


async def test_trio_test_async_with() -> None:
    async with FakeQemu(rcu_grace_ms=0) as fq:
        stream = await trio.open_unix_socket(fq.qmp_path)
        async with stream:
            await stream.receive_some(4096)
            await stream.send_all(b'{"execute": "qmp_capabilities"}{"execute": "system_powerdown"}')
            assert (await fq.event("POWERDOWN"))["event"] == "POWERDOWN"


async def test_asyncio_client_with_qemu_qmp() -> None:
    async def scenario() -> list[str]:
        async with FakeQemu(rcu_grace_ms=0) as fq:
            qmp = QMPClient("t")
            await qmp.connect(fq.qmp_path)
            await qmp.execute("device_add", {"driver": "virtio-net-pci", "id": "net0"})
            await qmp.execute("device_del", {"id": "net0"})
            await fq.event("DEVICE_DELETED", device="net0")
            await qmp.disconnect()
            await asyncio.sleep(0)
            return fq.commands()

    assert await in_asyncio(scenario) == ["qmp_capabilities", "device_add", "device_del"]


def test_unix_socket_is_reachable_only_while_open() -> None:
    fq = FakeQemu().start()
    path = fq.qmp_path
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
    fq.close()
    assert not os.path.exists(os.path.dirname(path))


def test_qtest_link_writes_the_eject_as_a_guest_would() -> None:
    with FakeQemu(qtest=True, rcu_grace_ms=0) as fq:
        assert fq.qtest is not None
        fq.qmp("device_add", driver="e1000", id="n1", addr="4")
        fq.qmp("device_del", id="n1")  # guest "auto" under qtest is passive: the test ejects
        assert fq.qtest.cmd("irq_intercept_in ioapic") == "OK"
        assert fq.qtest.inl(0xAE04) == 1 << 4  # pcihp "down": slot 4
        fq.qtest.outl(0xAE08, 1 << 4)  # eject
        assert fq.wait_for_event("DEVICE_DELETED", device="n1")["data"]["path"] == "/machine/peripheral/n1"
