"""block_set_io_throttle and block_resize, with QEMU 7.2's look-ups, checks and error texts
(block/qapi-sysemu.c, blockdev.c qmp_block_resize, block/io.c bdrv_co_truncate, block/qcow2.c)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.block import graph, qcow2, throttle
from fakeqemu.machine.plug import find_device_state
from fakeqemu.qmp.errors import DeviceNotFound, GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: format and protocol drivers that resize (bdrv_co_truncate)
RESIZABLE = frozenset({"qcow2", "raw", "file", "host_device"})


def backend_owner(entry: dict[str, Any]) -> object:
    """Who the BlockBackend over a root node belongs to: a -drive's id (it outlives its device), else the
    device using the node."""
    opts = entry["options"]
    if entry.get("legacy") and isinstance(opts.get("id"), str) and not entry.get("anonymous"):
        return str(opts["id"])
    return entry.get("attached")


def find_backend(m: Machine, device: str | None, qdev_id: str | None) -> str:
    """qmp_get_blk: a -drive by name or a device by id/QOM path; the backend's root node."""
    if (device is None) == (qdev_id is None):
        raise GenericError("Need exactly one of 'device' and 'id'")
    table = m.backends.blockdevs
    if qdev_id is not None:
        dev = find_device_state(m, qdev_id)
        for name, entry in table.items():
            holder = entry.get("attached")
            if holder is None:
                continue
            backend = holder.children.get("virtio-backend")  # a virtio-blk proxy's backend holds the blk
            if (backend or holder) is dev:
                return name
        raise GenericError("Device does not have a block device backend")
    for name, entry in table.items():
        if isinstance(backend_owner(entry), str) and entry["options"].get("id") == device:
            return name
    raise DeviceNotFound(f"Device '{device}' not found")


def _no_medium(entry: dict[str, Any]) -> bool:
    opts = entry["options"]
    return bool(entry.get("legacy")) and "file" not in opts and "driver" not in opts


@command("block_set_io_throttle")
def block_set_io_throttle(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    device, qdev_id = args.get("device"), args.get("id")
    node = find_backend(m, device, qdev_id)
    entry = m.backends.blockdevs[node]
    if _no_medium(entry):
        raise GenericError("Device has no medium")
    cfg = throttle.config(args)
    throttle.check(cfg)
    default_group = str(device if device is not None else qdev_id)
    throttle.drive_limits(m).set(node, backend_owner(entry), cfg, default_group, args.get("group"))
    return {}


def backend_limits(m: Machine, node: str) -> dict[str, Any] | None:
    """The limits query-block shows for the backend over ``node`` (None: not throttled)."""
    entry = m.backends.blockdevs[node]
    return throttle.drive_limits(m).info(node, backend_owner(entry))


@command("block_resize")
def block_resize(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    device, node = args.get("device"), args.get("node-name")
    name = graph.lookup_pair(m, device or "", node or "")
    size = int(args["size"])
    if size < 0:
        raise GenericError("Parameter 'size' expects a >0 size")
    if m.jobs.blocker(name) is not None:
        raise GenericError(f"Device '{device if device is not None else '(null)'}' is in use")
    table = m.backends.blockdevs
    for parent in graph.parents(m, name):
        role = "backing" if graph.backing_child(table[parent]) == name else "file"
        raise GenericError(
            f"Permission conflict on node '{name}': permissions 'resize' are both required by an unnamed block "
            f"device (uses node '{name}' as 'root' child) and unshared by node '{parent}' (uses node '{name}' as "
            f"'{role}' child)."
        )
    opts = table[name]["options"]
    if bool(opts.get("read-only", False)) or opts.get("readonly") == "on":
        raise GenericError("Image is read-only")
    driver = str(opts.get("driver", opts.get("format", "raw")))
    if driver not in RESIZABLE:
        raise GenericError("Image format driver does not support resize")
    if driver == "qcow2":
        if size % graph.SECTOR:
            raise GenericError(f"The new size must be a multiple of {graph.SECTOR}")
        image = _image_path(m, name)
        if image is not None:
            _io(lambda: qcow2.resize(image, size))
        _resized(table[name])
        return {}
    path = _image_path(m, name)
    if isinstance(path, str):
        _io(lambda: os.truncate(path, size))
    _resized(table[name])
    return {}


def _resized(entry: dict[str, Any]) -> None:
    """blk_dev_resize_cb: the device on the backend learns its new size (virtio-blk: a config change)."""
    holder = entry.get("attached")
    resized = getattr(getattr(holder, "model", None), "resized", None)
    if callable(resized):
        resized()


def _image_path(m: Machine, name: str) -> str | None:
    """The host file under a node: its protocol node's filename, or a -drive's ``file``."""
    opts = m.backends.blockdevs[name]["options"]
    if isinstance(opts.get("file"), str) and opts["file"] not in m.backends.blockdevs:
        return str(opts["file"])
    path = graph.leaf_file(m, name).get("filename")
    return path if isinstance(path, str) else None


def _io(fn: Any) -> None:
    try:
        fn()
    except (OSError, qcow2.ImageError) as exc:
        raise GenericError(f"Failed to resize the image: {exc}") from None
