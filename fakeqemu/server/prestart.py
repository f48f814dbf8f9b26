"""Greets the first client of each monitor while the rest of fakeqemu is still being imported.

Python needs ~150 ms to import trio on a small machine, QEMU ~20 ms to greet. The monitors are bound
first (fakeqemu.server.chardev.listen); this thread accepts one client per monitor and sends it the
greeting (static bytes), then hands the connected sockets to the VM, which carries on from there.
The client sees exactly what QEMU would send; only sooner.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading

from fakeqemu.server.chardev import is_listening


class EarlyGreeter:
    def __init__(self, listeners: list[socket.socket | None], greetings: list[bytes]) -> None:
        """``greetings[i]`` is what the first client of ``listeners[i]`` is sent (QMP's greeting, or a
        human monitor's banner and prompt)."""
        self._listeners = listeners
        self._greetings = greetings
        self._accepted: dict[int, socket.socket] = {}
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="fakeqemu-early-greeter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
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
                        return
                    index = key.data
                    listener = self._listeners[index]
                    assert listener is not None
                    try:
                        conn, _ = listener.accept()
                        conn.sendall(self._greetings[index])
                    except OSError:
                        continue
                    self._accepted[index] = conn
                    sel.unregister(listener)  # one client at a time, as QEMU
        finally:
            sel.close()

    def stop(self) -> dict[int, socket.socket]:
        """Stop accepting; return the connections already greeted, by monitor index."""
        os.write(self._wake_w, b"x")
        self._thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)
        return self._accepted
