"""Property test of the HTTP API against its own OpenAPI document (schemathesis): the real binary,
QEMU's command line with ``-fakeqemu http=127.0.0.1:0``, hit with generated requests; no 5xx, and every
response matches the document (status codes, content types, bodies)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.schemas import BaseSchema

from tools.launch import BARE, FAKEQEMU, Emulator

URL = r"dashboard at (http://127\.0\.0\.1:\d+)/"


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    with Emulator(prefix="fuzz-") as emu:
        argv = [*FAKEQEMU, "-M", "pc", *BARE, "-qmp", f"unix:{emu.path('qmp.sock')},server=on,wait=off"]
        emu.start([*argv, "-fakeqemu", "http=127.0.0.1:0"], log=True)
        yield emu.wait_log(URL).group(1)


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{api_url}/openapi.json")


def test_api_matches_its_openapi_document(api_schema: BaseSchema) -> None:
    # /stream is an endless response: it is tested in test_http_stream
    ops = api_schema.exclude(path_regex=r"/stream$")
    cases = st.one_of(
        *(ops.as_strategy(mode, path_parameters={"name": "vm0"}) for mode in GenerationMode),  # the VM there
        *(ops.as_strategy(mode) for mode in GenerationMode),  # any name
    )
    session = requests.Session()

    @given(case=cases)
    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Case[Any]) -> None:
        case.call_and_validate(session=session, timeout=10)

    check()
