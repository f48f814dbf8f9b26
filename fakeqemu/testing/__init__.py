"""fakeqemu as a test library: fake VMs in a test, in-process or in a child process, with control
methods that need no HTTP; the pytest plugin (fakeqemu.pytest_plugin) builds its fixtures on it."""

from typing import TYPE_CHECKING

from fakeqemu.testing.control import QMPCommandError
from fakeqemu.testing.handle import FakeQemu, Faults, VMHandle, run_vm
from fakeqemu.testing.options import Options, OptionsError
from fakeqemu.testing.records import TrafficRecord

if TYPE_CHECKING:
    from fakeqemu.testing.container import FakeQemuContainer


def __getattr__(name: str) -> object:
    # testcontainers is an optional extra (fakeqemu[containers]): imported only when asked for
    if name == "FakeQemuContainer":
        from fakeqemu.testing.container import FakeQemuContainer

        return FakeQemuContainer
    raise AttributeError(name)


__all__ = [
    "FakeQemu",
    "FakeQemuContainer",
    "Faults",
    "Options",
    "OptionsError",
    "QMPCommandError",
    "TrafficRecord",
    "VMHandle",
    "run_vm",
]
