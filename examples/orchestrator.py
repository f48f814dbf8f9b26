"""A small VM orchestrator, the kind of code fakeqemu is for: hotplug a NIC, unplug it with a timeout and
retries, reconnect when the monitor connection drops. examples/test_orchestrator.py tests it with the
fakeqemu pytest plugin's fixtures only."""

from __future__ import annotations

import json
import socket
import time
from typing import Any


class OrchestratorError(Exception):
    """QEMU refused what was asked (its error class and text)."""


class Orchestrator:
    def __init__(self, qmp_path: str, *, read_timeout: float = 5.0) -> None:
        self.qmp_path = qmp_path
        self.read_timeout = read_timeout
        self.events: list[dict[str, Any]] = []
        self._sock: socket.socket | None = None
        self._buf = b""
        self.connect()

    # --- the monitor connection ---------------------------------------------------------------

    def connect(self) -> None:
        self.close()
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(self.read_timeout)
        sock.connect(self.qmp_path)
        self._sock, self._buf = sock, b""
        self._read()  # the greeting
        self.execute("qmp_capabilities")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _read(self, deadline: float | None = None) -> dict[str, Any]:
        assert self._sock is not None
        while b"\n" not in self._buf:
            if deadline is not None:
                self._sock.settimeout(max(0.001, deadline - time.monotonic()))
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the VM closed the monitor connection")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

    def execute(self, command: str, **arguments: Any) -> Any:
        """Send a command; its return value (events that come first are kept in ``events``)."""
        assert self._sock is not None
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self._sock.settimeout(self.read_timeout)
        self._sock.sendall(json.dumps(request).encode())
        while True:
            message = self._read()
            if "event" in message:
                self.events.append(message)
            elif "error" in message:
                raise OrchestratorError(f"{message['error']['class']}: {message['error']['desc']}")
            else:
                return message["return"]

    def wait_event(self, name: str, timeout: float, **data: Any) -> dict[str, Any] | None:
        """The first event ``name`` (with ``data``) seen or coming within ``timeout`` s; None if none."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event["event"] == name and all(event.get("data", {}).get(k) == v for k, v in data.items()):
                    self.events.remove(event)
                    return event
            if time.monotonic() >= deadline:
                return None
            try:
                self.events.append(self._read(deadline))
            except TimeoutError:
                return None

    # --- what the orchestrator is for ---------------------------------------------------------

    def hotplug_nic(self, nic_id: str, driver: str = "virtio-net-pci", **props: Any) -> None:
        self.execute("device_add", driver=driver, id=nic_id, **props)

    def devices(self) -> list[str]:
        return [d["qdev_id"] for bus in self.execute("query-pci") for d in bus["devices"] if d["qdev_id"]]

    def unplug(self, dev_id: str, timeout: float, retries: int = 0) -> bool:
        """Ask for the unplug and wait ``timeout`` s for DEVICE_DELETED; ask again up to ``retries`` times
        (a request already pending is fine). True once the device is gone."""
        for _ in range(retries + 1):
            try:
                self.execute("device_del", id=dev_id)
            except OrchestratorError as exc:
                if "already in the process of unplug" not in str(exc):
                    raise
            if self.wait_event("DEVICE_DELETED", timeout, device=dev_id) is not None:
                return True
        return False
