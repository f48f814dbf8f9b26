"""The traffic record: off unless given a size, bounded in bytes, filters, messages as data."""

from __future__ import annotations

import orjson

from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.machine.traffic import RECORD_COST, TrafficLog, select


def log(limit: int) -> TrafficLog:
    now = iter(range(1, 1_000_000))
    return TrafficLog(lambda: float(next(now)), limit)


def test_off_unless_given_a_size() -> None:
    traffic = Machine(MachineConfig()).traffic
    traffic.add("monitor0#1", "in", b'{"execute": "query-status"}')
    assert not traffic.enabled and len(traffic) == 0 and traffic.last_seq == 0
    assert Machine(MachineConfig(traffic_limit=4096)).traffic.enabled


def test_bounded_in_bytes_whatever_the_message_sizes() -> None:
    """Issue 10: 200 commands with a 1 MiB id kept 406 MB; now the record keeps at most its limit."""
    traffic = log(4 << 20)
    big = b'{"execute": "query-status", "id": "' + b"x" * (1 << 20) + b'"}'
    for _ in range(200):
        traffic.add("monitor0#1", "in", big)
        traffic.add("monitor0#1", "out", big)
    assert traffic.kept_bytes <= 4 << 20
    assert len(traffic) == 3 and traffic.dropped == 397
    assert [r.seq for r in traffic.since()] == [398, 399, 400]


def test_a_message_larger_than_the_limit_is_kept_cut_with_its_size() -> None:
    traffic = log(1024)
    traffic.add("c", "in", b"y" * 5000)
    (r,) = traffic.since()
    assert r.size == 5000 and len(r.data) == 1024 - RECORD_COST and r.message is None
    traffic.set_limit(0)
    assert len(traffic) == 0 and not traffic.enabled


def test_messages_commands_events_and_filters() -> None:
    traffic = log(1 << 20)
    traffic.add("m#1", "in", b'{"execute": "qmp_capabilities"}{"execute": "device_del", "arguments": {"id": "n"}}')
    traffic.add("m#1", "out", b'{"return": {}}\r\n')
    traffic.add("m#2", "in", b'{"execute": "device_del", "arguments": {"id": "z"}, "id": 7}')
    traffic.add("m#1", "out", b'{"return": {}}\r\n')
    traffic.add("m#1", "out", b'{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "DEVICE_DELETED"}\r\n')
    traffic.add("m#2", "out", b'{"id": 7, "error": {"class": "DeviceNotFound", "desc": "no"}}\r\n')
    traffic.add("guest", "note", b"fault: something")
    records = list(traffic.since())
    assert records[0].commands() == ["qmp_capabilities", "device_del"]
    assert records[0].message == {"execute": "qmp_capabilities"}
    assert records[6].message is None
    dels = list(select(records, command="device_del"))
    assert [r.seq for r in dels] == [1, 3, 4, 6]  # the requests and the replies that answer them
    assert [r.seq for r in select(records, command="device_del", connection="m#2")] == [3, 6]
    assert [r.seq for r in select(records, event="DEVICE_DELETED")] == [5]
    assert [r.seq for r in select(records, direction="note")] == [7]
    assert [r.seq for r in select(records, since_time=2, until_time=3)] == [2, 3]
    assert orjson.loads(orjson.dumps(records[5].to_json()))["message"]["error"]["class"] == "DeviceNotFound"
