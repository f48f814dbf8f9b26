"""Queries about the VM's fixed parts and subsystems fakeqemu has no model of, answered as QEMU 7.2
answers them on a fresh VM of the same board and accelerator (fakeqemu/data/queries.json,
tools/record_queries.py): persistent reservation managers, block exports, chardev backends, dumps, dirty
rate, COLO, replication, record/replay, statistics, the x-query-* texts; and from the VM's own state:
query-mice (its input handlers), query-rx-filter (its NICs), x-debug-query-block-graph.

Where QEMU's text depends on something fakeqemu does not model (ROMs and RAM blocks of plugged devices,
a USB bus's devices, a block graph with nodes), the command says so instead of answering wrongly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.backends import NicClient
from fakeqemu.qmp.errors import DeviceNotFound, GenericError
from fakeqemu.recorded import document

#: the queries answered as recorded for the VM's board
FIXED = (
    "query-pr-managers", "query-block-exports", "query-chardev-backends", "query-dump",
    "query-dump-guest-memory-capability", "query-xen-replication-status", "query-colo-status",
    "query-dirty-rate", "query-vm-generation-id", "x-query-irq", "x-query-numa", "x-query-profile",
    "x-query-rdma", "query-replay",
)  # fmt: skip
#: the queries whose answer depends on the accelerator
BY_ACCEL = ("x-query-jit", "x-query-opcount", "query-stats-schemas")


def _reply(reply: Mapping[str, Any]) -> Any:
    if "error" in reply:
        err = reply["error"]
        raise (DeviceNotFound if err["class"] == "DeviceNotFound" else GenericError)(err["desc"])
    return json.loads(json.dumps(reply["return"]))  # a fresh copy: no reply shares the record


def _board(ctx: Context) -> str:
    cfg = ctx.machine.config
    return cfg.machine_name if cfg.machine_type == "none" and cfg.machine_name else cfg.machine_type


def recorded(ctx: Context, name: str) -> Any:
    """QEMU's answer to ``name`` on a fresh VM of this board (and accelerator, where it matters)."""
    data = document("queries.json")
    accel = ctx.machine.config.accel
    if name in BY_ACCEL and accel != "tcg":
        # kvm's; upstream's qtest accelerator is not TCG either (and has no statistics of its own)
        table = data["accel"]["kvm"] if accel == "kvm" or name != "query-stats-schemas" else data["accel"]["tcg"]
        return _reply(table[name])
    return _reply(data["boards"][_board(ctx)][name])


def _fixed(name: str) -> None:
    @command(name)
    def answer(ctx: Context, args: dict[str, Any]) -> Any:
        return recorded(ctx, name)


for _name in (*FIXED, *BY_ACCEL):
    _fixed(_name)


@command("query-display-options")
def query_display_options(ctx: Context, args: dict[str, Any]) -> Any:
    # -display as parsed (QAPI_CLONE_MEMBERS into dpy); fakeqemu has no display of its own to show
    return ctx.machine.config.display or {"type": "none"}


@command("query-mice")
def query_mice(ctx: Context, args: dict[str, Any]) -> Any:
    if ctx.machine.config.machine_type == "none":
        return recorded(ctx, "query-mice")
    return ctx.machine.inputs.mice()


def _unplugged(ctx: Context) -> bool:
    """Nothing but the board: no device was plugged, the memory is the recorded 128 MiB."""
    m = ctx.machine
    board = m.board
    if board is not None and (board.peripheral.children or board.peripheral_anon.children):
        return False
    return m.config.memory_mb == 128


def _as_recorded(ctx: Context, name: str, what: str) -> Any:
    if not _unplugged(ctx):
        raise GenericError(f"fakeqemu does not model {name} with {what}")
    return recorded(ctx, name)


@command("x-query-roms")
def x_query_roms(ctx: Context, args: dict[str, Any]) -> Any:
    return _as_recorded(ctx, "x-query-roms", "plugged devices (their option ROMs)")


@command("x-query-ramblock")
def x_query_ramblock(ctx: Context, args: dict[str, Any]) -> Any:
    return _as_recorded(ctx, "x-query-ramblock", "plugged devices or other than 128 MiB of memory")


@command("x-query-usb")
def x_query_usb(ctx: Context, args: dict[str, Any]) -> Any:
    board = ctx.machine.board
    if board is None or board.find_any_bus(None, "usb-bus") is None:
        return recorded(ctx, "x-query-usb")  # "USB support not enabled"
    raise GenericError("fakeqemu does not model x-query-usb's list of USB devices")


@command("x-debug-query-block-graph")
def x_debug_query_block_graph(ctx: Context, args: dict[str, Any]) -> Any:
    b = ctx.machine.backends
    if b.blockdevs or b.blks:
        raise GenericError("fakeqemu does not model x-debug-query-block-graph of a graph with nodes")
    return {"edges": [], "nodes": []}


#: the NICs whose net client answers query-rx-filter (virtio_net_query_rxfilter)
RX_FILTER = frozenset({"virtio-net-pci"})


def _rx_filter(nic: NicClient) -> dict[str, Any]:
    """A virtio-net's receive filter as the device resets it (no guest driver programs it)."""
    return {
        "promiscuous": True,
        "name": nic.name,
        "main-mac": nic.mac,
        "unicast": "normal",
        "vlan": "all",
        "vlan-table": list(range(4095, -1, -1)),
        "unicast-table": [],
        "multicast": "normal",
        "multicast-overflow": False,
        "unicast-overflow": False,
        "multicast-table": [],
        "broadcast-allowed": False,
    }


@command("query-rx-filter")
def query_rx_filter(ctx: Context, args: dict[str, Any]) -> Any:
    """qmp_query_rx_filter: every NIC's filter in creation order (those without one are skipped), or the
    named client's."""
    name = args.get("name")
    out = []
    for client in ctx.machine.backends.clients:
        cname = client.name if isinstance(client, NicClient) else client
        if name is not None and cname != name:
            continue
        if not isinstance(client, NicClient):
            if name is not None:
                raise GenericError(f"net client({name}) isn't a NIC")
            continue
        if client.model in RX_FILTER:
            out.append(_rx_filter(client))
        elif name is not None:
            raise GenericError(f"net client({name}) doesn't support rx-filter querying")
        if name is not None:
            break
    if name is not None and not out:
        raise GenericError(f"invalid net client name: {name}")
    return out
