"""Hypothesis profiles for the wire fuzzers: ``brief`` in ``make test``, ``long`` in ``make fuzz``
(FAKEQEMU_FUZZ=long)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("brief", max_examples=25, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("long", max_examples=20000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("FAKEQEMU_FUZZ", "brief"))
