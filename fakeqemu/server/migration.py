"""Migration I/O: the source's stream to a ``migrate`` URI and the destination's ``-incoming`` listener
(unix:, tcp:, fd:, exec:). Bytes only: the stream format is fakeqemu.protocols.migration, the run states
and events fakeqemu.machine.migration.state, the VM state fakeqemu.machine.migration.vmstate."""

from __future__ import annotations

import errno
import logging
import os
import shlex
import socket
import stat
import subprocess
import sys
from typing import TYPE_CHECKING

import trio

from fakeqemu.machine.migration import vmstate
from fakeqemu.machine.migration.state import BYTES_PER_ZERO_PAGE
from fakeqemu.protocols.migration import Decoder, StreamError, frame, preamble
from fakeqemu.qmp.errors import GenericError
from fakeqemu.server.signals import unblock_in_child

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM

log = logging.getLogger("fakeqemu.migration")
#: the share of a second of max-bandwidth one RAM frame stands for (QEMU's rate limit works in 100 ms)
RAM_SLICE_S = 0.1


class MigrationLoadError(Exception):
    """The destination could not load the stream: QEMU prints ``message`` (if any), then
    ``load of migration failed: <reason>``, and exits with status 1."""

    def __init__(self, message: str, reason: str = "Invalid argument") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason

    def lines(self) -> list[str]:
        return [*([self.message] if self.message else []), f"load of migration failed: {self.reason}"]


class Cut(Exception):
    """The fault file's ``migration_cut``: the stream ends here."""


class _Pipe(trio.abc.Stream):
    """exec: a command's stdin (source) or stdout (destination) as a stream."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        assert self.proc.stdout is not None
        return await self.proc.stdout.receive_some(max_bytes)

    async def aclose(self) -> None:
        for s in (self.proc.stdin, self.proc.stdout):
            if s is not None:
                await s.aclose()
        with trio.move_on_after(5):
            await self.proc.wait()
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


class _FdPipe(trio.abc.Stream):
    """A pipe or file fd (libvirt's save and restore hand one over): one end, read or written."""

    def __init__(self, fd: int) -> None:
        self.fd = trio.lowlevel.FdStream(fd)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.fd.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.fd.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.fd.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.fd.aclose()


def _fd_stream(fd: int) -> trio.abc.Stream:
    """A socket fd as a socket stream; a pipe (or file) as a plain fd stream."""
    if stat.S_ISSOCK(os.fstat(fd).st_mode):
        return trio.SocketStream(trio.socket.from_stdlib_socket(socket.socket(fileno=fd)))
    return _FdPipe(fd)


async def _open(uri: str, fd: int | None) -> trio.abc.Stream:
    if uri.startswith("unix:"):
        return await trio.open_unix_socket(uri[5:])
    if uri.startswith("tcp:"):
        host, _, port = uri[4:].rpartition(":")
        return await trio.open_tcp_stream(host.strip("[]"), int(port))
    if uri.startswith("fd:") and fd is not None:
        return _fd_stream(fd)
    argv = ["/bin/sh", "-c", uri[5:]]
    proc = await trio.lowlevel.open_process(argv, stdin=subprocess.PIPE, preexec_fn=unblock_in_child)
    return _Pipe(proc)


def _connect_error(uri: str, exc: OSError) -> str:
    where = uri[5:] if uri.startswith("unix:") else uri[4:]
    return f"Failed to connect to '{where}': {exc.strerror or exc}"


def _report(text: str) -> None:
    """error_report: QEMU's line on stderr."""
    print(f"qemu-system-x86_64: {text}", file=sys.stderr, flush=True)


POSTCOPY_PAUSED = "Detected IO failure for postcopy. Migration paused."


async def outgoing(vm: VM, uri: str, fd: int | None) -> None:
    """migrate: connect, RAM passes, stop, device state, completed; failed or cancelled on the way. A
    postcopy whose stream breaks (migrate-pause, a destination gone) pauses, and goes on over the stream
    ``migrate`` with ``resume`` opens."""
    mig = vm.machine.migration
    scope = trio.CancelScope()
    mig.cancel_hook = scope.cancel
    error = ""
    with scope:
        try:
            stream = await _open(uri, fd)
        except OSError as exc:
            mig.cancel_hook = None
            _report(_connect_error(uri, exc))
            mig.failed(_connect_error(uri, exc))
            return
        resuming = False
        while True:
            link = trio.CancelScope()
            mig.pause_hook = link.cancel
            try:
                with link:
                    async with stream:
                        await _send(vm, stream, resuming)
                        mig.cancel_hook = mig.pause_hook = None
                        mig.completed()
                        return
            except Cut:
                error = "Unable to write to socket: Broken pipe"
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                error = write_error(uri, exc)
            mig.pause_hook = None
            if mig.status != "postcopy-active":
                break
            _report(POSTCOPY_PAUSED)
            mig.paused()
            stream, uri = await _resumed(vm)
            resuming = True
    mig.cancel_hook = None
    if scope.cancelled_caught:
        mig.cancelled()
    else:
        _report(error)
        mig.failed(error)


async def _resumed(vm: VM) -> tuple[trio.abc.Stream, str]:
    """Wait for ``migrate`` with ``resume`` and open its stream (a failed connect stays paused)."""
    mig = vm.machine.migration
    send, receive = trio.open_memory_channel[tuple[str, int | None]](1)
    while True:
        mig.resume_hook = lambda u, f: send.send_nowait((u, f))
        uri, fd = await receive.receive()
        mig.resume_hook = None
        try:
            return await _open(uri, fd), uri
        except OSError as exc:
            _report(_connect_error(uri, exc))


async def _send(vm: VM, stream: trio.abc.Stream, resuming: bool) -> None:
    """The stream: header and RAM passes at max-bandwidth; the switch to postcopy when asked (device
    state at once, the rest of the RAM at max-postcopy-bandwidth); else stop and device state last."""
    m = vm.machine
    mig = m.migration

    async def cut_at(stage: str) -> None:
        if m.faults.migration_cut == stage:
            m.traffic.add("", "note", f"fault: migration stream cut at {stage}".encode())
            await stream.aclose()
            raise Cut(stage)

    async def device_state(postcopy: bool) -> None:
        await cut_at("device")
        data = (frame("P") if postcopy else b"") + frame("S", vmstate.snapshot(m))
        await stream.send_all(data)
        mig.sent(len(data))

    if resuming:
        await stream.send_all(preamble() + frame("Q"))
        mig.recovered()
    else:
        await cut_at("setup")
        head = preamble() + frame("H", {"machine": m.config.machine_type, "qemu": list(m.config.qemu_version)})
        await stream.send_all(head)
        mig.sent(len(head))
        mig.started()
        await cut_at("active")
    # the guest's RAM as QEMU streams an idle guest's (zero pages), at max-bandwidth
    while (todo := mig.ram_pages_left()) > 0:
        if mig.postcopy and mig.status == "active":
            mig.finishing()
            await device_state(True)
        postcopy = mig.status == "postcopy-active"
        limit = int(mig.parameters["max-postcopy-bandwidth" if postcopy else "max-bandwidth"])
        bandwidth = max(limit, 1) if limit or not postcopy else 0
        pages = todo if not bandwidth else max(1, min(todo, int(bandwidth * RAM_SLICE_S) // BYTES_PER_ZERO_PAGE))
        ram = frame("R", {"pass": mig.passes, "pages": pages})
        if m.faults.migration_cut == "ram":  # mid-way: half a frame goes, then the stream ends
            await stream.send_all(ram[: len(ram) // 2])
            await cut_at("ram")
        await stream.send_all(ram)
        mig.sent_pages(pages)
        if bandwidth:
            await trio.sleep(pages * BYTES_PER_ZERO_PAGE / bandwidth)
        if m.faults.migration_stuck and mig.status == "active" and not mig.ram_pages_left():
            # the guest dirtied it all again meanwhile: another pass (a slice apart)
            mig.new_pass()
            await trio.sleep(RAM_SLICE_S)
    if mig.status == "active":
        mig.finishing()
        await device_state(mig.status == "postcopy-active")
    await stream.send_all(frame("E"))
    mig.sent(len(frame("E")))


def write_error(uri: str, exc: BaseException) -> str:
    """QEMU's text for a stream that broke under the source: a destination that vanished mid-way
    (``Unable to write to socket: Broken pipe``, or the peer's reset)."""
    cause = exc if isinstance(exc, OSError) else exc.__cause__ or exc.__context__
    errno_ = getattr(cause, "errno", None) or errno.EPIPE
    channel = "command" if uri.startswith("exec:") else "socket"
    return f"Unable to write to {channel}: {os.strerror(errno_)}"


# --- destination -------------------------------------------------------------------------------------


async def _accept(uri: str, listener: socket.socket | None) -> trio.abc.Stream:
    if listener is not None:
        with trio.socket.from_stdlib_socket(listener) as lsock:
            conn, _ = await lsock.accept()
        return trio.SocketStream(conn)
    if uri.startswith("exec:"):
        proc = await trio.lowlevel.open_process(
            shlex.split(uri[5:]), stdout=subprocess.PIPE, preexec_fn=unblock_in_child
        )
        return _Pipe(proc)
    return _fd_stream(int(uri[3:]))


async def incoming(vm: VM, uri: str, listener: socket.socket | None) -> None:
    """-incoming / migrate-incoming: take one stream, load it, run or stay paused. After the switch to
    postcopy the VM runs on the device state at once; a postcopy stream that breaks (migrate-pause on
    either side, a source gone) pauses until migrate-recover names where the source resumes."""
    m = vm.machine
    mig = m.migration
    stream = await _accept(uri, listener)
    state: dict[str, object] | None = None

    async def vanish_at(stage: str) -> None:
        """The fault file's ``migration_vanish``: this destination dies here."""
        if m.faults.migration_vanish == stage:
            m.traffic.add("", "note", f"fault: migration destination vanishes at {stage}".encode())
            vm.kill()
            await trio.sleep_forever()

    while True:
        decoder = Decoder()
        link = trio.CancelScope()
        mig.pause_hook = link.cancel
        async with stream:
            with link:
                try:
                    while not decoder.done:
                        data = await stream.receive_some(65536)
                        if not data:
                            if mig.status == "postcopy-active":
                                break
                            mig.set_status("failed")
                            raise MigrationLoadError("", "Input/output error")
                        for fr in decoder.feed(bytes(data)):
                            if fr.kind in "HRS":
                                await vanish_at({"H": "setup", "R": "ram", "S": "device"}[fr.kind])
                            if fr.kind == "H":
                                if fr.data.get("machine") != m.config.machine_type:
                                    raise StreamError(f"Machine type '{fr.data.get('machine')}' does not match")
                                mig.incoming_started()
                            elif fr.kind == "P":
                                mig.incoming_postcopy()
                            elif fr.kind == "Q":
                                mig.recovered()
                            elif fr.kind == "S":
                                vmstate.check(m, fr.data)
                                if mig.status == "postcopy-active":
                                    vmstate.apply(m, fr.data)
                                    mig.incoming_running()
                                else:
                                    state = fr.data
                except (StreamError, vmstate.MismatchError) as exc:
                    raise MigrationLoadError(str(exc)) from None
        mig.pause_hook = None
        if decoder.done:
            break
        _report("check_section_footer: Read section footer failed: -5")
        _report(POSTCOPY_PAUSED)
        mig.paused()
        stream = await _recovered(vm)
    if state is not None:
        vmstate.apply(m, state)
    mig.incoming_completed()


async def _recovered(vm: VM) -> trio.abc.Stream:
    """Wait for migrate-recover, listen where it says, take the source's new stream."""
    from fakeqemu.server.incoming import bind_incoming

    mig = vm.machine.migration
    send, receive = trio.open_memory_channel[tuple[str, socket.socket | None]](1)

    def listen(uri: str) -> None:  # bound before migrate-recover replies: the source may connect at once
        try:
            bound = bind_incoming(uri)
        except OSError as exc:
            raise GenericError(f"Failed to bind socket: {exc.strerror}") from None
        send.send_nowait((uri, bound))

    mig.recover_hook = listen
    uri, bound = await receive.receive()
    mig.recover_hook = None
    return await _accept(uri, bound)
