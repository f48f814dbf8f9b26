"""A VM's migration state, QEMU 7.2's way: capabilities and parameters, the outgoing migration's status,
stats and events (MIGRATION, MIGRATION_PASS, STOP), the incoming side's inmigrate / postmigrate run states.

Sans-IO: the runtime (fakeqemu.server.migration) moves the bytes and calls ``started``, ``passed``,
``finishing``, ``completed``, ``failed``; commands call ``begin`` and ``cancel``. ``transport`` is the
runtime's hook that opens the stream for a URI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.net.announce import AnnounceParameters
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: QEMU 7.2's migration parameters and their defaults (query-migrate-parameters, recorded)
DEFAULT_PARAMETERS: dict[str, Any] = {
    "announce-initial": 50,
    "announce-max": 550,
    "announce-rounds": 5,
    "announce-step": 100,
    "compress-level": 1,
    "compress-threads": 8,
    "compress-wait-thread": True,
    "decompress-threads": 2,
    "throttle-trigger-threshold": 50,
    "cpu-throttle-initial": 20,
    "cpu-throttle-increment": 10,
    "cpu-throttle-tailslow": False,
    "tls-creds": "",
    "tls-hostname": "",
    "tls-authz": "",
    "max-bandwidth": 134217728,
    "downtime-limit": 300,
    "x-checkpoint-delay": 20000,
    "block-incremental": False,
    "multifd-channels": 2,
    "xbzrle-cache-size": 67108864,
    "max-postcopy-bandwidth": 0,
    "max-cpu-throttle": 99,
    "multifd-compression": "none",
    "multifd-zlib-level": 1,
    "multifd-zstd-level": 1,
}
#: RAM beyond -m that a pc VM migrates (ROMs, the BIOS: measured on QEMU 7.2, 128 MiB -> 134750208)
EXTRA_RAM = 532480
PAGE = 4096
#: what an idle guest's page costs in QEMU's stream (a zero page: header and a byte; measured on QEMU 7.2,
#: 824868 bytes for 32898 pages of a 128 MiB pc VM)
BYTES_PER_ZERO_PAGE = 25
#: statuses in which a new migrate is refused
ACTIVE = frozenset({"setup", "active", "cancelling", "pre-switchover", "device", "postcopy-active",
                    "postcopy-paused", "postcopy-recover"})  # fmt: skip
#: the postcopy statuses, in which query-migrate still reports the source's stats
POSTCOPY = frozenset({"postcopy-active", "postcopy-paused", "postcopy-recover"})


class Migration:
    __slots__ = (
        "autostart",
        "cancel_hook",
        "destination",
        "error",
        "incoming",
        "listener",
        "machine",
        "pages_sent",
        "parameters",
        "pass_start",
        "passes",
        "pause_hook",
        "postcopy",
        "postcopy_bytes",
        "recover_hook",
        "resume_hook",
        "socket_address",
        "start_time",
        "status",
        "stop_at",
        "times",
        "transferred",
        "transport",
    )  # fmt: skip

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.parameters = dict(DEFAULT_PARAMETERS)
        #: QEMU's MigrationStatus of this VM's last migration (either side); "none" before any
        self.status = "none"
        self.error: str | None = None
        #: -incoming's URI while the VM waits for a stream ("defer": until migrate-incoming)
        self.incoming: str | None = None
        self.socket_address: list[dict[str, Any]] = []
        #: the destination runs once loaded: no -S, or a cont while in inmigrate
        self.autostart = not machine.config.paused
        self.stop_at = 0
        self.passes = 0
        self.transferred = 0
        self.pages_sent = 0
        self.pass_start = 0
        #: migrate-start-postcopy was asked: the switch-over goes through postcopy-active
        self.postcopy = False
        self.start_time = 0.0
        #: setup-time, downtime, total-time in ms, once known
        self.times: dict[str, int] = {}
        #: set by the runtime: open the outgoing stream for (uri, fd or None); None: no runtime (tests)
        self.transport: Callable[[str, int | None], None] | None = None
        self.cancel_hook: Callable[[], None] | None = None
        #: set by the runtime: listen for the incoming stream on a URI
        self.listener: Callable[[str], None] | None = None
        #: this VM is (or was last) the incoming side of a migration
        self.destination = False
        #: bytes sent once postcopy began
        self.postcopy_bytes = 0
        #: set by the runtime while a postcopy stream is open: break it (migrate-pause)
        self.pause_hook: Callable[[], None] | None = None
        #: set by the runtime while a postcopy is paused: resume the source on (uri, fd), or listen again
        #: on the destination (migrate-recover)
        self.resume_hook: Callable[[str, int | None], None] | None = None
        self.recover_hook: Callable[[str], None] | None = None

    @property
    def capabilities(self) -> dict[str, bool]:
        """The machine's migration capabilities (filled with QEMU's defaults by the commands on first use)."""
        return self.machine.migrate_caps

    # --- events -----------------------------------------------------------------------------------

    @property
    def events(self) -> bool:
        return self.capabilities.get("events", False)

    def set_status(self, status: str) -> None:
        self.status = status
        if self.events:
            self.machine.events.emit("MIGRATION", {"status": status})

    @property
    def ram_total(self) -> int:
        return self.machine.config.memory_mb * 1024 * 1024 + EXTRA_RAM

    # --- source -----------------------------------------------------------------------------------

    def prepare(self) -> None:
        """qmp_migrate's migrate_prepare and migrate_init: checks, then status setup."""
        if self.status in ACTIVE:
            raise GenericError("There's a migration process in progress")
        if self.machine.runstate == "inmigrate":
            raise GenericError("Guest is waiting for an incoming migration")
        self.error = None
        self.postcopy = False
        self.destination = False
        self.postcopy_bytes = 0
        self.passes = 0
        self.transferred = 0
        self.pages_sent = 0
        self.pass_start = 0
        self.times = {}
        self.start_time = self.machine.monotonic()
        self.set_status("setup")

    def refuse(self, error: str, desc: str | None = None) -> GenericError:
        """A URI QEMU cannot start with: status failed (``desc`` kept for query-migrate), and the error."""
        self.error = desc
        self.set_status("failed")
        return GenericError(error)

    def go(self, uri: str, fd: int | None) -> None:
        """The runtime connects and streams."""
        if self.transport is None:
            raise self.refuse("fakeqemu: this VM has no runtime to migrate with")
        self.transport(uri, fd)

    def started(self) -> None:
        """The stream is open: the first RAM pass, status active."""
        self.times["setup-time"] = self._elapsed_ms()
        self.passed()
        self.set_status("active")

    def passed(self) -> None:
        self.passes += 1
        if self.events:
            self.machine.events.emit("MIGRATION_PASS", {"pass": self.passes})

    def sent(self, n: int) -> None:
        self.transferred += n
        if self.status in POSTCOPY:
            self.postcopy_bytes += n

    def ram_pages_left(self) -> int:
        return self.ram_total // PAGE - (self.pages_sent - self.pass_start)

    def new_pass(self) -> None:
        """The guest dirtied the RAM sent so far again (faults' ``migration_stuck``): another pass."""
        self.pass_start = self.pages_sent
        self.passed()

    def sent_pages(self, pages: int) -> None:
        self.pages_sent += pages
        self.sent(pages * BYTES_PER_ZERO_PAGE)

    def cancelled(self) -> None:
        """migrate_cancel took effect: status cancelled, a stopped source runs again."""
        self.set_status("cancelled")
        self._run_again()

    def finishing(self) -> None:
        """Stop the VM for the last pass and the device state (runstate finish-migrate); after
        migrate-start-postcopy the switch to postcopy announces itself first (measured: postcopy-active,
        STOP, MIGRATION_PASS)."""
        if self.postcopy:
            self.set_status("postcopy-active")
        self.machine.stop("finish-migrate")
        self.stop_at = self._elapsed_ms()
        self.passed()

    def paused(self) -> None:
        """A postcopy whose stream broke (migrate-pause, a peer gone): both sides wait to be resumed."""
        self.set_status("postcopy-paused")

    def recovered(self) -> None:
        """A new stream for a paused postcopy: postcopy-recover, then postcopy-active again."""
        self.set_status("postcopy-recover")
        self.set_status("postcopy-active")

    def pause(self) -> None:
        """migrate-pause: only a postcopy that is running can be paused."""
        if self.status != "postcopy-active" or self.pause_hook is None:
            raise GenericError("migrate-pause is currently only supported during postcopy-active state")
        self.pause_hook()

    def recover(self, uri: str) -> None:
        """migrate-recover on the destination of a paused postcopy: listen on ``uri`` for the source."""
        if not self.destination or self.status != "postcopy-paused" or self.recover_hook is None:
            raise GenericError("Migrate recover can only be run when postcopy is paused.")
        self.incoming = uri
        self.socket_address = socket_address(uri)
        self.machine.events.emit("MIGRATION", {"status": "setup"})  # before the reply, as QEMU announces it
        self.recover_hook(uri)

    def resume(self, uri: str, fd: int | None) -> None:
        """migrate with resume=true on the source of a paused postcopy."""
        if self.destination or self.status != "postcopy-paused" or self.resume_hook is None:
            raise GenericError("Cannot resume if there is no paused migration")
        self.resume_hook(uri, fd)

    def completed(self) -> None:
        total = self._elapsed_ms()
        self.times["downtime"] = max(total - self.stop_at, 0)
        self.times["total-time"] = total
        self.machine.runstate = "postmigrate"
        self.set_status("completed")

    def failed(self, error: str) -> None:
        """QEMU's migrate_fd_error / cleanup: status failed, a stopped source runs again."""
        was_cancelling = self.status == "cancelling"
        self.error = error
        self.set_status("cancelled" if was_cancelling else "failed")
        self._run_again()

    def _run_again(self) -> None:
        if self.machine.runstate == "finish-migrate":
            self.machine.runstate = "paused"
            self.machine.cont()

    def cancel(self) -> None:
        """migrate_cancel: an active migration is torn down; otherwise nothing happens."""
        if self.status not in ACTIVE:
            return
        self.set_status("cancelling")
        if self.cancel_hook is not None:
            self.cancel_hook()

    def _elapsed_ms(self) -> int:
        return int((self.machine.monotonic() - self.start_time) * 1000)

    # --- queries ----------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """MigrationInfo, in QAPI member order."""
        if self.status == "none":
            return {"socket-address": self.socket_address} if self.socket_address else {}
        out: dict[str, Any] = {"status": self.status}
        if self.status in ("failed", "cancelled"):  # fill_source_migration_info: no stats then
            if self.status == "failed" and self.error is not None:
                out["error-desc"] = self.error
            return out
        if self.incoming is not None or self.destination or (self.status == "completed" and not self.times):
            if self.socket_address:
                out["socket-address"] = self.socket_address
            return out
        if (self.status in ("active", "completed", "cancelling") or self.status in POSTCOPY) and self.times:
            out["ram"] = self.ram_stats()
        if "total-time" in self.times:
            out["total-time"] = self.times["total-time"]
        elif self.status in ACTIVE:
            out["total-time"] = self._elapsed_ms()
            out["expected-downtime"] = self.parameters["downtime-limit"]
        if "downtime" in self.times:
            out["downtime"] = self.times["downtime"]
        if "setup-time" in self.times:
            out["setup-time"] = self.times["setup-time"]
        return out

    def ram_stats(self) -> dict[str, Any]:
        """MigrationStats: fakeqemu's guest memory is all zero pages, sent as QEMU sends those."""
        return {
            "transferred": self.transferred,
            "remaining": self.ram_pages_left() * PAGE,
            "total": self.ram_total,
            "duplicate": self.pages_sent,
            "skipped": 0,
            "normal": 0,
            "normal-bytes": 0,
            "dirty-pages-rate": 0,
            "mbps": 0,
            "dirty-sync-count": self.passes,
            "postcopy-requests": 0,
            "page-size": PAGE,
            "multifd-bytes": 0,
            "pages-per-second": 0,
            "precopy-bytes": self.transferred - self.postcopy_bytes,
            "downtime-bytes": 0,
            "postcopy-bytes": self.postcopy_bytes,
            "dirty-sync-missed-zero-copy": 0,
        }

    # --- destination ------------------------------------------------------------------------------

    def listen(self, uri: str) -> None:
        """-incoming URI or migrate-incoming: QEMU announces setup whatever the events capability."""
        self.incoming = uri
        self.socket_address = socket_address(uri)
        self.machine.events.emit("MIGRATION", {"status": "setup"})
        if self.listener is not None:
            self.listener(uri)

    def announce(self) -> None:
        """The loaded VM announces itself with the announce-* parameters (its own timer, no id): the
        frames wait until it runs."""
        announcer = self.machine.announcer
        announcer.start(announcer.migration, AnnounceParameters.migration(self.parameters))

    def incoming_started(self) -> None:
        self.destination = True
        self.set_status("active")

    def incoming_postcopy(self) -> None:
        """The source switched to postcopy: the device state comes now and the VM runs on it (or stays
        paused under -S) while the rest of the RAM comes."""
        self.set_status("postcopy-active")

    def incoming_running(self) -> None:
        self.machine.runstate = "paused"
        if self.autostart:
            self.machine.cont()

    def incoming_completed(self) -> None:
        """process_incoming_migration_bh: status completed, then run (no -S) or stay paused."""
        self.incoming = None
        self.socket_address = []
        postcopy = self.status in POSTCOPY
        self.set_status("completed")
        if not postcopy:  # a postcopy destination has run (or stayed paused) since the switch
            self.announce()
            self.incoming_running()


def socket_address(uri: str) -> list[dict[str, Any]]:
    """What query-migrate shows of a listening destination (SocketAddress)."""
    if uri.startswith("unix:"):
        return [{"path": uri[5:], "type": "unix"}]
    if uri.startswith("tcp:"):
        host, _, port = uri[4:].rpartition(":")
        return [{"host": host.strip("[]"), "port": port, "type": "inet"}]
    return []
