"""The guest agent model and its channel, without sockets: state kept, policies, power paths, and every
answer valid against qemu-ga's own schema (fakeqemu/data/agent-schema.json)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest

from fakeqemu.machine.guest.agent import AgentSchema, ExecResult
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.protocols.agent import AgentChannel
from tools.launch import threads_exit

NIC = {"driver": "virtio-net-pci", "id": "net0", "mac": "52:54:00:12:34:56"}
DISK = {"driver": "virtio-blk-pci", "id": "disk0", "drive": "d0"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kw: Any) -> tuple[Machine, AgentChannel, list[bytes], list[tuple[str, Any]], Clock]:
    clock = Clock()
    cfg = MachineConfig(
        agent_port="channel0",
        agent_chardev="charchannel0",
        devices=[NIC, DISK],
        blockdevs=[{"node-name": "d0", "driver": "null-co"}],
        rcu_grace=0.0,
        **kw,
    )
    m = Machine(cfg, clock=clock, monotonic=clock)
    events: list[tuple[str, Any]] = []
    m.events.subscribe(lambda e: events.append((e.name, e.data)))
    assert m.agent is not None
    ch = AgentChannel(m.agent)
    out: list[bytes] = []
    ch.output = out.append
    return m, ch, out, events, clock


def ask(ch: AgentChannel, out: list[bytes], execute: str, **args: Any) -> Any:
    out.clear()
    msg: dict[str, Any] = {"execute": execute}
    if args:
        msg["arguments"] = args
    ch.feed(json.dumps(msg).encode())
    assert len(out) == 1, out
    reply = json.loads(out[0].lstrip(b"\xff"))
    return reply.get("return", reply.get("error"))


def advance(m: Machine, clock: Clock, s: float) -> None:
    clock.now += s
    m.timers.run_due()


def test_port_opens_on_boot_with_vserport_change() -> None:
    m, ch, out, events, _ = make(paused=True)
    assert m.agent is not None and not m.agent.port_open
    ch.feed(b'{"execute":"guest-ping"}')
    assert out == []  # a VM that never ran has no agent yet: the input waits
    m.cont()
    assert ("VSERPORT_CHANGE", {"id": "channel0", "open": True}) in events
    assert out == [b'{"return": {}}\n']


def test_policies_hung_absent_delay() -> None:
    m, ch, out, events, clock = make()
    agent = m.agent
    assert agent is not None
    agent.set_policy("hung")
    ch.feed(b'{"execute":"guest-sync","arguments":{"id":1}}')
    assert out == [] and agent.port_open
    agent.set_policy("running")  # the agent recovers and reads what waited
    assert out == [b'{"return": 1}\n']
    agent.set_policy("absent")
    assert events[-1] == ("VSERPORT_CHANGE", {"id": "channel0", "open": False})
    out.clear()
    ch.feed(b'{"execute":"guest-ping"}')
    assert out == []
    agent.set_policy("delay:200")
    assert events[-1] == ("VSERPORT_CHANGE", {"id": "channel0", "open": True})
    assert out == []
    advance(m, clock, 0.1)
    assert out == []
    advance(m, clock, 0.15)
    assert out == [b'{"return": {}}\n']


def test_fsfreeze_state_and_frozen_commands() -> None:
    _m, ch, out, _, _ = make()
    assert ask(ch, out, "guest-fsfreeze-status") == "thawed"
    assert ask(ch, out, "guest-fsfreeze-freeze") == 1
    assert ask(ch, out, "guest-fsfreeze-status") == "frozen"
    err = ask(ch, out, "guest-get-time")
    assert err == {
        "class": "CommandNotFound",
        "desc": "Command guest-get-time has been disabled: the agent is in frozen state",
    }
    info = ask(ch, out, "guest-info")
    enabled = {c["name"] for c in info["supported_commands"] if c["enabled"]}
    assert "guest-fsfreeze-thaw" in enabled and "guest-get-time" not in enabled
    assert ask(ch, out, "guest-fsfreeze-thaw") == 1
    assert ask(ch, out, "guest-fsfreeze-thaw") == 0
    assert ask(ch, out, "guest-fsfreeze-freeze-list", mountpoints=["/nowhere"]) == 0


def test_files_exec_keys_password() -> None:
    m, ch, out, _, _ = make()
    h = ask(ch, out, "guest-file-open", path="/tmp/x", mode="w+")
    assert h == 1000
    data = base64.b64encode(b"hello agent").decode()
    assert ask(ch, out, "guest-file-write", handle=h, **{"buf-b64": data}) == {"count": 11, "eof": False}
    assert ask(ch, out, "guest-file-seek", handle=h, offset=0, whence="set") == {"position": 0, "eof": False}
    read = ask(ch, out, "guest-file-read", handle=h, count=5)
    assert base64.b64decode(read["buf-b64"]) == b"hello" and read["count"] == 5
    assert ask(ch, out, "guest-file-close", handle=h) == {}
    assert ask(ch, out, "guest-file-open", path="/nope")["desc"].startswith("failed to open file '/nope'")
    assert ask(ch, out, "guest-file-open", path="/tmp/x", mode="q")["desc"] == "invalid file open mode 'q'"
    pid = ask(ch, out, "guest-exec", path="/bin/echo", arg=["hi"], **{"capture-output": True})["pid"]
    status = ask(ch, out, "guest-exec-status", pid=pid)
    assert status["exited"] and status["exitcode"] == 0 and base64.b64decode(status["out-data"]) == b"hi\n"
    assert ask(ch, out, "guest-exec-status", pid=pid)["desc"] == "Invalid parameter 'pid'"
    assert m.agent is not None
    m.agent.scripts["/usr/bin/backup --all"] = ExecResult(3, b"", b"disk full\n")
    pid = ask(ch, out, "guest-exec", path="/usr/bin/backup", arg=["--all"], **{"capture-output": True})["pid"]
    status = ask(ch, out, "guest-exec-status", pid=pid)
    assert status["exitcode"] == 3 and base64.b64decode(status["err-data"]) == b"disk full\n"
    assert ask(ch, out, "guest-ssh-get-authorized-keys", username="root")["desc"].startswith("failed to read")
    assert ask(ch, out, "guest-ssh-add-authorized-keys", username="root", keys=["ssh-ed25519 AAAA k"]) == {}
    assert ask(ch, out, "guest-ssh-get-authorized-keys", username="root") == {"keys": ["ssh-ed25519 AAAA k"]}
    pw = base64.b64encode(b"secret").decode()
    assert ask(ch, out, "guest-set-user-password", username="root", password=pw, crypted=False) == {}
    assert m.agent.passwords["root"] == ("secret", False)
    bad = base64.b64encode(b"a:b").decode()
    assert ask(ch, out, "guest-set-user-password", username="root", password=bad, crypted=False)["desc"] == (
        "forbidden characters in raw password"
    )


def test_guest_view_of_the_vm() -> None:
    m, ch, out, _, _ = make(smp=3)
    ifaces = ask(ch, out, "guest-network-get-interfaces")
    assert ifaces[0]["name"] == "lo" and ifaces[1]["name"].startswith("ens")
    assert ifaces[1]["hardware-address"] == NIC["mac"]
    assert ifaces[1]["ip-addresses"][0]["ip-address"] == "192.168.122.10"
    assert m.agent is not None
    m.agent.net.addresses["net0"] = ["10.0.0.5/8"]
    assert ask(ch, out, "guest-network-get-interfaces")[1]["ip-addresses"][0]["ip-address"] == "10.0.0.5"
    assert [v["logical-id"] for v in ask(ch, out, "guest-get-vcpus")] == [2, 1, 0]
    fs = ask(ch, out, "guest-get-fsinfo")
    assert fs[0]["mountpoint"] == "/" and fs[0]["disk"][0]["dev"] == "/dev/vda"


@pytest.mark.parametrize("mode,event", [("powerdown", "SHUTDOWN"), ("reboot", "RESET")])
def test_shutdown_modes(mode: str, event: str) -> None:
    m, ch, out, events, clock = make()
    out.clear()
    ch.feed(json.dumps({"execute": "guest-shutdown", "arguments": {"mode": mode}}).encode())
    assert out == []  # no success response
    advance(m, clock, 1.0)
    reason = "guest-shutdown" if mode == "powerdown" else "guest-reset"
    assert (event, {"guest": True, "reason": reason}) in events
    assert (
        ask(ch, out, "guest-shutdown", mode="off")["desc"] == "mode is invalid (valid values are: halt|powerdown|reboot"
    )


def test_suspend_ram_and_wakeup() -> None:
    m, ch, out, events, clock = make()
    out.clear()
    ch.feed(b'{"execute":"guest-suspend-ram"}')
    advance(m, clock, 1.0)
    assert m.runstate == "suspended" and ("SUSPEND", None) in [(n, d or None) for n, d in events]
    ch.feed(b'{"execute":"guest-ping"}')
    assert out == []  # a sleeping guest does not answer
    m.wakeup()
    assert events[-1][0] == "WAKEUP" and m.runstate == "running"
    assert out == [b'{"return": {}}\n']


def test_no_s3_refuses_suspend() -> None:
    _m, ch, out, _, _ = make(s3=False)
    err = ask(ch, out, "guest-suspend-ram")
    assert err["desc"] == "the requested suspend mode is not supported by the guest"


def test_every_answer_matches_qemu_ga_schema() -> None:
    _m, ch, out, _, _ = make()
    schema = AgentSchema.load()
    checked = 0
    for cmd in schema.commands:
        entity = schema.args.by_name[cmd["name"]]
        if not cmd["enabled"] or not cmd["success-response"] or entity["arg-type"] != "q_empty":
            continue
        if cmd["name"].startswith(("guest-fsfreeze-freeze", "guest-fsfreeze-thaw")):
            continue
        result = ask(ch, out, cmd["name"])
        schema.args._check_for(entity["ret-type"])(result, None, "")  # raises on a wrong shape
        checked += 1
    assert checked > 15


def test_power_policies() -> None:
    # ignore: the power button does nothing, a shutdown command (the agent's) still powers off
    m, ch, _, events, clock = make(power="ignore")
    m.system_powerdown()
    advance(m, clock, 1.0)
    assert not any(n == "SHUTDOWN" for n, _ in events)
    ch.feed(b'{"execute":"guest-shutdown"}')
    advance(m, clock, 1.0)
    assert ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}) in events
    # hang: the shutdown starts (the agent stops: VSERPORT_CHANGE closed), never powers off
    m, ch, _, events, clock = make(power="hang")
    m.system_powerdown()
    advance(m, clock, 1.0)
    assert events[-1] == ("VSERPORT_CHANGE", {"id": "channel0", "open": False})
    assert not any(n == "SHUTDOWN" for n, _ in events)
    # delay: powers off that much later; switched live
    m, ch, _, events, clock = make()
    m.guest.set_power("delay:500")
    m.system_powerdown()
    advance(m, clock, 0.4)
    assert not any(n == "SHUTDOWN" for n, _ in events)
    advance(m, clock, 0.2)
    assert ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}) in events


def test_vcpu_threads_end_with_the_machine() -> None:
    m, _, _, _, _ = make(smp=2)
    tids = [cpu["thread-id"] for cpu in m.cpus.query_cpus_fast()]
    assert len(set(tids)) == 2 and all(os.path.exists(f"/proc/self/task/{t}") for t in tids)
    m.close()
    assert threads_exit(os.getpid(), tids)
