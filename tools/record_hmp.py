#!/usr/bin/env python3
"""Record Debian's QEMU 7.2 HMP help texts into fakeqemu/data/hmp.json.

``help`` lists every command's ``name params -- help`` (the table sorted at start-up), ``help info`` the
``info`` table; a help text may span lines. Each entry is recorded on its own (``help NAME`` and
``help info NAME`` print exactly that entry), and the entries joined must give the whole listing back,
so the split is checked. Also kept: ``help log`` (QEMU's special case). ``device_add help`` prints what
``-device help`` does: tools/record_device_help.py records it.

Usage: python -m tools.record_hmp [--binary qemu-system-x86_64] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from tools.qemu_link import Qemu

OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "hmp.json"
_NAME = re.compile(r"^([a-z0-9_?|-]+) ")


def _entries(hmp: object, prefix: str) -> list[list[str]]:
    """The table listed by ``help PREFIX`` split into ``[name, text]`` entries."""
    assert callable(hmp)
    full: str = hmp(f"help {prefix}".strip())
    body = full.replace("\r\n", "\n")
    entries: list[list[str]] = []
    pos = 0
    strip = f"{prefix} " if prefix else ""
    while pos < len(body):
        line = body[pos:].split("\n", 1)[0]
        m = _NAME.match(line.removeprefix(strip))
        if m is None:
            raise SystemExit(f"cannot find an entry at {line!r}")
        name = m.group(1)
        if name in ("info", "log"):  # ``help info`` lists the info table, ``help log`` the log items
            one = line + "\n"
        else:
            one = hmp(f"help {prefix} {name.split('|')[0]}".strip()).replace("\r\n", "\n")
        if not body.startswith(one, pos):
            raise SystemExit(f"help {name} does not match the listing at {line!r}")
        entries.append([name, one.removeprefix(strip)])
        pos += len(one)
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="qemu-system-x86_64")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    qemu = Qemu(args.binary, ["-M", "none", "-display", "none", "-nodefaults"])

    def hmp(line: str) -> str:
        out: str = qemu.ok("human-monitor-command", {"command-line": line})
        return out

    try:
        data = {
            "commands": _entries(hmp, ""),
            "info": _entries(hmp, "info"),
            "log": hmp("help log").replace("\r\n", "\n"),
        }
    finally:
        qemu.close()
    args.out.write_text(json.dumps(data, indent=0) + "\n")
    print(f"{args.out}: {len(data['commands'])} commands, {len(data['info'])} info commands")


if __name__ == "__main__":
    main()
