"""GET .../traffic as data: records with their messages, filters, NDJSON, and the live NDJSON stream."""

from __future__ import annotations

from pathlib import Path

import orjson
import trio

from tests.http.plane import event_stream, running, vm_config
from tests.integration.procs import Raw


def talk(path: str) -> None:
    qmp = Raw(path)
    qmp.negotiate()
    qmp.cmd(b'{"execute": "device_add", "arguments": {"driver": "e1000", "id": "n1"}}')
    qmp.cmd(b'{"execute": "query-status", "id": 1}')
    qmp.cmd(b'{"execute": "device_del", "arguments": {"id": "nope"}}')
    qmp.close()


async def test_filters_and_messages(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path, rcu_grace=0.0)]) as plane:
        await trio.to_thread.run_sync(talk, plane.qmp)
        view = await plane.get("/api/vms/vm0/traffic", params={"command": "device_del"})
        assert [r["direction"] for r in view["records"]] == ["in", "out"]
        assert view["records"][1]["message"]["error"]["class"] == "DeviceNotFound"
        assert view["limit"] == 1 << 20 and 0 < view["bytes"] <= view["limit"]
        outs = (await plane.get("/api/vms/vm0/traffic", params={"direction": "out"}))["records"]
        assert outs[0]["message"]["QMP"]["version"]["qemu"]["major"] == 7
        assert {r["direction"] for r in outs} == {"out"}
        ids = [r["message"].get("id") for r in outs if "return" in r["message"]]
        assert ids == [None, None, 1]
        everything = (await plane.get("/api/vms/vm0/traffic"))["records"]
        middle = everything[2]["time"]
        later = (await plane.get("/api/vms/vm0/traffic", params={"since_time": middle}))["records"]
        assert later == [r for r in everything if r["time"] >= middle]
        r = await plane.client.get("/api/vms/vm0/traffic", params={"format": "ndjson", "direction": "in"})
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [orjson.loads(x) for x in r.content.splitlines()]
        commands = [x["message"]["execute"] for x in lines]
        assert commands == ["qmp_capabilities", "device_add", "query-status", "device_del"]


async def test_live_ndjson_stream_follows_new_records(tmp_path: Path) -> None:
    async with (
        running([vm_config(tmp_path)]) as plane,
        event_stream(plane, "/api/vms/vm0/traffic/stream?command=query-status") as stream,
    ):
        assert stream.status == 200
        await trio.to_thread.run_sync(talk, plane.qmp)
        seen: list[dict[str, object]] = []
        with trio.fail_after(10):
            while len(seen) < 2:
                while b"\n" not in stream.buf:
                    await stream._fill()
                text, _, stream.buf = stream.buf.partition(b"\n")
                if text.strip():
                    seen.append(orjson.loads(text))
        assert [r["direction"] for r in seen] == ["in", "out"]
        status = {"status": "running", "singlestep": False, "running": True}
        assert seen[1]["message"] == {"return": status, "id": 1}
