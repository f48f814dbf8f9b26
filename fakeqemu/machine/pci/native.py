"""Native hotplug of a bridge's secondary bus: a PCIe port's slot (QEMU 7.2's hw/pci/pcie.c pcie_cap_slot_*)
or a conventional bridge's SHPC.

A PCIe port is the hotplug handler of its bus where ACPI does not take it: a hot-added port, every port
of a q35 machine type whose ICH9 has ``acpi-pci-hotplug-with-bridge-support`` off (pc-q35 <= 6.0), and
ports when ACPI is off. Its slot registers live in the port's configuration space (PCI Express capability:
slot capabilities, control and status, link status) and do what QEMU's do:

- plug: presence detected (PDS) and the data link up (DLLLA); a hot-plug also signals presence detect
  changed and attention button pressed (PDC, ABP);
- device_del: refused when the slot is not hot-plug capable (HPC), electromechanically locked, or its power
  indicator blinks (the guest is busy); otherwise the device's unplug is pending for 5 s of virtual time (a
  repeated device_del before then is "already in the process of unplug"); a slot whose power controller and
  power indicator are off unplugs at once, any other gets the attention button pressed (ABP) for the guest;
- the guest powers the slot off (power controller off with the power indicator off) in the slot control
  register: every function behind it is unplugged, presence and link go down, PDC is set; each control
  write completes a command (CC); status bits are write-1-to-clear;
- a system reset powers a populated slot on with its indicator on, an empty one off.

The guest model (fakeqemu.machine.guest.hotplug) answers the slot as Linux's pciehp does.

A conventional bridge's SHPC (its registers and its slots) is fakeqemu.machine.pci.shpc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakeqemu.machine.core.qdev import PCIBus, PCIDevice
from fakeqemu.machine.pci.shpc import Shpc
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.compat import HotplugCompat
    from fakeqemu.machine.core.pciconfig import ConfigSpace

CAP_ID_EXP = 0x10
CAP_ID_VNDR = 0x09
CAPABILITY_LIST = 0x34
#: QEMU's resource reserve capability (pci_bridge_qemu_reserve_cap_init): type 1, 0x20 bytes (bus, I/O,
#: memory, prefetchable 32 and 64; all ones where nothing is asked)
RESERVE_CAP_AT, RESERVE_CAP_LEN, RESERVE_CAP_TYPE = 0x90, 0x20, 0x01
GEN_PCIE_ROOT_DEFAULT_IO_RANGE = 0x1000
#: offsets in the PCI Express capability
LNKCAP, LNKSTA, SLTCAP, SLTCTL, SLTSTA = 0x0C, 0x12, 0x14, 0x18, 0x1A
LNKCAP2 = 0x2C
#: the link capabilities of a 3.1 root port below its port number: 2.5 GT/s, x1, L0s
GEN1_LNKCAP = 0x0411
LNKSTA_DLLLA = 0x2000
#: the link a device behind the port trains to (measured: 2.5 GT/s, x1)
LNKSTA_DEVICE = 0x0011
SLTCAP_PCP, SLTCAP_HPS, SLTCAP_HPC = 0x02, 0x20, 0x40
SLTCTL_PIC, SLTCTL_PCC, SLTCTL_EIC = 0x0300, 0x0400, 0x0800
PIC_ON, PIC_BLINK, PIC_OFF = 0x0100, 0x0200, 0x0300
AIC_OFF = 0x00C0
#: the control bits pcie_cap_slot_reset clears (EIC, PIC, AIC and the interrupt enables)
SLTCTL_RESET = 0x0800 | 0x0300 | 0x00C0 | 0x0020 | 0x0010 | 0x0008 | 0x0001
ABP, PDC, CC, PDS, EIS = 0x01, 0x08, 0x10, 0x40, 0x80
#: the status bits a guest write of 1 clears (PCI_EXP_HP_EV_SUPPORTED)
W1C = ABP | PDC | CC
#: events pcie_cap_slot_write_config restores when a guest clears bits that were not set
SLOT_EVENTS = ABP | 0x02 | 0x04 | PDC | CC
#: the child a bridge with a standard hotplug controller has (shpc_init's MMIO region)
SHPC_REGION = "shpc-mmio[0]"
#: the pending-unplug window of a PCIe slot (pending_deleted_expires_ms), virtual ms
UNPLUG_WINDOW_MS = 5000


def express_cap(config: ConfigSpace) -> int | None:
    return next((off for cap, off in config.capabilities() if cap == CAP_ID_EXP), None)


class PcieSlot:
    """The slot registers of one PCIe port: its hotplug handler (of its secondary bus) and the claimant of
    configuration writes to its slot control and status (the port function's ``model``)."""

    def __init__(self, port: PCIDevice, native_hotplug: bool, gen1: bool = False) -> None:
        self.port = port
        given = dict(port.user_props)
        if "x-native-hotplug" in given:
            native_hotplug = bool(given["x-native-hotplug"])
        globals_: dict[str, object] = {}
        if not native_hotplug:
            globals_["x-native-hotplug"] = False
            if port.type == "pcie-root-port":
                globals_["io-reserve"] = GEN_PCIE_ROOT_DEFAULT_IO_RANGE
        if gen1:
            globals_.update({"x-speed": "2_5", "x-width": "1"})
        for name, value in globals_.items():  # the machine type's globals, as qom-get and info qtree show
            if name not in given:  # them (a -device value wins)
                port.user_props[name] = value
                port.set_own(name, value)
        #: the port's link is QEMU 3.1's (x-speed=2_5, x-width=1)
        self.gen1 = gen1
        #: x-native-hotplug: the slot says it is hot-plug capable (a hot-added port always does)
        self.native_hotplug = native_hotplug or port.hotplugged
        port.model = self
        if port.pci_function is not None:
            port.pci_function.model = self

    def realize_config(self, config: ConfigSpace) -> None:
        """The port's configuration space as QEMU builds it (from the recorded 7.2 one, whose slot is
        hot-plug capable and which has no resource reserve capability): a slot without native hotplug is not
        hot-plug capable, and the root port reserves 4 KiB of I/O for ACPI hotplug behind it
        (gen_pcie_root_port: QEMU's resource reserve capability, placed at 0x90 first in the list, measured
        on pc-q35-6.1); a 3.1 link is 2.5 GT/s x1 with no data link layer reporting and no link
        capabilities 2 (measured on pc-q35-3.1)."""
        exp = express_cap(config)
        assert exp is not None
        if self.gen1 and self.port.type == "pcie-root-port":
            config.patch(exp + LNKCAP, (GEN1_LNKCAP | config.u32(exp + LNKCAP) & 0xFF000000).to_bytes(4, "little"))
            config.patch(exp + LNKSTA, LNKSTA_DEVICE.to_bytes(2, "little"))
            config.patch(exp + LNKCAP2, bytes(8))  # and link control 2
        if self.native_hotplug:
            return
        sltcap = config.u32(exp + SLTCAP) & ~(SLTCAP_HPS | SLTCAP_HPC)
        config.patch(exp + SLTCAP, sltcap.to_bytes(4, "little"))
        if self.port.type == "pcie-root-port" and not any(cap == CAP_ID_VNDR for cap, _ in config.capabilities()):
            head = config.u8(CAPABILITY_LIST)
            cap = bytes([CAP_ID_VNDR, head, RESERVE_CAP_LEN, RESERVE_CAP_TYPE])
            cap += b"\xff" * 4 + GEN_PCIE_ROOT_DEFAULT_IO_RANGE.to_bytes(8, "little") + b"\xff" * 16
            config.patch(RESERVE_CAP_AT, cap)
            config.patch(CAPABILITY_LIST, bytes([RESERVE_CAP_AT]))

    # --- registers --------------------------------------------------------------------------------------

    def _config(self) -> tuple[ConfigSpace, int]:
        machine = self.port.machine
        assert machine is not None and machine.pci_host is not None
        config = machine.pci_host.function(self.port).config
        exp = express_cap(config)
        assert exp is not None
        return config, exp

    def _get(self, reg: int, size: int = 2) -> int:
        config, exp = self._config()
        return config.read(exp + reg, size)

    def _set(self, reg: int, value: int) -> None:
        config, exp = self._config()
        config.data[exp + reg : exp + reg + 2] = (value & 0xFFFF).to_bytes(2, "little")

    def _link(self, up: bool) -> None:
        config, exp = self._config()
        if up:  # data link layer active: every PCI device's x-pcie-lnksta-dllla is on for q35's types
            self._set(LNKSTA, LNKSTA_DEVICE | LNKSTA_DLLLA)
        else:
            self._set(LNKSTA, config.initial(exp + LNKSTA, 2))

    def _event(self, bits: int) -> None:
        """pcie_cap_slot_event: set the status bits; the guest hears of it when one was not set yet."""
        old = self._get(SLTSTA)
        self._set(SLTSTA, old | bits)
        if old & bits != bits:
            self._notify()

    def _notify(self) -> None:
        machine = self.port.machine
        guest = getattr(machine, "guest", None) if machine is not None else None
        if guest is not None:
            guest.on_pcie_slot(self)

    @property
    def bus(self) -> PCIBus:
        bus = self.port.pci_child_buses[0]
        assert isinstance(bus, PCIBus)
        return bus

    def populated(self) -> bool:
        return self.bus.find_devfn(0) is not None

    def config_read(self, addr: int, size: int) -> int | None:
        return None

    def config_write(self, addr: int, size: int, value: int) -> bool:
        """pci_bridge_write_config, then pcie_cap_slot_write_config for writes that reach the slot."""
        config, exp = self._config()
        ctl_at, sta_at = exp + SLTCTL, exp + SLTSTA
        old_ctl, old_sta = config.read(ctl_at, 2), config.read(sta_at, 2)
        config.write(addr, size, value)
        written = {addr + i: (value >> (8 * i)) & 0xFF for i in range(size)}
        if sta_at in written or sta_at + 1 in written:  # status: write 1 to clear
            bits = written.get(sta_at, 0) | written.get(sta_at + 1, 0) << 8
            sta = old_sta & ~(bits & W1C)
            if bits & ~old_sta & SLOT_EVENTS:  # a guest clearing bits that were not set: kept
                sta = (sta & ~SLOT_EVENTS) | (old_sta & SLOT_EVENTS)
            self._set(SLTSTA, sta)
        if ctl_at not in written and ctl_at + 1 not in written:
            return True
        val = written.get(ctl_at, 0) | written.get(ctl_at + 1, 0) << 8
        ctl = config.read(ctl_at, 2)
        sta = config.read(sta_at, 2)
        if val & SLTCTL_EIC:  # writable, reads 0; toggles the electromechanical interlock
            self._set(SLTCTL, ctl & ~SLTCTL_EIC)
            sta ^= EIS
            self._set(SLTSTA, sta)
        if (
            sta & PDS
            and val & SLTCTL_PCC
            and val & PIC_OFF == PIC_OFF
            and (not old_ctl & SLTCTL_PCC or old_ctl & PIC_OFF != PIC_OFF)
        ):
            self._do_unplug()
        self._event(CC)
        return True

    # --- HotplugHandler -----------------------------------------------------------------------------------

    def _hpc(self) -> bool:
        return bool(self._get(SLTCAP, 4) & SLTCAP_HPC)

    def _locked(self) -> None:
        if self._get(SLTSTA) & EIS:
            raise GenericError("slot is electromechanically locked: Device or resource busy")

    def pre_plug(self, bus: PCIBus, dev: PCIDevice) -> None:
        if dev.hotplugged and not self._hpc():
            raise GenericError(f"Hot-plug failed: unsupported by the port device '{self.port.id or ''}'")
        self._locked()

    def plug(self, bus: PCIBus, dev: PCIDevice, hotplugged: bool) -> None:
        if not hotplugged:
            self._set(SLTSTA, self._get(SLTSTA) | PDS)
            self._link(True)
            return
        if dev.function == 0 or bus.find_devfn(dev.slot << 3) is not None:
            self._set(SLTSTA, self._get(SLTSTA) | PDS)
            self._link(True)
            self._event(PDC | ABP)

    def unplug_request(self, bus: PCIBus, dev: PCIDevice) -> None:
        if not self._hpc():
            raise GenericError(f"Hot-unplug failed: unsupported by the port device '{self.port.id or ''}'")
        self._locked()
        ctl = self._get(SLTCTL)
        if ctl & SLTCTL_PIC == PIC_BLINK:
            raise GenericError("Hot-unplug failed: guest is busy (power indicator blinking)")
        machine = dev.machine
        dev.pending_deleted_event = True
        dev.pending_deleted_expires_ms = (machine.virtual_ms() if machine is not None else 0) + UNPLUG_WINDOW_MS
        if dev.devfn and bus.find_devfn(0) is None:
            dev.unparent()  # a function the guest never saw (no function 0): removed alone
            return
        if ctl & SLTCTL_PIC == PIC_OFF and ctl & SLTCTL_PCC:
            self._do_unplug()  # powered off: no round trip to the guest
            self._notify()
            self._set(SLTSTA, self._get(SLTSTA) & ~ABP)
            return
        self._event(ABP)

    def _do_unplug(self) -> None:
        """pcie_cap_slot_do_unplug: every function behind the port goes; presence and link go down."""
        for fn in reversed(list(self.bus.pci_devices)):
            fn.unparent()
        self._set(SLTSTA, (self._get(SLTSTA) & ~PDS) | PDC)
        self._link(False)

    def bus_reset(self, bus: PCIBus) -> None:
        """pcie_cap_slot_reset (after the port's configuration space was reset)."""
        populated = self.populated()
        ctl = self._get(SLTCTL) & ~SLTCTL_RESET | AIC_OFF
        if self._get(SLTCAP, 4) & SLTCAP_PCP:
            ctl = (ctl & ~SLTCTL_PCC) if populated else (ctl | SLTCTL_PCC)
            ctl |= PIC_ON if populated else PIC_OFF
        self._set(SLTCTL, ctl)
        self._set(SLTSTA, PDS if populated else 0)
        if populated:
            self._link(True)


def native_handler(bridge: PCIDevice, compat: HotplugCompat) -> PcieSlot | Shpc | None:
    """The hotplug controller bridge ``bridge`` brings for its secondary bus: a PCIe port's slot (its
    registers are the port's even where ACPI takes the bus), an SHPC (a pci-bridge's as its machine type
    sets ``shpc``), or none."""
    if bridge.type == "pcie-root-port":
        return PcieSlot(bridge, compat.slot_hpc, compat.root_port_gen1)
    if SHPC_REGION in bridge.children and (bridge.type != "pci-bridge" or compat.bridge_shpc):
        return Shpc(bridge)
    return None
