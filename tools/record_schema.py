#!/usr/bin/env python3
"""Record QEMU's QAPI schema into fakeqemu/data/qapi-schema.json.

Runs the real ``qemu-system-x86_64 -M none`` and asks it over QMP for:

* ``query-qmp-schema``: the introspection list, stored with every object's keys in the order QEMU inserts
  them (the generated QLit tables list keys sorted, so QEMU inserts them sorted), which lets
  fakeqemu.qmp.encode reproduce QEMU's bytes; the SHA-256 and length of QEMU's reply line are stored too.
* ``query-commands``: its order (QEMU lists commands in reverse registration order, not schema order).

Introspection hides two facts that argument checking needs, so this tool measures them by sending
arguments that always fail before any command runs (an extra top-level member ``x-record-probe`` makes
QEMU reject the call in its final unexpected-member check, after every member was visited):

* the real width of every ``int`` member reachable from a command's arguments (int8..int64, uint8..
  uint64, size all show as ``int``): recorded in ``int-types`` as {type: {member: kind}} for members that
  are not plain int64, where an array member ``[int]`` records its element's kind;
* the real name of each alternate, which QEMU prints in its type error ("expected: BlockdevRef"):
  ``alternate-names`` {masked name: real name}.

Which uint64 members are QAPI ``size`` (they differ only in keyval mode) is then marked by
tools/record_sizes.py, from the code QEMU's build generated: run it after this tool.

Usage: python -m tools.record_schema [--binary qemu-system-x86_64] [--machine none] [--out PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import deque
from pathlib import Path
from typing import Any

from tools.qemu_link import Qemu

PROBE = "x-record-probe"
OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "qapi-schema.json"
#: commands QEMU 7.2 declares 'gen': false (no generated argument visitor; their handler runs on any args)
GEN_FALSE = ["device_add"]


def start(binary: str, machine: str) -> Qemu:
    return Qemu(binary, ["-M", machine, "-display", "none", "-nodefaults", "-S"])


def sort_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: sort_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sort_keys(v) for v in value]
    return value


class Prober:
    """Builds argument sets that reach a given type and classifies QEMU's errors."""

    def __init__(self, qmp: Qemu, schema: list[dict[str, Any]]) -> None:
        self.qmp = qmp
        self.entities = {e["name"]: e for e in schema}
        self.commands = [e for e in schema if e["meta-type"] == "command" and e["name"] not in GEN_FALSE]

    # -- minimal valid values -------------------------------------------------------------------
    def minimal(self, tname: str, depth: int = 0) -> Any:
        if depth > 12:
            raise RuntimeError(f"no finite value for {tname}")
        e = self.entities[tname]
        mt = e["meta-type"]
        if mt == "builtin":
            return {"str": "x", "int": 0, "bool": False, "number": 0, "null": None, "any": 0}[tname]
        if mt == "enum":
            return e["values"][0]
        if mt == "array":
            return []
        if mt == "alternate":
            order = sorted(e["members"], key=lambda m: m["type"] not in ("str", "int", "bool", "null"))
            return self.minimal(order[0]["type"], depth + 1)
        d: dict[str, Any] = {}
        self.fill(tname, d, [], None, depth)
        return d

    def fill(self, tname: str, d: dict[str, Any], route: list[tuple[str, Any]], hole: Any, depth: int) -> None:
        """Put T's required members into ``d``, following ``route`` (whose end takes ``hole``)."""
        e = self.entities[tname]
        step = route[0] if route else None
        case = None
        if "tag" in e:
            if step is not None and step[0] == "case":
                case = step[1]
            elif e.get("variants"):
                case = e["variants"][0]["case"]
            else:
                case = self.entities[next(m["type"] for m in e["members"] if m["name"] == e["tag"])]["values"][0]
        for m in e["members"]:
            if step is not None and step[0] == "member" and step[1] == m["name"]:
                d[m["name"]] = self.build(m["type"], route[1:], hole, depth + 1)
            elif "tag" in e and m["name"] == e["tag"]:
                d[m["name"]] = case
            elif "default" not in m:
                d[m["name"]] = self.minimal(m["type"], depth + 1)
        for v in e.get("variants", []):
            if v["case"] == case:
                rest = route[1:] if step is not None and step[0] == "case" else []
                self.fill(v["type"], d, rest, hole, depth + 1)

    def build(self, tname: str, route: list[tuple[str, Any]], hole: Any, depth: int = 0) -> Any:
        if not route:
            return hole
        e = self.entities[tname]
        kind, arg = route[0]
        if kind == "elem":
            return [self.build(e["element-type"], route[1:], hole, depth + 1)]
        if kind == "alt":
            return self.build(e["members"][arg]["type"], route[1:], hole, depth + 1)
        d: dict[str, Any] = {}
        self.fill(tname, d, route, hole, depth)
        return d

    # -- routes ---------------------------------------------------------------------------------
    def routes(self) -> dict[str, tuple[str, list[tuple[str, Any]]]]:
        """Shortest route from some command's arguments to each reachable type."""
        found: dict[str, tuple[str, list[tuple[str, Any]]]] = {}
        queue: deque[tuple[str, str, list[tuple[str, Any]]]] = deque(
            (c["arg-type"], c["name"], []) for c in self.commands
        )
        while queue:
            tname, cmd, route = queue.popleft()
            if tname in found:
                continue
            found[tname] = (cmd, route)
            e = self.entities[tname]
            mt = e["meta-type"]
            if mt == "object":
                for m in e["members"]:
                    queue.append((m["type"], cmd, [*route, ("member", m["name"])]))
                for v in e.get("variants", []):
                    queue.append((v["type"], cmd, [*route, ("case", v["case"])]))
            elif mt == "array":
                queue.append((e["element-type"], cmd, [*route, ("elem", None)]))
            elif mt == "alternate":
                for i, m in enumerate(e["members"]):
                    queue.append((m["type"], cmd, [*route, ("alt", i)]))
        return found

    def send(self, cmd: str, route: list[tuple[str, Any]], hole: Any) -> str:
        cmd_entity = next(c for c in self.commands if c["name"] == cmd)
        args = self.build(cmd_entity["arg-type"], route, hole)
        if not isinstance(args, dict):
            raise RuntimeError("arguments must be an object")
        args[PROBE] = 1
        return str(self.qmp.err(cmd, args)["desc"])

    def classify_int(self, cmd: str, route: list[tuple[str, Any]], wrap: bool) -> str:
        def probe(value: Any) -> str:
            return self.send(cmd, route, [value] if wrap else value)

        unexpected = f"Parameter '{PROBE}' is unexpected"
        big = probe(2**63)
        if big == unexpected:
            return "uint64" if probe(-1) == unexpected else "size"
        if big.endswith("expects uint8_t"):
            return "uint8"
        if big.endswith("expects uint16_t"):
            return "uint16"
        if big.endswith("expects uint32_t"):
            return "uint32"
        if not big.endswith("expected: integer"):
            raise RuntimeError(f"unexpected answer {big!r}")
        low = probe(-(2**31) - 1)
        if low == unexpected:
            return "int"
        for kind in ("int8", "int16", "int32"):
            if low.endswith(f"expects {kind}_t"):
                return kind
        raise RuntimeError(f"unexpected answer {low!r}")

    def measure(self) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
        routes = self.routes()
        int_types: dict[str, dict[str, str]] = {}
        alt_names: dict[str, str] = {}
        for tname, (cmd, route) in routes.items():
            e = self.entities[tname]
            if e["meta-type"] == "object":
                for m in e["members"]:
                    if m["type"] not in ("int", "[int]"):
                        continue
                    kind = self.classify_int(cmd, [*route, ("member", m["name"])], m["type"] == "[int]")
                    if kind != "int":
                        int_types.setdefault(tname, {})[m["name"]] = kind
            elif e["meta-type"] == "alternate":
                accepted = {self.json_kind(m["type"]) for m in e["members"]}
                bad: Any = next(
                    v
                    for k, v in (
                        ("array", []),
                        ("object", {}),
                        ("bool", True),
                        ("str", "x"),
                        ("null", None),
                        ("num", 0),
                    )
                    if k not in accepted
                )
                desc = self.send(cmd, route, bad)
                marker = ", expected: "
                alt_names[tname] = desc[desc.index(marker) + len(marker) :]
                for i, m in enumerate(e["members"]):
                    if m["type"] in ("int", "[int]"):
                        kind = self.classify_int(cmd, [*route, ("alt", i)], m["type"] == "[int]")
                        if kind != "int":
                            int_types.setdefault(tname, {})[f"#{i}"] = kind
        return int_types, alt_names

    def json_kind(self, tname: str) -> str:
        e = self.entities[tname]
        mt = e["meta-type"]
        if mt == "builtin":
            return {
                "str": "str",
                "int": "num",
                "number": "num",
                "bool": "bool",
                "null": "null",
                "any": "any",
            }[tname]
        return {"enum": "str", "object": "object", "array": "array", "alternate": "any"}[mt]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="qemu-system-x86_64")
    ap.add_argument("--machine", default="none")
    ap.add_argument("--out", type=Path, default=OUT)
    opts = ap.parse_args()

    qmp = start(opts.binary, opts.machine)
    try:
        version = qmp.q("query-version")["return"]
        raw = qmp.raw(b'{"execute": "query-qmp-schema"}')
        schema = sort_keys(json.loads(raw)["return"])
        order = [c["name"] for c in qmp.q("query-commands")["return"]]
        int_types, alt_names = Prober(qmp, schema).measure()
    finally:
        qmp.close()
    q = version["qemu"]
    data = {
        "qemu-version": f"{q['major']}.{q['minor']}.{q['micro']} ({version['package']})",
        "raw-sha256": hashlib.sha256(raw).hexdigest(),
        "raw-length": len(raw),
        "gen-false": GEN_FALSE,
        "commands-order": order,
        "int-types": int_types,
        "alternate-names": alt_names,
        "schema": schema,
    }
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    with opts.out.open("w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    print(
        f"wrote {opts.out}: {len(schema)} entities, {len(order)} commands, "
        f"{sum(len(v) for v in int_types.values())} sized ints, {len(alt_names)} alternates",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
