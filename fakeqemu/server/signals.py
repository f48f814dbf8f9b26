"""The exit signals (SIGTERM, SIGINT, SIGHUP) as QEMU takes them: with their sender, for QEMU's
``terminating on signal 15 from pid N (NAME)``, and never by the default action once the command line has
started, so a signal that arrives during a start-up refusal or while the process exits after ``quit``
leaves QEMU's exit status (0 or 1) rather than a death by signal.

The signals are blocked in every thread and taken by one thread with sigwaitinfo, which hands them to trio.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported late: the command line blocks the signals before the runtime is loaded
    import trio

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def block_exit_signals() -> None:
    """From the start of the process: an exit signal waits until the runtime takes it (or is dropped with
    the process when it exits first)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, EXIT_SIGNALS)


def unblock_in_child() -> None:
    """For processes fakeqemu starts (preexec_fn): they get the default signal mask back."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, EXIT_SIGNALS)


def sender_name(pid: int) -> str:
    """qemu_get_pid_name: the first word of /proc/PID/cmdline (argv[0] as the sender was started)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            data = f.read()
    except OSError:
        return "<unknown process>"
    return data.split(b"\0", 1)[0].decode("utf-8", "replace") if data else "<unknown process>"


def describe(signum: int, pid: int) -> str:
    """QEMU's message (after the program name): the sender only when the kernel names one (not for ^C)."""
    if pid == 0:
        return f"terminating on signal {signum}"
    return f"terminating on signal {signum} from pid {pid} ({sender_name(pid)})"


@contextlib.contextmanager
def exit_signals() -> Iterator[trio.MemoryReceiveChannel[tuple[int, int]] | None]:
    """(signal number, sender pid) of each exit signal, inside trio.run in the main thread; None elsewhere
    (in another thread, e.g. fakeqemu.testing's, the caller stops the VMs). The signal mask is put back
    on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    import trio

    send, receive = trio.open_memory_channel[tuple[int, int]](64)
    token = trio.lowlevel.current_trio_token()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, EXIT_SIGNALS)
    stopping = threading.Event()

    def deliver(item: tuple[int, int]) -> None:
        with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
            send.send_nowait(item)

    def wait() -> None:
        while True:
            info = signal.sigwaitinfo(EXIT_SIGNALS)
            if stopping.is_set():
                return
            try:
                token.run_sync_soon(deliver, (info.si_signo, info.si_pid))
            except trio.RunFinishedError:
                return

    waiter = threading.Thread(target=wait, name="fakeqemu-signals", daemon=True)
    waiter.start()
    try:
        with receive:
            yield receive
    finally:
        stopping.set()
        if waiter.ident is not None:
            signal.pthread_kill(waiter.ident, signal.SIGHUP)  # blocked there: sigwaitinfo takes it and returns
        waiter.join()
        send.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
