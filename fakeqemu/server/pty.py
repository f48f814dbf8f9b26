"""The host side of a ``-chardev pty`` that a serial port uses: the guest model's console
(fakeqemu.machine.guest.console) writes its boot log and login prompt once the VM runs and answers what is
typed; ``virsh console`` (or anything that opens /dev/pts/N) sees it. A pty nobody has open buffers what is
written, as the kernel does; what does not fit is dropped, as QEMU drops output to a full pty."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

import trio

from fakeqemu.machine.core.events import Event
from fakeqemu.machine.guest.console import SerialConsole

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM


def _write(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)
    except BlockingIOError:
        pass  # the pty's buffer is full: nobody reads it
    except OSError as exc:
        if exc.errno != errno.EIO:
            raise


#: how often QEMU looks whether someone opened a pty's other end (char-pty.c: pty_chr_rearm_timer)
PTY_POLL_S = 1.0
#: the devices that put the guest's console on a chardev
CONSOLE_DRIVERS = frozenset({"isa-serial", "virtconsole", "pci-serial"})


async def _booted(vm: VM) -> None:
    """Returns once the guest runs (at once, or at the first RESUME)."""
    running = trio.Event()

    def on_event(event: Event) -> None:
        if event.name == "RESUME":
            running.set()

    unsubscribe = vm.machine.events.subscribe(on_event)
    try:
        if not vm.machine.running:
            await running.wait()
    finally:
        unsubscribe()


async def serve_log(vm: VM, fd: int) -> None:
    """A serial port on a file (libvirt's console log, ``-chardev file``): the guest's boot log lands there."""
    await _booted(vm)
    _write(fd, SerialConsole(vm.name).boot())


async def serve_pty(vm: VM, fd: int) -> None:
    console = SerialConsole(vm.name)
    await _booted(vm)
    _write(fd, console.boot())
    while True:
        await trio.lowlevel.wait_readable(fd)
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            continue
        except OSError as exc:
            if exc.errno == errno.EIO:  # no one has the other end open: look again later, as QEMU's
                await trio.sleep(PTY_POLL_S)  # pty chardev does every second
                continue
            raise
        if not data:
            return
        _write(fd, console.typed(data))
