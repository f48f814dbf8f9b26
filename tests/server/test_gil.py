"""The interpreter settings held while a worker thread parses a client's heavy input (fakeqemu.server.gil)."""

from __future__ import annotations

import gc
import sys

from fakeqemu.server.gil import NO_COLLECTION, QUICK_S, QUICK_SWITCHES


def test_quick_switches_while_held_restored_after_the_last_holder() -> None:
    before = sys.getswitchinterval()
    assert before != QUICK_S
    with QUICK_SWITCHES:
        assert sys.getswitchinterval() == QUICK_S
        with QUICK_SWITCHES:  # a second heavy client at the same time
            assert sys.getswitchinterval() == QUICK_S
        assert sys.getswitchinterval() == QUICK_S  # the first one still parses
    assert sys.getswitchinterval() == before


def test_no_collection_while_held_and_a_paused_collection_left_paused() -> None:
    assert gc.isenabled()
    with NO_COLLECTION:
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()  # as during fakeqemu's start-up
    try:
        with NO_COLLECTION:
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
