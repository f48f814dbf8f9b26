"""The guest model acts through the registers: what it leaves behind is what QEMU would show."""

from __future__ import annotations

from hpfakes import Board, attach, plug

from fakeqemu.machine.guest.hotplug import Guest


def make(policy: str = "auto", qtest: bool = False, paused: bool = False) -> tuple[Board, Guest]:
    b = Board("pc", qtest=qtest, guest=policy, paused=paused)
    b.done()
    g = Guest(b.machine, b.hp)
    attach(b.machine, "guest", g)
    return b, g


def test_auto_is_passive_under_qtest() -> None:
    b, g = make(qtest=True, paused=True)
    assert g.effective_policy == "passive" and not g.booted
    assert b.machine.ioports.read(0xAFE2, 2) == 0  # GPE enable untouched, as QEMU under qtest
    n1 = plug(b.machine, b.root, 5 << 3, "n1")
    assert b.hp is not None
    b.hp.unplug_request(b.root, n1)
    assert n1.parent_bus is not None and b.machine.ioports.read(0xAE04, 4) == 0x20


def test_prompt_ejects_and_clears_gpe() -> None:
    b, _g = make("prompt")
    assert b.machine.ioports.read(0xAFE2, 2) == 0x0002
    n1 = plug(b.machine, b.root, 5 << 3, "n1")
    assert b.machine.ioports.read(0xAFE0, 2) == 0  # handled the "up" event
    assert b.hp is not None
    b.hp.unplug_request(b.root, n1)
    assert n1.parent_bus is None
    assert b.machine.ioports.read(0xAE04, 4) == 0 and b.machine.ioports.read(0xAFE0, 2) == 0
    b.advance(0.02)
    assert b.deleted()[-1] == {"device": "n1", "path": "/machine/peripheral/n1"}


def test_delay_never_refuse() -> None:
    b, g = make("delay:500")
    assert b.hp is not None
    n1 = plug(b.machine, b.root, 5 << 3, "n1")
    b.hp.unplug_request(b.root, n1)
    assert n1.parent_bus is not None and b.machine.ioports.read(0xAFE0, 2) == 0
    b.advance(0.4)
    assert n1.parent_bus is not None
    b.advance(0.2)
    assert n1.parent_bus is None

    g.set_policy("never")
    n2 = plug(b.machine, b.root, 6 << 3, "n2")
    b.hp.unplug_request(b.root, n2)
    b.advance(5)
    assert n2.parent_bus is not None and b.machine.ioports.read(0xAFE0, 2) == 2
    assert b.machine.ioports.read(0xAE04, 4) == 0x40

    b.machine.ioports.write(0xAFE0, 2, 2)
    g.set_policy("refuse")
    b.hp.unplug_request(b.root, n2)
    assert n2.parent_bus is not None
    assert b.machine.ioports.read(0xAFE0, 2) == 0  # acknowledged
    assert b.machine.ioports.read(0xAE04, 4) == 0x40  # but never ejected


def test_per_device_policy_overrides() -> None:
    b, g = make("prompt")
    assert b.hp is not None
    n1 = plug(b.machine, b.root, 5 << 3, "n1")
    g.set_policy("never", "n1")
    b.hp.unplug_request(b.root, n1)
    assert n1.parent_bus is not None
    n2 = plug(b.machine, b.root, 6 << 3, "n2")
    b.hp.unplug_request(b.root, n2)
    assert n2.parent_bus is None
    assert g.describe()["devices"] == [{"id": "n1", "policy": "never"}]


def test_paused_guest_acts_on_resume() -> None:
    b, _g = make("prompt", paused=True)
    assert b.hp is not None
    n1 = plug(b.machine, b.root, 5 << 3, "n1")
    b.hp.unplug_request(b.root, n1)
    assert n1.parent_bus is not None
    b.machine.cont()
    assert n1.parent_bus is None


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
