"""QEMU 7.2's machine types besides the two 7.2 boards, from fakeqemu/data/machine-types.json
(tools/record_machine_types.py), read only when a VM asks for one: an older pc-i440fx-* / pc-q35-* is
the 7.2 board with QEMU's recorded differences (compat properties, fw_cfg files, the q35 ACPI hotplug
block of 6.1 on); ``none``, ``isapc``, ``microvm`` and ``x-remote`` are QOM trees of their own, built
without a board model (nothing can be plugged into them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the machine types fakeqemu records whole (machine.json) and their aliases
CURRENT = {"pc-i440fx-7.2": "pc", "pc-q35-7.2": "q35"}
ALIASES = {"pc": "pc-i440fx-7.2", "q35": "pc-q35-7.2"}


def recorded_types() -> Mapping[str, Any]:
    """The recorded differences and trees (each part read when first looked at, never modified); the
    command line of a 7.2 board does not load the reader."""
    from fakeqemu.recorded import document

    return document("machine-types.json")


def resolve(name: str) -> tuple[str, str] | None:
    """A ``-machine type=`` value as (board kind, machine type): the kind is "pc" or "q35" for the
    boards fakeqemu builds, "none" for a machine type it builds no board for; the type is "" for the 7.2
    boards. None: QEMU 7.2 has no such machine type."""
    full = ALIASES.get(name, name)
    if full in CURRENT:
        return CURRENT[full], ""
    if full == "none":
        return "none", ""
    data = recorded_types()
    diff = data["diffs"].get(full)
    if diff is not None:
        return str(diff["base"]), full
    if full in data["trees"]:
        return "none", full
    return None


def patched(base: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The objects of machine type ``name``: its 7.2 board's (``base``) with QEMU's recorded differences."""
    diff = recorded_types()["diffs"][name]
    drop = frozenset(diff.get("drop", ()))
    out = {p: o for p, o in base.items() if p not in drop}
    for path, patch in diff.get("change", {}).items():
        old = out[path]
        values = {k: v for k, v in old["values"].items() if k not in patch.get("unset", ())}
        values.update(patch.get("values", {}))
        out[path] = {
            "props": patch.get("props", old["props"]),
            "values": values,
            "errors": patch.get("errors", old["errors"]),
        }
    out.update(diff.get("add", {}))
    return out


def tree_objects(name: str) -> Mapping[str, Any]:
    """The recorded objects of a machine type fakeqemu builds no board for."""
    objects: Mapping[str, Any] = recorded_types()["trees"][name or "none"]
    return objects


def deprecation(name: str) -> str | None:
    """The warning QEMU prints (not under -qtest) when it starts machine type ``name``, if deprecated."""
    if not name:  # a 7.2 board (not deprecated) does not load the record
        return None
    text = recorded_types()["deprecated"].get(name)
    return None if text is None else str(text)
