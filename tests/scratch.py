"""Scratch files for one test process: a directory of its own, removed at exit.

Image files at fixed names in /tmp were shared by every test run on the machine: two runs at once (two
clones, two worktrees) opened the same image, and the second QEMU failed its image lock and exited."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path


@functools.cache
def _directory() -> Path:
    path = Path(tempfile.mkdtemp(prefix="fakeqemu-tests-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def scratch(name: str) -> Path:
    """A path in this process's scratch directory."""
    return _directory() / name
