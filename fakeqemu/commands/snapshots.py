"""Internal snapshots: HMP savevm/loadvm/delvm/info snapshots and the snapshot-save/-load/-delete jobs
(QEMU 7.2's migration/savevm.c), over fakeqemu.machine.migration.savevm. The VM state a snapshot holds
is fakeqemu's migration stream (fakeqemu.protocols.migration), loaded back as an incoming migration is.

The jobs are QEMU's: no auto-dismiss, progress 0/0 then 1/1, the work in a bottom half after the
command's reply, and a failure is the job's error (the job still concludes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fakeqemu.commands.hmp_args import ArgError, get_str, missing
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.block.jobs import Body, Driver, Job
from fakeqemu.machine.migration import savevm, vmstate
from fakeqemu.protocols.migration import Decoder, StreamError, frame, preamble
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: qemu_loadvm_state's failure as load_snapshot reports it
LOAD_ERROR = "Error -22 while loading VM state"


def stream(m: Machine) -> bytes:
    """The VM state savevm writes: a whole migration stream."""
    head = frame("H", {"machine": m.config.machine_type, "qemu": list(m.config.qemu_version)})
    return preamble() + head + frame("S", vmstate.snapshot(m)) + frame("E")


def load_stream(m: Machine, data: bytes) -> None:
    """qemu_loadvm_state from a snapshot's VM state."""
    state: dict[str, Any] | None = None
    try:
        decoder = Decoder()
        for fr in decoder.feed(data):
            if fr.kind == "H" and fr.data.get("machine") != m.config.machine_type:
                raise StreamError("machine type does not match")
            if fr.kind == "S":
                vmstate.check(m, fr.data)
                state = fr.data
        if not decoder.done or state is None:
            raise StreamError("truncated")
    except (StreamError, vmstate.MismatchError):
        raise GenericError(LOAD_ERROR) from None
    vmstate.apply(m, state)


def save(m: Machine, name: str | None, overwrite: bool, vmstate_node: str | None, devices: list[str] | None) -> None:
    savevm.save(m, name, overwrite, vmstate_node, devices, lambda: stream(m))


def load(m: Machine, name: str, vmstate_node: str | None, devices: list[str] | None) -> None:
    """hmp_loadvm / snapshot_load_job_bh: the VM stops first and runs again only if the load worked."""
    saved_running = m.running
    m.stop("restore-vm")
    load_stream(m, savevm.load(m, name, vmstate_node, devices))
    if saved_running:
        m.cont()


class SnapshotJob(Driver):
    """snapshot-save, snapshot-load, snapshot-delete: one step of work in a bottom half."""

    block = False

    def __init__(self, job_type: str, work: Callable[[], None]) -> None:
        self.job_type = job_type
        self.work = work

    def run(self, job: Job) -> Body:
        error: list[str] = []

        def bottom_half() -> None:
            """Before the command's reply; the job ends after it (aio_co_wake)."""
            job.set_remaining(1)
            try:
                self.work()
            except GenericError as exc:
                error.append(exc.desc)
            job.progress(1)
            job.jobs.timers.call_later(0, job.enter)

        job.jobs.bottom_half(bottom_half)
        yield None
        if error:
            job.fail(-1, error[0])
            return -1
        return 0


def _start(ctx: Context, args: dict[str, Any], job_type: str, work: Callable[[], None]) -> None:
    job = ctx.machine.jobs.create(args["job-id"], SnapshotJob(job_type, work), auto_dismiss=False)
    job.start()


@command("snapshot-save")
def snapshot_save(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    work = lambda: save(m, args["tag"], False, args["vmstate"], list(args["devices"]))  # noqa: E731
    _start(ctx, args, "snapshot-save", work)


@command("snapshot-load")
def snapshot_load(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    _start(ctx, args, "snapshot-load", lambda: load(m, args["tag"], args["vmstate"], list(args["devices"])))


@command("snapshot-delete")
def snapshot_delete(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine

    def work() -> None:
        savevm.delete_all(m, savevm.selected(m, list(args["devices"])), args["tag"])

    _start(ctx, args, "snapshot-delete", work)


# --- HMP ------------------------------------------------------------------------------------------


def _hmp(act: Callable[[], None]) -> str:
    try:
        act()
    except GenericError as exc:
        return f"Error: {exc.desc}\r\n"
    return ""


def _named(cmd: str, required: bool, act: Callable[[Machine, Any], None]) -> Callable[[Machine, str], str]:
    """An HMP command with one name argument (get_str: a word or a quoted string)."""

    def run(m: Machine, args: str) -> str:
        try:
            name = get_str(args)[0] if args.strip() else None
        except ArgError as exc:
            return str(exc)
        if name is None and required:
            return missing(cmd)
        return _hmp(lambda: act(m, name))

    return run


def info_snapshots(m: Machine, args: str) -> str:
    try:
        text = savevm.info_snapshots(m)
    except GenericError as exc:
        text = exc.desc + "\n"
    return text.replace("\n", "\r\n")


def register(hmp_commands: dict[str, Callable[[Machine, str], str]],
             info_commands: dict[str, Callable[[Machine, str], str]]) -> None:  # fmt: skip
    hmp_commands["savevm"] = _named("savevm", False, lambda m, name: save(m, name, True, None, None))
    hmp_commands["loadvm"] = _named("loadvm", True, lambda m, name: load(m, name, None, None))
    hmp_commands["delvm"] = _named("delvm", True, lambda m, name: savevm.delete_all(m, savevm.selected(m, None), name))
    info_commands["snapshots"] = info_snapshots
