"""HMP ``info block [-n] [-v] [device]`` as QEMU 7.2 prints it (hmp_info_block, print_block_info,
bdrv_image_info_dump), over query-block and query-named-block-nodes.

Without ``-n``: a paragraph per block backend (its name, or its node's for a nameless one, the medium's
file and driver, what it is attached to, tray, cache mode, backing file, detect-zeroes); with a device name
that no backend has, or ``-n``, the named nodes. ``-v`` adds each image's lines (size, disk size, cluster
size, backing file); a qcow2 image's ``Format specific information`` is not printed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.commands.hmp_args import C_SPACE, ArgError, get_str, usage
from fakeqemu.commands.registry import COMMANDS, Context
from fakeqemu.machine.core.sizes import size_to_str

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine


def _image_lines(image: dict[str, Any]) -> list[str]:
    out = []
    while True:
        actual = image.get("actual-size")
        disk = "unavailable" if actual is None else size_to_str(int(actual))
        size = int(image["virtual-size"])
        out += [
            f"image: {image['filename']}",
            f"file format: {image['format']}",
            f"virtual size: {size_to_str(size)} ({size} bytes)",
            f"disk size: {disk}",
        ]
        if image.get("encrypted"):
            out.append("encrypted: yes")
        if "cluster-size" in image:
            out.append(f"cluster_size: {image['cluster-size']}")
        if image.get("dirty-flag"):
            out.append("cleanly shut down: no")
        if "backing-filename" in image:
            line = f"backing file: {image['backing-filename']}"
            full = image.get("full-backing-filename")
            if full is None:
                line += " (cannot determine actual path)"
            elif full != image["backing-filename"]:
                line += f" (actual path: {full})"
            out.append(line)
            if "backing-filename-format" in image:
                out.append(f"backing file format: {image['backing-filename-format']}")
        back = image.get("backing-image")
        if back is None:
            return out
        image = back


def _print_block(info: dict[str, Any] | None, inserted: dict[str, Any] | None, verbose: bool) -> list[str]:
    """print_block_info."""
    if info is not None and info["device"]:
        head = info["device"] + (f" ({inserted['node-name']})" if inserted and "node-name" in inserted else "")
    elif inserted is not None and "node-name" in inserted:
        head = inserted["node-name"]
    else:
        head = info.get("qdev", "<anonymous>") if info is not None else "<anonymous>"
    if inserted is not None:
        flags = (", read-only" if inserted["ro"] else "") + (", encrypted" if inserted["encrypted"] else "")
        out = [f"{head}: {inserted['file']} ({inserted['drv']}{flags})"]
    else:
        out = [f"{head}: [not inserted]"]
    if info is not None:
        if "qdev" in info:
            out.append(f"    Attached to:      {info['qdev']}")
        if info.get("io-status", "ok") != "ok":
            out.append(f"    I/O status:       {info['io-status']}")
        if info["removable"]:
            tray = "open" if info.get("tray_open") else "closed"
            out.append(f"    Removable device: {'' if info['locked'] else 'not '}locked, tray {tray}")
    if inserted is None:
        return out
    cache = inserted["cache"]
    mode = ("writeback" if cache["writeback"] else "writethrough") + (", direct" if cache["direct"] else "")
    out.append(f"    Cache mode:       {mode}{', ignore flushes' if cache['no-flush'] else ''}")
    if "backing_file" in inserted:
        out.append(f"    Backing file:     {inserted['backing_file']} (chain depth: {inserted['backing_file_depth']})")
    if inserted["detect_zeroes"] != "off":
        out.append(f"    Detect zeroes:    {inserted['detect_zeroes']}")
    if verbose:
        out += ["", "Images:", *_image_lines(inserted["image"])]
    return out


def _flags(args: str) -> tuple[bool, bool, str]:
    """The ``-n`` and ``-v`` options, in their declared order (QEMU's '-' argument parsing), then the rest."""
    found = {"n": False, "v": False}
    rest = args
    for letter in "nv":
        text = rest.lstrip(C_SPACE)
        if text.startswith("-" + letter) and text[2:3] in ("", *C_SPACE):
            found[letter] = True
            rest = text[2:]
    return found["n"], found["v"], rest.strip(C_SPACE)


def info_block(machine: Machine, args: str) -> str:
    nodes, verbose, rest = _flags(args)
    device = ""
    if rest:
        try:
            device, rest = get_str(rest)
        except ArgError:
            return usage("info block")
        if rest.strip(C_SPACE):
            return "block: extraneous characters at the end of line\r\n" + usage("info block")
    ctx = Context(machine, monitor="hmp")
    out: list[str] = []
    printed = False
    backends = [] if nodes else COMMANDS["query-block"].handler(ctx, {})
    for n, info in enumerate(backends):
        if device and device != info["device"]:
            continue
        if n:
            out.append("")
        out += _print_block(info, info.get("inserted"), verbose)
        printed = True
    if (device or nodes) and not printed:
        named = COMMANDS["query-named-block-nodes"].handler(ctx, {"flat": True})
        for n, node in enumerate(named):
            if device and device != node["node-name"]:
                continue
            if n:
                out.append("")
            out += _print_block(None, node, verbose)
    return "".join(line + "\r\n" for line in out)
