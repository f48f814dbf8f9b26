from __future__ import annotations

from fakeqemu.machine.core.events import Event, EventBus


def test_events_fan_out_in_order_with_qemu_bytes() -> None:
    bus = EventBus(clock=lambda: 1795547863.903306)
    seen_a: list[Event] = []
    seen_b: list[bytes] = []
    bus.subscribe(seen_a.append)
    unsubscribe = bus.subscribe(lambda e: seen_b.append(e.wire))
    bus.emit("RESUME")
    unsubscribe()
    bus.emit("DEVICE_DELETED", {"device": "vnic01", "path": "/machine/peripheral/vnic01"})
    assert [e.name for e in seen_a] == ["RESUME", "DEVICE_DELETED"]
    assert seen_b == [b'{"timestamp": {"seconds": 1795547863, "microseconds": 903306}, "event": "RESUME"}\r\n']
    assert seen_a[1].wire == (
        b'{"timestamp": {"seconds": 1795547863, "microseconds": 903306}, "event": "DEVICE_DELETED", '
        b'"data": {"device": "vnic01", "path": "/machine/peripheral/vnic01"}}\r\n'
    )
