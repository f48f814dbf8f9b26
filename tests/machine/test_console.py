"""The guest's serial console (sans I/O): boot log and login prompt, echo, the password step."""

from __future__ import annotations

from fakeqemu.machine.guest.console import SerialConsole


def test_nothing_before_boot_then_a_login_prompt() -> None:
    c = SerialConsole("vm7")
    assert c.typed(b"root\r") == b""
    out = c.boot()
    assert b"Debian GNU/Linux 12 vm7 ttyS0" in out
    assert out.endswith(b"vm7 login: ")
    assert c.boot() == b""  # it boots once


def test_echo_password_and_login_incorrect() -> None:
    c = SerialConsole("vm7")
    c.boot()
    assert c.typed(b"roo") == b"roo"
    assert c.typed(b"x\x7f") == b"x\x08 \x08"
    assert c.typed(b"t\r") == b"t\r\nPassword: "
    assert c.typed(b"secret\r") == b"\r\n\r\nLogin incorrect\r\nvm7 login: "
    assert c.typed(b"\r") == b"\r\nvm7 login: "
