"""QEMU 7.2's own harness (python/qemu/machine) drives an emulator: launch with QEMUMachine's defaults,
hot-plug and unplug with event_wait, the qtest machine writing the eject register, the console, shutdown."""

from __future__ import annotations

import json
import sys
from typing import Any

from qemu.machine import QEMUMachine
from qemu.machine.qtest import QEMUQtestMachine

binary, sock_dir = sys.argv[1], sys.argv[2]
out: list[Any] = []


def strip(event: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in event.items() if k != "timestamp"} if event else event


vm = QEMUMachine(binary, args=["-M", "pc", "-S"], sock_dir=sock_dir, name="plain")
vm.set_console()
vm.launch()
out.append(vm.qmp("query-status"))
out.append(vm.qmp("device_add", driver="virtio-net-pci", id="net0", addr="0x5"))
out.append(vm.qmp("query-pci")["return"][0]["devices"][-1]["qdev_id"])
out.append(vm.console_socket is not None)  # connects to the console chardev
vm.shutdown()
out.append(vm.exitcode())

vm = QEMUQtestMachine(binary, args=["-M", "pc"], sock_dir=sock_dir, name="qt")
vm.launch()
out.append(vm.qmp("device_add", driver="virtio-net-pci", id="net0", addr="0x5"))
out.append(vm.qmp("device_del", id="net0"))
out.append(vm.qtest("outl 0xae08 0x20"))
out.append(strip(vm.event_wait("DEVICE_DELETED", timeout=10, match={"data": {"device": "net0"}})))
out.append(vm.qmp("query-pci")["return"][0]["devices"][-1]["qdev_id"])
vm.shutdown()
out.append(vm.exitcode())
print(json.dumps(out))
