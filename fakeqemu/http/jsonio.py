"""JSON out of the HTTP plane: orjson, with a fallback for what it refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(content: Any) -> bytes:
    """orjson; what it cannot write (integers beyond 64 bits, lone surrogates that a client sent as
    ``\\udxxx`` escapes) goes through the standard library, escaped."""
    try:
        return orjson.dumps(content)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode()
