"""Property test of the HTTP API against its own OpenAPI document (schemathesis): the real binary,
QEMU's command line with ``-fakeqemu http=127.0.0.1:0``, hit with generated requests; no 5xx, and every
response matches the document (status codes, content types, bodies)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.schemas import BaseSchema

URL = re.compile(r"dashboard at (http://127\.0\.0\.1:\d+)/")


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    err = (tmp / "stderr").open("w+")
    argv = [sys.executable, "-m", "fakeqemu", "-M", "pc", "-display", "none", "-nodefaults"]
    argv += ["-qmp", f"unix:{tmp / 'qmp.sock'},server=on,wait=off", "-fakeqemu", "http=127.0.0.1:0"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 20
        while (found := URL.search(Path(err.name).read_text())) is None:
            assert proc.poll() is None and time.monotonic() < deadline, Path(err.name).read_text()
            time.sleep(0.02)
        yield found.group(1)
    finally:
        proc.kill()
        proc.wait()
        err.close()


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
