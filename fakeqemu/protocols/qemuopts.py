"""QemuOpts option strings (``key=value,...``) as QEMU parses them, for the command line and for HMP
commands whose argument is an option string (device_add, netdev_add, drive_add)."""

from __future__ import annotations


def split_opts(text: str, implied: str | None = None) -> dict[str, str]:
    """Parse ``a=b,c=d`` with QEMU's rules: ``,,`` is a literal comma; the first bare item is ``implied``;
    other bare items are flags set to ``on`` (``nowait`` stays a key of its own)."""
    items: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ",":
            if text[i + 1 : i + 2] == ",":
                cur.append(",")
                i += 2
                continue
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    items.append("".join(cur))
    opts: dict[str, str] = {}
    for n, item in enumerate(items):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            if n == 0 and implied is not None:
                opts[implied] = item
            elif item.startswith("no") and len(item) > 2:
                opts[item[2:]] = "off"
            else:
                opts[item] = "on"
        else:
            opts[key] = value
    return opts
