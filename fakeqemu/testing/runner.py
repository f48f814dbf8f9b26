"""Fake VMs served in a background thread with its own trio run, so that sync, asyncio and trio tests
alike can use them; the test's thread asks for things through ``call`` and waits for events on a
condition variable."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import inspect
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import trio

from fakeqemu.cli.ready import describe, http_address
from fakeqemu.machine.core.events import Event
from fakeqemu.server.app import serve_vms
from fakeqemu.server.vm import VM
from fakeqemu.testing.control import OPERATIONS
from fakeqemu.testing.options import Options

#: how long start-up and one call may take before the test is told (a busy CI machine, HTTP's imports)
START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 30.0


class EventLog:
    """The QMP events of one VM since start or reset, for waiting on from another thread. Events are
    taken in order by ``wait``: waiting twice for DEVICE_DELETED gets two different events."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.taken = 0
        self.cond = threading.Condition()

    def push(self, kind: str, item: object) -> None:  # in the trio thread
        if kind == "event" and isinstance(item, Event):
            with self.cond:
                self.events.append(item.to_qobject())
                self.cond.notify_all()

    def clear(self) -> None:
        with self.cond:
            self.events.clear()
            self.taken = 0

    def wait(self, name: str, match: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        """The next event ``name`` not taken yet whose data has ``match``'s items; TimeoutError if none
        comes within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(self.taken, len(self.events)):
                    event = self.events[i]
                    if event["event"] == name and _matches(event.get("data") or {}, match or {}):
                        self.taken = i + 1
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [e["event"] for e in self.events[self.taken :]]
                    raise TimeoutError(f"no {name} event within {timeout} s (events since: {seen})")
                self.cond.wait(left)


def _matches(data: dict[str, Any], match: dict[str, Any]) -> bool:
    return all(k in data and data[k] == v for k, v in match.items())


class ThreadRunner:
    """Serves ``options``' VMs (sockets in ``directory``) in a daemon thread until ``close``."""

    def __init__(self, options: Options, directory: Path) -> None:
        self.options = options
        self.configs = options.configs(directory)
        self.info: dict[str, Any] = {}
        self.logs: dict[str, EventLog] = {}
        self._vms: dict[str, VM] = {}
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="fakeqemu-testing", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise TimeoutError(f"fakeqemu did not start within {START_TIMEOUT_S} s")
        if self._error is not None:
            self._thread.join()
            error = self._error
            while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
                error = error.exceptions[0]  # the VM's own error, not trio's nursery wrapping
            raise error

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # reported to the starting thread, or lost after close
            self._error = exc
        finally:
            self._started.set()

    async def _serve(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        http_up = trio.Event()
        urls: list[str] = []

        def on_http(bound: list[str]) -> None:
            urls.extend(bound)
            http_up.set()

        http = "127.0.0.1:0" if self.options.http else None
        with trio.CancelScope() as scope:
            self._cancel = scope
            serve = functools.partial(serve_vms, self.configs, http=http, on_http_ready=on_http)
            async with trio.open_nursery() as nursery:
                vms: list[VM] = await nursery.start(serve)
                if http is not None:
                    await http_up.wait()
                for vm in vms:
                    log = self.logs[vm.name] = EventLog()
                    vm.feed.append(log.push)
                    self._vms[vm.name] = vm
                self.info = describe(vms, http_address(urls[0]) if urls else None)
                self._started.set()

    def call(self, op: str, vm: str, *args: Any) -> Any:
        """Run control operation ``op`` on VM ``vm`` in the VMs' thread and return what it returns."""
        fn = OPERATIONS[op]
        result = self.run_sync(lambda: fn(self._vm(vm), *args))
        if op == "reset":
            self.logs[vm].clear()
        return result

    def _vm(self, name: str) -> VM:
        vm = self._vms.get(name)
        if vm is None:
            raise KeyError(f"no VM named {name!r} (there are {', '.join(self._vms)})")
        return vm

    def wait_event(self, vm: str, name: str, match: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        return self.logs[vm].wait(name, match, timeout)

    def events(self, vm: str) -> list[dict[str, Any]]:
        log = self.logs[vm]
        with log.cond:
            return list(log.events)

    def run_sync(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` in the VMs' trio thread (from any other thread, trio's or asyncio's included); when it
        returns a coroutine, what that returns."""
        if self._token is None or not self._thread.is_alive():
            raise RuntimeError("fakeqemu is not running")
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        async def finish(pending: Coroutine[Any, Any, Any]) -> None:
            try:
                future.set_result(await pending)
            except BaseException as exc:
                future.set_exception(exc)

        def job() -> None:
            try:
                result = fn()
            except BaseException as exc:
                future.set_exception(exc)
                return
            if inspect.iscoroutine(result):  # an operation that waits (a VM's exit): run it as a task
                trio.lowlevel.spawn_system_task(finish, result)
            else:
                future.set_result(result)

        self._token.run_sync_soon(job)
        return future.result(CALL_TIMEOUT_S)

    def close(self) -> None:
        if self._thread.is_alive() and self._cancel is not None and self._token is not None:
            cancel = self._cancel
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(cancel.cancel)
        self._thread.join(CALL_TIMEOUT_S)
