"""Differential testing harness: run the same script against Debian's QEMU 7.2 and against fakeqemu.

A script is a list of steps (``Send``, ``Expect``, ``Sync``, ``WaitEvent``, ``Qtest``, ``Signal``, ``Call``, ``Poll``,
``WaitClose``, ``WaitExit``). Running it on a ``Target`` yields a transcript: a list of
``(direction, bytes)`` entries where direction is ``qmp>`` (raw bytes sent), ``qmp<`` (one raw message
line received, CRLF included), ``qtest>`` / ``qtest<`` (qtest lines, ``IRQ`` lines dropped) or ``!``
(harness observations: socket closed, process exit status, harness errors). Transcripts are
normalised (event timestamps, the ``package`` string) and compared byte for byte.

Plain blocking sockets with timeouts: simple and deterministic.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tools.launch import BARE, Emulator

QEMU_BINARY = "qemu-system-x86_64"
TRANSCRIPT_DIR = Path("/tmp/oracle-transcripts")

Entry = tuple[str, bytes]
Transcript = list[Entry]


class HarnessError(Exception):
    """The script could not run as written (timeout, unexpected close, process death)."""


# --------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """How to start an emulator: argv prefix plus arguments appended to every command line."""

    name: str
    argv: tuple[str, ...]
    extra: tuple[str, ...] = ()

    def command(self, args: Sequence[str]) -> list[str]:
        return [*self.argv, *args, *self.extra]


def qemu_path() -> str | None:
    return shutil.which(QEMU_BINARY)


@functools.cache
def qemu_version() -> str:
    """The real QEMU's version (e.g. ``7.2.22``), read once from ``qemu-system-x86_64 --version``."""
    path = qemu_path()
    if path is None:
        return "7.2.22"
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"QEMU emulator version (\d+\.\d+\.\d+)", out)
    if m is None:
        raise HarnessError(f"cannot parse the QEMU version from {out!r}")
    return m.group(1)


def qemu_target() -> Target:
    return Target("qemu", (qemu_path() or QEMU_BINARY,))


def fakeqemu_target() -> Target:
    return Target("fakeqemu", (sys.executable, "-m", "fakeqemu"), ("-fakeqemu", f"qemu-version={qemu_version()}"))


def start_outcome(target: Target, args: Sequence[str]) -> tuple[int, str, str]:
    """Start ``target`` with ``-display none -nodefaults -S`` and ``args`` (a start-up refusal): its exit
    status, stdout and stderr."""
    res = subprocess.run(
        target.command(["-display", "none", "-nodefaults", "-S", *args]),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return res.returncode, res.stdout, res.stderr


# ----------------------------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Send:
    """Raw bytes on the QMP socket, exactly as given."""

    data: bytes


@dataclass(frozen=True)
class Expect:
    """Read exactly ``n`` QMP messages (lines)."""

    n: int = 1
    timeout: float = 20.0


@dataclass(frozen=True)
class Gather:
    """Read exactly ``n`` QMP messages whose order QEMU does not fix (a reply racing events that its call_rcu
    thread sends); they are recorded in a canonical (sorted) order."""

    n: int
    timeout: float = 20.0


@dataclass(frozen=True)
class Sync:
    """Read (and record) every QMP message the emulator sends before it answers a marker command sent now;
    the marker and its reply are not recorded. Stops, recording nothing more, if the socket closes.

    Only where the input is between messages: a marker sent inside an unfinished message would become
    part of it (``sends`` groups the pieces of one message). ``unordered``: what was read is recorded in the
    canonical order ``Gather`` uses (messages that QEMU sends in no fixed order, e.g. after system_reset)."""

    timeout: float = 20.0
    unordered: bool = False


@dataclass(frozen=True)
class WaitEvent:
    """Read QMP messages until ``count`` events named ``name`` have arrived (all are recorded)."""

    name: str
    count: int = 1
    timeout: float = 20.0
    #: only count events whose ``data.device`` is this id
    device: str | None = None


@dataclass(frozen=True)
class Qtest:
    """One qtest command line; its reply is recorded (``IRQ`` lines are dropped)."""

    line: str
    timeout: float = 20.0


@dataclass(frozen=True)
class Signal:
    """Send a signal to the emulator process."""

    signum: int = signal.SIGTERM


@dataclass(frozen=True)
class WaitClose:
    """Read QMP messages until the peer closes the socket; records ``! qmp closed``."""

    timeout: float = 20.0


@dataclass(frozen=True)
class WaitExit:
    """Wait for the process to exit; records ``! exit <status>``."""

    timeout: float = 20.0


@dataclass(frozen=True)
class Poll:
    """Send ``execute`` until its reply contains ``until`` (a state that real I/O reaches in its own
    time, such as a job's first chunk copied); the polls and their replies are not recorded, events
    that come meanwhile are."""

    execute: str
    until: bytes
    timeout: float = 20.0


@dataclass(frozen=True)
class QtestPoll:
    """Send the qtest ``line`` until its reply is ``until`` (a register the running firmware sets in its own
    time); neither the polls nor their replies are recorded."""

    line: str
    until: bytes
    timeout: float = 20.0
    #: seconds between polls: each takes QEMU's big lock, so polling without a pause starves a vCPU that
    #: is still running the firmware
    interval: float = 0.0


@dataclass(frozen=True)
class Call:
    """Run a function of the test (make image files, read them back); bytes it returns are recorded as
    ``call<``, so what it reads is compared too."""

    fn: Callable[[], bytes | None]


@dataclass(frozen=True)
class Stderr:
    """Once the process has exited: record each line it wrote on stderr as ``err``, with what differs
    between any two runs normalised (trace lines' ``TID@SECONDS.MICROSECONDS:``, pointers, event times)
    and the lines of other features dropped (qtest's log, the exit message)."""


_TRACE_STAMP = re.compile(rb"^\d+@\d+\.\d{6}:")
_POINTER = re.compile(rb"0x[0-9a-f]{10,}")


def stderr_lines(text: str) -> list[bytes]:
    out = []
    for line in text.encode().splitlines():
        if line.startswith(b"[") or b"terminating on signal" in line:
            continue
        line = _POINTER.sub(b"0xPTR", _TRACE_STAMP.sub(b"TID@TIME:", line))
        out.append(normalise_line(line))
    return out


Step = (
    Send | Expect | Gather | Sync | WaitEvent | Qtest | QtestPoll | Signal | WaitClose | WaitExit | Call | Poll | Stderr
)


def cmd(execute: str, arguments: dict[str, Any] | None = None, id: Any = None, oob: bool = False) -> bytes:
    """A compact QMP command in the insertion order given (``{"execute":...,"arguments":...}``)."""
    msg: dict[str, Any] = {("exec-oob" if oob else "execute"): execute}
    if arguments is not None:
        msg["arguments"] = arguments
    if id is not None:
        msg["id"] = id
    return json.dumps(msg, separators=(",", ":")).encode()


def call(execute: str, arguments: dict[str, Any] | None = None, id: Any = None) -> list[Step]:
    """Send one command and read one message (its reply)."""
    return [Send(cmd(execute, arguments, id)), Expect(1)]


def reset() -> list[Step]:
    """system_reset: its reply and the RESET event, which QEMU's main loop may send in either order."""
    return [Send(cmd("system_reset")), Gather(2)]


def sends(*items: bytes | tuple[bytes, ...] | Step) -> list[Step]:
    """Each chunk sent on its own, then ``Sync``. A tuple is one message sent in pieces, with no ``Sync``
    between them; a chunk followed by a step (e.g. ``WaitClose`` after ``quit``) gets no ``Sync``."""
    out: list[Step] = []
    for i, item in enumerate(items):
        if isinstance(item, bytes | tuple):
            out += [Send(piece) for piece in (item if isinstance(item, tuple) else (item,))]
            following = items[i + 1] if i + 1 < len(items) else None
            if following is None or isinstance(following, bytes | tuple):
                out.append(Sync())
        else:
            out.append(item)
    return out


# ------------------------------------------------------------------------------------------------- VM


class Channel:
    """A blocking line-oriented socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.closed = False

    def _fill(self, deadline: float) -> bool:
        """Receive more bytes; False on timeout. Sets ``closed`` on EOF."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return False
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def line(self, timeout: float) -> bytes | None:
        """The next line (terminator included), or None on timeout / EOF."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.closed or not self._fill(deadline):
                return None
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def send(self, data: bytes) -> None:
        # the peer may take seconds to swallow a large message (QEMU lexes byte by byte)
        self.sock.settimeout(120)
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()


@dataclass
class VM:
    """A running emulator with its raw QMP socket and (optionally) the accepted qtest connection."""

    target: Target
    emu: Emulator
    qmp: Channel
    qtest: Channel | None
    transcript: Transcript = field(default_factory=list)
    #: monotonic time at which each recorded entry was read/sent (for latency measurements)
    times: list[float] = field(default_factory=list)
    #: markers sent by ``Sync`` so far
    syncs: int = 0

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        assert self.emu.proc is not None
        return self.emu.proc

    def record(self, direction: str, data: bytes) -> None:
        self.transcript.append((direction, data))
        self.times.append(time.monotonic())

    # -- QMP
    def send(self, data: bytes) -> None:
        self.record("qmp>", data)
        self.qmp.send(data)

    def read_message(self, timeout: float) -> bytes | None:
        line = self.qmp.line(timeout)
        if line is not None:
            self.record("qmp<", line)
        return line

    def gather(self, n: int, timeout: float) -> None:
        start = len(self.transcript)
        self.expect(n, timeout)
        self.canonical(start)

    def canonical(self, start: int) -> None:
        """Sort the transcript from ``start`` as compared (timestamps normalised), so that neither two events'
        times nor a reply racing events decides their order."""
        self.transcript[start:] = sorted(self.transcript[start:], key=lambda e: (e[0], normalise_line(e[1]), e[1]))

    def expect(self, n: int, timeout: float = 20.0) -> list[bytes]:
        out = []
        for i in range(n):
            line = self.read_message(timeout)
            if line is None:
                why = "closed" if self.qmp.closed else "timed out"
                raise HarnessError(f"expected {n} QMP messages, got {i}: {why}")
            out.append(line)
        return out

    def sync(self, timeout: float) -> None:
        self.syncs += 1
        tag = f"oracle-sync-{self.syncs}".encode()
        with contextlib.suppress(OSError):  # closed: read what was sent before
            self.qmp.send(cmd("query-name", id=tag.decode()))
        marker = b'"id": "' + tag + b'"'
        deadline = time.monotonic() + timeout
        while True:
            line = self.qmp.line(max(0.0, deadline - time.monotonic()))
            if line is None:
                if self.qmp.closed:
                    return
                raise HarnessError("no reply to the sync marker")
            if marker in line:
                return
            self.record("qmp<", line)

    def poll(self, execute: str, until: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.syncs += 1
            tag = f"oracle-poll-{self.syncs}"
            self.qmp.send(cmd(execute, id=tag))
            marker = b'"id": "' + tag.encode() + b'"'
            while True:
                line = self.qmp.line(max(0.0, deadline - time.monotonic()))
                if line is None:
                    raise HarnessError(f"{execute} never answered {until!r}")
                if marker in line:
                    break
                self.record("qmp<", line)
            if until in line:
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"{execute} never answered {until!r}")

    def wait_event(self, name: str, count: int = 1, timeout: float = 20.0, device: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        seen = 0
        while seen < count:
            line = self.read_message(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise HarnessError(
                    f"event {name} x{count}: got {seen} before {'close' if self.qmp.closed else 'timeout'}"
                )
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict) or msg.get("event") != name:
                continue
            data = msg.get("data")
            if device is None or (isinstance(data, dict) and data.get("device") == device):
                seen += 1

    def wait_close(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.qmp.closed:
            if self.read_message(max(0.0, deadline - time.monotonic())) is None and not self.qmp.closed:
                raise HarnessError("QMP socket did not close")
        if self.qmp.buf:
            self.record("qmp<", self.qmp.buf)
            self.qmp.buf = b""
        self.record("!", b"qmp closed")

    # -- qtest
    def qtest_poll(self, line: str, until: bytes, timeout: float, interval: float = 0.0) -> None:
        deadline = time.monotonic() + timeout
        while self.qtest_cmd(line, max(0.0, deadline - time.monotonic()), record=False) != until:
            if time.monotonic() > deadline:
                raise HarnessError(f"qtest {line!r} never answered {until!r}")
            time.sleep(interval)

    def qtest_cmd(self, line: str, timeout: float = 20.0, record: bool = True) -> bytes:
        if self.qtest is None:
            raise HarnessError("no qtest connection (start with qtest=True)")
        if record:
            self.record("qtest>", line.encode())
        self.qtest.send(line.encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            reply = self.qtest.line(max(0.0, deadline - time.monotonic()))
            if reply is None:
                raise HarnessError(f"no qtest reply to {line!r}")
            reply = reply.rstrip(b"\n")
            if not reply.startswith(b"IRQ "):
                if record:
                    self.record("qtest<", reply)
                return reply

    # -- process
    def signal(self, signum: int) -> None:
        self.record("!", f"signal {signal.Signals(signum).name}".encode())
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float) -> int:
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("process did not exit") from None
        self.record("!", f"exit {status}".encode())
        return status

    def stderr(self) -> str:
        """What the process wrote on stderr so far (only once it has exited)."""
        return self.emu.stderr()

    def close(self) -> None:
        self.qmp.close()
        if self.qtest is not None:
            self.qtest.close()
        self.emu.close()

    # -- steps
    def run(self, step: Step) -> None:
        match step:
            case Send(data):
                self.send(data)
            case Gather(n, timeout):
                self.gather(n, timeout)
            case Expect(n, timeout):
                self.expect(n, timeout)
            case Sync(timeout, unordered):
                start = len(self.transcript)
                self.sync(timeout)
                if unordered:
                    self.canonical(start)
            case Poll(execute, until, timeout):
                self.poll(execute, until, timeout)
            case WaitEvent(name, count, timeout, device):
                self.wait_event(name, count, timeout, device)
            case Qtest(line, timeout):
                self.qtest_cmd(line, timeout)
            case QtestPoll(line, until, timeout, interval):
                self.qtest_poll(line, until, timeout, interval)
            case Signal(signum):
                self.signal(signum)
            case WaitClose(timeout):
                self.wait_close(timeout)
            case WaitExit(timeout):
                self.wait_exit(timeout)
            case Call(fn):
                out = fn()
                if out is not None:
                    self.record("call<", out)
            case Stderr():
                for err_line in stderr_lines(self.stderr()):
                    self.record("err", err_line)


def start(
    target: Target,
    machine: str = "pc",
    extra_args: Sequence[str] = (),
    qtest: bool = True,
    paused: bool = True,
    timeout: float = 20.0,
) -> VM:
    """Start ``target`` with a QMP unix socket (and a qtest socket, listened on first as libqtest does)."""
    emu = Emulator(prefix="oracle-")
    qt: socket.socket | None = None
    try:
        args = ["-M", machine, *BARE]
        if paused:
            args.append("-S")
        args += ["-qmp", f"unix:{emu.path('qmp.sock')},server=on,wait=off"]
        if qtest:
            args += ["-qtest", f"unix:{emu.listen('qtest.sock')}"]
        emu.start(target.command([*args, *extra_args]))
        if qtest:
            qt = emu.accept("qtest.sock", timeout)
        qs = emu.connect("qmp.sock", timeout)
    except BaseException:
        if qt is not None:
            qt.close()
        emu.close()
        raise
    return VM(target, emu, Channel(qs), Channel(qt) if qt is not None else None)


@contextmanager
def running(target: Target, **kwargs: Any) -> Iterator[VM]:
    vm = start(target, **kwargs)
    try:
        yield vm
    finally:
        vm.close()


# ---------------------------------------------------------------------------------------- scripts


#: a scrub's replacement: bytes (with group references), or a function of the match (re.sub's)
Repl = bytes | Callable[[re.Match[bytes]], bytes]


@dataclass(frozen=True)
class Script:
    """A scenario: how to start the VM and the steps to run (the greeting is read first, always)."""

    name: str
    steps: tuple[Step, ...]
    machine: str = "pc"
    extra_args: tuple[str, ...] = ()
    qtest: bool = True
    paused: bool = True
    #: send qmp_capabilities (and read its return) right after the greeting
    negotiate: bool = True
    #: entries that QEMU's transcript must contain, in this order (a check on the harness and the
    #: recorded facts, independent of fakeqemu)
    must: tuple[Entry, ...] = ()
    #: (pattern, replacement) applied to every received entry: what the script declares may differ
    #: (a date, a size that is fakeqemu's own), named in the replacement; or a function that puts what
    #: QEMU leaves unordered in one order (info mtree's address spaces)
    scrub: tuple[tuple[bytes, Repl], ...] = ()

    def __str__(self) -> str:
        return self.name


def script(
    name: str,
    *steps: Step | Sequence[Step],
    machine: str = "pc",
    extra_args: Sequence[str] = (),
    qtest: bool = True,
    paused: bool = True,
    negotiate: bool = True,
    must: Sequence[Entry | bytes] = (),
    scrub: Sequence[tuple[bytes, Repl]] = (),
) -> Script:
    """Build a Script; ``must`` items that are plain bytes mean QMP messages (``qmp<``, CRLF added)."""
    flat: list[Step] = []
    for s in steps:
        if isinstance(s, Sequence):
            flat.extend(s)
        else:
            flat.append(s)
    entries = tuple(("qmp<", m + b"\r\n") if isinstance(m, bytes) else m for m in must)
    return Script(name, tuple(flat), machine, tuple(extra_args), qtest, paused, negotiate, entries, tuple(scrub))


CAPABILITIES = b'{"execute":"qmp_capabilities"}'


def run_script(target: Target, sc: Script) -> tuple[Transcript, list[float]]:
    """Run ``sc`` on ``target``; harness errors end the transcript with ``! error: ...``."""
    vm = start(target, machine=sc.machine, extra_args=sc.extra_args, qtest=sc.qtest, paused=sc.paused)
    try:
        try:
            vm.expect(1, 20.0)  # greeting
            if sc.negotiate:
                vm.send(CAPABILITIES)
                vm.expect(1)
            for step in sc.steps:
                vm.run(step)
        except (HarnessError, OSError) as exc:
            vm.record("!", f"error: {exc}".encode())
            if vm.proc.poll() is not None:
                vm.record("!", f"stderr: {vm.stderr().strip()}".encode())
        return scrubbed(sc, normalise(vm.transcript)), vm.times
    finally:
        vm.close()


# ---------------------------------------------------------------------------------------- normalise


def scrubbed(sc: Script, transcript: Transcript) -> Transcript:
    """``sc.scrub`` applied to what the emulator sent and what ``Call`` steps read."""
    out = []
    for d, b in transcript:
        if d in ("qmp<", "call<"):
            for pattern, repl in sc.scrub:
                b = re.sub(pattern, repl, b)
        out.append((d, b))
    return out


_TIMESTAMP = re.compile(rb'"timestamp": \{"seconds": \d+, "microseconds": \d+\}')
_PACKAGE = re.compile(rb'"package": "(?:[^"\\]|\\.)*"')


_THREAD_ID = re.compile(rb'\{"thread-id": \d+')


_HMP_THREAD_ID = re.compile(rb"thread_id=\d+")
_ORACLE_DIR = re.compile(rb"/oracle-[A-Za-z0-9_]+/")


def normalise_line(data: bytes) -> bytes:
    data = _TIMESTAMP.sub(b'"timestamp": {"seconds": 0, "microseconds": 0}', data)
    data = _THREAD_ID.sub(b'{"thread-id": <tid>', data)  # a vCPU thread's id (query-cpus-fast)
    data = _HMP_THREAD_ID.sub(b"thread_id=<tid>", data)  # the same in HMP's info cpus
    data = _ORACLE_DIR.sub(b"/oracle-<dir>/", data)  # the run's socket directory (info chardev)
    return _PACKAGE.sub(b'"package": "<package>"', data)


def normalise(transcript: Transcript) -> Transcript:
    return [(d, normalise_line(b) if d == "qmp<" else b) for d, b in transcript]


def format_transcript(transcript: Transcript) -> str:
    lines = []
    for direction, data in transcript:
        text = data.decode("utf-8", errors="backslashreplace")
        lines.append(f"{direction:6} {text!r}" if direction.startswith("qmp") else f"{direction:6} {text}")
    return "\n".join(lines) + "\n"


def diff(a: Transcript, b: Transcript, a_name: str = "qemu", b_name: str = "fakeqemu") -> str:
    return "".join(
        difflib.unified_diff(
            format_transcript(a).splitlines(True), format_transcript(b).splitlines(True), a_name, b_name
        )
    )


def record(sc: Script, transcript: Transcript, name: str | None = None) -> Path:
    """Write a human-readable QEMU transcript to /tmp/oracle-transcripts/<name>.txt."""
    TRANSCRIPT_DIR.mkdir(parents=True, exist_ok=True)
    path = TRANSCRIPT_DIR / f"{name or sc.name}.txt"
    head = (
        f"# scenario {sc.name}\n# machine={sc.machine} extra_args={list(sc.extra_args)} "
        f"qtest={sc.qtest} paused={sc.paused}\n"
    )
    path.write_text(head + format_transcript(transcript))
    return path


def errors_in(transcript: Transcript) -> list[str]:
    return [b.decode() for d, b in transcript if d == "!" and b.startswith(b"error")]


def run_qemu(sc: Script, save: bool = True) -> Transcript:
    """Run on real QEMU; the script must run cleanly (no harness errors)."""
    transcript, _ = run_script(qemu_target(), sc)
    if save:
        record(sc, transcript)
    errs = errors_in(transcript)
    assert not errs, f"{sc.name}: QEMU run failed: {errs}\n{format_transcript(transcript)}"
    return transcript


def check_must(sc: Script, transcript: Transcript) -> None:
    """Assert that ``sc.must`` entries occur in ``transcript`` in order."""
    pos = 0
    for entry in sc.must:
        try:
            pos = transcript.index(entry, pos) + 1
        except ValueError:
            raise AssertionError(
                f"{sc.name}: expected entry {entry!r} (in order) not found in\n" + format_transcript(transcript)
            ) from None


def check_deterministic(sc: Script) -> Transcript:
    """Run on QEMU twice, record, check ``sc.must``, and assert both runs give the same transcript."""
    first = run_qemu(sc)
    check_must(sc, first)
    second = run_qemu(sc, save=False)
    assert first == second, f"{sc.name}: QEMU is not deterministic under this script:\n" + diff(
        first, second, "run1", "run2"
    )
    return first


def run_both(sc: Script) -> Transcript:
    """Run ``sc`` on QEMU and on fakeqemu; the normalised transcripts must be identical (returned)."""
    expected = run_qemu(sc)
    try:
        actual, _ = run_script(fakeqemu_target(), sc)
    except (HarnessError, OSError) as exc:
        actual = [("!", f"error: fakeqemu did not start: {exc}".encode())]
    assert actual == expected, f"{sc.name}: fakeqemu differs from QEMU\n" + diff(expected, actual)
    return actual


def differential_tests(scripts: Sequence[Script]) -> tuple[Callable[..., None], Callable[..., None]]:
    """The two tests a differential module runs over its scripts: QEMU answers each the same way twice
    (the harness checks itself), and fakeqemu's transcript equals QEMU's. Assign them to module names
    ``test_harness_against_qemu, test_differential`` so that pytest collects them."""

    @pytest.mark.qemu
    @pytest.mark.parametrize("sc", scripts, ids=str)
    def test_harness_against_qemu(qemu_binary: str, sc: Script) -> None:
        check_deterministic(sc)

    @pytest.mark.qemu
    @pytest.mark.parametrize("sc", scripts, ids=str)
    def test_differential(qemu_binary: str, sc: Script) -> None:
        run_both(sc)

    return test_harness_against_qemu, test_differential
