"""HMP commands people type that are QMP commands underneath (QEMU's hmp_* wrappers): stop/s, cont/c,
system_reset, system_powerdown, quit/q, device_add, device_del, qom-list, qom-get, info kvm, info chardev,
info cpus. Output as QEMU 7.2
prints it (measured): nothing on success, ``Error: DESC`` for a QMP error, and QEMU's argument errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fakeqemu.commands import dispatch
from fakeqemu.commands.devicehelp import device_help
from fakeqemu.commands.hmp_args import C_SPACE, ArgError, get_str, missing, one_word, usage, valid_id
from fakeqemu.commands.hmp_help import crlf, device_list
from fakeqemu.commands.registry import COMMANDS, Context
from fakeqemu.machine.devices.watchdog import ACTIONS as WATCHDOG_ACTIONS
from fakeqemu.protocols.qemuopts import split_opts
from fakeqemu.qmp.encode import encode
from fakeqemu.qmp.errors import QMPError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

HmpHandler = Callable[["Machine", str], str]


def _call(machine: Machine, name: str, args: dict[str, Any]) -> Any:
    return COMMANDS[name].handler(Context(machine), args)


def _simple(name: str) -> HmpHandler:
    """A command without arguments whose HMP form prints only an error."""

    def run(machine: Machine, args: str) -> str:
        try:
            _call(machine, name, {})
        except QMPError as exc:
            return f"Error: {exc.desc}\r\n"
        return ""

    return run


def hmp_device_del(machine: Machine, args: str) -> str:
    dev_id = args.split()[0] if args.split() else ""
    if not dev_id:
        return missing("device_del")
    try:
        _call(machine, "device_del", {"id": dev_id})
    except QMPError as exc:
        return f"Error: {exc.desc}\r\n"
    return ""


_HELP = ("help", "?")


def hmp_device_add(machine: Machine, args: str) -> str:
    """The argument is -device's QemuOpts (``driver`` implied): ``help`` lists the devices, ``DRIVER,help``
    its properties (device-list-properties), otherwise device_add with the string values."""
    try:
        text = one_word("device_add", args)
    except ArgError as exc:
        return str(exc)
    opts = split_opts(text, implied="driver") if text else {}
    dev_id = opts.get("id")
    if dev_id is not None and not valid_id(dev_id):
        return usage("device_add")  # the opts parser refused it (its message goes to stderr)
    driver = opts.get("driver")
    try:
        if driver in _HELP:
            return device_list()
        if driver is not None and any(k in _HELP for k in opts):
            text, error = device_help(driver)  # qdev_device_help, as -device DRIVER,help
            return crlf(text if error is None else error + "\n")
        dispatch.run(Context(machine, monitor="hmp"), "device_add", dict(opts))
    except QMPError as exc:
        return f"Error: {exc.desc}\r\n"
    return ""


def hmp_qom_list(machine: Machine, args: str) -> str:
    words = args.split()
    if not words:
        return "/\r\n"  # hmp_qom_list without a path prints the root's name only
    try:
        props = _call(machine, "qom-list", {"path": words[0]})
    except QMPError as exc:
        return f"Error: {exc.desc}\r\n"
    return "".join(f"{p['name']} ({p['type']})\r\n" for p in props)


def hmp_qom_get(machine: Machine, args: str) -> str:
    words = args.split()
    if len(words) < 2:
        return missing("qom-get")
    try:
        value = _call(machine, "qom-get", {"path": words[0], "property": words[1]})
    except QMPError as exc:
        return f"Error: {exc.desc}\r\n"
    if isinstance(value, dict | list):
        return f"{_pretty(value)}\r\n"
    return f"{encode(value)}\r\n"


def _pretty(value: Any, indent: str = "") -> str:
    """qobject_to_json_pretty: four spaces per level, QEMU's key order (fakeqemu.qmp.encode for scalars)."""
    inner = indent + "    "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{encode(k)}: {_pretty(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + _pretty(v, inner) for v in value) + "\n" + indent + "]"
    return encode(value)


def info_kvm(machine: Machine, args: str) -> str:
    return f"kvm support: {'enabled' if machine.config.accel == 'kvm' else 'disabled'}\r\n"


def info_chardev(machine: Machine, args: str) -> str:
    return "".join(f"{c['label']}: filename={c['filename']}\r\n" for c in _call(machine, "query-chardev", {}))


def info_cpus(machine: Machine, args: str) -> str:
    """hmp_info_cpus: '*' marks the monitor's CPU (the first, as each human-monitor-command has its own)."""
    out = []
    for n, cpu in enumerate(_call(machine, "query-cpus-fast", {})):
        mark = "*" if n == 0 else " "
        out.append(f"{mark} CPU #{cpu['cpu-index']}: thread_id={cpu['thread-id']}\r\n")
    return "".join(out)


def hmp_watchdog_action(machine: Machine, args: str) -> str:
    """hmp_watchdog_action: the action, lowercased; QEMU's enum parse error for another word."""
    try:
        word = one_word("watchdog_action", args)
    except ArgError as exc:
        return str(exc)
    if not word:
        return missing("watchdog_action")
    action = word.lower()
    if action not in WATCHDOG_ACTIONS:
        return f"Error: invalid parameter value: {word}\r\n"
    _call(machine, "watchdog-set-action", {"action": action})
    return ""


def _password_args(cmd: str, args: str, required: int) -> tuple[list[str], str | None]:
    """The string arguments of set_password / expire_password: ``required`` words, then ``-d DISPLAY`` and (for
    set_password) the connected action, as QEMU's argument parser reads them."""
    words: list[str] = []
    display: str | None = None
    rest = args
    try:
        while rest.strip(C_SPACE):
            word, rest = get_str(rest)
            if word == "-d" and len(words) >= required:
                display, rest = get_str(rest)
            else:
                words.append(word)
    except ArgError:
        raise ArgError(usage(cmd)) from None
    if len(words) < required:
        raise ArgError(missing(cmd))
    if len(words) > required + (1 if cmd == "set_password" else 0):
        raise ArgError(f"{cmd}: extraneous characters at the end of line\r\n" + usage(cmd))
    return words, display


def _hmp_qmp(machine: Machine, name: str, args: dict[str, Any]) -> str:
    try:
        _call(machine, name, args)
    except QMPError as exc:
        return f"Error: {exc.desc}\r\n"
    return ""


def hmp_set_password(machine: Machine, args: str) -> str:
    """hmp_set_password: the connected action, then the protocol, parsed as QAPI enums."""
    try:
        words, display = _password_args("set_password", args, 2)
    except ArgError as exc:
        return str(exc)
    protocol, password = words[0], words[1]
    connected = words[2] if len(words) > 2 else "keep"
    for value, allowed in ((connected, ("keep", "disconnect", "fail")), (protocol, ("vnc", "spice"))):
        if value not in allowed:
            return f"Error: invalid parameter value: {value}\r\n"
    qmp: dict[str, Any] = {"protocol": protocol, "password": password}
    if len(words) > 2:
        qmp["connected"] = connected
    if display is not None and protocol == "vnc":
        qmp["display"] = display
    out = _hmp_qmp(machine, "set_password", qmp)
    vnc_without_auth = machine.config.vnc_address is not None and machine.vnc_auth.kind == "none"
    if out and protocol == "vnc" and connected == "keep" and display in (None, "default") and vnc_without_auth:
        # vnc_display_password's error_printf_unless_qmp, which a human monitor shows
        out = "If you want use passwords please enable password auth using '-vnc ${dpy},password'.\r\n" + out
    return out


def hmp_expire_password(machine: Machine, args: str) -> str:
    try:
        words, display = _password_args("expire_password", args, 2)
    except ArgError as exc:
        return str(exc)
    if words[0] not in ("vnc", "spice"):
        return f"Error: invalid parameter value: {words[0]}\r\n"
    qmp: dict[str, Any] = {"protocol": words[0], "time": words[1]}
    if display is not None and words[0] == "vnc":
        qmp["display"] = display
    return _hmp_qmp(machine, "expire_password", qmp)


def register(hmp_commands: dict[str, HmpHandler], info_commands: dict[str, HmpHandler]) -> None:
    for names, qmp in ((("stop", "s"), "stop"), (("cont", "c"), "cont"), (("quit", "q"), "quit")):
        for name in names:
            hmp_commands[name] = _simple(qmp)
    hmp_commands["system_reset"] = _simple("system_reset")
    hmp_commands["system_powerdown"] = _simple("system_powerdown")
    hmp_commands["device_add"] = hmp_device_add
    hmp_commands["device_del"] = hmp_device_del
    hmp_commands["qom-list"] = hmp_qom_list
    hmp_commands["qom-get"] = hmp_qom_get
    hmp_commands["watchdog_action"] = hmp_watchdog_action
    hmp_commands["set_password"] = hmp_set_password
    hmp_commands["expire_password"] = hmp_expire_password
    info_commands["kvm"] = info_kvm
    info_commands["chardev"] = info_chardev
    info_commands["cpus"] = info_cpus
