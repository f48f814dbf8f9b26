"""Imports every command module so that each registers its commands."""

from fakeqemu.commands import (  # noqa: F401
    backends,
    balloon,
    block,
    block_io,
    blockjobs,
    core,
    display,
    drive,
    fakeqemu_ext,
    fds,
    hmp,
    jobs,
    memory,
    migration,
    probe,
    qdev,
    qom,
    reopen,
    snapshots,
    trace,
)
