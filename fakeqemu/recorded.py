"""The recorded facts (fakeqemu/data/*.json), read in parts as they are needed.

Each data file is one JSON document, as its recorder (tools/record_*.py) writes it. A process needs only a
little of it at start-up (the board it was asked for), and parsing the whole of machine.json costs ~7 ms of
the ~60 ms to the first replies. So ``document(name)`` is a read-only mapping that reads a part when it is
first looked at: each top-level value, and each entry of a top-level object of a few objects (machine.json's
boards and devices, by board), is a file of its own in a split of the document.

The split is derived data, like bytecode: marshal files (faster to load than JSON, and loading them needs no
json module) in a folder named after the interpreter, the document's size and its modification time in
whole seconds, as bytecode is stamped (``__split__/machine/cpython-311-SIZE-MTIME``), so a changed document
does not meet an old split. ``make`` builds it (``python -m fakeqemu.recorded``); a process that finds it
missing or stale builds it (atomically, beside any reader). Where the package folder is not writable, the
document is parsed whole, as before. A part is loaded once per process and shared, never modified.
"""

from __future__ import annotations

import functools
import marshal
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

DATA = os.path.join(os.path.dirname(__file__), "data")
SPLIT = os.path.join(DATA, "__split__")
#: a top-level object of at most this many entries, each an object, is split into one file per entry
MAX_SPLIT_ENTRIES = 16
INDEX = "index"

#: where a top-level value is: its file number, or (split) its entries' file numbers
_Where = int | dict[str, int]


class Part(Mapping[str, Any]):
    """A recorded object whose values are read from their own files when first looked at."""

    __slots__ = ("_files", "_name")

    def __init__(self, name: str, files: Mapping[str, _Where]) -> None:
        self._name, self._files = name, files

    def __getitem__(self, key: str) -> Any:
        return _value(self._name, self._files[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, key: object) -> bool:
        return key in self._files


def document(name: str) -> Mapping[str, Any]:
    """The data file ``name`` (e.g. "machine.json"), whose parts are read when first looked at."""
    found = _split(name)
    if found is None:
        return _whole(name)
    return Part(name, found[1])


@functools.cache
def _whole(name: str) -> Mapping[str, Any]:
    import json  # here: a process that reads the split never loads it

    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _folder(name: str) -> str:
    st = os.stat(os.path.join(DATA, name))
    tag = sys.implementation.cache_tag
    # whole seconds, as bytecode's stamp: an image layer or an archive keeps no finer modification time
    return os.path.join(SPLIT, name.removesuffix(".json"), f"{tag}-{st.st_size}-{int(st.st_mtime)}")


@functools.cache
def _split(name: str) -> tuple[str, dict[str, _Where]] | None:
    """The split of ``name`` (its folder and index), built if missing; None where it cannot be written."""
    folder = _folder(name)
    try:
        with open(os.path.join(folder, INDEX), "rb") as f:
            files: dict[str, _Where] = marshal.loads(f.read())
        return folder, files
    except OSError:  # not built yet (or the folder cannot be)
        pass
    try:
        return folder, build(name, folder)
    except OSError:
        return None


@functools.cache
def _file(name: str, number: int) -> Any:
    found = _split(name)
    assert found is not None
    try:
        with open(os.path.join(found[0], str(number)), "rb") as f:
            return marshal.loads(f.read())
    except FileNotFoundError:  # the document changed and a newer process removed this split meanwhile
        return _from_whole(name, number)


def _value(name: str, where: _Where) -> Any:
    return _file(name, where) if isinstance(where, int) else Part(name, where)


def _layout(data: dict[str, Any]) -> tuple[dict[str, _Where], list[Any]]:
    """Which file each part goes to: the index and the files' values, by number."""
    files: dict[str, _Where] = {}
    values: list[Any] = []
    for key, value in data.items():
        if (
            isinstance(value, dict)
            and 0 < len(value) <= MAX_SPLIT_ENTRIES
            and all(isinstance(v, dict) for v in value.values())
        ):
            entries: dict[str, int] = {}
            for sub, v in value.items():
                entries[sub] = len(values)
                values.append(v)
            files[key] = entries
        else:
            files[key] = len(values)
            values.append(value)
    return files, values


def _from_whole(name: str, number: int) -> Any:
    return _layout(dict(_whole(name)))[1][number]


def build(name: str, folder: str | None = None) -> dict[str, _Where]:
    """Write the split of data file ``name`` (and remove its stale splits); its index."""
    import shutil  # only here: ~1 ms of start-up otherwise

    folder = folder or _folder(name)
    data = dict(_whole(name))
    files, values = _layout(data)
    home = os.path.dirname(folder)
    os.makedirs(home, exist_ok=True)
    tmp = f"{folder}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.mkdir(tmp)
    try:
        for number, value in enumerate(values):
            with open(os.path.join(tmp, str(number)), "wb") as f:
                marshal.dump(value, f)
        with open(os.path.join(tmp, INDEX), "wb") as f:
            marshal.dump(files, f)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process built it first (the same split)
            if not os.path.isdir(folder):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stale = f"{sys.implementation.cache_tag}-"  # this interpreter's splits of older versions of the document
    for other in os.listdir(home):
        path = os.path.join(home, other)
        if other.startswith(stale) and "." not in other and path != folder:
            shutil.rmtree(path, ignore_errors=True)
    return files


def main() -> int:
    """``python -m fakeqemu.recorded``: build the splits of every data file (make does)."""
    for name in sorted(os.listdir(DATA)):
        if name.endswith(".json") and _split(name) is None:
            print(f"fakeqemu.recorded: cannot write the split of {name} in {SPLIT}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
