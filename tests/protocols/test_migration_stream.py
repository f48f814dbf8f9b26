"""fakeqemu's migration stream, sans-IO: frames round-trip byte by byte in any split, and every foreign or
damaged stream is refused before anything is loaded."""

from __future__ import annotations

import struct

import pytest

from fakeqemu.protocols.migration import MAGIC, Decoder, Frame, StreamError, frame, preamble


def stream() -> bytes:
    return (
        preamble()
        + frame("H", {"machine": "pc", "qemu": [7, 2, 22]})
        + frame("R", {"pass": 1, "pages": 3})
        + frame("S", {"devices": [{"section": "0000:00:04.0/virtio-net", "pending": True}]})
        + frame("E")
    )


def test_frames_come_out_whole_whatever_the_split() -> None:
    data = stream()
    expected = [
        Frame("H", {"machine": "pc", "qemu": [7, 2, 22]}),
        Frame("R", {"pass": 1, "pages": 3}),
        Frame("S", {"devices": [{"section": "0000:00:04.0/virtio-net", "pending": True}]}),
        Frame("E", {}),
    ]
    for step in (1, 2, 7, len(data)):
        decoder = Decoder()
        got: list[Frame] = []
        for i in range(0, len(data), step):
            got += decoder.feed(data[i : i + step])
        assert got == expected
        assert decoder.done


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"QEVM\x00\x00\x00\x03", "Not a migration stream"),  # QEMU's own stream
        (MAGIC + struct.pack(">I", 1), "Unsupported migration stream version 1"),
        (preamble() + b"X" + struct.pack(">I", 0), "Unknown savevm section type 88"),
        (preamble() + b"S" + struct.pack(">I", 64 * 1024 * 1024 + 1), "over the limit"),
        (preamble() + b"S" + struct.pack(">I", 2) + b"[]", "bad S frame"),
    ],
)
def test_foreign_or_damaged_streams_are_refused(data: bytes, error: str) -> None:
    with pytest.raises(StreamError, match=error):
        Decoder().feed(data)
