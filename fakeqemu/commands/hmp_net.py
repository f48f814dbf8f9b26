"""HMP netdev_add, netdev_del and ``info network`` as QEMU 7.2 prints them.

netdev_add parses its argument as QemuOpts (``type`` implied), so an invalid or duplicate id fails in the
parser (QEMU reports that on stderr: the monitor shows only the usage hint); the values are strings that
QEMU's opts visitor converts to the Netdev schema's types (bools as on/off/yes/no/true/false/y/n).

``info network`` walks QEMU's net clients in creation order: a NIC with its netdev below it (`` \\ ``),
a netdev no NIC uses on its own. Each line is ``NAME: index=0,type=TYPE,INFO``; INFO is what QEMU
prints for a NIC (model, macaddr), a ``user`` netdev (net, restrict) and a ``tap`` given an fd (fd=N).
Other netdev types are kept but carry no info text (fakeqemu does not open them on the host).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.commands import dispatch
from fakeqemu.commands.hmp_args import ArgError, missing, one_word, usage, valid_id
from fakeqemu.commands.registry import Context
from fakeqemu.machine.backends import NicClient
from fakeqemu.protocols.qemuopts import split_opts
from fakeqemu.qmp.errors import QMPError
from fakeqemu.qmp.schema import Schema

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine
    from fakeqemu.machine.net.sockets import NetSocket

#: show_netdevs: the backend types this build of QEMU 7.2 has, in its order
NETDEV_TYPES = (
    "socket", "stream", "dgram", "hubport", "tap", "user", "l2tpv3", "vde", "bridge", "vhost-user", "vhost-vdpa",
)  # fmt: skip
_TRUE = ("on", "yes", "true", "y")
_FALSE = ("off", "no", "false", "n")


def _member_types(netdev_type: str) -> dict[str, str]:
    """The Netdev variant's members and their schema types."""
    schema = Schema.load()
    arg = schema._entity(schema._entity("netdev_add")["arg-type"])
    for variant in arg["variants"]:
        if variant["case"] == netdev_type:
            return {m["name"]: m["type"] for m in schema._entity(variant["type"]).get("members", [])}
    return {}


def _typed(opts: dict[str, str]) -> dict[str, Any]:
    """The opts visitor's conversion of string values to the members' types."""
    types = _member_types(opts.get("type", ""))
    out: dict[str, Any] = {}
    for key, value in opts.items():
        tname = types.get(key)
        if tname == "bool":
            if value in _TRUE:
                out[key] = True
            elif value in _FALSE:
                out[key] = False
            else:
                raise QMPError(f"Parameter '{key}' expects 'on' or 'off'")
        elif tname == "int":
            try:
                out[key] = int(value, 0)
            except ValueError:
                raise QMPError(f"Parameter '{key}' expects an int64 value") from None
        elif tname is not None and tname.startswith("["):
            out[key] = [{"str": value}]
        else:
            out[key] = value
    return out


def hmp_netdev_add(machine: Machine, args: str) -> str:
    try:
        text = one_word("netdev_add", args)
    except ArgError as exc:
        return str(exc)
    opts = split_opts(text, implied="type") if text else {}
    if opts.get("type") in ("help", "?"):
        return "Available netdev backend types:\r\n" + "".join(f"{t}\r\n" for t in NETDEV_TYPES)
    netdev_id = opts.get("id")
    if netdev_id is not None and (not valid_id(netdev_id) or netdev_id in machine.backends.netdevs):
        return usage("netdev_add")  # the opts parser refused it (its message goes to stderr)
    try:
        if netdev_id is None:
            raise QMPError("Parameter 'id' is missing")
        dispatch.run(Context(machine, monitor="hmp"), "netdev_add", _typed(opts))
    except QMPError as exc:
        desc = exc.desc
        if desc.startswith("Parameter '") and desc.endswith("' is unexpected"):
            desc = f"Invalid parameter '{desc[11:-15]}'"
        return f"Error: {desc}\r\n"
    return ""


def hmp_netdev_del(machine: Machine, args: str) -> str:
    words = args.split()
    if not words:
        return missing("netdev_del")
    try:
        dispatch.run(Context(machine, monitor="hmp"), "netdev_del", {"id": words[0]})
    except QMPError as exc:
        return f"Error: {exc.desc}\r\n"
    return ""


def _netdev_line(name: str, options: dict[str, Any], sock: NetSocket | None) -> str:
    kind = str(options.get("type", ""))
    info = ""
    if kind == "user":
        net = str(options.get("net", "10.0.2.0")).partition("/")[0]
        restrict = options.get("restrict", False)
        on = restrict is True or str(restrict) in _TRUE
        info = f"net={net},restrict={'on' if on else 'off'}"
    elif kind == "tap" and "fd" in options:
        info = f"fd={options['fd']}"
    elif kind == "socket" and sock is not None:
        info = sock.info
    return f"{name}: index=0,type={kind},{info}\r\n"


def info_network(machine: Machine, args: str) -> str:
    backends = machine.backends
    out: list[str] = []
    for client in backends.clients:
        if isinstance(client, NicClient):
            out.append(f"{client.name}: index=0,type=nic,model={client.model},macaddr={client.mac}\r\n")
            if client.peer is not None:
                out.append(" \\ " + _netdev_line(*client.peer, client.peer_socket))
        elif backends.netdevs[client].get("attached") is None:
            entry = backends.netdevs[client]
            out.append(_netdev_line(client, entry["options"], entry.get("socket")))
    return "".join(out)
