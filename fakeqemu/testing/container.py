"""FakeQemuContainer: fakeqemu's Docker image for testcontainers-python users (``pip install
fakeqemu[containers]``), started with QEMU's command line and ready once QMP greets.

    with FakeQemuContainer("fakeqemu:latest", qemu_args=["-M", "q35"]) as vm:
        host, port = vm.qmp_address
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from typing import Any

from testcontainers.core.container import DockerContainer

#: QMP's TCP port inside the container (the image's EXPOSE)
QMP_PORT = 4444
GREETING = b'{"QMP":'


class FakeQemuContainer(DockerContainer):
    """The image (``image``) running ``qemu_args`` with QMP on TCP ``port``. ``host_network``: share the
    host's network (where an engine has no bridge network); the port is then a free one of this host."""

    def __init__(
        self,
        image: str = "fakeqemu:latest",
        qemu_args: Sequence[str] = ("-M", "pc", "-display", "none"),
        *,
        port: int = QMP_PORT,
        host_network: bool = False,
        start_timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(image, **kwargs)
        self.host_network = host_network
        self.start_timeout = start_timeout
        if host_network:
            port = port if port != QMP_PORT else _free_port()
            self.with_kwargs(network_mode="host")
            listen = f"127.0.0.1:{port}"
        else:
            self.with_exposed_ports(port)
            listen = f"0.0.0.0:{port}"
        self.port = port
        self.with_command([*qemu_args, "-qmp", f"tcp:{listen},server=on,wait=off"])

    @property
    def qmp_address(self) -> tuple[str, int]:
        """Where a QMP client connects from this host."""
        if self.host_network:
            return ("127.0.0.1", self.port)
        return (self.get_container_host_ip(), int(self.get_exposed_port(self.port)))

    def start(self) -> FakeQemuContainer:
        super().start()
        self._wait_for_greeting()
        return self

    def _wait_for_greeting(self) -> None:
        """Ready when a QMP client is greeted (the condition), not after a while."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with socket.create_connection(self.qmp_address, timeout=5) as s:
                    if s.recv(4096).startswith(GREETING):
                        return
            except OSError:
                pass
            container = self.get_wrapped_container()
            container.reload()
            if container.status in ("exited", "dead"):
                logs = container.logs().decode(errors="replace")
                raise RuntimeError(f"fakeqemu's container exited: {logs[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"fakeqemu's container did not greet on {self.qmp_address} in {self.start_timeout} s"
                )
            time.sleep(0.05)  # then connect again: the condition is the greeting


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
