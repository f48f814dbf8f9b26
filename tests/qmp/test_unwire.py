"""tools/record_probe.unwire: recorded (wire-order) objects stored so that fakeqemu's encoder writes them
back byte for byte, including keys that share a QDict hash bucket (written newest first)."""

from __future__ import annotations

import itertools
import json

from fakeqemu.qmp.encode import encode, tdb_hash
from tools.record_probe import unwire


def _colliding() -> list[str]:
    seen: dict[int, list[str]] = {}
    for a, b in itertools.product("abcdefghijklmnopqrstuvwxyz", repeat=2):
        key = f"k-{a}{b}"
        bucket = seen.setdefault(tdb_hash(key) % 512, [])
        bucket.append(key)
        if len(bucket) == 3:
            return bucket
    raise AssertionError("no collision found")


def test_round_trip_with_bucket_collisions() -> None:
    keys = [*_colliding(), "name", "props", "x"]
    for order in itertools.permutations(keys[:3]):
        inserted = [*order, *keys[3:]]
        inner = {k: i for i, k in enumerate(inserted)}
        value = {**{k: i for i, k in enumerate(inserted)}, "nested": [inner, {"deep": inner}]}
        wire = encode(value)  # what QEMU writes for this insertion order
        recorded = json.loads(wire)  # a recording keeps the wire order
        assert encode(unwire(recorded)) == wire, order


def test_some_order_differs_without_unwire() -> None:
    """The point of unwire: the wire order taken as insertion order does not always round-trip."""
    keys = _colliding()
    value = {k: 0 for k in keys}
    wire = encode(value)
    assert encode(json.loads(wire)) != wire
    assert encode(unwire(json.loads(wire))) == wire
