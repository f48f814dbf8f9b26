"""What a management tool asks before and right after it starts a VM: target, machines, CPU models and
their expansions, QOM class properties, command-line options, migration capabilities, TPM, SEV/SGX,
vCPUs, iothreads, chardevs, jobs.

The answers come from fakeqemu/data/probe.json (tools/record_probe.py: Debian's QEMU 7.2 asked libvirt's
questions), trimmed to what fakeqemu builds: there is no TPM, and per-accelerator answers follow the
accelerator this VM runs with (``kvm`` only when it was asked for and /dev/kvm can be opened, as QEMU
decides). query-machines lists every machine type QEMU has (fakeqemu.machine.machine_types).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.board import recorded
from fakeqemu.qmp.errors import DeviceNotFound, GenericError
from fakeqemu.recorded import document


@functools.cache
def probe_data() -> Mapping[str, Any]:
    """The recorded answers (each part parsed once per process, when first looked at; never modified)."""
    return document("probe.json")


def _copy(value: Any) -> Any:
    """A fresh copy of recorded data, so that no reply shares (mutable) structure with the record."""
    return json.loads(json.dumps(value))


def accel_data(ctx: Context) -> Mapping[str, Any]:
    table: Mapping[str, Any] = probe_data()["accel"]
    accel = ctx.machine.config.accel
    return table[accel] if accel in table else table["tcg"]  # type: ignore[no-any-return]


def _recorded_reply(reply: Mapping[str, Any]) -> Any:
    if "error" in reply:
        err = reply["error"]
        raise (DeviceNotFound if err["class"] == "DeviceNotFound" else GenericError)(err["desc"])
    return _copy(reply["return"])


def _error(name: str, **subst: str) -> GenericError | DeviceNotFound:
    """One of QEMU's recorded errors, with the recorded argument replaced by the caller's."""
    err = probe_data()["errors"][name]
    desc = str(err["desc"])
    for old, new in subst.items():
        desc = desc.replace(old, new)
    return (DeviceNotFound if err["class"] == "DeviceNotFound" else GenericError)(desc)


# --- the probe ----------------------------------------------------------------------------------------


@command("query-target")
def query_target(ctx: Context, args: dict[str, Any]) -> Any:
    return _copy(probe_data()["query-target"])


@command("query-machines")
def query_machines(ctx: Context, args: dict[str, Any]) -> Any:
    return _copy(accel_data(ctx)["query-machines"])


@command("query-cpu-definitions")
def query_cpu_definitions(ctx: Context, args: dict[str, Any]) -> Any:
    return _copy(accel_data(ctx)["query-cpu-definitions"])


def _cpu_typename(ctx: Context, model: str) -> str | None:
    for d in accel_data(ctx)["query-cpu-definitions"]:
        if d["name"] == model:
            return str(d["typename"])
    return None


@command("query-cpu-model-expansion")
def query_cpu_model_expansion(ctx: Context, args: dict[str, Any]) -> Any:
    model = args["model"]
    name = model["name"]
    key = json.dumps({"type": args["type"], "model": model}, sort_keys=True)
    reply = accel_data(ctx)["expansions"].get(key)
    if reply is not None:
        return _recorded_reply(reply)
    typename = _cpu_typename(ctx, name)
    if typename is None:
        raise _error("query-cpu-model-expansion", **{"nosuch-cpu": name})
    props = model.get("props")
    if isinstance(props, dict):
        known = {p["name"] for p in _class_props(typename) or []}
        for prop in props:
            if known and prop not in known:
                raise _error("query-cpu-model-expansion-prop", **{"max-x86_64-cpu.nosuch": f"{typename}.{prop}"})
    raise GenericError(
        f"fakeqemu has no recorded {args['type']} expansion of CPU model '{name}' with these properties "
        "(recorded: max and host, as libvirt asks for them)"
    )


def _class_props(typename: str) -> list[Any] | None:
    reply = probe_data()["qom-list-properties"].get(typename)
    if reply is None or "error" in reply:
        return None
    props: list[Any] = reply["return"]
    return props


@command("qom-list-properties")
def qom_list_properties(ctx: Context, args: dict[str, Any]) -> Any:
    name = args["typename"]
    reply = probe_data()["qom-list-properties"].get(name)
    if reply is not None:
        return _recorded_reply(reply)
    if name not in recorded().get("types", {}):
        raise _error("qom-list-properties", **{"nosuch-type": name})
    raise GenericError(f"fakeqemu has no record of the properties of class '{name}'")


def recorded_device_properties(name: str) -> Any:
    """device-list-properties for a device type fakeqemu has built in but does not hot-plug (PIIX4_PM,
    ICH9-LPC, mch, ...): QEMU's recorded answer, or None."""
    reply = probe_data()["device-list-properties"].get(name)
    if reply is None:
        return None
    return _recorded_reply(reply)


@command("query-command-line-options")
def query_command_line_options(ctx: Context, args: dict[str, Any]) -> Any:
    options: list[dict[str, Any]] = _copy(probe_data()["query-command-line-options"])
    m = ctx.machine
    if not (m.qom_modules_loaded or m.config.spice is not None):
        # -spice comes with QEMU's SPICE module, loaded by -spice or by qom-list-types (module_load_qom_all)
        options = [o for o in options if o["option"] != "spice"]
    wanted = args.get("option")
    if wanted is None:
        return options
    picked = [o for o in options if o["option"] == wanted]
    if not picked:
        raise GenericError(f"invalid option name: {wanted}")
    return picked


@command("query-tpm-models")
def query_tpm_models(ctx: Context, args: dict[str, Any]) -> Any:
    return []  # fakeqemu models no TPM (QEMU 7.2: tpm-crb, tpm-tis)


@command("query-tpm-types")
def query_tpm_types(ctx: Context, args: dict[str, Any]) -> Any:
    return []


@command("query-tpm")
def query_tpm(ctx: Context, args: dict[str, Any]) -> Any:
    return []


@command("query-sev-capabilities")
def query_sev_capabilities(ctx: Context, args: dict[str, Any]) -> Any:
    return _recorded_reply(accel_data(ctx)["query-sev-capabilities"])


@command("query-sgx-capabilities")
def query_sgx_capabilities(ctx: Context, args: dict[str, Any]) -> Any:
    return _recorded_reply(accel_data(ctx)["query-sgx-capabilities"])


# --- vCPUs, iothreads ---------------------------------------------------------------------------


def _board_kind(ctx: Context) -> str | None:
    board = ctx.machine.board
    return None if board is None else board.kind


@command("query-hotpluggable-cpus")
def query_hotpluggable_cpus(ctx: Context, args: dict[str, Any]) -> Any:
    if _board_kind(ctx) is None:
        raise GenericError("The feature 'query-hotpluggable-cpus' is not enabled")
    return ctx.machine.cpus.query_hotpluggable()


@command("query-cpus-fast")
def query_cpus_fast(ctx: Context, args: dict[str, Any]) -> Any:
    if _board_kind(ctx) is None:
        return []
    return ctx.machine.cpus.query_cpus_fast()


@command("query-iothreads")
def query_iothreads(ctx: Context, args: dict[str, Any]) -> Any:
    return []


# --- chardevs -----------------------------------------------------------------------------------------


@command("query-chardev")
def query_chardev(ctx: Context, args: dict[str, Any]) -> Any:
    """qmp_query_chardev: every chardev under /chardevs, in its hash table's order."""
    from fakeqemu.qmp.ghash import StrHashTable

    m = ctx.machine
    table = StrHashTable()  # the /chardevs container's children ("type" is a class property)
    files = m.config.chardev_files
    for cid in files:
        table.insert(cid)
    out = []
    for cid in reversed(list(table)):  # object_child_foreach in hash order, each prepended to the list
        if cid not in files:
            continue
        base = files[cid]
        connected = cid in m.config.connected_chardevs
        filename = base if connected or not base.startswith(("unix:", "tcp:")) else f"disconnected:{base}"
        agent = m.agent
        # a virtserialport's frontend is open while the guest has the port open
        agent_port = agent is not None and cid == agent.chardev
        fe_open = agent.port_open if agent is not None and agent_port else cid not in m.config.chardev_closed
        out.append({"label": cid, "filename": filename, "frontend-open": fe_open})
    return out
