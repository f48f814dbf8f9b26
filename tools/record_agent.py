#!/usr/bin/env python3
"""Record Debian's qemu-ga into fakeqemu/data/agent-schema.json, the agent model's schema.

Two sources, both QEMU 7.2 as Debian builds it:

* the ``qemu-ga`` binary, started on a private socket (``-m unix-listen``) with every RPC that could change
  this machine blocked (``-b``), asked ``guest-info`` only: its version and ``supported_commands`` in its
  order. Blocking changes ``enabled``, so each entry keeps the RPC's state as the build registers it: every
  command is enabled but ``guest-get-devices`` (Windows only; registered disabled on Linux);
* qemu-ga publishes no introspection, so its argument types come from the QAPI schema it was built from
  (``qga/qapi-schema.json`` of Debian's source package, ``apt-get source qemu``), put through QEMU's own
  introspection generator (``scripts/qapi``, unmasked names) and the ``#if`` conditions of a Linux build.
  The result is the same shape as fakeqemu/data/qapi-schema.json, so fakeqemu.qmp.schema checks agent
  arguments with qemu-ga's error texts; ``int-types`` keeps the integer widths introspection hides.

Usage: python -m tools.record_agent [--qemu-ga qemu-ga] [--src QEMU-SOURCE-DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tools.launch import connect

OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "agent-schema.json"
SRC = "/var/cache/fakeqemu-qtest/src"
#: qemu-ga RPCs that act on the host it runs on; never let the recording run them
HOST_CHANGING = (
    "guest-fsfreeze-freeze,guest-fsfreeze-freeze-list,guest-fsfreeze-thaw,guest-fstrim,guest-shutdown,"
    "guest-suspend-disk,guest-suspend-ram,guest-suspend-hybrid,guest-set-time,guest-set-user-password,"
    "guest-set-vcpus,guest-set-memory-blocks,guest-exec,guest-file-open,guest-file-write,"
    "guest-ssh-add-authorized-keys,guest-ssh-remove-authorized-keys"
)
#: registered disabled by a Linux build (qga/commands-posix.c ga_command_blockedlist_init)
DISABLED_ON_LINUX = ("guest-get-devices",)
#: what a Linux build of qemu-ga 7.2 defines, for the schema's 'if' conditions
DEFINED = {"CONFIG_POSIX", "CONFIG_LINUX"}


def guest_info(binary: str) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="record-agent-")
    path = os.path.join(tmp, "ga.sock")
    state = os.path.join(tmp, "state")
    os.mkdir(state)
    cmd = [binary, "-m", "unix-listen", "-p", path, "-t", state, "-f", os.path.join(tmp, "pid"), "-b", HOST_CHANGING]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sock = connect(path, proc)
        sock.sendall(b'{"execute":"guest-info"}')
        reply = sock.makefile("rb").readline()
        sock.close()
    finally:
        proc.terminate()
        proc.wait()
    info: dict[str, Any] = json.loads(reply)["return"]
    for entry in info["supported_commands"]:
        entry["enabled"] = entry["name"] not in DISABLED_ON_LINUX
    return info


def _ifcond_true(cond: Any) -> bool:
    if cond is None:
        return True
    if isinstance(cond, str):
        return cond in DEFINED
    if "all" in cond:
        return all(_ifcond_true(c) for c in cond["all"])
    if "any" in cond:
        return any(_ifcond_true(c) for c in cond["any"])
    return not _ifcond_true(cond["not"])


def _plain(value: Any, annotated: type) -> Any:
    """QEMU's Annotated QLit tree as plain JSON, dropping what a Linux build leaves out."""
    if isinstance(value, annotated):
        return _plain(value.value, annotated)  # type: ignore[attr-defined]
    if isinstance(value, dict):
        return {k: _plain(v, annotated) for k, v in sorted(value.items())}
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, annotated) and not _ifcond_true(item.ifcond.ifcond):  # type: ignore[attr-defined]
                continue
            out.append(_plain(item, annotated))
        return out
    return value


def introspect(src: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    sys.path.insert(0, os.path.join(src, "scripts"))
    from qapi.introspect import Annotated, QAPISchemaGenIntrospectVisitor  # type: ignore[import-not-found]
    from qapi.schema import QAPISchema, QAPISchemaObjectType  # type: ignore[import-not-found]

    trees: list[Any] = []

    class Keep(QAPISchemaGenIntrospectVisitor):  # type: ignore[misc]
        def visit_end(self) -> None:
            for typ in self._used_types:
                typ.visit(self)
            trees.extend(self._trees)

    schema = QAPISchema(os.path.join(src, "qga", "qapi-schema.json"))
    schema.visit(Keep("qga-", True))
    entities = [_plain(t, Annotated) for t in trees if _ifcond_true(t.ifcond.ifcond)]
    int_types: dict[str, dict[str, str]] = {}
    for ent in schema._entity_list:
        if not isinstance(ent, QAPISchemaObjectType):
            continue
        for m in ent.members:
            typ = m.type
            elem = getattr(typ, "element_type", None)
            kind = (elem if elem is not None else typ).name
            if (elem if elem is not None else typ).json_type() == "int" and kind not in ("int", "int64"):
                int_types.setdefault(ent.name, {})[m.name] = kind
    return entities, int_types


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu-ga", default="qemu-ga")
    ap.add_argument("--src", default=SRC)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    info = guest_info(args.qemu_ga)
    entities, int_types = introspect(args.src)
    names = {c["name"] for c in info["supported_commands"]}
    have = {e["name"] for e in entities if e["meta-type"] == "command"}
    if names - have:
        raise SystemExit(f"qemu-ga serves commands its schema lacks: {sorted(names - have)}")
    data = {
        "qemu-version": info["version"],
        "raw-sha256": "",
        "raw-length": 0,
        "gen-false": [],
        "commands-order": [c["name"] for c in info["supported_commands"]],
        "supported-commands": info["supported_commands"],
        "int-types": int_types,
        "alternate-names": {},
        "schema": entities,
    }
    Path(args.out).write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out}: {len(names)} commands, {len(entities)} schema entities")


if __name__ == "__main__":
    main()
