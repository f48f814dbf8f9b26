"""QEMU's KEY=VALUE,... syntax of the options it visits against a QAPI type (util/keyval.c), and the visit.

``keyval_parse`` builds what QEMU's keyval_parse builds: dotted keys (``file.driver=file``) make nested
dicts, keys that are all list indexes (``a.0=x,a.1=y``) make lists, every value is a string, the first
parameter may omit its key (the implied key: ``-blockdev file,...`` is ``driver=file``), and ``,,`` is a
comma inside a value. ``visit_option`` is qobject_input_visitor_new_str: a text starting with ``{`` is JSON
visited strictly, any other text is parsed by keyval_parse and visited in keyval mode, which converts each
string per the schema (bool: on/off yes/no true/false y/n; integers in C's bases; sizes with K, M, G...;
enums), through fakeqemu.qmp.schema, QEMU 7.2's recorded QAPI schema.

QEMU 7.2's qemu-system does this for -blockdev (BlockdevOptions), -display (DisplayOptions), a modern
-netdev (Netdev: JSON, or type stream/dgram), -audiodev/-audio (Audiodev) and -compat (CompatPolicy);
-object goes through QemuOpts and the opts visitor there. fakeqemu visits the first three, whose types
the recorded introspection holds (the arguments of blockdev-add and netdev_add, the return of
query-display-options); Audiodev and CompatPolicy are not in QEMU 7.2's introspection.
"""

from __future__ import annotations

import re
from typing import Any

from fakeqemu.cli.qemuopts import UsageError, device_opts
from fakeqemu.qmp.errors import GenericError
from fakeqemu.qmp.schema import Schema

__all__ = ["keyval_parse", "visit_option"]

_NAME = re.compile(r"(?:__[A-Za-z0-9.-]*_)?[A-Za-z][A-Za-z0-9_-]*")
_INDEX = re.compile(r"[0-9]+")
_INT_MAX = 2**31 - 1
#: how long a key fragment may be (key_in_cur[128] with its NUL)
_FRAGMENT_MAX = 127


class KeyvalError(ValueError):
    """keyval_parse's error; ``str(exc)`` is QEMU's message."""


def _put(cur: dict[str, Any], key_in_cur: str, value: str | None, shown: str) -> Any:
    """keyval_parse_put: map ``key_in_cur`` to a dict (``value`` None) or to the string ``value``."""
    old = cur.get(key_in_cur)
    if old is not None:
        if isinstance(old, dict) != (value is None):
            raise KeyvalError(f"Parameters '{shown}.*' used inconsistently")
        if value is None:
            return old
    new: Any = {} if value is None else value
    cur[key_in_cur] = new
    return new


def _parse_one(qdict: dict[str, Any], params: str, pos: int, implied: str | None) -> tuple[int, bool]:
    """keyval_parse_one from ``params[pos:]``: (the next parameter's position, whether it asked for help)."""
    length = len(params) - pos
    for stop in ("=", ","):
        found = params.find(stop, pos)
        if found >= 0:
            length = min(length, found - pos)
    key, val_end = params[pos : pos + length], -1
    if length and params[pos + length : pos + length + 1] != "=":
        if key in ("help", "?"):
            nxt = pos + length
            return (nxt + 1 if params[nxt : nxt + 1] == "," else nxt), True
        if implied:
            val_end = pos + length
            key = implied
    cur, s, key_in_cur = qdict, 0, ""
    while True:
        m = _INDEX.match(key, s) if s else None
        if m is None:
            m = _NAME.match(key, s)
        n = 0 if m is None else m.end() - s
        if not n or (s + n < len(key) and key[s + n] != "."):
            raise KeyvalError(f"Invalid parameter '{key}'")
        if n > _FRAGMENT_MAX:
            fragment = " fragment" if s or s + n != len(key) else ""
            raise KeyvalError(f"Parameter{fragment} '{key[s : s + n]}' is too long")
        if s:
            cur = _put(cur, key_in_cur, None, key[: s - 1])
        key_in_cur = key[s : s + n]
        s += n
        if key[s : s + 1] != ".":
            break
        s += 1
    if val_end >= 0:
        value, nxt = params[pos:val_end], val_end
        if params[nxt : nxt + 1] == ",":
            nxt += 1
    else:
        if s < len(key) or params[pos + s : pos + s + 1] != "=":
            raise KeyvalError(f"Expected '=' after parameter '{key[:s]}'")
        nxt, chars = pos + s + 1, []
        while nxt < len(params):
            if params[nxt] == ",":
                nxt += 1
                if params[nxt : nxt + 1] != ",":
                    break
            chars.append(params[nxt])
            nxt += 1
        value = "".join(chars)
    _put(cur, key_in_cur, value, key)
    return nxt, False


def _index(key: str) -> int:
    """key_to_index without an end: the whole key in digits, capped at INT_MAX; -1 when not an index."""
    return min(int(key), _INT_MAX) if key.isascii() and key.isdigit() else -1


def _listify(cur: dict[str, Any], path: str) -> dict[str, Any] | list[Any]:
    """keyval_listify: dicts whose keys are all list indexes become lists (``path`` is "a.b." before them)."""
    has_index = has_member = False
    for key, value in list(cur.items()):
        if _index(key) >= 0:
            has_index = True
        else:
            has_member = True
        if isinstance(value, dict):
            cur[key] = _listify(value, f"{path}{key}.")
    if has_index and has_member:
        raise KeyvalError(f"Parameters '{path}*' used inconsistently")
    if not has_index:
        return cur
    nelt = len(cur) + 1
    elements: dict[int, Any] = {}
    for key, value in cur.items():
        index = _index(key)
        if index < nelt - 1:
            elements[index] = value
    top = max(_index(key) for key in cur)
    out = []
    for i in range(min(nelt, top + 1)):
        if i not in elements:
            raise KeyvalError(f"Parameter '{path}{i}' missing")
        out.append(elements[i])
    return out


def keyval_parse(params: str, implied: str | None = None, help_ok: bool = False) -> tuple[dict[str, Any], bool]:
    """keyval_parse: (the nested dict, whether help was asked for); KeyvalError with QEMU's message. Without
    ``help_ok`` (p_help NULL) a help request is the error "Help is not available for this option"."""
    qdict: dict[str, Any] = {}
    pos, wants_help = 0, False
    while pos < len(params):
        pos, asked = _parse_one(qdict, params, pos, implied)
        wants_help = wants_help or asked
        implied = None
    if wants_help and not help_ok:
        raise KeyvalError("Help is not available for this option")
    _listify(qdict, "")
    return qdict, wants_help


def visit_option(option: str, text: str, typ: tuple[str, str], implied: str | None) -> dict[str, Any]:
    """qobject_input_visitor_new_str and a visit of the QAPI type ``typ`` (a command and "arg-type" or
    "ret-type": BlockdevOptions is blockdev-add's argument): the typed value, or UsageError
    ``OPTION TEXT: message`` as QEMU's error_fatal prints it."""
    schema = Schema.load()
    tname = schema.type_of(*typ)
    keyval = not text.startswith("{")
    try:
        value: Any = keyval_parse(text, implied)[0] if keyval else device_opts(text, option)
        out: dict[str, Any] = schema.check_value(tname, value, keyval=keyval)
    except (KeyvalError, GenericError) as exc:
        raise UsageError(f"{option} {text}: {exc}") from None
    return out
