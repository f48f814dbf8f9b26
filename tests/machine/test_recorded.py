"""The recorded facts read in parts (fakeqemu/recorded.py): the same values as the whole document, a split
rebuilt when the document changes, and the whole document parsed where no split can be written."""

from __future__ import annotations

import json
import marshal
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from fakeqemu import recorded


def _plain(value: Any) -> Any:
    return {k: _plain(v) for k, v in value.items()} if isinstance(value, Mapping) else value


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(recorded.DATA) if n.endswith(".json")))
def test_parts_are_the_document(name: str) -> None:
    with open(os.path.join(recorded.DATA, name), encoding="utf-8") as f:
        whole = json.load(f)
    doc = recorded.document(name)
    # the same values in the same order (replies list them in the recorded order)
    assert json.dumps(_plain(doc)) == json.dumps(whole)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(recorded, "DATA", str(tmp_path))
    monkeypatch.setattr(recorded, "SPLIT", str(tmp_path / "__split__"))
    forget()
    yield tmp_path
    forget()


def forget() -> None:
    for cached in (recorded._split, recorded._file, recorded._whole):
        cached.cache_clear()


def test_a_part_is_read_when_first_looked_at(data: Path) -> None:
    doc = {"qemu": "7.2", "boards": {"pc": {"a": 1}, "q35": {"b": [2]}}, "types": {"t": "x"}}
    (data / "m.json").write_text(json.dumps(doc))
    parts = recorded.document("m.json")
    assert list(parts) == ["qemu", "boards", "types"]
    (split,) = os.listdir(data / "__split__" / "m")
    index = marshal.loads((data / "__split__" / "m" / split / "index").read_bytes())
    assert index == {"qemu": 0, "boards": {"pc": 1, "q35": 2}, "types": 3}
    assert recorded._file.cache_info().currsize == 0
    assert parts["boards"]["q35"] == {"b": [2]}
    assert recorded._file.cache_info().currsize == 1  # q35's part only


def test_a_changed_document_gets_a_new_split(data: Path) -> None:
    (data / "m.json").write_text(json.dumps({"boards": {"pc": {"v": 1}}}))
    assert recorded.document("m.json")["boards"]["pc"] == {"v": 1}
    (old,) = os.listdir(data / "__split__" / "m")
    forget()  # a new process
    (data / "m.json").write_text(json.dumps({"boards": {"pc": {"v": 22}}}))
    assert recorded.document("m.json")["boards"]["pc"] == {"v": 22}
    (new,) = os.listdir(data / "__split__" / "m")  # the stale split is gone
    assert new != old


def test_without_a_writable_folder_the_document_is_parsed_whole(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (data / "m.json").write_text(json.dumps({"boards": {"pc": {"v": 1}}}))
    (data / "file").write_text("")
    monkeypatch.setattr(recorded, "SPLIT", str(data / "file" / "__split__"))  # not a folder: cannot be made
    doc = recorded.document("m.json")
    assert isinstance(doc, dict)
    assert doc["boards"]["pc"] == {"v": 1}
