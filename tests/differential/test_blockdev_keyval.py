"""Differential: ``-blockdev`` in the KEY=VALUE syntax, which QEMU parses with keyval_parse and visits
against BlockdevOptions in keyval mode (fakeqemu.cli.keyval): values typed per the schema (``read-only=on``
a boolean, ``cache.direct=on`` a nested member, ``file.driver=...`` a nested BlockdevOptions, integers in
C's bases), and its refusals (a value of the wrong type, an unknown key, a missing driver, keys used
inconsistently, a list index missing, a help request), exit status and message."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from fakeqemu.machine.block import qcow2
from tests.oracle import Step, Target, call, differential_tests, fakeqemu_target, qemu_target, script
from tests.scratch import scratch

IMAGE = scratch("fakeqemu-differential-keyval.raw")
IMAGE.write_bytes(bytes(1 << 20))
FILE = f"driver=file,filename={IMAGE}"
QCOW2 = scratch("fakeqemu-differential-keyval.qcow2")
qcow2.create(str(QCOW2), 1 << 20)
#: ``backing=`` (an empty name) is no backing, as null is, with bdrv_open_inherit's deprecation warning
EMPTY_BACKING = f"file,node-name=f,filename={QCOW2} -blockdev qcow2,node-name=q,file=f,backing="

STARTS = [
    ["-blockdev", f"{FILE},node-name=f0,read-only=on,cache.direct=on,cache.no-flush=off,discard=unmap"],
    ["-blockdev", f"file,filename={IMAGE},node-name=f1,read-only=yes,auto-read-only=true,detect-zeroes=on"],
    ["-blockdev", f"driver=raw,node-name=r2,read-only=on,file.driver=file,file.filename={IMAGE},file.read-only=y,"
                  "file.node-name=f2"],
    ["-blockdev", f"{FILE},node-name=f3,read-only=on,aio-max-batch=0x10",
     "-blockdev", "raw,node-name=r3,file=f3,read-only=on"],
    ["-blockdev", "driver=null-co,node-name=n4,discard=unmap,detect-zeroes=unmap,force-share=no"],
    ["-blockdev", "null-co,node-name=n5,read-only=off,force-share=off,cache.no-flush=on"],
    ["-blockdev", EMPTY_BACKING.split(" -blockdev ")[0], "-blockdev", EMPTY_BACKING.split(" -blockdev ")[1]],
    # an inline child without a node-name: a node of its own, #blockNNN, listed by query-named-block-nodes
    ["-blockdev", f"raw,node-name=r6,file.driver=file,file.filename={IMAGE},file.cache.direct=on"],
]  # fmt: skip


def looks() -> list[Step]:
    return [*call("query-named-block-nodes"), *call("query-block")]


#: QEMU names an anonymous node #blockNNN after its count of nodes made so far
SCRUB = [(rb"#block\d+", b"#block<n>")]
SCRIPTS = [
    script(f"keyval-start-{n}", *looks(), scrub=SCRUB,
           extra_args=[*args, "-device", f"virtio-blk-pci,drive={args[-1].split('node-name=')[1].split(',')[0]},id=d0"])
    for n, args in enumerate(STARTS)
]  # fmt: skip

#: -display goes through the same visitor (DisplayOptions, implied key ``type``): what query-display-options
#: answers, the last -display winning
DISPLAYS = ["none,show-cursor=on", "none,full-screen=off,window-close=yes,gl=off", "none,show-cursor=on -display none"]
SCRIPTS += [
    script(f"display-{n}", *call("query-display-options"),
           extra_args=[w for v in value.split(" -display ") for w in ("-display", v)])
    for n, value in enumerate(DISPLAYS)
]  # fmt: skip

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)

BASE = ("-M", "pc", "-display", "none", "-nodefaults", "-S")
REFUSALS = [
    f"{FILE},node-name=f,read-only=maybe",
    EMPTY_BACKING,
    f"{FILE},node-name=f,read-only=on -blockdev {FILE},node-name=f",
    f"{FILE},node-name=f,read-only=",
    f"{FILE},node-name=f,cache.direct=1",
    f"{FILE},node-name=f,cache=on",
    f"{FILE},node-name=f,read-only.x=on",
    f"{FILE},node-name=f,aio-max-batch=12k",
    f"{FILE},node-name=f,aio-max-batch=0x",
    f"{FILE},node-name=f,aio-max-batch=08",
    f"{FILE},node-name=f,aio-max-batch= 7",
    f"{FILE},node-name=f,discard=foo",
    f"{FILE},node-name=f,zz=1",
    f"{FILE},node-name=f,cache.zz=1",
    f"{FILE},node-name=f,help",
    f"{FILE},node-name=f,?",
    "node-name=f",
    "driver=bogus,node-name=f",
    "bogus,node-name=f",
    "raw,node-name=r,file.driver=file",
    "raw,node-name=r,file.driver=bogus",
    "raw,node-name=r,file.driver=file,file.filename=x,file.read-only=maybe",
    "raw,node-name=r,file=f,file.driver=file",
    "raw,node-name=r,file.driver=file,file=f",
    "null-co,node-name=n,size=1.5",  # (size=-1 is accepted and QEMU 7.2 aborts in parse_option_size)
    "null-co,node-name=n,size=18446744073709551616",
    "null-co,node-name=n,latency-ns=-0x",
    "null-co,node-name=n,latency-ns=99999999999999999999",
    "null-co,node-name=n,a.0=x",
    "null-co,node-name=n,a.1=x",
    "null-co,node-name=n,a.0=x,a.b=y",
    "null-co,node-name=n,1a=x",
    "null-co,node-name=n,a..b=x",
    "null-co,node-name=n,=x",
    "null-co,node-name=n,x",
    "null-co,node-name=" + "n" * 130 + ",x=1",
    "null-co,node-name=n," + "k" * 130 + "=1",
    "null-co,node-name=n,a." + "k" * 130 + "=1",
    "quorum,node-name=q,children.0=a,children.2=b,vote-threshold=1",
    "quorum,node-name=q,children.0.driver=null-co,children.0.bogus=1,vote-threshold=1",
    "quorum,node-name=q,children=a,vote-threshold=1",
    "quorum,node-name=q,children.0=a,vote-threshold=x",
    "blkdebug,node-name=b,image=f,inject-error.0.event=read_aio,inject-error.0.errno=x",
    "blkdebug,node-name=b,image=f,inject-error.0.event=bogus",
    "qcow2,node-name=q,file=f,cache-size=1k",
    "qcow2,node-name=q,file=f,cache-clean-interval=0x1g",
    "qcow2,node-name=q,file=f,encrypt.format=aes,encrypt.key-secret=s,overlap-check.template=bogus",
    "qcow2,node-name=q,file=f,overlap-check=all,discard-no-unref=on",
    "nbd,node-name=n,server.type=inet,server.host=h,server.port=1,reconnect-delay=x",
    "nbd,node-name=n,server.type=unix",
    # what qmp_blockdev_add refuses once the option is visited (configure_blockdev, before any -device)
    "null-co",
    "raw,file=nowhere",
    "null-co,node-name=n,,x",
    "null-co,node-name=1n",
    "throttle,node-name=t,file=f,throttle-group=",
    "qcow2,node-name=q,file=f,l2-cache-entry-size=1,cache-clean-interval=-1",
    "raw,node-name=r,file.driver=file,file.filename=/nonexistent/x",
    "raw,node-name=r,file.driver=file,file.filename=/nonexistent/x,file.node-name=1x",
    '{"driver":"file","node-name":"f","read-only":"on"}',
    '{"driver":"null-co","node-name":"n","size":"1"}',
    '{"driver":"raw","node-name":"r","file":{"driver":"bogus"}}',
    '{"driver":"null-co","node-name":"n","zz":1}',
]


DISPLAY_REFUSALS = [
    "bogus",
    "none,zz=1",
    "gtk,zoom-to-fit=x",
    "none,show-cursor=maybe",
    "none,gl=bogus",
    "none,gl=on",
    "none,gl=core",
    "vnc",
    "vncx",
    "none,help",
    "curses,charset.x=1",
    "egl-headless,rendernode.0=a",
    '{"type":"none","show-cursor":"on"}',
    '{"type":"none","zz":1}',
]


#: -netdev in the modern syntax (JSON, or type stream/dgram) is visited against Netdev (netdev_parse_modern)
NETDEV_REFUSALS = [
    "stream,id=n0,server=maybe,addr.type=inet,addr.host=localhost,addr.port=1",
    "stream,id=n0,addr.type=bogus",
    "stream,server=on,addr.type=unix,addr.path=/nonexistent/x",
    "stream,id=n0,addr.type=inet,addr.host=localhost,addr.port=1,reconnect=x",
    "dgram,id=n0,local.type=inet,local.host=localhost,local.port=1,zz=1",
    "dgram,id=n0,remote.type=fd,remote.str.x=1",
    '{"type":"user","id":"n0","ipv4":"on"}',
    '{"type":"user","id":"n0","zz":1}',
    '{"type":"tap","id":"n0","queues":-1}',
    '{"type":"tap","id":"n0","queues":"1"}',
    '{"type":"bogus","id":"n0"}',
    '{"id":"n0"}',
    '{"type":"user"}',
]


def _outcome(target: Target, value: str, option: str = "-blockdev") -> tuple[int, str, str]:
    words = [w for v in value.split(f" {option} ") for w in (option, v)]
    res = subprocess.run(
        target.command([*BASE, *words, "-device", "no-such-device"]),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return res.returncode, res.stdout, res.stderr


@pytest.mark.qemu
@pytest.mark.parametrize("value", REFUSALS, ids=[v[:60] for v in REFUSALS])
def test_blockdev_refusal_like_qemu(qemu_binary: str, value: str) -> None:
    with ThreadPoolExecutor(2) as pool:
        ours = pool.submit(_outcome, fakeqemu_target(), value)
        qemu = _outcome(qemu_target(), value)
    assert qemu[0] == 1, qemu
    assert ours.result() == qemu


@pytest.mark.qemu
@pytest.mark.parametrize("value", DISPLAY_REFUSALS)
def test_display_refusal_like_qemu(qemu_binary: str, value: str) -> None:
    with ThreadPoolExecutor(2) as pool:
        ours = pool.submit(_outcome, fakeqemu_target(), value, "-display")
        qemu = _outcome(qemu_target(), value, "-display")
    assert qemu[0] == 1, qemu
    assert ours.result() == qemu


@pytest.mark.qemu
@pytest.mark.parametrize("value", NETDEV_REFUSALS)
def test_netdev_refusal_like_qemu(qemu_binary: str, value: str) -> None:
    with ThreadPoolExecutor(2) as pool:
        ours = pool.submit(_outcome, fakeqemu_target(), value, "-netdev")
        qemu = _outcome(qemu_target(), value, "-netdev")
    assert qemu[0] == 1, qemu
    assert ours.result() == qemu
