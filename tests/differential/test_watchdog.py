"""Differential: the watchdogs (ib700, i6300esb) and pvpanic, against QEMU 7.2. No guest runs: the test
plays it with qtest port writes (ib700's 0x443/0x441, i6300esb's configuration registers 0x60/0x68 through
0xcf8/0xcfc, pvpanic's 0x505 and pvpanic-pci's BAR 0), so the WATCHDOG and GUEST_PANICKED events, what
follows them and the run states are compared; the devices' QOM, info qtree and query-pci too."""

from __future__ import annotations

from tests.oracle import (
    Gather,
    Qtest,
    Script,
    Send,
    Stderr,
    Step,
    Sync,
    WaitClose,
    WaitEvent,
    WaitExit,
    call,
    cmd,
    differential_tests,
    reset,
)
from tests.oracle import script as make_script

OK = b'{"return": {}}'
IB700 = ["-device", "ib700,id=wd0"]
ESB = ["-device", "i6300esb,id=wd0,addr=0x4"]
PVPANIC = ["-device", "pvpanic,id=pp0"]
#: the i6300esb at 00:04.0: configuration address of register N
ESB_CF8 = 0x80002000


def looks(dev: str, driver: str) -> list[Step]:
    return [
        *call("query-pci"),
        *call("human-monitor-command", {"command-line": "info qtree"}),
        *call("qom-list", {"path": f"/machine/peripheral/{dev}"}),
        *call("device_add", {"driver": driver, "id": "again"}),
    ]


def fires(action: str, then: list[Step], arm: list[str], extra: list[str] = IB700) -> Script:
    """Set the watchdog action, run, arm the watchdog so that it expires: WATCHDOG and what follows.
    The i6300esb is armed before the VM runs: once it runs, SeaBIOS's own 0xcf8/0xcfc cycles would race
    the test's."""
    early = extra is ESB
    return make_script(
        f"watchdog-{action}-{extra[1].split(',')[0]}",
        *call("watchdog-set-action", {"action": action}),
        *([Qtest(line) for line in arm] if early else []),
        *call("cont"),
        *([] if early else [Qtest(line) for line in arm]),
        WaitEvent("WATCHDOG"),
        *then,
        extra_args=extra,
        must=[
            b'{"timestamp": {"seconds": 0, "microseconds": 0}, "event": "WATCHDOG", "data": {"action": "'
            + action.encode()
            + b'"}}'
        ],
    )


IB700_NOW = ["outb 0x443 0x0f"]  # time_map[15]: 0 seconds
ESB_ARM = [
    # BAR 0 at 0xe0000000, memory decoding on; both stage preloads 1 (the unlock sequence before each), so
    # each stage lasts 1 << 5 ticks of 30 ns at 1 MHz
    f"outl 0xcf8 {ESB_CF8 | 0x10:#x}",
    "outl 0xcfc 0xe0000000",
    f"outl 0xcf8 {ESB_CF8 | 0x04:#x}",
    "outw 0xcfc 0x2",
    *[line for reg in (0x0, 0x4) for line in ("writeb 0xe000000c 0x80", "writeb 0xe000000c 0x86",
                                               f"writel {0xE0000000 + reg:#x} 0x1")],
    f"outl 0xcf8 {ESB_CF8 | 0x60:#x}",
    "outw 0xcfc 0x4",  # 1 MHz clock
    f"outl 0xcf8 {ESB_CF8 | 0x68:#x}",
    "outb 0xcfc 0x2",  # enable
]  # fmt: skip
ESB_READ = [f"outl 0xcf8 {ESB_CF8 | 0x60:#x}", "inw 0xcfc", f"outl 0xcf8 {ESB_CF8 | 0x68:#x}", "inb 0xcfc"]
STATUS = call("query-status")
QUIT: list[Step] = [*call("quit"), WaitClose(), WaitExit(), Stderr()]

SCRIPTS: list[Script] = [
    make_script("ib700-looks-pc", *looks("wd0", "ib700"), extra_args=IB700),
    make_script("ib700-looks-q35", *looks("wd0", "ib700"), machine="q35", extra_args=IB700),
    make_script("i6300esb-looks-pc", *looks("wd0", "i6300esb"), *call("device_del", {"id": "again"}), extra_args=ESB),
    make_script("i6300esb-looks-q35", *looks("wd0", "i6300esb"), machine="q35", extra_args=ESB),
    make_script("pvpanic-looks", *looks("pp0", "pvpanic"), extra_args=PVPANIC),
    make_script(
        "pvpanic-pci-looks-q35",
        *looks("pp0", "pvpanic-pci"),
        machine="q35",
        extra_args=["-device", "pvpanic-pci,id=pp0,addr=0x5"],
    ),
    make_script(
        "watchdog-set-action",
        *call("watchdog-set-action", {"action": "pause"}),
        *call("watchdog-set-action", {"action": "explode"}),
        *call("watchdog-set-action"),
        *call("set-action", {"reboot": "shutdown", "shutdown": "pause", "panic": "none", "watchdog": "debug"}),
        *call("set-action", {"panic": "exit-failure"}),
        *call("set-action", {"panic": "reset"}),
        *call("set-action", {"watchdog": "inject-nmi", "unknown": 1}),
        *call("set-action", {}),
        *[
            step
            for line in ("watchdog_action PAUSE", "watchdog_action bogus", "watchdog_action", "watchdog_action a b")
            for step in call("human-monitor-command", {"command-line": line})
        ],
        must=[
            OK,
            b'{"error": {"class": "GenericError", "desc": "Parameter \'action\' does not accept value \'explode\'"}}',
        ],
    ),
    fires("reset", [WaitEvent("RESET"), *STATUS], IB700_NOW),
    fires("pause", [WaitEvent("STOP"), *STATUS, *call("cont"), *STATUS], IB700_NOW),
    fires("shutdown", [WaitEvent("POWERDOWN"), *STATUS], IB700_NOW),
    fires("debug", [*STATUS, *QUIT], IB700_NOW),
    fires("none", STATUS, IB700_NOW),
    fires("inject-nmi", STATUS, IB700_NOW),
    fires("poweroff", [WaitClose(), WaitExit()], IB700_NOW),
    fires("reset", [WaitEvent("RESET"), *QUIT], ESB_ARM, ESB),
    fires("pause", [WaitEvent("STOP"), *STATUS], ESB_ARM, ESB),
    make_script(
        # armed while the VM has not run: the virtual clock stands still until cont
        "ib700-armed-before-cont",
        Qtest("outb 0x443 0x0f"),
        *STATUS,
        Sync(),
        Send(cmd("cont")),
        Gather(4),  # RESUME, WATCHDOG, RESET and cont's reply, which QEMU sends after or between them
        Qtest("outb 0x443 0x0e"),  # 2 s, disarmed right away: nothing fires
        Qtest("outb 0x441 0x0"),
        Sync(),
        extra_args=IB700,
    ),
    make_script(
        # WATCHDOG is limited to one a second: the first expiry's event comes at once, the second's at the
        # end of the second. The action is none: a reset would restart the firmware, and SeaBIOS, reset
        # early in its POST on a loaded machine, sometimes resets once more (an extra RESET, seen on QEMU)
        "watchdog-rate-limit",
        *call("watchdog-set-action", {"action": "none"}),
        *call("cont"),
        Qtest("outb 0x443 0x0f"),
        WaitEvent("WATCHDOG"),
        Qtest("outb 0x443 0x0f"),
        *STATUS,
        WaitEvent("WATCHDOG"),
        *STATUS,
        extra_args=IB700,
    ),
    make_script(
        "i6300esb-registers",
        *[Qtest(line) for line in ESB_READ],
        Qtest(f"outl 0xcf8 {ESB_CF8 | 0x60:#x}"),
        Qtest("outw 0xcfc 0x25"),
        Qtest(f"outl 0xcf8 {ESB_CF8 | 0x68:#x}"),
        Qtest("outb 0xcfc 0x7"),
        *[Qtest(line) for line in ESB_READ],
        Qtest(f"outl 0xcf8 {ESB_CF8 | 0x68:#x}"),
        Qtest("outb 0xcfc 0x0"),  # locked: stays enabled
        *[Qtest(line) for line in ESB_READ],
        *reset(),
        *[Qtest(line) for line in ESB_READ],
        extra_args=ESB,
    ),
    # pvpanic: a panic by each action (QEMU's run states), a crash kernel loaded, unknown bits
    make_script(
        "pvpanic-default-not-running",
        Qtest("inb 0x505"),
        Qtest("outb 0x505 0x1"),
        WaitEvent("SHUTDOWN"),
        WaitClose(),
        extra_args=PVPANIC,
    ),
    make_script(
        "pvpanic-default",
        *call("cont"),
        Qtest("outb 0x505 0x1"),
        WaitEvent("SHUTDOWN"),
        WaitClose(),
        extra_args=PVPANIC,
    ),
    make_script(
        "pvpanic-exit-failure",
        *call("set-action", {"panic": "exit-failure"}),
        *call("cont"),
        Qtest("outb 0x505 0x1"),
        WaitEvent("SHUTDOWN"),
        WaitClose(),
        WaitExit(),
        extra_args=PVPANIC,
    ),
    make_script(
        "pvpanic-pause",
        *call("set-action", {"panic": "pause"}),
        *call("cont"),
        Qtest("outb 0x505 0x1"),
        WaitEvent("STOP"),
        *STATUS,
        *call("cont"),
        *STATUS,
        extra_args=PVPANIC,
    ),
    make_script(
        "pvpanic-no-shutdown",
        *call("cont"),
        Qtest("outb 0x505 0x3"),
        WaitEvent("STOP"),
        *STATUS,
        extra_args=[*PVPANIC, "-no-shutdown"],
    ),
    make_script(
        "pvpanic-none",
        *call("set-action", {"panic": "none"}),
        *call("cont"),
        Qtest("outb 0x505 0x1"),
        WaitEvent("GUEST_PANICKED"),
        Qtest("outb 0x505 0x2"),
        WaitEvent("GUEST_CRASHLOADED"),
        Qtest("outb 0x505 0x4"),
        *STATUS,
        extra_args=PVPANIC,
    ),
    make_script(
        "pvpanic-ioport",
        Qtest("inb 0x505"),
        Qtest("inb 0x506"),
        *call("set-action", {"panic": "pause"}),
        *call("cont"),
        Qtest("outb 0x506 0x1"),
        WaitEvent("STOP"),
        *STATUS,
        extra_args=["-device", "pvpanic,id=pp0,ioport=0x506,events=1"],
    ),
    make_script(
        # the guest has not run: once it runs, SeaBIOS reassigns the BAR while the test writes it
        "pvpanic-pci-bar",
        Qtest("outl 0xcf8 0x80002810"),
        Qtest("outl 0xcfc 0xe0000000"),
        Qtest("outl 0xcf8 0x80002804"),
        Qtest("outw 0xcfc 0x2"),
        Qtest("readb 0xe0000000"),
        *call("set-action", {"panic": "pause"}),
        Qtest("writeb 0xe0000000 0x1"),
        WaitEvent("GUEST_PANICKED"),
        *STATUS,
        Qtest("writeb 0xe0000000 0x2"),
        WaitEvent("GUEST_CRASHLOADED"),
        extra_args=["-device", "pvpanic-pci,id=pp0,addr=0x5"],
    ),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
