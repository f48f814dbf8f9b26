"""Greets the first client of each monitor while the rest of fakeqemu is still being imported.

Python needs ~150 ms to import trio on a small machine, QEMU ~20 ms to greet. The monitors are bound
first (fakeqemu.server.chardev.listen); this thread accepts one client per monitor and sends it the
greeting (static bytes), then hands the connected sockets to the VM, which carries on from there.
Once the machine is built (``answer_with``), it also answers a QMP client's first commands
(fakeqemu.server.early) until the VM takes over. The client sees exactly what QEMU would send; only sooner.
"""

from __future__ import annotations

import array
import os
import selectors
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from fakeqemu.server.chardev import is_listening
from fakeqemu.server.gil import QUICK_SWITCHES

if TYPE_CHECKING:
    from fakeqemu.server.early import EarlyQMP

#: bytes read at once, and file descriptors taken with them (as fakeqemu.server.driver's)
READ_SIZE = 65536
MAX_FDS = 16


class EarlyGreeter:
    def __init__(self, listeners: list[socket.socket | None], greetings: list[bytes], qmp: list[bool]) -> None:
        """``greetings[i]`` is what the first client of ``listeners[i]`` is sent (QMP's greeting, or a
        human monitor's banner and prompt); ``qmp[i]``: its commands may be answered early."""
        self._listeners = listeners
        self._greetings = greetings
        self._qmp = qmp
        self._accepted: dict[int, socket.socket] = {}
        #: the clients answered early, by monitor index (handed to the VM with the sockets)
        self.answered: dict[int, EarlyQMP] = {}
        self._answerer: Callable[[], EarlyQMP] | None = None
        self._sel: selectors.BaseSelector | None = None
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="fakeqemu-early-greeter", daemon=True)

    def start(self) -> None:
        QUICK_SWITCHES.acquire()  # a client's message waits for the greeter to get the GIL beside the imports
        self._thread.start()

    def _run(self) -> None:
        self._sel = sel = selectors.DefaultSelector()
        try:
            for i, sock in enumerate(self._listeners):
                if sock is None:  # a client-mode chardev not connected yet
                    continue
                if not is_listening(sock):  # fd=N of a socketpair: already the one client
                    try:
                        sock.sendall(self._greetings[i])
                    except OSError:
                        continue
                    self._accepted[i] = sock
                    continue
                sel.register(sock, selectors.EVENT_READ, i)
            sel.register(self._wake_r, selectors.EVENT_READ, None)
            while True:
                for key, _ in sel.select():
                    if key.data is None:
                        if os.read(self._wake_r, 1) == b"x":
                            return
                        for index in self._accepted:  # answering from now on
                            self._watch(index)
                    elif key.fileobj in self._accepted.values():
                        self._read(key.data)
                    else:
                        self._accept(key.data)
        finally:
            sel.close()

    def _accept(self, index: int) -> None:
        assert self._sel is not None
        listener = self._listeners[index]
        assert listener is not None
        try:
            conn, _ = listener.accept()
            conn.sendall(self._greetings[index])
        except OSError:
            return
        self._accepted[index] = conn
        self._sel.unregister(listener)  # one client at a time, as QEMU
        self._watch(index)

    def _watch(self, index: int) -> None:
        """Answer the commands of monitor ``index``'s client, once there is a machine to answer with."""
        if self._answerer is None or not self._qmp[index] or index in self.answered:
            return
        assert self._sel is not None
        self.answered[index] = self._answerer()
        self._sel.register(self._accepted[index], selectors.EVENT_READ, index)

    def _read(self, index: int) -> None:
        assert self._sel is not None
        conn, early = self._accepted[index], self.answered[index]
        fds = array.array("i")
        try:
            if conn.family == socket.AF_UNIX:
                data, ancdata, _flags, _addr = conn.recvmsg(READ_SIZE, socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
                for level, kind, payload in ancdata:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            else:
                data = conn.recv(READ_SIZE)
        except OSError:
            data = b""
        if data or fds:
            early.send(conn, early.feed(data, tuple(fds)))
        else:  # the client left (the VM reads the end of the stream again)
            early.done = True
        if early.done:
            self._sel.unregister(conn)

    def answer_with(self, answerer: Callable[[], EarlyQMP]) -> None:
        """Answer greeted QMP clients from now on, each with ``answerer()``'s session and machine."""
        self._answerer = answerer
        os.write(self._wake_w, b"a")

    def stop(self) -> dict[int, socket.socket]:
        """Stop accepting; return the connections already greeted, by monitor index."""
        os.write(self._wake_w, b"x")
        self._thread.join()
        QUICK_SWITCHES.release()
        os.close(self._wake_r)
        os.close(self._wake_w)
        return self._accepted
