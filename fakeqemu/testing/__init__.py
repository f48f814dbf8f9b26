"""fakeqemu as a test library: fake VMs in a test, in-process or in a child process, with control
methods that need no HTTP; the pytest plugin (fakeqemu.pytest_plugin) builds its fixtures on it."""

from fakeqemu.testing.control import QMPCommandError
from fakeqemu.testing.handle import FakeQemu, Faults, VMHandle, run_vm
from fakeqemu.testing.options import Options, OptionsError
from fakeqemu.testing.records import TrafficRecord

__all__ = ["FakeQemu", "Faults", "Options", "OptionsError", "QMPCommandError", "TrafficRecord", "VMHandle", "run_vm"]
