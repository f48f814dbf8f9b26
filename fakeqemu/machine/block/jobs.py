"""QEMU 7.2's job model (job.c, blockjob.c): the state machine, transactions, pause, cancel and
finalize, the JOB_STATUS_CHANGE and BLOCK_JOB_* events, progress and rate limits.

A job's body is a generator, standing for QEMU's coroutine: it yields a number of seconds to sleep
(``job_sleep_ns``) or None to wait until something enters it (``job_yield``); ``yield from
job.sleep(s)`` and ``job.pause_point()`` behave as QEMU's do, pause points and cancellation included,
and its return value is the job's ``ret`` (0 or a negative errno). Entering a job runs its body at once
up to the next wait, as ``aio_co_enter`` does from the main loop, so events come out in QEMU's order.
Time is the VM's timers (fakeqemu.machine.core.timers), never a wall-clock sleep.

State transitions and allowed verbs are QEMU's tables, so every error names the state QEMU names.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from fakeqemu.qmp.errors import GenericError, QMPError

if TYPE_CHECKING:
    from fakeqemu.machine.core.events import EventBus
    from fakeqemu.machine.core.timers import TimerHandle, Timers

#: JobStatus, in QEMU's enum order
STATUSES = ("undefined", "created", "running", "paused", "ready", "standby", "waiting", "pending", "aborting",
            "concluded", "null")  # fmt: skip
_S = {s: i for i, s in enumerate(STATUSES)}
#: JobSTT: state -> the states it may move to
_STT = {
    "undefined": "C",
    "created": "RXN",
    "running": "PYWX",
    "paused": "R",
    "ready": "SWX",
    "standby": "Y",
    "waiting": "DX",
    "pending": "XE",
    "aborting": "XE",
    "concluded": "N",
    "null": "",
}
_LETTER = dict(zip("UCRPYSWDXEN", STATUSES, strict=True))
#: JobVerbTable: verb -> the states that accept it
VERBS = {
    "cancel": {"created", "running", "paused", "ready", "standby", "waiting", "pending"},
    "pause": {"created", "running", "paused", "ready", "standby"},
    "resume": {"created", "running", "paused", "ready", "standby"},
    "set-speed": {"created", "running", "paused", "ready", "standby"},
    "complete": {"ready"},
    "finalize": {"pending"},
    "dismiss": {"concluded"},
}
#: bytes per second QEMU 7.2 moved in a mirror of written data here (-fakeqemu job-rate=qemu); measured
#: 2026-11-30 by tools/bench_jobs.py: 1 GiB qcow2 to qcow2, BLOCK_JOB_READY after 1.94 s
QEMU_JOB_RATE = 0.53 * 2**30
#: the shortest sleep a job at a modelled rate takes (seconds)
IO_TICK = 0.01
#: ratelimit slice (blockjob.c BLOCK_JOB_SLICE_TIME)
SLICE_S = 0.1
#: Wait: seconds to sleep, or None to wait until entered
Wait = float | None
Body = Generator[Wait, None, int]


class Offloaded:
    """Work a job hands to another thread (a copy: QEMU's coroutine waiting in a read or write), and
    whether it is done."""

    __slots__ = ("done", "error", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        """In the worker thread."""
        try:
            self.fn()
        except BaseException as exc:  # given back to the job, on the loop's thread
            self.error = exc
        finally:
            self.done.set()


def run_inline(work: Offloaded, then: Callable[[], None], timers: Timers) -> None:
    """Jobs.offload without a runtime: the work now, the job entered from the next timer run."""
    work.run()
    timers.call_later(0, then)


def ok(n: int = 0) -> Generator[Wait, None, int]:
    """A body that does nothing but return ``n`` (for drivers without work)."""
    return n
    yield  # pragma: no cover  (makes this a generator)


class RateLimit:
    """util/ratelimit.h: a byte budget per 100 ms slice, on the VM's monotonic clock."""

    __slots__ = ("dispatched", "slice_end", "slice_quota", "slice_start")

    def __init__(self) -> None:
        self.slice_quota = 0.0
        self.slice_start = 0.0
        self.slice_end = 0.0
        self.dispatched = 0.0

    def set_speed(self, speed: int) -> None:
        self.slice_quota = max(speed * SLICE_S, 1.0) if speed else 0.0

    def delay(self, now: float, n: int) -> float:
        if not self.slice_quota:
            return 0.0
        if self.slice_end < now:
            self.slice_start, self.slice_end, self.dispatched = now, now + SLICE_S, 0.0
        self.dispatched += n
        if self.dispatched < self.slice_quota:
            return 0.0
        self.slice_end = self.slice_start + (self.dispatched / self.slice_quota) * SLICE_S
        return self.slice_end - now


class Driver:
    """What a kind of job does: its body and its finalize steps (JobDriver). Subclass per job type."""

    job_type = ""
    #: a block job: BLOCK_JOB_* events, query-block-jobs, block-job-* commands, a speed
    block = True

    def run(self, job: Job) -> Body:
        return ok()

    def prepare(self, job: Job) -> int:
        return 0

    def commit(self, job: Job) -> None:
        pass

    def abort(self, job: Job) -> None:
        pass

    def clean(self, job: Job) -> None:
        pass

    def complete(self, job: Job) -> None:
        """job-complete on a ready job; drivers without it cannot be completed."""
        raise GenericError(f"The active block job '{job.id}' cannot be completed")

    def cancel(self, job: Job, force: bool) -> bool:
        return True

    def enters_on_cancel(self, job: Job) -> bool:
        """Does a forced cancel enter the job at once (else the driver wakes it itself)?"""
        return True


class Txn:
    """A transaction group (JobTxn): its jobs, newest first."""

    __slots__ = ("aborting", "jobs")

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.aborting = False


class Job:
    def __init__(self, jobs: Jobs, job_id: str, driver: Driver, *, auto_finalize: bool = True,
                 auto_dismiss: bool = True, speed: int = 0, txn: Txn | None = None) -> None:  # fmt: skip
        self.jobs = jobs
        self.id = job_id
        self.driver = driver
        self.status = "undefined"
        self.auto_finalize = auto_finalize
        self.auto_dismiss = auto_dismiss
        self.pause_count = 1
        self.user_paused = False
        self.paused = True
        self.busy = False
        self.cancelled = False
        self.force_cancel = False
        self.deferred = False
        self.ret = 0
        self.error: str | None = None
        self.progress_current = 0
        self.progress_total = 0
        self.speed = speed
        self.limit = RateLimit()
        self.limit.set_speed(speed)
        self.io_status = "ok"
        self.io_owed = 0.0
        #: BlockdevOnError for an I/O error: report, ignore, stop, enospc (an EIO reports)
        self.on_error = "report"
        self.error_fired = False
        self._co: Body | None = None
        #: the work running off the loop's thread that the job waits for (it stays busy meanwhile)
        self.io_pending: Offloaded | None = None
        self._timer: TimerHandle | None = None
        self.txn = txn or Txn()
        self.txn.jobs.insert(0, self)
        #: the nodes this job blocks, and the reason QEMU gives (op blockers)
        self.blocked_nodes: list[str] = []
        #: what the job's end lets go of (the nodes a drive-mirror or drive-backup opened)
        self.cleanups: list[Callable[[], None]] = []
        self.transition("created")

    # --- state ------------------------------------------------------------------------------------

    def transition(self, status: str) -> None:
        old = self.status
        allowed = {_LETTER[c] for c in _STT[old]}
        if status not in allowed:
            raise AssertionError(f"job {self.id}: {old} -> {status} is not a QEMU transition")
        self.status = status
        if status != old:
            self.jobs.events.emit("JOB_STATUS_CHANGE", {"id": self.id, "status": status})

    def apply_verb(self, verb: str) -> None:
        if self.status not in VERBS[verb]:
            raise GenericError(f"Job '{self.id}' in state '{self.status}' cannot accept command verb '{verb}'")

    @property
    def started(self) -> bool:
        return self._co is not None

    @property
    def is_cancelled(self) -> bool:
        return self.force_cancel

    @property
    def is_ready(self) -> bool:
        return self.status in ("ready", "standby")

    @property
    def is_completed(self) -> bool:
        return _S[self.status] >= _S["waiting"]

    @property
    def should_pause(self) -> bool:
        return self.pause_count > 0

    @property
    def timer_pending(self) -> bool:
        return self._timer is not None and not self._timer.cancelled

    def progress(self, done: int) -> None:
        self.progress_current += done

    def set_remaining(self, remaining: int) -> None:
        self.progress_total = self.progress_current + remaining

    # --- the coroutine --------------------------------------------------------------------------------

    def start(self) -> None:
        self._co = self._entry()
        self.pause_count -= 1
        self.busy = True
        self.paused = False
        self.transition("running")
        self._step()

    def _entry(self) -> Body:
        yield from self.pause_point()
        return (yield from self.driver.run(self))

    def _step(self) -> None:
        assert self._co is not None
        try:
            wait = self._co.send(None)
        except StopIteration as stop:
            self.ret = int(stop.value or 0)
            self.busy = False
            if not self.deferred:
                self.deferred = True
                self.jobs.bottom_half(self._exit)
            return
        self.busy = self.io_pending is not None
        if wait is not None:
            self._timer = self.jobs.timers.call_later(wait, self.enter)

    def enter(self, cond: Callable[[Job], bool] | None = None) -> None:
        if not self.started or self.deferred or self.busy:
            return
        if cond is not None and not cond(self):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.busy = True
        self._step()

    def sleep(self, seconds: float) -> Generator[Wait, None, None]:
        """job_sleep_ns"""
        if self.is_cancelled:
            return
        if not self.should_pause:
            yield seconds
        yield from self.pause_point()

    def wait(self) -> Generator[Wait, None, None]:
        """job_yield: until entered"""
        if self.is_cancelled:
            return
        if not self.should_pause:
            yield None
        yield from self.pause_point()

    def pause_point(self) -> Generator[Wait, None, None]:
        if not self.should_pause or self.is_cancelled:
            return
        status = self.status
        self.transition("standby" if status == "ready" else "paused")
        self.paused = True
        yield None
        self.paused = False
        self.transition(status)

    def ratelimit_delay(self, n: int) -> float:
        """block_job_ratelimit_get_delay: how long to sleep after moving ``n`` bytes."""
        return self.limit.delay(self.jobs.now(), n)

    def run_io(self, fn: Callable[[], None]) -> Generator[Wait, None, float]:
        """Run ``fn`` off the loop's thread (Jobs.offload) and wait for it, busy as a coroutine in a read
        or write is (nothing enters it meanwhile; a pause or cancel takes effect after it); returns the
        seconds it took."""
        work = Offloaded(fn)
        self.io_pending = work
        start = self.jobs.now()
        self.jobs.offload(work, lambda: self._io_done(work))
        yield None
        if work.error is not None:
            raise work.error
        return self.jobs.now() - start

    def _io_done(self, work: Offloaded) -> None:
        if self.io_pending is not work:  # the job was run to its end meanwhile (job_finish_sync)
            return
        self.io_pending = None
        self.busy = True
        self._step()

    def io(self, n: int, spent: float = 0.0) -> Generator[Wait, None, None]:
        """The time moving ``n`` bytes takes at the VM's job rate (none in quick mode), less the ``spent``
        seconds the copy really took, slept in ticks of at least IO_TICK: one timer wake-up per tick, not
        per chunk."""
        rate = self.jobs.rate
        if not rate:
            return
        self.io_owed += n / rate - spent
        if self.io_owed >= IO_TICK:
            owed, self.io_owed = self.io_owed, 0.0
            yield owed

    def io_error(self, offset: int, n: int, operation: str) -> Generator[Wait, None, bool]:
        """An injected I/O error in [offset, offset + n) (faults' ``job_error``, once per job), handled as
        block_job_error_action does; True when the job must end with it."""
        at = None if self.error_fired else self.jobs.error_at(self.id)
        if at is None or not offset <= at < offset + n:
            return False
        self.error_fired = True
        self.jobs.note(f"fault: job {self.id} I/O error at offset {at}")
        action = self.on_error if self.on_error in ("ignore", "stop") else "report"
        self.jobs.events.emit("BLOCK_JOB_ERROR", {"device": self.id, "operation": operation, "action": action})
        if action == "ignore":
            return False
        if action == "stop":
            self.io_status = "failed"
            self.user_paused = True
            self.pause_count += 1
            yield from self.pause_point()
            self.io_status = "ok"
            return False
        self.fail(-errno.EIO, "Input/output error")
        return True

    def transition_to_ready(self) -> None:
        self.transition("ready")
        if self.driver.block:
            self.jobs.events.emit("BLOCK_JOB_READY", self.block_event_data())

    # --- user verbs -------------------------------------------------------------------------------------

    def user_pause(self) -> None:
        self.apply_verb("pause")
        if self.user_paused:
            raise GenericError("Job is already paused")
        self.user_paused = True
        self.pause_count += 1
        if not self.paused:
            self.enter()

    def user_resume(self) -> None:
        if not self.user_paused or self.pause_count <= 0:
            raise GenericError("Can't resume a job that was not paused")
        self.apply_verb("resume")
        self.user_paused = False
        self.pause_count -= 1
        if not self.pause_count:
            self.enter(lambda j: not j.timer_pending)

    def user_complete(self) -> None:
        self.apply_verb("complete")
        if self.pause_count or self.is_cancelled:
            raise GenericError(f"The active block job '{self.id}' cannot be completed")
        self.driver.complete(self)

    def user_cancel(self, force: bool) -> None:
        self.apply_verb("cancel")
        self.cancel(force)

    def set_speed(self, speed: int) -> None:
        self.apply_verb("set-speed")
        if speed < 0:
            raise GenericError("Parameter 'speed' expects a non-negative value")
        old = self.speed
        self.speed = speed
        self.limit.set_speed(speed)
        if speed and speed <= old:
            return
        self.enter(lambda j: j.timer_pending)

    def finalize(self) -> None:
        self.apply_verb("finalize")
        self._do_finalize()

    def dismiss(self) -> None:
        self.apply_verb("dismiss")
        self._do_dismiss()

    # --- completion (job_completed and friends) ------------------------------------------------------------

    def cancel(self, force: bool) -> None:
        if self.status == "concluded":
            self._do_dismiss()
            return
        self._cancel_async(force)
        if not self.started:
            self._completed(-errno.ECANCELED)
        elif self.deferred:
            self._txn_abort()
        elif self.force_cancel and self.driver.enters_on_cancel(self):
            self.enter()

    def _cancel_async(self, force: bool) -> None:
        force = self.driver.cancel(self, force)
        if self.user_paused:
            self.user_paused = False
            self.pause_count -= 1
        self.cancelled = True
        self.force_cancel |= force

    def fail(self, ret: int, error: str) -> None:
        """End a running job with an error (an I/O error the job stops on)."""
        self.error = error
        self.ret = ret

    def _exit(self) -> None:
        self._completed(self.ret)

    def _update_rc(self) -> None:
        if not self.ret and self.is_cancelled:
            self.ret = -errno.ECANCELED
        if self.ret:
            if self.error is None:
                self.error = os.strerror(-self.ret)
            self.transition("aborting")

    def _completed(self, ret: int) -> None:
        self.ret = ret
        self._update_rc()
        if self.ret:
            self._txn_abort()
        else:
            self._txn_success()

    def _txn_success(self) -> None:
        self.transition("waiting")
        txn = self.txn
        if any(not j.is_completed for j in txn.jobs):
            return
        for j in list(txn.jobs):
            j.transition("pending")
            if not j.auto_finalize and j.driver.block:
                j.jobs.events.emit("BLOCK_JOB_PENDING", {"type": j.driver.job_type, "id": j.id})
        if all(j.auto_finalize for j in txn.jobs):
            self._do_finalize()

    def _prepare(self) -> int:
        if self.ret == 0:
            self.ret = self.driver.prepare(self)
            self._update_rc()
        return self.ret

    def _do_finalize(self) -> None:
        txn = self.txn
        for j in list(txn.jobs):
            if j._prepare():
                self._txn_abort()
                return
        for j in list(txn.jobs):
            j._finalize_single()

    def _txn_abort(self) -> None:
        txn = self.txn
        if txn.aborting:
            return
        txn.aborting = True
        for other in txn.jobs:
            if other is not self:
                other._cancel_async(False)
                other.force_cancel = True
        while txn.jobs:
            other = txn.jobs[0]
            if not other.is_completed:
                other._finish_cancelled()
            other._finalize_single()

    def _finish_cancelled(self) -> None:
        """job_finish_sync of a cancelled job: run it to its end now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.started and not self.deferred:
            self.busy = True
            while not self.deferred:
                work, self.io_pending = self.io_pending, None
                if work is not None:
                    work.done.wait()
                self._step()
        if self.jobs.take_bottom_half(self._exit):
            self._exit()  # job_finish_sync polls until the job's exit has run
        else:
            self.deferred = True
            self.ret = self.ret or -errno.ECANCELED
            self._update_rc()

    def _finalize_single(self) -> None:
        self._update_rc()
        if not self.ret:
            self.driver.commit(self)
        else:
            self.driver.abort(self)
        self.driver.clean(self)
        self.jobs.release(self)
        if self.started and self.driver.block:
            if self.is_cancelled:
                self.jobs.events.emit("BLOCK_JOB_CANCELLED", self.block_event_data())
            else:
                data = self.block_event_data()
                if self.ret:
                    data["error"] = self.error or os.strerror(-self.ret)
                self.jobs.events.emit("BLOCK_JOB_COMPLETED", data)
        if self in self.txn.jobs:
            self.txn.jobs.remove(self)
        self.transition("concluded")
        if self.auto_dismiss or not self.started:
            self._do_dismiss()

    def _do_dismiss(self) -> None:
        self.busy = False
        self.paused = False
        self.deferred = True
        if self in self.txn.jobs:
            self.txn.jobs.remove(self)
        self.transition("null")
        self.jobs.remove(self)

    # --- what the queries and events say ----------------------------------------------------------------

    def block_event_data(self) -> dict[str, Any]:
        return {"type": self.driver.job_type, "device": self.id, "len": self.progress_total,
                "offset": self.progress_current, "speed": self.speed}  # fmt: skip

    def info(self) -> dict[str, Any]:
        """JobInfo"""
        out: dict[str, Any] = {"id": self.id, "type": self.driver.job_type, "status": self.status}
        out["current-progress"] = self.progress_current
        out["total-progress"] = self.progress_total
        if self.status in ("concluded", "aborting") and self.ret and self.error is not None:
            out["error"] = self.error
        return out

    def block_info(self) -> dict[str, Any]:
        """BlockJobInfo"""
        out: dict[str, Any] = {
            "type": self.driver.job_type,
            "device": self.id,
            "len": self.progress_total,
            "offset": self.progress_current,
            "busy": self.busy,
            "paused": self.pause_count > 0,
            "speed": self.speed,
            "io-status": self.io_status,
            "ready": self.is_ready,
            "status": self.status,
            "auto-finalize": self.auto_finalize,
            "auto-dismiss": self.auto_dismiss,
        }
        if self.status in ("concluded", "aborting") and self.ret and self.error is not None:
            out["error"] = self.error
        return out


class Jobs:
    """A VM's jobs, newest first (QEMU inserts at the head of its list)."""

    __slots__ = ("_bh", "error_at", "events", "list", "note", "now", "offload", "rate", "timers")

    def __init__(self, timers: Timers, events: EventBus, now: Callable[[], float]) -> None:
        self.timers = timers
        self.events = events
        self.now = now
        self.list: list[Job] = []
        #: bytes per second a job copies at; 0: at once (quick mode)
        self.rate = 0.0
        self._bh: list[Callable[[], None]] = []
        #: where a job's I/O fails (the VM's faults), by job id; and where a fired fault is noted
        self.error_at: Callable[[str], int | None] = lambda job_id: None
        self.note: Callable[[str], None] = lambda text: None
        #: runs a job's work in another thread, then calls the second argument on the loop's thread (the
        #: runtime's; without one, at once and then from a timer)
        self.offload: Callable[[Offloaded, Callable[[], None]], None] = lambda work, then: run_inline(
            work, then, timers
        )

    def bottom_half(self, fn: Callable[[], None]) -> None:
        """aio_bh_schedule_oneshot: ``fn`` runs before the current command's reply is sent (QEMU 7.2's
        QMP dispatcher resumes after the bottom halves queued meanwhile), or right after the timer that
        queued it."""
        self._bh.append(fn)
        if len(self._bh) == 1:
            self.timers.call_later(0, self.run_bottom_halves)

    def take_bottom_half(self, fn: Callable[[], None]) -> bool:
        if fn in self._bh:
            self._bh.remove(fn)
            return True
        return False

    def run_bottom_halves(self) -> None:
        while self._bh:
            self._bh.pop(0)()

    def create(self, job_id: str | None, driver: Driver, **kwargs: Any) -> Job:
        if job_id is None:
            raise GenericError("An explicit job ID is required")
        if not _id_wellformed(job_id):
            raise GenericError(f"Invalid job ID '{job_id}'")
        if self.get(job_id) is not None:
            raise GenericError(f"Job ID '{job_id}' already in use")
        speed = int(kwargs.get("speed", 0))
        if speed < 0:
            raise GenericError("Parameter 'speed' expects a non-negative value")
        job = Job(self, job_id, driver, **kwargs)
        self.list.insert(0, job)
        return job

    def cancel_all(self) -> None:
        """job_cancel_sync_all at exit: every job cancelled (a concluded one dismissed), newest first."""
        for job in list(self.list):
            if job in self.list:
                job.cancel(True)

    def get(self, job_id: str) -> Job | None:
        for job in self.list:
            if job.id == job_id:
                return job
        return None

    def find(self, job_id: str) -> Job:
        """job-* commands' look-up"""
        job = self.get(job_id)
        if job is None:
            raise GenericError("Job not found")
        return job

    def find_block(self, device: str) -> Job:
        """block-job-* commands' look-up"""
        job = self.get(device)
        if job is None or not job.driver.block:
            raise QMPError(f"Block job '{device}' not found", "DeviceNotActive")
        return job

    def remove(self, job: Job) -> None:
        if job in self.list:
            self.list.remove(job)

    def release(self, job: Job) -> None:
        job.blocked_nodes = []
        cleanups, job.cleanups = job.cleanups, []
        for fn in cleanups:
            fn()

    def blocker(self, node: str) -> Job | None:
        """The job that holds ``node`` (QEMU's op blockers), if any."""
        for job in self.list:
            if node in job.blocked_nodes:
                return job
        return None


def _id_wellformed(name: str) -> bool:
    """util/id.c: a letter first, then letters, digits, '-', '.', '_'."""
    return (
        bool(name)
        and name[0].isascii()
        and name[0].isalpha()
        and all(c.isascii() and (c.isalnum() or c in "-._") for c in name)
    )
