"""The HTTP API against a real hypercorn server in this trio run, with qemu.qmp on the QMP side."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, cast

import httpx
import trio
from qemu.qmp import QMPClient

from fakeqemu.machine.cpus import Topology
from tests.http.plane import Plane, running, vm_config
from tests.integration.procs import in_asyncio


async def qmp(plane: Plane, *commands: tuple[str, dict[str, Any]]) -> list[Any]:
    """Run ``commands`` over a qemu.qmp client; an error reply is returned as its text."""

    async def scenario() -> list[Any]:
        client = QMPClient("t")
        await client.connect(plane.qmp)
        out: list[Any] = []
        try:
            for name, args in commands:
                try:
                    out.append(await client.execute(name, args))
                except Exception as exc:
                    out.append(f"error: {exc}")
        finally:
            with contextlib.suppress(Exception):  # a fault may have closed the connection already
                await client.disconnect()
        return out

    return await in_asyncio(scenario)


async def wait_for(plane: Plane, path: str, predicate: Any, seconds: float = 5.0) -> Any:
    with trio.fail_after(seconds):
        while True:
            data = await plane.get(path)
            if predicate(data):
                return data
            await trio.sleep(0.01)


def device_ids(devices: dict[str, Any]) -> list[str | None]:
    return [d["id"] for bus in devices["buses"] for d in bus["devices"]]


async def test_vms_listed_with_run_state(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path, "a"), vm_config(tmp_path, "b", paused=True)]) as plane:
        vms = await plane.get("/api/vms")
        assert [(v["name"], v["status"], v["running"], v["connections"]) for v in vms] == [
            ("a", "running", True, 0),
            ("b", "prelaunch", False, 0),
        ]
        assert vms[0]["qmp"] == [str(tmp_path / "a.qmp")]
        r = await plane.client.get("/api/vms/nope")
        assert r.status_code == 404
        assert r.json()["detail"]["class"] == "DeviceNotFound"


async def test_hotplug_state_through_the_unplug(tmp_path: Path) -> None:
    """device_add / device_del over QMP show up in devices, pcihp and the QOM tree; the HTTP eject
    finishes the unplug and the QMP client gets DEVICE_DELETED."""
    async with running([vm_config(tmp_path, guest="never")]) as plane:
        assert "nic1" not in device_ids(await plane.get("/api/vms/vm0/devices"))
        assert await qmp(plane, ("device_add", {"driver": "e1000", "id": "nic1"}), ("device_del", {"id": "nic1"})) == [
            {},
            {},
        ]
        devices = await plane.get("/api/vms/vm0/devices")
        [pending] = devices["pending_unplugs"]
        assert pending["id"] == "nic1"
        assert pending["hotplugged"] and pending["unplug_requested"] and pending["slot_down"]
        assert pending["hotplug"] == "acpi" and pending["bus"] == "pci.0"
        slot = pending["slot"]
        regs = await plane.get("/api/vms/vm0/pcihp")
        assert regs["base"] == 0xAE00
        [bus0] = regs["buses"]
        assert (bus0["bsel"], bus0["down"], bus0["pending_slots"]) == (0, 1 << slot, [slot])
        assert regs["gpe"]["status"] & 0x2 and regs["gpe"]["sci"]  # nobody answered the SCI
        tree = await plane.get("/api/vms/vm0/qom", params={"path": "/machine/peripheral", "depth": 1})
        assert [(c["name"], c["type"]) for c in tree["children"]] == [("nic1", "e1000")]

        async def client_sees_deletion() -> Any:
            client = QMPClient("watch")
            await client.connect(plane.qmp)
            try:
                with client.listener(("DEVICE_DELETED",)) as listener:
                    async with httpx.AsyncClient(base_url=plane.url) as http:  # asyncio side
                        r = await http.post("/api/vms/vm0/devices/nic1/eject")
                    assert r.json() == {"id": "nic1", "bsel": 0, "slot": slot}
                    while True:
                        event = await listener.get()
                        data = cast(dict[str, Any], event["data"])
                        if data.get("device") == "nic1":
                            return data
            finally:
                await client.disconnect()

        assert await in_asyncio(client_sees_deletion) == {"device": "nic1", "path": "/machine/peripheral/nic1"}
        devices = await plane.get("/api/vms/vm0/devices")
        assert "nic1" not in device_ids(devices) and devices["pending_unplugs"] == []
        events = await plane.get("/api/vms/vm0/events")
        assert events[-1]["event"] == "DEVICE_DELETED" and events[-1]["data"]["device"] == "nic1"
        notes = [r["data"] for r in (await plane.get("/api/vms/vm0/traffic", params={"connection": "http"}))["records"]]
        assert notes == [f"guest eject nic1 (bsel 0 slot {slot})"]


async def test_device_timeline(tmp_path: Path) -> None:
    """The unplug as steps over HTTP: pending while the guest does not answer, complete after the HTTP
    eject (which names its writer), with the QMP client DEVICE_DELETED went to."""
    async with running([vm_config(tmp_path, guest="never")]) as plane:

        async def unplug_and_watch() -> None:
            client = QMPClient("watch")
            await client.connect(plane.qmp)
            try:
                with client.listener(("DEVICE_DELETED",)) as listener:
                    await client.execute("device_add", {"driver": "e1000", "id": "nic1"})
                    await client.execute("device_del", {"id": "nic1"})
                    async with httpx.AsyncClient(base_url=plane.url) as http:
                        pending = (await http.get("/api/vms/vm0/devices/nic1/timeline")).json()
                        assert pending["waiting"] == "waiting for the guest to write the eject register"
                        assert [s["step"] for s in pending["steps"]] == ["plugged", "unplug requested"]
                        await http.post("/api/vms/vm0/devices/nic1/eject")
                    while cast(dict[str, Any], (await listener.get())["data"]).get("device") != "nic1":
                        pass
            finally:
                await client.disconnect()

        await in_asyncio(unplug_and_watch)
        done = await plane.get("/api/vms/vm0/devices/nic1/timeline")
        assert done["waiting"] is None
        assert [s["step"] for s in done["steps"]] == ["plugged", "unplug requested", "eject written", "unparented",
                                                      "finalized", "DEVICE_DELETED"]  # fmt: skip
        assert done["steps"][2]["detail"].startswith("by http: bsel 0 slot ")
        assert done["steps"][-1]["detail"] == "/machine/peripheral/nic1 to monitor0#1"
        assert [d["device"] for d in await plane.get("/api/vms/vm0/timeline")] == ["nic1"]
        r = await plane.client.get("/api/vms/vm0/devices/ghost/timeline")
        assert r.status_code == 404


async def test_guest_shows_vcpus_and_power(tmp_path: Path) -> None:
    topo = Topology.parse({"cpus": "1", "maxcpus": "2"})
    async with running([vm_config(tmp_path, topology=topo, smp=1, guest="never")]) as plane:
        cpu = {"driver": "qemu64-x86_64-cpu", "id": "c1", "socket-id": 1, "core-id": 0, "thread-id": 0}
        await qmp(plane, ("device_add", cpu), ("device_del", {"id": "c1"}))
        guest = await plane.get("/api/vms/vm0/guest")
        assert guest["power"] == "prompt" and guest["agent"] is None
        assert [(v["qom-path"], v["removing"]) for v in guest["vcpus"]] == [
            ("/machine/unattached/device[0]", False),
            ("/machine/peripheral/c1", True),
        ]
        # the guest (never) does not eject it: the API makes it, through the CPU hotplug block
        assert await plane.send("POST", "/api/vms/vm0/devices/c1/eject") == {"id": "c1", "bsel": None, "slot": 1}
        guest = await plane.get("/api/vms/vm0/guest")
        assert ["cpu-eject", "cpu 1"] in guest["actions"]
        assert [v["index"] for v in guest["vcpus"]] == [0]


async def test_guest_shows_dimms(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path, memory_mb=128, ram_slots=2, maxmem=1 << 30, guest="never")]) as plane:
        mem = {"qom-type": "memory-backend-ram", "id": "m0", "size": 128 << 20}
        await qmp(plane, ("object-add", mem), ("device_add", {"driver": "pc-dimm", "id": "d0", "memdev": "m0"}))
        plugged = (await plane.get("/api/vms/vm0/guest"))["dimms"]
        await qmp(plane, ("device_del", {"id": "d0"}))
        pending = (await plane.get("/api/vms/vm0/guest"))["dimms"]
        assert [(d["id"], d["slot"], d["addr"], d["memdev"], d["removing"]) for d in plugged] == [
            ("d0", 0, 1 << 32, "/objects/m0", False)
        ]
        assert [(d["qom-path"], d["removing"]) for d in pending] == [("/machine/peripheral/d0", True)]


async def test_eject_errors(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)]) as plane:
        r = await plane.client.post("/api/vms/vm0/devices/ghost/eject")
        assert r.status_code == 404
        assert r.json()["detail"] == {"class": "DeviceNotFound", "desc": "Device 'ghost' not found"}


async def test_guest_policy_read_and_change(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)]) as plane:
        guest = await plane.get("/api/vms/vm0/guest")
        assert (guest["policy"], guest["effective-policy"], guest["booted"]) == ("auto", "prompt", True)
        await qmp(plane, ("device_add", {"driver": "e1000", "id": "n1"}))
        changed = await plane.send("PUT", "/api/vms/vm0/guest", {"policy": "refuse", "device": "n1"})
        assert changed["devices"] == [{"id": "n1", "policy": "refuse"}]
        assert (await plane.send("PUT", "/api/vms/vm0/guest", {"policy": "delay:50"}))["policy"] == "delay:50"
        r = await plane.client.put("/api/vms/vm0/guest", json={"policy": "sometimes"})
        assert r.status_code == 422  # not a policy: the document's pattern rejects it
        r = await plane.client.put("/api/vms/vm0/guest", json={"policy": "never", "device": "ghost"})
        assert r.status_code == 404
        # the device's own policy (refuse) wins: the guest reads the registers but never ejects
        assert await qmp(plane, ("device_del", {"id": "n1"})) == [{}]
        [n1] = (await plane.get("/api/vms/vm0/devices"))["pending_unplugs"]
        guest = await plane.get("/api/vms/vm0/guest")
        assert ["refuse", f"bsel 0 slot {n1['slot']}"] in guest["actions"]
        assert "n1" in device_ids(await plane.get("/api/vms/vm0/devices"))


async def test_delayed_eject_policy_delays_device_deleted(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)]) as plane:
        await plane.send("PUT", "/api/vms/vm0/faults", {"guest": "delay:300"})
        await qmp(plane, ("device_add", {"driver": "e1000", "id": "n1"}), ("device_del", {"id": "n1"}))
        t0 = trio.current_time()
        await wait_for(plane, "/api/vms/vm0/devices", lambda d: "n1" not in device_ids(d))
        assert trio.current_time() - t0 >= 0.25
        assert (await plane.get("/api/vms/vm0/faults"))["guest"] == "delay:300"


async def test_io_write_is_a_guest_write(tmp_path: Path) -> None:
    """Ejecting through the pcihp registers by hand: select bus 0, write the slot bit to 'eject'."""
    async with running([vm_config(tmp_path, guest="never")]) as plane:
        await qmp(plane, ("device_add", {"driver": "e1000", "id": "n1", "addr": "5"}), ("device_del", {"id": "n1"}))
        assert (await plane.get("/api/vms/vm0/io", params={"port": 0xAE04}))["value"] == 1 << 5
        await plane.send("POST", "/api/vms/vm0/io", {"port": 0xAE10, "size": 4, "value": 0})
        await plane.send("POST", "/api/vms/vm0/io", {"port": 0xAE08, "size": 4, "value": 1 << 5})
        assert (await plane.get("/api/vms/vm0/io", params={"port": 0xAE04}))["value"] == 0
        events = await wait_for(plane, "/api/vms/vm0/events", lambda e: e and e[-1]["event"] == "DEVICE_DELETED")
        assert events[-1]["data"] == {"device": "n1", "path": "/machine/peripheral/n1"}
        r = await plane.client.post("/api/vms/vm0/io", json={"port": 0xAE08, "size": 3, "value": 1})
        assert r.status_code == 422


async def test_traffic_record_has_every_message_per_connection(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)]) as plane:
        await qmp(plane, ("query-status", {}))
        await qmp(plane, ("query-name", {}))
        view = await plane.get("/api/vms/vm0/traffic")
        records = view["records"]
        assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
        conns = sorted({r["connection"] for r in records})
        assert conns == ["monitor0#1", "monitor0#2"]
        first = [(r["direction"], r["data"]) for r in records if r["connection"] == "monitor0#1"]
        assert [d for d, _ in first] == ["out", "in", "out", "in", "out"]
        assert first[0][1].startswith('{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}')
        assert '"execute":"query-status"' in first[3][1].replace(" ", "")
        assert (
            first[4][1]
            == '{"return": {"status": "running", "singlestep": false, "running": true}, "id": "__qmp#00000"}\r\n'
        )
        assert all(r["time"] > 1e9 for r in records)
        only = await plane.get("/api/vms/vm0/traffic", params={"connection": "monitor0#2", "since": 2})
        assert {r["connection"] for r in only["records"]} == {"monitor0#2"}
        assert only["last_seq"] == records[-1]["seq"]
        later = await plane.get("/api/vms/vm0/traffic", params={"since": records[-1]["seq"]})
        assert later["records"] == [] and later["last_seq"] == records[-1]["seq"]


async def test_faults_fire_and_are_recorded(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)]) as plane:
        faults = {
            "delay": {"query-name": 0.2},
            "fail": {"query-kvm": {"class": "GenericError", "desc": "injected"}},
            "close_mid_reply": ["query-uuid"],
        }
        got = await plane.send("PUT", "/api/vms/vm0/faults", faults)
        assert got["fail"] == {"query-kvm": {"class": "GenericError", "desc": "injected"}}
        t0 = trio.current_time()
        out = await qmp(plane, ("query-name", {}), ("query-kvm", {}))
        assert out[0] == {"name": "vm0"} and trio.current_time() - t0 >= 0.2
        assert out[1] == "error: injected"
        out = await qmp(plane, ("query-uuid", {}))
        assert out[0].startswith("error: ")  # the reply was cut and the connection closed
        notes = [r["data"] for r in (await plane.get("/api/vms/vm0/traffic"))["records"] if r["direction"] == "note"]
        assert notes[0].startswith("faults {")
        assert notes[1:] == [
            "fault: delay query-name by 0.2 s",
            "fault: fail query-kvm with GenericError",
            "fault: close in the middle of the reply to query-uuid",
        ]
        r = await plane.client.put("/api/vms/vm0/faults", json={"close_after": -1})
        assert r.status_code == 422
        r = await plane.client.put("/api/vms/vm0/faults", json={"guest": "maybe"})
        assert r.status_code == 422
        assert (await plane.get("/api/vms/vm0/faults"))["close_mid_reply"] == ["query-uuid"]  # unchanged


async def test_close_after_n_requests(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)]) as plane:
        # qmp_capabilities counts: capabilities, query-status, query-name, then the connection closes
        await plane.send("PUT", "/api/vms/vm0/faults", {"close_after": 3})
        out = await qmp(plane, ("query-status", {}), ("query-name", {}), ("query-kvm", {}))
        assert out[:2] == [{"status": "running", "singlestep": False, "running": True}, {"name": "vm0"}]
        assert str(out[2]).startswith("error: ")
        notes = [r["data"] for r in (await plane.get("/api/vms/vm0/traffic"))["records"] if r["direction"] == "note"]
        assert "fault: close after 3 requests" in notes


async def test_reset_returns_to_the_start(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path, paused=True)]) as plane:
        before = await plane.get("/api/vms/vm0/devices")
        await qmp(plane, ("device_add", {"driver": "e1000", "id": "n1"}), ("cont", {}))
        await plane.send("PUT", "/api/vms/vm0/faults", {"fail": {"stop": {"desc": "x"}}, "guest": "never"})
        assert (await plane.get("/api/vms/vm0"))["status"] == "running"
        summary = await plane.send("POST", "/api/vms/vm0/reset")
        assert summary["status"] == "prelaunch"
        assert await plane.get("/api/vms/vm0/devices") == before
        faults = await plane.get("/api/vms/vm0/faults")
        assert (faults["fail"], faults["guest"]) == ({}, "auto")
        assert await plane.get("/api/vms/vm0/events") == []
        assert [r["data"] for r in (await plane.get("/api/vms/vm0/traffic"))["records"]] == ["reset"]
        # QMP works on after a reset, on the new machine
        assert await qmp(plane, ("query-status", {})) == [
            {"status": "prelaunch", "singlestep": False, "running": False}
        ]


async def test_qmp_over_http(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)]) as plane:
        reply = await plane.send("POST", "/api/vms/vm0/qmp", {"execute": "query-name"})
        assert reply == {"return": {"name": "vm0"}}
        reply = await plane.send("POST", "/api/vms/vm0/qmp", {"execute": "qom-get", "arguments": {"path": "/x"}})
        assert reply == {"error": {"class": "GenericError", "desc": "Parameter 'property' is missing"}}
        reply = await plane.send("POST", "/api/vms/vm0/qmp", {"execute": "no-such"})
        assert reply["error"]["class"] == "CommandNotFound"
        http = [(r["direction"], r["data"]) for r in (await plane.get("/api/vms/vm0/traffic"))["records"]]
        assert http[:2] == [("in", '{"execute":"query-name","arguments":{}}'), ("out", '{"return":{"name":"vm0"}}')]


async def test_qom_tree(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)]) as plane:
        root = await plane.get("/api/vms/vm0/qom", params={"path": "/", "depth": 1})
        assert root["path"] == "/" and root["type"] == "container"
        assert {c["name"] for c in root["children"]} >= {"machine", "objects"}
        machine = await plane.get("/api/vms/vm0/qom", params={"depth": 0, "properties": True})
        assert machine["children"] == [] and machine["type"] == "pc-i440fx-7.2-machine"
        assert {"name": "type", "type": "string"} in machine["properties"]
        r = await plane.client.get("/api/vms/vm0/qom", params={"path": "/machine/nothing"})
        assert r.status_code == 404


async def test_machine_none_has_no_tree(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path, machine_type="none")]) as plane:
        assert await plane.get("/api/vms/vm0/devices") == {"buses": [], "pending_unplugs": []}
        assert (await plane.client.get("/api/vms/vm0/pcihp")).status_code == 404
        assert (await plane.client.get("/api/vms/vm0/qom")).status_code == 404


async def test_guest_watchdog_and_panic(tmp_path: Path) -> None:
    devices = [{"driver": "ib700", "id": "wd0"}, {"driver": "pvpanic", "id": "pp0"}]
    async with running([vm_config(tmp_path, devices=devices)]) as plane:
        view = await plane.get("/api/vms/vm0/guest/watchdog")
        assert view == {"policy": "off", "device": "ib700", "guest-armed": False, "device-armed": False}
        r = await plane.client.put("/api/vms/vm0/guest/watchdog", json={"policy": "sometimes"})
        assert r.status_code == 422  # the document's pattern
        r = await plane.client.put("/api/vms/vm0/guest/watchdog", json={"policy": "hang:0"})
        assert r.status_code == 422
        assert (await plane.send("PUT", "/api/vms/vm0/guest/watchdog", {"policy": "pet:30"}))["policy"] == "pet:30"
        await qmp(plane, ("set-action", {"panic": "pause"}))  # (the default, shutdown, would end the VM)
        assert await plane.send("POST", "/api/vms/vm0/guest/panic", {}) == {"reported": True}
        events = [e["event"] for e in await plane.get("/api/vms/vm0/events")]
        assert events[-2:] == ["GUEST_PANICKED", "STOP"]


async def test_a_migration_that_never_converges_until_cancelled(tmp_path: Path) -> None:
    """PUT faults ``migration_stuck``: pass after pass (MIGRATION_PASS each) while the peer reads the
    stream, until migrate_cancel; the HTTP API shows the migration faults it was given."""
    import socket
    import threading

    async with running([vm_config(tmp_path)]) as plane:
        got = await plane.send("PUT", "/api/vms/vm0/faults", {"migration_stuck": True, "migration_cut": "ram"})
        assert (got["migration_stuck"], got["migration_cut"], got["migration_vanish"]) == (True, "ram", None)
        r = await plane.client.put("/api/vms/vm0/faults", json={"migration_vanish": "active"})
        assert r.status_code == 422  # a destination vanishes at setup, ram or device
        await plane.send("PUT", "/api/vms/vm0/faults", {"migration_stuck": True})
        path = str(tmp_path / "peer.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(1)

        def drain() -> None:
            conn, _ = listener.accept()
            with conn:
                while conn.recv(65536):
                    pass

        reader = threading.Thread(target=drain)
        reader.start()

        async def scenario() -> list[str]:
            client = QMPClient("t")
            await client.connect(plane.qmp)
            seen: list[str] = []
            try:
                caps = {"capabilities": [{"capability": "events", "state": True}]}
                await client.execute("migrate-set-capabilities", caps)
                await client.execute("migrate", {"uri": f"unix:{path}"})
                while True:
                    event = await client.events.get()
                    data = cast(dict[str, Any], event.get("data", {}))
                    seen.append(f"{event['event']}:{data.get('status', data.get('pass'))}")
                    if seen[-1] == "MIGRATION_PASS:4":
                        await client.execute("migrate_cancel")
                    if seen[-1] == "MIGRATION:cancelled":
                        return seen
            finally:
                await client.disconnect()

        try:
            seen = await in_asyncio(scenario, limit=20.0)
        finally:
            reader.join(10)
            listener.close()
        assert seen[:6] == ["MIGRATION:setup", "MIGRATION_PASS:1", "MIGRATION:active", "MIGRATION_PASS:2",
                            "MIGRATION_PASS:3", "MIGRATION_PASS:4"]  # fmt: skip
        assert seen[-2:] == ["MIGRATION:cancelling", "MIGRATION:cancelled"]
        notes = await plane.get("/api/vms/vm0/traffic")
        assert any(r["data"].startswith("faults {") for r in notes["records"] if r["direction"] == "note")


async def test_guest_power_and_agent_policies(tmp_path: Path) -> None:
    with_agent = vm_config(tmp_path, agent_port="channel0", agent_chardev="charchannel0")
    async with running([with_agent, vm_config(tmp_path, "plain")]) as plane:
        r = await plane.client.put("/api/vms/plain/guest/agent", json={"policy": "hung"})
        assert r.status_code == 404
        agent = await plane.send("PUT", "/api/vms/vm0/guest/agent", {"policy": "absent"})
        assert (agent["policy"], agent["open"]) == ("absent", False)
        assert (await plane.get("/api/vms/vm0/guest"))["agent"]["policy"] == "absent"
        r = await plane.client.put("/api/vms/vm0/guest/agent", json={"policy": "asleep"})
        assert r.status_code == 422
        assert (await plane.send("PUT", "/api/vms/vm0/guest/power", {"policy": "hang"}))["power"] == "hang"
        r = await plane.client.put("/api/vms/vm0/guest/power", json={"policy": "never"})
        assert r.status_code == 422
