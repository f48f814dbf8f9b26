"""FakeQemu: one fake VM, or a fleet, for a test; sync and async context manager."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import anyio.to_thread

from fakeqemu.testing import qtest
from fakeqemu.testing.child import ProcessRunner
from fakeqemu.testing.options import Options
from fakeqemu.testing.qtest import QTest
from fakeqemu.testing.records import TrafficRecord
from fakeqemu.testing.runner import ThreadRunner


class Runner(Protocol):
    info: dict[str, Any]

    def start(self) -> None: ...
    def call(self, op: str, vm: str, *args: Any) -> Any: ...
    def wait_event(self, vm: str, name: str, match: dict[str, Any] | None, timeout: float) -> dict[str, Any]: ...
    def events(self, vm: str) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


class Faults:
    """A VM's injected faults: ``set`` replaces them (the keys of the fault file: ``delay``, ``fail``,
    ``close_after``, ``close_mid_reply``, ``crash_on``, ... and ``guest``), ``clear`` removes them."""

    def __init__(self, vm: VMHandle) -> None:
        self._vm = vm

    def set(self, **faults: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._vm._call("set_faults", faults)
        return result

    def clear(self) -> dict[str, Any]:
        return self.set()

    def get(self) -> dict[str, Any]:
        result: dict[str, Any] = self._vm._call("get_faults")
        return result


class VMHandle:
    """One VM: where it listens, and what a test can do to it without HTTP."""

    def __init__(self, runner: Runner | None = None, info: dict[str, Any] | None = None) -> None:
        self._runner = runner
        self.name = ""
        self.machine = ""
        #: the QMP unix socket
        self.qmp_path = ""
        #: the QMP TCP address (host, port), with ``tcp=True``
        self.qmp_address: tuple[str, int] | None = None
        #: the HTTP plane's URL, with ``http=True``
        self.http_url: str | None = None
        #: the qtest link, with ``qtest=True``
        self.qtest: QTest | None = None
        self.faults = Faults(self)
        if runner is not None and info is not None:
            self._bind(runner, info)

    def _bind(self, runner: Runner, info: dict[str, Any]) -> None:
        self._runner = runner
        self.name = info["name"]
        self.machine = info["machine"]
        self.qmp_path = info["qmp"]
        if info["tcp"]:
            host, _, port = info["tcp"].rpartition(":")
            self.qmp_address = (host, int(port))
        http = runner.info["http"]
        self.http_url = http if http is not None and http.startswith("http") else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.machine} qmp={self.qmp_path}>"

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            raise RuntimeError("FakeQemu is not started (use it as a context manager, or call start())")
        return self._runner

    def _call(self, op: str, *args: Any) -> Any:
        return self.runner.call(op, self.name, *args)

    def qmp(self, command: str, **arguments: Any) -> Any:
        """Run a QMP command (as connection ``testing``); its return value, or QMPCommandError."""
        return self._call("qmp", command, arguments)

    def set_guest(self, policy: str, device: str | None = None) -> dict[str, Any]:
        """How the guest answers unplug requests, for the VM or one device: auto, prompt, delay:<ms>,
        never, refuse."""
        result: dict[str, Any] = self._call("set_guest", policy, device)
        return result

    def eject(self, device: str) -> None:
        """The guest ejects ``device`` now, whatever its policy (DEVICE_DELETED follows)."""
        self._call("eject", device)

    def timeline(self, device: str | None = None) -> list[dict[str, Any]]:
        """The hot-plug and unplug steps (``device``: only that one's), oldest first: dicts with
        ``device``, ``step``, ``t`` (seconds since the VM started), ``wall`` and ``detail``."""
        result: list[dict[str, Any]] = self._call("timeline", device)
        return result

    def waiting(self, device: str) -> str | None:
        """What ``device`` waits for now ("waiting for the guest to write the eject register", ...), or None."""
        result: str | None = self._call("waiting", device)
        return result

    def traffic(self, **filters: Any) -> list[TrafficRecord]:
        """The traffic record since start or reset; filters: connection, direction ("in", "out",
        "note"), command (its requests and replies), event, since_time, until_time."""
        result: list[TrafficRecord] = self._call("traffic", filters)
        return result

    def commands(self, connection: str | None = None) -> list[str]:
        """The commands clients sent, in order (``connection``: only that one's)."""
        records = self.traffic(direction="in", connection=connection)
        return [r.command for r in records if r.command is not None and r.connection != "testing"]

    def events(self) -> list[dict[str, Any]]:
        """The QMP events since start or reset, as clients received them."""
        return self.runner.events(self.name)

    def wait_for_event(self, name: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next ``name`` event not returned before (since start or reset) whose data has ``match``
        (e.g. ``device="net0"``); waits up to ``timeout`` seconds for it, else TimeoutError."""
        return self.runner.wait_event(self.name, name, match or None, timeout)

    async def event(self, name: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:  # noqa: ASYNC109
        """``wait_for_event`` for async tests (asyncio or trio): the waiting happens in a worker thread."""
        result: dict[str, Any] = await anyio.to_thread.run_sync(lambda: self.wait_for_event(name, timeout, **match))
        return result

    def set_traffic_limit(self, limit: int) -> None:
        """Bytes of traffic kept (0: stop recording)."""
        self._call("set_traffic_limit", limit)

    def reset(self, disconnect: bool = False) -> None:
        """Back to the start state (devices, run state, guest policy, faults, traffic, events); with
        ``disconnect`` QMP clients are disconnected too."""
        self._call("reset", disconnect)

    def kill(self) -> None:
        """This VM ends as a killed QEMU does; the rest of a fleet carries on."""
        self._call("kill")

    def alive(self) -> bool:
        """Whether the VM still serves (not killed, not quit, its process not gone)."""
        try:
            return bool(self._call("alive"))
        except RuntimeError:  # the thread or child process serving it has ended
            return False


class FakeQemu(VMHandle):
    """Fake VMs for a test, on free socket paths and ports::

        with FakeQemu(machine="q35", guest="never") as vm:
            client.connect(vm.qmp_path)

    Options (see fakeqemu.testing.options.Options) mirror ``fakeqemu run``'s. ``isolation="thread"``
    (the default) serves them in a background thread of this process; ``"process"`` in a child process.
    The FakeQemu is also the first VM's handle (``qmp_path``, ``eject``, ``traffic``, ...);
    ``vm(name)`` and ``vms`` give every VM of a fleet."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = Options(**options)
        self.options.check()
        self._dir: Path | None = None
        self.vms: list[VMHandle] = []
        self.pid: int | None = None

    # --- life ---------------------------------------------------------------------------------

    def start(self) -> FakeQemu:
        self._dir = Path(tempfile.mkdtemp(prefix="fakeqemu-"))
        links = (
            {n: qtest.listen(str(self._dir / f"{n}.qtest")) for n in self.options.names()} if self.options.qtest else {}
        )
        runner: Runner
        if self.options.isolation == "process":
            runner = ProcessRunner(self.options, self._dir)
        else:
            runner = ThreadRunner(self.options, self._dir)
        try:
            runner.start()
        except BaseException:
            self._cleanup()
            raise
        finally:
            accepted = {n: sock.accept()[0] for n, sock in links.items() if runner.info}
            for sock in links.values():
                sock.close()
        self.pid = runner.info["pid"]
        self.vms = [VMHandle(runner, v) for v in runner.info["vms"]]
        self._bind(runner, runner.info["vms"][0])
        for handle in self.vms:
            link = accepted.get(handle.name)
            handle.qtest = None if link is None else qtest.QTest(link)
        self.qtest = self.vms[0].qtest
        return self

    def close(self) -> None:
        """Stop every VM and delete their sockets."""
        runner, self._runner = self._runner, None
        for handle in self.vms:
            if handle.qtest is not None:
                handle.qtest.close()
        try:
            if runner is not None:
                runner.close()
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> FakeQemu:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> FakeQemu:
        return await anyio.to_thread.run_sync(self.start)

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await anyio.to_thread.run_sync(self.close)

    # --- the VMs ------------------------------------------------------------------------------

    def vm(self, name: str | None = None) -> VMHandle:
        """The VM named ``name`` (the first one without a name)."""
        if not self.vms:
            raise RuntimeError("FakeQemu is not started (use it as a context manager, or call start())")
        if name is None:
            return self.vms[0]
        for handle in self.vms:
            if handle.name == name:
                return handle
        raise KeyError(f"no VM named {name!r} (there are {', '.join(v.name for v in self.vms)})")


def run_vm(**options: Any) -> FakeQemu:
    """``FakeQemu(**options)``: ``with run_vm(machine="q35") as vm: ...`` (or ``async with``)."""
    return FakeQemu(**options)
