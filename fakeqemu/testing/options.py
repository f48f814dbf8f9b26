"""What a FakeQemu starts: the friendly command line's options, as Python values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from fakeqemu.cli.qemuopts import UsageError, device_opts
from fakeqemu.machine.faults import FaultConfigError, Faults
from fakeqemu.machine.guest.hotplug import PolicyError, check_policy
from fakeqemu.machine.machine import MachineConfig
from fakeqemu.server.chardev import Endpoint
from fakeqemu.server.vm import VMConfig

#: bytes of traffic each VM keeps for the test to assert on (recording is on in fakeqemu.testing)
TRAFFIC_LIMIT = 8 << 20

Isolation = Literal["thread", "process"]


class OptionsError(ValueError):
    """Options that cannot start a VM (the text says which and why)."""


@dataclass(frozen=True)
class Options:
    """``machine`` pc or q35; ``vms`` how many (named ``NAME-0``... when more than one); ``devices``
    cold-plugged, each a ``-device`` text or its dict; ``guest`` the guest policy (auto, prompt,
    delay:<ms>, never, refuse); ``rcu_grace_ms`` the delay before DEVICE_DELETED (None: QEMU's);
    ``faults`` as the fault file or ``PUT .../faults`` take them; ``qemu_version`` "7.2.22";
    ``paused`` like -S; ``tcp`` also serve QMP on a free TCP port; ``qtest`` a qtest link to each VM
    (``vm.qtest``; the guest policy auto is then passive, as under QEMU's qtest); ``http`` serve the HTTP
    plane on a free port; ``traffic_limit`` bytes of traffic kept per VM (0: none); ``isolation`` "thread" (in this
    process) or "process" (a child process)."""

    machine: str = "pc"
    vms: int = 1
    name: str = "vm0"
    devices: Sequence[str | Mapping[str, Any]] = ()
    guest: str = "auto"
    rcu_grace_ms: float | None = None
    faults: Mapping[str, Any] | None = None
    qemu_version: str | None = None
    paused: bool = False
    tcp: bool = False
    qtest: bool = False
    http: bool = False
    traffic_limit: int = TRAFFIC_LIMIT
    isolation: Isolation = "thread"

    def check(self) -> None:
        if self.machine not in ("pc", "q35"):
            raise OptionsError(f"machine must be 'pc' or 'q35', not {self.machine!r}")
        if self.vms < 1:
            raise OptionsError("vms must be at least 1")
        if self.isolation not in ("thread", "process"):
            raise OptionsError(f"isolation must be 'thread' or 'process', not {self.isolation!r}")
        if self.traffic_limit < 0:
            raise OptionsError("traffic_limit must be >= 0 bytes")
        try:
            check_policy(self.guest)
        except PolicyError as exc:
            raise OptionsError(str(exc)) from None
        self.machine_faults()
        self.version()
        self.device_list()

    def machine_faults(self) -> Faults:
        try:
            return Faults.from_json(dict(self.faults or {}))
        except FaultConfigError as exc:
            raise OptionsError(str(exc)) from None

    def version(self) -> tuple[int, int, int] | None:
        if self.qemu_version is None:
            return None
        parts = self.qemu_version.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise OptionsError(f"qemu_version must look like 7.2.0, not {self.qemu_version!r}")
        return (int(parts[0]), int(parts[1]), int(parts[2]))

    def device_list(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The cold-plugged devices as QEMU's option dicts, and their texts (for QEMU's error messages)."""
        opts, texts = [], []
        for dev in self.devices:
            text = dev if isinstance(dev, str) else orjson.dumps(dict(dev)).decode()
            try:
                opts.append(device_opts(text))
            except UsageError as exc:
                raise OptionsError(str(exc)) from None
            texts.append(text)
        return opts, texts

    def names(self) -> list[str]:
        return [self.name] if self.vms == 1 else [f"{self.name}-{i}" for i in range(self.vms)]

    def configs(self, directory: Path) -> list[VMConfig]:
        """One VMConfig per VM, its QMP socket ``directory/NAME.qmp`` (and a free TCP port with ``tcp``)."""
        devices, texts = self.device_list()
        faults = self.machine_faults()
        version = self.version()
        out = []
        for name in self.names():
            mcfg = MachineConfig(
                machine_type=self.machine,
                name=name,
                paused=self.paused,
                guest=self.guest,
                devices=[dict(d) for d in devices],
                device_args=list(texts),
                faults=faults,
                traffic_limit=self.traffic_limit,
            )
            if version is not None:
                mcfg.qemu_version = version
            if self.rcu_grace_ms is not None:
                mcfg.rcu_grace = self.rcu_grace_ms / 1000.0
            monitors = [Endpoint("unix", path=str(directory / f"{name}.qmp"))]
            if self.tcp:
                monitors.append(Endpoint("tcp", host="127.0.0.1", port=0))
            mcfg.chardevs = [f"compat_monitor{i}" for i in range(len(monitors))]
            qtest = None
            if self.qtest:
                mcfg.qtest, mcfg.qtest_log = True, "none"
                qtest = Endpoint("unix", path=str(directory / f"{name}.qtest"), server=False)
            out.append(VMConfig(machine=mcfg, monitors=monitors, qtest=qtest))
        return out
