"""Fault configuration: shapes, checks, and faults that end (times, after)."""

from __future__ import annotations

import pytest

from fakeqemu.machine.faults import Delay, FaultConfigError, Faults


def test_times_and_after_count_per_command() -> None:
    faults = Faults.from_json({"fail": {"device_add": {"desc": "busy", "times": 2, "after": 1}}, "drop": ["stop"]})
    fired = [faults.fires("fail", "device_add") is not None for _ in range(5)]
    assert fired == [False, True, True, False, False]
    assert faults.fires("fail", "device_del") is None
    assert all(faults.fires("drop", "stop") for _ in range(3))  # no times: for good


def test_round_trip_keeps_the_shape_given() -> None:
    data = {
        "delay": {"query-status": 0.5, "cont": {"uniform": [0.1, 0.2], "times": 3}},
        "fail": {"device_add": {"class": "GenericError", "desc": "x", "after": 2}},
        "close_after": {"requests": 3, "times": 1},
        "close_mid_reply": [],
        "crash_on": ["quit"],
        "drop": {"query-pci": {"times": 1}},
        "disconnect": [],
        "kill_vm": ["device_del"],
        "seed": 7,
        "job_error": {"m1": 4096},
        "migration_cut": "ram",
        "migration_vanish": "device",
        "migration_stuck": True,
    }
    assert Faults.from_json(data).to_json() == data
    assert Faults.from_json({}).to_json()["close_after"] is None


def test_delay_distributions_are_bounded_and_seeded() -> None:
    a = Faults.from_json({"delay": {"x": {"exponential": 0.1}, "y": {"normal": [0.05, 1.0]}}, "seed": 3})
    b = Faults.from_json(a.to_json())
    draws = [a.delay_for("x") for _ in range(50)]
    assert draws == [b.delay_for("x") for _ in range(50)]  # the same seed, the same delays
    assert all(d is not None and d >= 0 for d in draws) and len(set(draws)) > 40
    assert all((a.delay_for("y") or 0) >= 0 for _ in range(50))  # a normal draw below 0 waits 0
    assert Delay(kind="uniform", params=(0.2, 0.2)).sample(a.rng) == 0.2
    assert Faults.from_json({"delay": {"x": {"uniform": [2, 1]}}}).to_json()["delay"]["x"] == {"uniform": [1, 2]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"boom": 1}, "unknown fault"),
        ({"delay": {"x": -1}}, "delay for x must be 0..3600"),
        ({"delay": {"x": {"uniform": 1}}}, "takes two numbers"),
        ({"delay": {"x": {"seconds": 1, "exponential": 1}}}, "needs one of"),
        ({"fail": {"x": {"desc": "d", "times": -1}}}, "times must be a whole number >= 0"),
        ({"fail": {"x": {"desc": "d", "when": 1}}}, "unknown key"),
        ({"drop": "x"}, "must be a list of command names"),
        ({"crash_on": [1]}, "must be a list of command names"),
        ({"delay": [1]}, "must be a table"),
        ({"close_after": {"times": 1}}, "requests must be a whole number"),
        ({"close_after": True}, "close_after must be a whole number"),
        ({"migration_cut": "midway"}, "migration_cut must be setup, active, ram or device"),
        ({"migration_vanish": "active"}, "migration_vanish must be setup, ram or device"),
        ({"migration_stuck": 1}, "migration_stuck must be true or false"),
    ],
)
def test_bad_faults_say_why(data: dict[str, object], message: str) -> None:
    with pytest.raises(FaultConfigError, match=message):
        Faults.from_json(data)
