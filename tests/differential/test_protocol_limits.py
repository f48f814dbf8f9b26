"""Differential: QEMU's JSON token-count limit (2 Mi tokens in one message) and what follows it.

QEMU swallows QMP input at about 0.3 MB/s, so the 64 MiB token-size limit (over three minutes of input
for QEMU) is checked on fakeqemu alone, in tests/qmp/test_limits.py."""

from __future__ import annotations

import pytest

from tests.oracle import Script, Send, Sync, call, check_must, run_both, script

#: 8 tokens up to "[", then 2 Mi - 8 tokens, so that the next "1" is token 2 Mi + 1: the limit falls on
#: it, and the four tokens left (, 1 ] }) are each a message of their own, as QEMU reads them
MANY_TOKENS = b'{"execute": "query-status", "id": [' + b"1," * (((2 << 20) - 8) // 2) + b"1,1]}"

SCRIPTS: list[Script] = [
    script(
        "limit-token-count",
        Send(MANY_TOKENS),
        Sync(timeout=120),
        call("query-kvm"),
        must=[
            b'{"error": {"class": "GenericError", "desc": "JSON token count limit exceeded"}}',
            b'{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}',
            b'{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}',
        ],
    ),
]


@pytest.mark.qemu
@pytest.mark.parametrize("sc", SCRIPTS, ids=str)
def test_differential(qemu_binary: str, sc: Script) -> None:
    check_must(sc, run_both(sc))
