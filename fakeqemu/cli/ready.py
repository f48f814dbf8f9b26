"""Start-up for programs: what ``fakeqemu run --ready-file PATH`` / ``--json`` tell once everything
listens (the resolved socket paths, TCP and HTTP addresses, the pid), as one JSON object."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM


def describe(vms: list[VM], http: str | None) -> dict[str, Any]:
    """``{"pid", "http", "vms": [{"name", "machine", "qmp", "tcp", "addresses"}]}``; ``qmp`` is the
    first unix socket, ``tcp`` the first TCP address (``HOST:PORT``), ``http`` the plane's URL (or
    ``unix:PATH``), each None when there is none."""
    out = []
    for vm in vms:
        kinds = [ep.kind for ep in vm.config.monitors]
        qmp = next((a for k, a in zip(kinds, vm.addresses, strict=False) if k == "unix"), None)
        tcp = next((a for k, a in zip(kinds, vm.addresses, strict=False) if k == "tcp"), None)
        out.append(
            {
                "name": vm.name,
                "machine": vm.config.machine.machine_type,
                "qmp": qmp,
                "tcp": tcp,
                "addresses": vm.addresses,
            }
        )
    return {"pid": os.getpid(), "http": http, "vms": out}


def http_address(url: str) -> str:
    """hypercorn's bound URL, with a unix socket as ``unix:PATH``."""
    return url.removeprefix("http://") if url.startswith("http://unix:") else url


def write_atomically(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees no file or the whole of it (rename in one dir)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Ready:
    """Collects the VMs' and the HTTP plane's start-up and reports once both have happened."""

    def __init__(self, ready_file: str | None, as_json: bool, want_http: bool) -> None:
        self.ready_file = ready_file
        self.as_json = as_json
        self._want_http = want_http
        self._vms: list[VM] | None = None
        self._http: str | None = None

    def vms_ready(self, vms: list[VM]) -> None:
        self._vms = vms
        self._maybe_report()

    def http_ready(self, urls: list[str]) -> None:
        self._http = http_address(urls[0])
        self._maybe_report()

    def _maybe_report(self) -> None:
        if self._vms is None or (self._want_http and self._http is None):
            return
        data = orjson.dumps(describe(self._vms, self._http))
        if self.ready_file:
            write_atomically(self.ready_file, data + b"\n")
        if self.as_json:
            sys.stdout.write(data.decode() + "\n")
            sys.stdout.flush()
