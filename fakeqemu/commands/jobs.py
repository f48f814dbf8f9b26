"""The job commands: query-jobs, job-*, query-block-jobs and block-job-* (QEMU 7.2's job-qmp.c and
blockdev.c), over the VM's jobs (fakeqemu.machine.block.jobs). ``job-X`` finds any job by ``id``
("Job not found"), ``block-job-X`` only block jobs, by ``device`` or ``id`` (DeviceNotActive)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.block.jobs import Job
from fakeqemu.qmp.errors import GenericError


@command("query-jobs")
def query_jobs(ctx: Context, args: dict[str, Any]) -> Any:
    return [job.info() for job in ctx.machine.jobs.list]


@command("query-block-jobs")
def query_block_jobs(ctx: Context, args: dict[str, Any]) -> Any:
    return [job.block_info() for job in ctx.machine.jobs.list if job.driver.block]


def _block_cancel(job: Job, args: dict[str, Any]) -> None:
    force = bool(args.get("force", False))
    if job.user_paused and not force:
        raise GenericError(f"The block job for device '{args['device']}' is currently paused")
    job.user_cancel(force)


#: verb -> what it does to the job found
VERBS: dict[str, Callable[[Job, dict[str, Any]], None]] = {
    "pause": lambda job, args: job.user_pause(),
    "resume": lambda job, args: job.user_resume(),
    "complete": lambda job, args: job.user_complete(),
    "dismiss": lambda job, args: job.dismiss(),
    "finalize": lambda job, args: job.finalize(),
}


def _register(
    verb: str, act: Callable[[Job, dict[str, Any]], None], block_act: Callable[[Job, dict[str, Any]], None]
) -> None:
    @command(f"job-{verb}")
    def job_verb(ctx: Context, args: dict[str, Any]) -> Any:
        act(ctx.machine.jobs.find(args["id"]), args)

    @command(f"block-job-{verb}")
    def block_job_verb(ctx: Context, args: dict[str, Any]) -> Any:
        block_act(ctx.machine.jobs.find_block(args["device"] if "device" in args else args["id"]), args)


for _verb, _act in VERBS.items():
    _register(_verb, _act, _act)
_register("cancel", lambda job, args: job.user_cancel(True), _block_cancel)


@command("block-job-set-speed")
def block_job_set_speed(ctx: Context, args: dict[str, Any]) -> Any:
    ctx.machine.jobs.find_block(args["device"]).set_speed(int(args["speed"]))
