"""The live feed (server-sent events) and the bearer token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import trio

from fakeqemu.http.stream import Listener, encode
from tests.http.plane import event_stream, running, vm_config
from tests.http.test_http_api import qmp


async def test_stream_carries_events_traffic_and_reset(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path, paused=True)]) as plane:
        seen: list[tuple[str, Any]] = []
        async with event_stream(plane, "/api/vms/vm0/stream") as stream:
            assert stream.status == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert await qmp(plane, ("cont", {})) == [{}]
            await plane.send("POST", "/api/vms/vm0/reset")
            with trio.fail_after(5):
                while not seen or seen[-1][0] != "reset":
                    seen.append(await stream.message())
        kinds = [k for k, _ in seen]
        events = [d for k, d in seen if k == "qmp-event"]
        assert [e["event"] for e in events] == ["RESUME"]
        assert set(events[0]["timestamp"]) == {"seconds", "microseconds"}
        traffic = [d for k, d in seen if k == "traffic"]
        assert [t["direction"] for t in traffic[:5]] == ["out", "in", "out", "in", "out"]
        assert traffic[0]["data"].startswith('{"QMP":')
        # the event went out between the request cont and its reply, as QMP clients get it
        wire = [t["data"] for t in traffic]
        cont = next(i for i, d in enumerate(wire) if '"cont"' in d)
        assert '"event": "RESUME"' in wire[cont + 1] and wire[cont + 2].startswith('{"return": {}')
        assert kinds.index("qmp-event") > cont
        assert seen[-1][1]["status"] == "prelaunch"


async def test_stream_listener_leaves_the_feed_when_the_client_goes(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)]) as plane:
        vm = plane.vms[0]
        async with event_stream(plane, "/api/vms/vm0/stream") as stream:
            assert await stream.block() == ": fakeqemu live feed\nretry: 1000"
            assert len(vm.feed) == 1
        for _ in range(500):  # the stream's task ends once hypercorn reports the disconnect
            if not vm.feed:
                break
            await trio.sleep(0.01)
        assert vm.feed == []


def test_slow_reader_loses_oldest_items_and_is_told() -> None:
    listener = Listener(limit=3)
    for i in range(5):
        listener.push("note", {"n": i})
    chunks = listener.take()
    assert chunks[0] == b'event: dropped\ndata: {"count":2}\n\n'
    assert [orjson.loads(c.split(b"data: ")[1]) for c in chunks[1:]] == [{"n": 2}, {"n": 3}, {"n": 4}]
    assert listener.take() == []
    assert encode("reset", {"a": 1}) == b'event: reset\ndata: {"a":1}\n\n'


async def test_token_required_by_header_or_query(tmp_path: Path) -> None:
    async with running([vm_config(tmp_path)], token="s3cret") as plane:
        assert (await plane.get("/api/vms"))[0]["name"] == "vm0"  # the plane's client sends the header
        async with httpx.AsyncClient(base_url=plane.url) as anon:
            r = await anon.get("/api/vms")
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert (await anon.get("/api/vms", headers={"Authorization": "Bearer wrong"})).status_code == 401
            assert (await anon.get("/api/vms", params={"token": "s3cret"})).status_code == 200
            assert (await anon.post("/api/vms/vm0/reset")).status_code == 401
            # the page and the schema carry no VM data: open without a token
            assert (await anon.get("/")).status_code == 200
            assert (await anon.get("/openapi.json")).status_code == 200
        async with event_stream(plane, "/api/vms/vm0/stream", headers={}) as stream:
            assert stream.status == 401
        async with event_stream(plane, "/api/vms/vm0/stream?token=s3cret", headers={}) as stream:
            assert stream.status == 200
            assert await stream.block() == ": fakeqemu live feed\nretry: 1000"
