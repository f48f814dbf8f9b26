#!/usr/bin/env python3
"""Run QEMU 7.2's own qtest programs (built by tools/qemu_qtest_build.sh) one subtest at a time against
fakeqemu and against Debian's QEMU with the rebuilt qtest accelerator module, and write what happened.

    python -m tools.libqtest_run [--only fakeqemu|qemu] [--timeout S] [--json OUT] [--table]

Subtests are listed from QEMU (``-l -m slow``: qom-test and device-introspect-test list a case per machine
type there), so a subtest that fakeqemu's introspection does not register still gets a row. ``--table``
prints the README's Markdown table (subtest, QEMU, fakeqemu, why not).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

DIR = Path(os.environ.get("FAKEQEMU_QTEST_DIR", "/var/cache/fakeqemu-qtest"))
PROGRAMS = (
    "qmp-test",
    "qmp-cmd-test",
    "device-plug-test",
    "drive_del-test",
    "qom-test",
    "device-introspect-test",
    "qos-test",
)
ROOT = Path(__file__).resolve().parent.parent


def build_dir() -> Path:
    return DIR / "src" / "build" / "tests" / "qtest"


def fakeqemu_binary() -> str:
    override = os.environ.get("LIBQTEST_FAKEQEMU")  # a wrapper, for experiments
    if override:
        return override
    venv = ROOT / ".venv" / "bin" / "fakeqemu-system-x86_64"
    return str(venv) if venv.exists() else shutil.which("fakeqemu-system-x86_64") or "fakeqemu-system-x86_64"


def environment(target: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("QTEST_LOG", None)
    if target == "qemu":
        env["QTEST_QEMU_BINARY"] = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"
        env["QEMU_MODULE_DIR"] = str(DIR / "modules")
    else:
        env["QTEST_QEMU_BINARY"] = fakeqemu_binary()
    return env


def list_subtests(program: str) -> list[str]:
    out = subprocess.run(
        [str(build_dir() / program), "-l", "-m", "slow"],
        env=environment("qemu"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return [line.strip() for line in out.splitlines() if line.startswith("/")]


#: why a program registers no such subtest (it builds its list from the emulator's introspection)
ABSENT = {
    "qom-test": "not registered: machine type not in fakeqemu's query-machines",
    "device-introspect-test": "not registered: machine type not in fakeqemu's query-machines",
    "qmp-cmd-test": "not registered: command not in fakeqemu's query-qmp-schema",
    "qos-test": "not registered: device type not in fakeqemu's qom-list-types",
}


@dataclass
class Result:
    program: str
    path: str
    target: str
    status: str  # "pass", "fail", "skip", "absent" (not registered by the program), "timeout"
    why: str


def run_subtest(program: str, path: str, target: str, timeout: float) -> Result:
    cmd = [str(build_dir() / program), "-p", path, "--tap", "-k", "-m", "slow"]
    # its own process group: on a timeout the program and the emulators it started all go
    with subprocess.Popen(
        cmd, env=environment(target), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as child:
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            return Result(program, path, target, "timeout", f"no result within {timeout:.0f} s")
    proc = subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)
    lines = proc.stdout.splitlines()
    tap = [ln for ln in lines if re.match(r"(not )?ok \d+ ", ln)]
    if not tap:
        if proc.returncode == 0:
            return Result(program, path, target, "absent", ABSENT.get(program, "not registered by the program"))
        return Result(program, path, target, "fail", _why(proc))
    last = tap[-1]
    if "# SKIP" in last:
        return Result(program, path, target, "skip", last.split("# SKIP", 1)[1].strip())
    if last.startswith("ok ") and proc.returncode == 0:
        return Result(program, path, target, "pass", "")
    return Result(program, path, target, "fail", _why(proc))


def _why(proc: subprocess.CompletedProcess[str]) -> str:
    """The first line that says what went wrong: libqtest's assertion, the emulator's refusal, a crash."""
    lines = [ln.strip().removeprefix("# ") for ln in (proc.stderr + "\n" + proc.stdout).splitlines()]
    for pattern in (r"ERROR:.*", r".*Assertion .*", r"qemu-system-x86_64: (?!terminating).*", r".*[Ee]rror.*"):
        for line in lines:
            if re.fullmatch(pattern, line) and not line.startswith(("starting QEMU", "->", "<-")):
                return line[:200]
    return f"exit status {proc.returncode}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=("fakeqemu", "qemu"))
    ap.add_argument("--program", action="append", help="only these programs")
    ap.add_argument("--match", default="", help="only subtests whose path contains this")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--json", type=Path, help="write every result here")
    ap.add_argument("--table", action="store_true", help="print the README table")
    ap.add_argument("--from-json", type=Path, action="append", help="results of earlier runs instead of running")
    ap.add_argument("--passing", type=Path, help="write the subtests that pass on fakeqemu (tests/libqtest)")
    args = ap.parse_args()
    if args.from_json:
        finish(args, [Result(**r) for f in args.from_json for r in json.loads(f.read_text())])
        return 0
    if not (build_dir() / "qmp-test").exists():
        print(f"no qtest programs in {build_dir()}: run tools/qemu_qtest_build.sh first", file=sys.stderr)
        return 2
    targets = [args.only] if args.only else ["qemu", "fakeqemu"]
    results: list[Result] = []
    for program in args.program or PROGRAMS:
        for path in list_subtests(program):
            if args.match not in path:
                continue
            for target in targets:
                r = run_subtest(program, path, target, args.timeout)
                results.append(r)
                print(f"{target:8} {r.status:7} {program} {path} {r.why}", file=sys.stderr, flush=True)
    finish(args, results)
    return 0


def finish(args: argparse.Namespace, results: list[Result]) -> None:
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    if args.passing:
        lines = [f"{r.program} {r.path}" for r in results if r.target == "fakeqemu" and r.status == "pass"]
        head = "# written by tools/libqtest_run.py --passing: the subtests that pass on fakeqemu\n"
        args.passing.write_text(head + "\n".join(lines) + "\n")
    if args.table:
        print(table(results))


def table(results: list[Result]) -> str:
    rows: dict[tuple[str, str], dict[str, Result]] = {}
    for r in results:
        rows.setdefault((r.program, r.path), {})[r.target] = r
    out = ["| program | subtest | QEMU 7.2 | fakeqemu | why not |", "| --- | --- | --- | --- | --- |"]
    for (program, path), by in rows.items():
        q, f = by.get("qemu"), by.get("fakeqemu")
        why = f.why.replace("|", "\\|") if f is not None and f.status != "pass" else ""
        out.append(f"| {program} | `{path}` | {q.status if q else ''} | {f.status if f else ''} | {why} |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
