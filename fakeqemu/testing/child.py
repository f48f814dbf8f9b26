"""``isolation="process"``: the VMs run in a child process (a ThreadRunner there), and the test's process
talks to it over the child's stdin and stdout: pickled (operation, arguments) one way, pickled results or
exceptions the other. The child ends when its stdin closes, so a test process that dies leaves nothing."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from fakeqemu.testing.options import Options

HEADER = struct.Struct("!I")


def send(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def receive(stream: IO[bytes]) -> Any:
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        raise EOFError("fakeqemu's child process is gone")
    (size,) = HEADER.unpack(head)
    return pickle.loads(stream.read(size))


class ProcessRunner:
    """The parent's side: the same calls as ThreadRunner, answered by the child."""

    def __init__(self, options: Options, directory: Path) -> None:
        self.options = options
        self.directory = directory
        self.info: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-c", "from fakeqemu.testing.child import main; main()"]
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.info = self._ask("start", self.options, str(self.directory))

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def _ask(self, *request: Any) -> Any:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        with self._lock:
            try:
                send(proc.stdin, request)
                ok, value = receive(proc.stdout)
            except (EOFError, BrokenPipeError, OSError) as exc:
                raise RuntimeError(f"fakeqemu's child process is gone (exit status {proc.poll()})") from exc
        if not ok:
            raise value
        return value

    def call(self, op: str, vm: str, *args: Any) -> Any:
        return self._ask("call", op, vm, *args)

    def wait_event(self, vm: str, name: str, match: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        result: dict[str, Any] = self._ask("wait_event", vm, name, match, timeout)
        return result

    def events(self, vm: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._ask("events", vm)
        return result

    def close(self) -> None:
        proc = self._proc
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()  # the child sees EOF and stops its VMs
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _travels(obj: Any) -> bool:
    """Whether ``obj`` comes out of pickle as it went in (an exception with its own __init__ may not)."""
    try:
        pickle.loads(pickle.dumps(obj))
    except Exception:
        return False
    return True


def main() -> None:
    from fakeqemu.testing.runner import ThreadRunner

    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the replies
    runner: ThreadRunner | None = None
    try:
        while True:
            try:
                kind, *args = receive(requests)
            except EOFError:
                return
            try:
                if kind == "start":
                    runner = ThreadRunner(args[0], Path(args[1]))
                    runner.start()
                    value: Any = runner.info
                else:
                    assert runner is not None
                    value = getattr(runner, kind)(*args)
                reply: tuple[bool, Any] = (True, value)
            except Exception as exc:
                reply = (False, exc)
            send(replies, reply if _travels(reply) else (False, RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))
    finally:
        if runner is not None:
            runner.close()


if __name__ == "__main__":
    main()
