"""``-device help`` and ``-device TYPE,help`` (and HMP ``device_add help``, ``device_add TYPE,help``): what
QEMU 7.2 prints (qdev_device_help), from its recorded output (fakeqemu/data/device-help.json,
tools/record_device_help.py), read only when asked."""

from __future__ import annotations

from typing import Any


def is_help(word: str | None) -> bool:
    """QEMU's is_help_option."""
    return word in ("help", "?")


def wants_help(opts: dict[str, str]) -> bool:
    """Whether a QemuOpts-syntax ``-device`` asks for help: ``help``/``?`` as the driver lists every
    device; a ``help``/``?`` key (any value: qemu_opt_has_help_opt) beside a driver lists its properties."""
    return is_help(opts.get("driver")) or ("driver" in opts and any(is_help(key) for key in opts))


def device_help(driver: str) -> tuple[str, str | None]:
    """What ``-device DRIVER,help`` (or ``-device help``) prints: (stdout text, error for stderr or None).
    QEMU exits 0 either way."""
    import json  # here: the json module is not loaded at start-up

    from fakeqemu import data_text

    data: dict[str, Any] = json.loads(data_text("device-help.json"))
    if is_help(driver):
        return data["list"], None
    if driver not in data["devices"] and driver not in data["others"]:
        driver = data["aliases"].get(driver, driver)  # find_typename_by_alias, only for an unknown name
    text = listing(data, driver)
    if text is not None:
        return text, None
    if driver in data["others"]:
        return "", "Parameter 'typename' expects a non-abstract device type"
    return "", f"Device '{driver}' not found"


def listing(data: dict[str, Any], driver: str) -> str | None:
    """A device type's property listing rebuilt from the recorded file; None for a type it has not."""
    body = data["devices"].get(driver)
    if body is None:
        return None
    text = "".join(data["lines"][i] + "\n" for i in data["bodies"][body])
    return first_line(driver, text) + text


def first_line(driver: str, body: str) -> str:
    """The listing's first line: ``DRIVER options:``, or QEMU's words for a driver without properties."""
    return f"{driver} options:\n" if body else f"There are no options for {driver}.\n"
