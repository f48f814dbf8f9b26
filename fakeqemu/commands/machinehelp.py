"""``-M help`` / ``-machine help`` / ``-M ?`` (every machine type), ``-M TYPE,help`` (its properties),
``-accel help`` and ``-cpu help`` as QEMU 7.2 prints them, from its recorded output
(fakeqemu/data/machine-help.json, tools/record_machine_help.py), read only when help is asked for.
"""

from __future__ import annotations

from typing import Any


def _data() -> dict[str, Any]:
    import json  # here: the json module is not loaded at start-up

    from fakeqemu import data_text

    data: dict[str, Any] = json.loads(data_text("machine-help.json"))
    return data


def machine_help(mtype: str | None) -> str:
    """machine_help_func: the properties of machine type ``mtype`` (or its alias); the whole listing when
    there is no type or QEMU has no such one."""
    data = _data()
    name = data["aliases"].get(mtype, mtype)
    index = data["machines"].get(name)
    if index is None:
        return str(data["list"])
    return f"{name}-machine options:\n{data['bodies'][index]}"


def accel_help() -> str:
    return str(_data()["accel"])


def cpu_help() -> str:
    return str(_data()["cpu"])
