"""The job model on the VM's timers: rates, speed limits, transactions (no process, a hand-driven clock)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from fakeqemu.commands.blockjobs import blockdev_mirror, start_drained
from fakeqemu.commands.jobs import query_block_jobs
from fakeqemu.commands.registry import Context
from fakeqemu.machine.block.jobs import Body, Driver, Job, Txn
from fakeqemu.machine.core.events import Event
from fakeqemu.machine.machine import Machine, MachineConfig

MiB = 1 << 20


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def setup(tmp_path: Path, rate: float = 0.0) -> tuple[Machine, Clock, list[Event]]:
    clock = Clock()
    m = Machine(MachineConfig(machine_type="none", job_rate=rate), monotonic=clock)
    events: list[Event] = []
    m.events.subscribe(events.append)
    for name in ("src", "dst"):
        path = tmp_path / f"{name}.raw"
        path.write_bytes(b"\1" * (4 * MiB))  # raw: every byte is data
        m.backends.blockdevs[f"{name}-file"] = {"options": {"driver": "file", "filename": str(path)},
                                                "attached": None, "backing": None}  # fmt: skip
        m.backends.blockdevs[name] = {"options": {"driver": "raw", "file": f"{name}-file", "node-name": name},
                                      "attached": None, "backing": None}  # fmt: skip
    return m, clock, events


def advance(m: Machine, clock: Clock, to: float) -> None:
    while (deadline := m.timers.next_deadline()) is not None and deadline <= to:
        clock.now = max(clock.now, deadline)
        m.timers.run_due()
    clock.now = to


def offset(m: Machine) -> Any:
    return query_block_jobs(Context(m), {})[0]["offset"]


def statuses(events: list[Event]) -> list[str]:
    return [f"{e.data['id']}:{e.data['status']}" for e in events if e.name == "JOB_STATUS_CHANGE" and e.data]


def test_qemu_rate_mode_copies_in_time(tmp_path: Path) -> None:
    m, clock, events = setup(tmp_path, rate=MiB)
    blockdev_mirror(Context(m), {"job-id": "m", "device": "src", "target": "dst", "sync": "full"})
    advance(m, clock, 101.01)
    assert offset(m) == MiB  # two 512 KiB chunks in the first second
    advance(m, clock, 103.6)
    assert "m:ready" not in statuses(events)
    advance(m, clock, 104.1)
    assert statuses(events)[-1] == "m:ready"
    assert offset(m) == 4 * MiB


def test_speed_limit_paces_a_quick_job_and_set_speed_kicks_it(tmp_path: Path) -> None:
    m, clock, events = setup(tmp_path)
    blockdev_mirror(Context(m), {"job-id": "m", "device": "src", "target": "dst", "sync": "full", "speed": MiB})
    advance(m, clock, 100.0)
    assert offset(m) == 0
    advance(m, clock, 100.51)
    assert offset(m) == MiB // 2
    m.jobs.find("m").set_speed(0)  # unlimited now: the sleeping job is entered and runs to ready
    advance(m, clock, 100.52)
    assert offset(m) == 4 * MiB and statuses(events)[-1] == "m:ready"


class Failing(Driver):
    job_type = "backup"

    def run(self, job: Job) -> Body:
        yield from job.sleep(0.5)
        job.fail(-errno.EIO, "Input/output error")
        return job.ret


class Slow(Driver):
    job_type = "backup"

    def run(self, job: Job) -> Body:
        job.set_remaining(10)
        yield from job.sleep(5.0)
        job.progress(10)
        return 0


def test_a_failed_job_cancels_its_grouped_transaction(tmp_path: Path) -> None:
    m, clock, events = setup(tmp_path)
    txn = Txn()
    a = m.jobs.create("a", Slow(), txn=txn)
    b = m.jobs.create("b", Failing(), txn=txn)
    start_drained(m, [a, b])
    advance(m, clock, 101.0)
    # job_completed_txn_abort finalizes the transaction's jobs newest first; the slow one is cancelled
    assert statuses(events)[-6:] == ["b:aborting", "b:concluded", "b:null", "a:aborting", "a:concluded", "a:null"]
    names = [(e.name, (e.data or {}).get("device") or (e.data or {}).get("id")) for e in events]
    assert ("BLOCK_JOB_CANCELLED", "a") in names
    completed = [e for e in events if e.name == "BLOCK_JOB_COMPLETED"]
    assert [(e.data or {}).get("error") for e in completed] == ["Input/output error"]
    assert m.jobs.list == []


def names(events: list[Event]) -> list[str]:
    out = []
    for e in events:
        d = e.data or {}
        out.append(f"{e.name}:{d.get('status') or d.get('action') or d.get('error') or ''}")
    return out


def test_an_injected_io_error_is_reported_and_ends_the_job(tmp_path: Path) -> None:
    m, clock, events = setup(tmp_path)
    m.faults.job_error["m"] = 3 * MiB
    blockdev_mirror(Context(m), {"job-id": "m", "device": "src", "target": "dst", "sync": "full"})
    advance(m, clock, 101.0)
    assert names(events)[-5:] == ["BLOCK_JOB_ERROR:report", "JOB_STATUS_CHANGE:aborting",
                                  "BLOCK_JOB_COMPLETED:Input/output error", "JOB_STATUS_CHANGE:concluded",
                                  "JOB_STATUS_CHANGE:null"]  # fmt: skip
    error = next(e for e in events if e.name == "BLOCK_JOB_ERROR")
    assert error.data == {"device": "m", "operation": "write", "action": "report"}
    assert m.jobs.list == []


def test_on_error_stop_pauses_the_job_until_it_is_resumed(tmp_path: Path) -> None:
    m, clock, events = setup(tmp_path)
    m.faults.job_error["*"] = 0
    args = {"job-id": "m", "device": "src", "target": "dst", "sync": "full", "on-target-error": "stop"}
    blockdev_mirror(Context(m), args)
    advance(m, clock, 101.0)
    assert names(events)[-2:] == ["BLOCK_JOB_ERROR:stop", "JOB_STATUS_CHANGE:paused"]
    info = query_block_jobs(Context(m), {})[0]
    assert (info["io-status"], info["paused"], info["offset"]) == ("failed", True, 0)
    m.jobs.find("m").user_resume()
    advance(m, clock, 102.0)
    assert names(events)[-2:] == ["JOB_STATUS_CHANGE:ready", "BLOCK_JOB_READY:"]
    assert query_block_jobs(Context(m), {})[0]["io-status"] == "ok"


def sparse(path: Path, data_at: int, byte: bytes) -> None:
    with open(path, "wb") as f:
        f.truncate(4 * MiB)
        f.seek(data_at)
        f.write(byte * 65536)


def test_a_copy_moves_data_and_leaves_holes_where_both_read_as_zeroes(tmp_path: Path) -> None:
    """A raw source's holes read as zeroes: written where the target holds data, skipped where it has a
    hole itself, so a mirror of a mostly empty disk writes (and costs) only its data."""
    m, clock, events = setup(tmp_path)
    sparse(tmp_path / "src.raw", MiB, b"\7")
    sparse(tmp_path / "dst.raw", 2 * MiB, b"\1")
    blockdev_mirror(Context(m), {"job-id": "m", "device": "src", "target": "dst", "sync": "full"})
    advance(m, clock, 100.1)
    assert statuses(events)[-1] == "m:ready"
    assert (tmp_path / "dst.raw").read_bytes() == (tmp_path / "src.raw").read_bytes()
    assert (tmp_path / "dst.raw").stat().st_blocks * 512 <= 2 * 65536 + 8192  # the holes stayed holes


def test_a_job_waiting_for_its_copy_is_busy_and_pauses_after_it(tmp_path: Path) -> None:
    """The copy runs off the loop's thread (Jobs.offload): meanwhile the job is busy, nothing enters it,
    and a pause asked for then takes effect once the copy is back."""
    m, clock, events = setup(tmp_path)
    (tmp_path / "src.raw").write_bytes(b"\2" * (4 * MiB))
    held: list[tuple[Any, Any]] = []
    m.jobs.offload = lambda work, then: held.append((work, then))
    blockdev_mirror(Context(m), {"job-id": "m", "device": "src", "target": "dst", "sync": "full"})
    advance(m, clock, 100.1)
    assert len(held) == 1 and query_block_jobs(Context(m), {})[0]["busy"] is True
    job = m.jobs.find("m")
    job.user_pause()
    assert statuses(events)[-1] == "m:running" and len(held) == 1
    work, then = held.pop()
    work.run()
    then()
    assert statuses(events)[-1] == "m:paused"
    job.user_resume()
    advance(m, clock, 100.2)
    assert statuses(events)[-1] == "m:ready"
    assert (tmp_path / "dst.raw").read_bytes() == (tmp_path / "src.raw").read_bytes()
