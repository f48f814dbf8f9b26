"""keyval_parse and the keyval-mode visit (fakeqemu.cli.keyval), and QEMU's number parsers (fakeqemu.qmp.cnum)
on the cases util/keyval.c and util/cutils.c document; the differential table is test_blockdev_keyval."""

from __future__ import annotations

import pytest

from fakeqemu.cli.keyval import KeyvalError, keyval_parse, visit_option
from fakeqemu.cli.qemuopts import UsageError
from fakeqemu.qmp import cnum

BLOCKDEV = ("blockdev-add", "arg-type")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("file,filename=a,,b", {"driver": "file", "filename": "a,b"}),
        ("driver=raw,file.driver=file,file.cache.direct=on",
         {"driver": "raw", "file": {"driver": "file", "cache": {"direct": "on"}}}),
        ("a.1=y,a.0=x", {"a": ["x", "y"]}),
        ("a.0.b=1,a.0.c=2", {"a": [{"b": "1", "c": "2"}]}),
        ("x=1,x=2", {"x": "2"}),
        ("", {}),
    ],
)  # fmt: skip
def test_keyval_parse(text: str, parsed: dict[str, object]) -> None:
    assert keyval_parse(text, "driver")[0] == parsed


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a.1=x", "Parameter 'a.0' missing"),
        ("a=1,a.b=2", "Parameters 'a.*' used inconsistently"),
        ("a.0=1,a.b=2", "Parameters 'a.*' used inconsistently"),
        ("x=1,y", "Expected '=' after parameter 'y'"),
        ("x=1,1a=2", "Invalid parameter '1a'"),
        ("x=1,help", "Help is not available for this option"),
        ("x=1," + "k" * 128 + "=1", f"Parameter '{'k' * 128}' is too long"),
    ],
)
def test_keyval_parse_errors(text: str, error: str) -> None:
    with pytest.raises(KeyvalError, match=f"^{error}$"):
        keyval_parse(text, "driver")


def test_blockdev_typed() -> None:
    out = visit_option(
        "-blockdev", "file,node-name=f,filename=x,read-only=on,cache.direct=yes,aio-max-batch=010", BLOCKDEV, "driver"
    )
    assert out == {
        "driver": "file",
        "node-name": "f",
        "filename": "x",
        "read-only": True,
        "cache": {"direct": True},
        "aio-max-batch": 8,
    }
    with pytest.raises(UsageError, match=r"^-blockdev file,read-only=1: Parameter 'read-only' expects 'on' or 'off'$"):
        visit_option("-blockdev", "file,read-only=1", BLOCKDEV, "driver")
    json = visit_option("-blockdev", '{"driver":"null-co","node-name":"n"}', BLOCKDEV, "driver")
    assert json == {"driver": "null-co", "node-name": "n"}


@pytest.mark.parametrize(
    ("text", "size"),
    [("1", 1), ("1k", 1024), ("1.5K", 1536), ("1.k", 1024), ("0x10", 16), (" 2M", 2 << 20), ("1.0", 1),
     ("15E", 15 << 60), ("1.5", None), ("-1", None), ("0x", None), ("1e3", None), ("16E", None), ("10x", None),
     ("0.5B", None)],
)  # fmt: skip
def test_strtosz(text: str, size: int | None) -> None:
    assert cnum.strtosz(text) == size


def test_c_integers() -> None:
    assert [cnum.strtoi64(t) for t in ("010", "0x1f", "-1", "08", "", " 5", "5 ")] == [8, 31, -1, None, None, 5, None]
    assert cnum.strtou64("-1") == 2**64 - 1 and cnum.strtou64("18446744073709551616") is None
    assert [cnum.strtod_finite(t) for t in ("1.5", "inf", "1e999", ".5", "0x1p3")] == [1.5, None, None, 0.5, 8.0]
