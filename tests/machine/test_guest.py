"""The guest model acts through the registers: what it leaves behind is what QEMU would show. It acts on
the next tick (``advance()``), never inside the command that raised the SCI."""

from __future__ import annotations

from fakeqemu.machine.guest.hotplug import Guest
from tests.machine.rig import Rig


def make(policy: str = "auto", qtest: bool = False, paused: bool = False) -> tuple[Rig, Guest]:
    b = Rig("pc", qtest=qtest, guest=policy, paused=paused)
    return b, b.machine.guest


def test_auto_is_passive_under_qtest() -> None:
    b, g = make(qtest=True, paused=True)
    assert g.effective_policy == "passive" and not g.booted
    assert b.read(0xAFE2, 2) == 0  # GPE enable untouched, as QEMU under qtest
    n1 = b.add("n1", "0x5")
    b.delete("n1")
    b.advance(1)
    assert b.plugged(n1) and b.read(0xAE04) == 0x20


def test_prompt_ejects_on_the_next_tick_and_clears_gpe() -> None:
    b, _g = make("prompt")
    assert b.read(0xAFE2, 2) == 0x0006  # PCI (bit 1) and CPU (bit 2) hotplug enabled
    n1 = b.add("n1", "0x5")
    assert b.read(0xAFE0, 2) == 0x0002  # raised; the guest has not run yet
    b.advance()
    assert b.read(0xAFE0, 2) == 0  # handled the "up" event
    b.delete("n1")
    # device_del returns (its reply is queued) before the guest sees the SCI
    assert b.plugged(n1) and b.read(0xAE04) == 0x20
    b.advance()
    assert not b.plugged(n1)
    assert b.read(0xAE04) == 0 and b.read(0xAFE0, 2) == 0
    assert b.deleted() == []  # finalize waits for the RCU grace period
    b.advance(0.02)
    assert b.deleted() == [
        {"path": "/machine/peripheral/n1/virtio-backend"},
        {"device": "n1", "path": "/machine/peripheral/n1"},
    ]


def test_delay_never_refuse() -> None:
    b, g = make("delay:500")
    n1 = b.add("n1", "0x5")
    b.delete("n1")
    b.advance()
    assert b.plugged(n1) and b.read(0xAFE0, 2) == 0
    b.advance(0.4)
    assert b.plugged(n1)
    b.advance(0.2)
    assert not b.plugged(n1)

    g.set_policy("never")
    n2 = b.add("n2", "0x6")
    b.delete("n2")
    b.advance(5)
    assert b.plugged(n2) and b.read(0xAFE0, 2) == 2
    assert b.read(0xAE04) == 0x40

    b.write(0xAFE0, 2, 2)
    g.set_policy("refuse")
    b.hp.send_event()  # the SCI again (a repeated device_del is refused while the first is pending)
    b.advance()
    assert b.plugged(n2)
    assert b.read(0xAFE0, 2) == 0  # acknowledged
    assert b.read(0xAE04) == 0x40  # but never ejected


def test_per_device_policy_overrides() -> None:
    b, g = make("prompt")
    n1 = b.add("n1", "0x5")
    g.set_policy("never", "n1")
    b.delete("n1")
    b.advance()
    assert b.plugged(n1)
    n2 = b.add("n2", "0x6")
    b.delete("n2")
    b.advance()
    assert not b.plugged(n2)
    assert g.describe()["devices"] == [{"id": "n1", "policy": "never"}]


def test_paused_guest_acts_on_resume() -> None:
    b, _g = make("prompt", paused=True)
    n1 = b.add("n1", "0x5")
    b.delete("n1")
    b.advance()
    assert b.plugged(n1)
    b.machine.cont()
    b.advance()
    assert not b.plugged(n1)


def test_powerdown_shuts_down_after_reply() -> None:
    b, _g = make("prompt")
    b.machine.system_powerdown()
    assert [n for n, _ in b.events] == ["POWERDOWN"]
    b.advance(0.1)
    assert b.events[-1] == ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})


def test_passive_guest_ignores_powerdown() -> None:
    b, _g = make(qtest=True)
    b.machine.system_powerdown()
    b.advance(1)
    assert [n for n, _ in b.events] == ["POWERDOWN"]
