"""Differential: QEMU's JSON token-count limit (2 Mi tokens in one message) and what follows it.

QEMU swallows QMP input at about 0.3 MB/s, so the 64 MiB token-size limit (over three minutes of input
for QEMU) is checked on fakeqemu alone, in tests/qmp/test_limits.py."""

from __future__ import annotations

import pytest

from tests.oracle import Quiet, Script, Send, call, run_both, script

MANY_TOKENS = b'{"execute": "query-status", "id": [' + b"1," * (2 << 20) + b"1]}"

SCRIPTS: list[Script] = [
    script("limit-token-count", Send(MANY_TOKENS), Quiet(3000), call("query-kvm")),
]


@pytest.mark.qemu
@pytest.mark.parametrize("sc", SCRIPTS, ids=str)
def test_differential(qemu_binary: str, sc: Script) -> None:
    run_both(sc)
