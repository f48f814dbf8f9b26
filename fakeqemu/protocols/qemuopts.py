"""QemuOpts option strings (``key=value,...``) as QEMU parses them, for the command line and for HMP
commands whose argument is an option string (device_add, netdev_add, drive_add)."""

from __future__ import annotations


def _items(text: str) -> list[str]:
    """The ``,``-separated items of an option string (``,,`` is a literal comma)."""
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
    return items


def split_opts(text: str, implied: str | None = None) -> dict[str, str]:
    """Parse ``a=b,c=d`` with QEMU's rules: ``,,`` is a literal comma; the first bare item is ``implied``
    (empty when the string starts with a comma); other bare items are flags, ``noX`` set to ``off`` and the
    rest to ``on``."""
    opts: dict[str, str] = {}
    items = _items(text)
    for n, item in enumerate(items):
        if n == 0 and implied is not None and "=" not in item and (item or len(items) > 1):
            opts[implied] = item
            continue
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            if item.startswith("no"):
                opts[item[2:]] = "off"
            else:
                opts[item] = "on"
        else:
            opts[key] = value
    return opts


def keyval_help(text: str, implied: str, was: str | None) -> tuple[str | None, bool]:
    """keyval_parse_into for one key: the value of ``implied`` after ``text`` is merged (``was`` before), and
    whether ``text`` asks for help (an item ``help`` or ``?`` without a value, anywhere)."""
    asked = False
    for n, item in enumerate(_items(text)):
        if item in ("help", "?"):
            asked = True
        elif n == 0 and item and "=" not in item:
            was = item
        elif item.partition("=")[0] == implied:
            was = item.partition("=")[2]
    return was, asked


def flag_warnings(text: str, implied: str | None = None) -> list[str]:
    """QemuOpts' warnings for the bare flags of an option string (all but ``help`` and ``?``), as
    opts_parse prints them before it goes on."""
    out = []
    for n, item in enumerate(_items(text)):
        if not item or "=" in item or (n == 0 and implied is not None) or item in ("help", "?"):
            continue
        key, value = (item[2:], "off") if item.startswith("no") else (item, "on")
        out.append(f"warning: short-form boolean option '{item}' deprecated\nPlease use {key}={value} instead")
    return out
