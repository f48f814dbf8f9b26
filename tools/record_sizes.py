"""Mark the QAPI members of type ``size`` in fakeqemu/data/qapi-schema.json's ``int-types``.

Introspection writes ``size`` as ``int`` and QMP's JSON input visitor treats it as ``uint64`` (which is how
tools/record_schema.py measured it), but QEMU's keyval input visitor (-blockdev, -object, -audiodev in the
KEY=VALUE syntax) parses a size with qemu_strtosz (suffixes K, M, G, ...) and a uint64 with qemu_strtou64.
Which uint64 members are sizes is read from the QAPI code QEMU 7.2's build generated: the
``visit_type_size(v, "member", ...)`` calls in each ``visit_type_TYPE_members`` (qapi/qapi-visit-*.c), and
the introspection number of TYPE from the comments of qapi/qapi-introspect.c (``/* "20" = TYPE */``).
Every member found must be an ``int`` of the recorded introspection and, where record_schema measured it
(members of command arguments), a uint64 (the check that the build is the recorded binary's).

    python -m tools.record_sizes [BUILD_DIR]     # default /var/cache/fakeqemu-qtest/src/build
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys

DATA = os.path.join(os.path.dirname(__file__), "..", "fakeqemu", "data", "qapi-schema.json")
_FUNC = re.compile(r"^bool visit_type_(\w+)_members\(")
_SIZE = re.compile(r'visit_type_size\(v, "([^"]+)"')
_NUMBER = re.compile(r'/\* "(\d+)" = (\S+) \*/')


def c_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def size_members(build: str) -> dict[str, list[str]]:
    """{C type name: [member, ...]} for every ``size`` member of QEMU's generated visitors."""
    found: dict[str, list[str]] = {}
    for path in sorted(glob.glob(os.path.join(build, "qapi", "qapi-visit-*.c"))):
        owner = None
        with open(path) as f:
            for line in f:
                m = _FUNC.match(line)
                if m:
                    owner = m.group(1)
                    continue
                s = _SIZE.search(line)
                if s and owner is not None:
                    found.setdefault(owner, []).append(s.group(1))
    return found


def main() -> None:
    build = sys.argv[1] if len(sys.argv) > 1 else "/var/cache/fakeqemu-qtest/src/build"
    with open(os.path.join(build, "qapi", "qapi-introspect.c")) as f:
        numbers = {c_name(name): num for num, name in _NUMBER.findall(f.read())}
    with open(DATA) as f:
        doc = json.load(f)
    int_types: dict[str, dict[str, str]] = doc["int-types"]
    entities = {e["name"]: e for e in doc["schema"]}
    marked = 0
    for owner, members in size_members(build).items():
        num = numbers.get(owner)
        if num is None:  # a type introspection does not list (not reachable from a command or event)
            continue
        for member in members:
            kind = int_types.get(num, {}).get(member)
            types = {m["name"]: m["type"] for m in entities[num].get("members", [])}
            if kind not in ("uint64", "size", None) or types.get(member) not in ("int", "[int]"):
                raise SystemExit(f"{owner}.{member} (#{num}) is recorded as {kind}, not uint64: another build?")
            int_types.setdefault(num, {})[member] = "size"
            marked += 1
    with open(DATA, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{marked} size members marked")


if __name__ == "__main__":
    main()
