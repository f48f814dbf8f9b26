"""The pytest plugin (entry point ``pytest11``, so installing fakeqemu is enough): fixtures
``fakeqemu_vm``, ``fakeqemu_fleet`` and ``fakeqemu_factory``, the marker ``@pytest.mark.fakeqemu(...)``
that configures them, and the VM's traffic record attached to the report of a test that fails.

VMs of ``fakeqemu_vm`` and ``fakeqemu_fleet`` are shared by the whole session (one per set of marker
options) and reset before each test (devices, faults, traffic, events; clients disconnected), so a test
costs a reset, not a start. This module imports nothing of fakeqemu until a test asks for a fixture:
installing the plugin changes nothing for test suites that do not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fakeqemu.testing.handle import FakeQemu, VMHandle

MARKER = "fakeqemu"
#: VMs in a fleet when the marker does not say
FLEET_SIZE = 2
#: the longest traffic record attached to a failure's report, in lines (the newest are kept)
REPORT_LINES = 200

_POOL = pytest.StashKey["Pool"]()
_USED = pytest.StashKey["list[VMHandle]"]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): options of the fakeqemu_vm / fakeqemu_fleet fixtures (fakeqemu.testing.FakeQemu's: "
        "machine, devices, guest, faults, vms, rcu_grace_ms, tcp, http, isolation, ...)",
    )


class Pool:
    """The session's shared VMs, one FakeQemu per set of options."""

    def __init__(self) -> None:
        self.running: dict[str, FakeQemu] = {}

    def get(self, options: dict[str, Any]) -> FakeQemu:
        from fakeqemu.testing.handle import FakeQemu

        key = repr(sorted(options.items()))
        fq = self.running.get(key)
        if fq is not None and not all(vm.alive() for vm in fq.vms):  # a test killed one, or quit
            fq.close()
            fq = None
        if fq is None:
            fq = self.running[key] = FakeQemu(**options).start()
        return fq

    def close(self) -> None:
        for fq in self.running.values():
            fq.close()
        self.running.clear()


def _pool(config: pytest.Config) -> Pool:
    pool = config.stash.get(_POOL, None)
    if pool is None:
        pool = config.stash[_POOL] = Pool()
    return pool


def pytest_unconfigure(config: pytest.Config) -> None:
    pool = config.stash.get(_POOL, None)
    if pool is not None:
        pool.close()


def _marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for mark in reversed(list(request.node.iter_markers(MARKER))):  # the closest marker wins
        if mark.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword options only, not {mark.args!r}")
        options.update(mark.kwargs)
    return options


def _use(request: pytest.FixtureRequest, handles: list[VMHandle]) -> None:
    used = request.node.stash.setdefault(_USED, [])
    used.extend(handles)


def _shared(request: pytest.FixtureRequest, options: dict[str, Any]) -> FakeQemu:
    fq = _pool(request.config).get(options)
    for vm in fq.vms:
        vm.reset(disconnect=True)
    _use(request, fq.vms)
    return fq


@pytest.fixture
def fakeqemu_vm(request: pytest.FixtureRequest) -> FakeQemu:
    """One fake VM (pc unless the marker says), shared by the session and reset before this test."""
    options = _marker_options(request)
    options.setdefault("vms", 1)
    return _shared(request, options)


@pytest.fixture
def fakeqemu_fleet(request: pytest.FixtureRequest) -> FakeQemu:
    """A fleet (``vms=`` of the marker, 2 unless it says): ``fleet.vms``, ``fleet.vm(name)``."""
    options = _marker_options(request)
    options.setdefault("vms", FLEET_SIZE)
    return _shared(request, options)


@pytest.fixture
def fakeqemu_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., FakeQemu]]:
    """``factory(**options)`` starts a FakeQemu of this test's own (stopped after it)."""
    from fakeqemu.testing.handle import FakeQemu

    started: list[FakeQemu] = []

    def factory(**options: Any) -> FakeQemu:
        fq = FakeQemu(**options).start()
        started.append(fq)
        _use(request, fq.vms)
        return fq

    try:
        yield factory
    finally:
        for fq in started:
            fq.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    handles = item.stash.get(_USED, None)
    if handles and report.failed and call.when == "call":
        for vm in handles:
            report.sections.append((f"fakeqemu traffic {vm.name}", _traffic_text(vm)))
    return report


def _traffic_text(vm: VMHandle) -> str:
    try:
        records = vm.traffic()
    except Exception as exc:  # the VM is gone (killed, its process died): say so, do not hide the failure
        return f"(no traffic record: {exc})"
    lines = [f"{r.time:.6f} {r.connection:<14} {r.direction:<4} {r.text.rstrip()}" for r in records]
    if len(lines) > REPORT_LINES:
        lines = [f"... {len(lines) - REPORT_LINES} earlier records left out", *lines[-REPORT_LINES:]]
    return "\n".join(lines) or "(no traffic)"
