"""The traffic record as a test sees it: typed, plain data (it crosses threads and processes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fakeqemu.machine.traffic import Record


@dataclass(frozen=True, slots=True)
class TrafficRecord:
    """One message in (client -> fakeqemu) or out, or a note (a fault that fired, a control action)."""

    seq: int
    time: float
    connection: str  # "monitor0#3" (monitor and connection number), "testing", "guest", "http"
    direction: str  # "in", "out" or "note"
    message: Any  # the JSON value the message carries (a dict), None for notes and cut messages
    text: str  # the bytes as text (a note's words; all of a write that carried several messages)
    size: int  # bytes on the wire

    @classmethod
    def of(cls, r: Record) -> list[TrafficRecord]:
        """One per message: a client may send several in one write (they share ``seq`` and ``text``)."""
        text = r.data.decode("utf-8", "replace")
        return [cls(r.seq, r.time, r.connection, r.direction, m, text, r.size) for m in r.messages() or [None]]

    @property
    def command(self) -> str | None:
        """The command an ``in`` record asks for."""
        m = self.message
        if self.direction != "in" or not isinstance(m, dict):
            return None
        name = m.get("execute", m.get("exec-oob"))
        return name if isinstance(name, str) else None

    @property
    def event(self) -> str | None:
        m = self.message
        if self.direction != "out" or not isinstance(m, dict) or not isinstance(m.get("event"), str):
            return None
        return str(m["event"])

    @property
    def is_fault(self) -> bool:
        return self.direction == "note" and self.text.startswith("fault:")
