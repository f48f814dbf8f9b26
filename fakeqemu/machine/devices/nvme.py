"""The NVMe controller's registers as a guest reaches them (hw/nvme/ctrl.c of QEMU 7.2), no command processing.

- BAR 0 (64-bit memory): the 4 KiB controller register block (NvmeBar) as nvme_init_ctrl leaves it (CAP:
  MQES 0x7ff, CQR, TO 0xf, CSS NVM + I/O command sets + admin only, MPSMAX 4, CMBS and PMRS by the
  properties; VS 1.4), the doorbells after it (read as 0), then the MSI-X table and PBA
  (nvme_mbar_size: sizes from max_ioqpairs and msix_qsize). Register reads below 2 bytes are done as
  2 bytes (the region's minimum access), reads past the block read 0. Writes as nvme_write_bar:
  INTMS/INTMC, CC (enable runs nvme_start_ctrl's checks and sets CSTS.RDY or CFS; disable resets the
  controller; shutdown completes at once), AQA/ASQ/ACQ, CMBMSC, PMRCTL, PMRMSCL/U; read-only ones ignored.
- BAR 2 with ``cmb_size_mb``: the controller memory buffer (64-bit prefetchable), plain memory; CMBLOC
  and CMBSZ once CMBMSC.CRE is written (``legacy-cmb``, which sets them at realize, is not accepted: QEMU's
  device-list-properties, which fakeqemu's property table comes from, does not list it).
- BAR 4 with ``pmrdev``: the persistent memory region, the backend's memory (a memory-backend-file with
  share=on: the file itself, as its MAP_SHARED mapping), which answers only while PMRCTL.EN is set (the
  region is disabled otherwise: reads 0, writes dropped). The backend is mapped while the nvme holds it.

The admin and I/O queues are a data path: doorbell writes are accepted and nothing is processed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.core.qom import Obj
from fakeqemu.machine.pci.msix import ENTRY_SIZE
from fakeqemu.qmp.errors import GenericError
from fakeqemu.qmp.ghash import StrHashTable

if TYPE_CHECKING:
    from fakeqemu.machine.core.pciconfig import ConfigSpace
    from fakeqemu.machine.core.qdev import Device
    from fakeqemu.machine.devices.dimm import MemoryBackend
    from fakeqemu.machine.machine import Machine

MiB = 1 << 20
BAR_BLOCK = 0x1000  # sizeof(NvmeBar)
DB_SIZE = 4
CMB_BIR, PMR_BIR = 2, 4
SPEC_VER = 0x00010400
#: register offsets (enum NvmeBarRegs)
CAP, VS, INTMS, INTMC, CC, CSTS, NSSR, AQA, ASQ, ACQ = 0x0, 0x8, 0xC, 0x10, 0x14, 0x1C, 0x20, 0x24, 0x28, 0x30
CMBLOC, CMBSZ, CMBMSC, CMBSTS = 0x38, 0x3C, 0x50, 0x58
PMRCAP, PMRCTL, PMRSTS, PMREBS, PMRSWTP, PMRMSCL, PMRMSCU = 0xE00, 0xE04, 0xE08, 0xE0C, 0xE10, 0xE14, 0xE18
CSTS_READY, CSTS_FAILED, CSTS_SHST_COMPLETE = 1, 2, 2 << 2
CAP_CSS = 0x01 | 0x40 | 0x80  # NVM, I/O command set specific, admin only
#: the identify controller's SQES / CQES (6 and 4 for both minimum and maximum)
SQES, CQES = 6, 4
PMRSTS_NRDY = 1 << 8
PCI_MEM_64_PREFETCH = 0x4 | 0x8
PCI_MEM_64 = 0x4
MAX_IOQPAIRS = 0xFFFF
MSIX_QSIZE_MAX = 0x7FF + 1


def check_params(machine: Machine, device: Device, given: Mapping[str, Any]) -> None:
    """nvme_check_params, as far as fakeqemu models the properties (no subsystems, no SR-IOV): QEMU's
    errors in its order. A PMR backend that passes its own checks stays mapped even when a later check
    fails, as in QEMU."""
    props = device.user_props
    queues = int(props.get("num_queues", 0) or 0)
    ioqpairs = queues - 1 if queues else int(props.get("max_ioqpairs", 64))
    if not 1 <= ioqpairs <= MAX_IOQPAIRS:
        raise GenericError(f"max_ioqpairs must be between 1 and {MAX_IOQPAIRS}")
    if not 1 <= int(props.get("msix_qsize", 65)) <= MSIX_QSIZE_MAX:
        raise GenericError(f"msix_qsize must be between 1 and {MSIX_QSIZE_MAX}")
    if "serial" not in given:
        raise GenericError("serial property not set")
    backend = pmr_backend(machine, device)
    if backend is not None:
        if props.get("msix-exclusive-bar"):
            raise GenericError("not enough BARs available to enable PMR")
        if backend.mapped_by is not None:
            raise GenericError(f"can't use already busy memdev: {backend.id}")
        if backend.size & (backend.size - 1):
            raise GenericError("pmr backend size needs to be power of 2 in size")
        backend.mapped_by = device
    if int(props.get("zoned.zasl", 0)) > int(props.get("mdts", 7)):
        raise GenericError(
            "zoned.zasl (Zone Append Size Limit) must be less than or equal to mdts (Maximum Data Transfer Size)"
        )
    if not int(props.get("vsl", 7)):
        raise GenericError("vsl must be non-zero")


def pmr_backend(machine: Machine, device: Device) -> MemoryBackend | None:
    name = device.user_props.get("pmrdev")
    return None if not name else machine.memdevs.backends.get(str(name).removeprefix("/objects/"))


def _pow2ceil(value: int) -> int:
    return 1 << (value - 1).bit_length()


def _align(value: int, to: int) -> int:
    return -(-value // to) * to


def mbar_layout(queues: int, irqs: int) -> tuple[int, int, int]:
    """nvme_mbar_size: (BAR 0 size, MSI-X table offset, PBA offset)."""
    size = _align(BAR_BLOCK + 2 * queues * DB_SIZE, 4096)
    table = size
    size = _align(size + ENTRY_SIZE * irqs, 4096)
    pba = size
    size += _align(irqs, 64) // 8
    return _pow2ceil(size), table, pba


class Nvme:
    """One nvme device: its register block, MSI-X table, CMB and PMR."""

    def __init__(self, machine: Machine, device: Device) -> None:
        props = device.user_props
        self.device = device
        queues = int(props.get("num_queues", 0) or 0)
        self.max_ioqpairs = queues - 1 if queues else int(props.get("max_ioqpairs", 64))
        #: MSI-X vectors: the table and PBA in BAR 0 are the PCI function's (fakeqemu.machine.pci.msix)
        self.msix_entries = int(props.get("msix_qsize", 65))
        self.bar0_size, self.table_offset, self.pba_offset = mbar_layout(self.max_ioqpairs + 1, self.msix_entries)
        self.cmb_size = int(props.get("cmb_size_mb", 0)) * MiB
        self.cmb = bytearray(self.cmb_size)
        #: the PMR: the backend's memory (check_params mapped it to this device)
        self.pmr = pmr_backend(machine, device)
        self.pmr_size = 0 if self.pmr is None else self.pmr.size
        self.pmr_enabled = False
        self.regs = bytearray(BAR_BLOCK)
        self.cmb_cmse = False
        self._realize()
        self._regions_qom()

    # --- realize -------------------------------------------------------------------------------------

    def _realize(self) -> None:
        """nvme_init_pci (CMB and PMR registers) and nvme_init_ctrl (CAP, VS)."""
        if self.pmr is not None:
            # RDS, WDS, BIR 4, PMRWBM bit 1, CMSS
            self._set(PMRCAP, 4, (1 << 3) | (1 << 4) | (PMR_BIR << 5) | (0x2 << 10) | (1 << 24))
        cap = 0x7FF | (1 << 16) | (0xF << 24) | (CAP_CSS << 37) | (4 << 52)
        cap |= (1 if self.pmr is not None else 0) << 56
        cap |= (1 if self.cmb_size else 0) << 57
        self._set(CAP, 8, cap)
        self._set(VS, 4, SPEC_VER)

    def _regions_qom(self) -> None:
        """The memory-region children as nvme_init_pci sizes them, and the CMB's (``nvme-cmb[0]``); the
        instance property table (these, the bus named after the id, bootindex, smart_critical_warning) in
        qom-list as GLib's hash table orders it, inserted in the order QEMU adds them."""
        dev = self.device
        sizes = {
            "nvme-bar0[0]": self.bar0_size,
            "nvme[0]": self.table_offset,
            "msix-table[0]": ENTRY_SIZE * self.msix_entries,
            "msix-pba[0]": _align(self.msix_entries, 64) // 8,
        }
        for name, size in sizes.items():
            child = dev.children.get(name)
            if child is not None and not child.shared and child.get("size") != size:
                child.set_own("size", size)
        template = dev.children.get("nvme-bar0[0]")
        bus = next((p[0] for p in dev.props if p[1] == "child<nvme-bus>"), None)
        if template is None or bus is None:
            return
        # instance_init's, do_pci_register_device's container, realize's bus and regions; the bus-master
        # alias right after the container when hot-added, at machine-done (after realize) when cold-plugged
        created = ["bootindex", "smart_critical_warning", "bus master container[0]"]
        created += ["bus master[0]"] if dev.hotplugged else []
        created += [bus, "nvme-bar0[0]", "nvme[0]", "msix-table[0]", "msix-pba[0]"]
        if self.cmb_size:
            values = {"type": "memory-region", "container": "", "addr": 0, "size": self.cmb_size, "priority": 0}
            dev.add_child("nvme-cmb[0]", Obj("memory-region", template.props, values), listed=False)
            created.append("nvme-cmb[0]")
        created += [] if dev.hotplugged else ["bus master[0]"]

        types = {p[0]: p[1] for p in dev.props} | {"nvme-cmb[0]": "child<memory-region>"}
        rest = [(p[0], p[1]) for p in dev.props if p[0] not in created]
        dev.props = [*rest, *((name, types[name]) for name in reversed(list(StrHashTable(created))))]

    def realize_config(self, config: ConfigSpace) -> None:
        """The BARs and the MSI-X capability as nvme_init_pci registers them for the properties."""
        config.register_bar(0, PCI_MEM_64, self.bar0_size)
        for cap_id, off in config.capabilities():
            if cap_id == 0x11:
                control = config.u16(off + 2) & ~0x7FF | (self.msix_entries - 1)
                config.set_initial(off + 2, 2, control)
                config.set_initial(off + 4, 4, self.table_offset)
                config.set_initial(off + 8, 4, self.pba_offset)
        if self.cmb_size:
            config.register_bar(CMB_BIR, PCI_MEM_64_PREFETCH, self.cmb_size)
        if self.pmr is not None:
            config.register_bar(PMR_BIR, PCI_MEM_64_PREFETCH, self.pmr_size)

    def bar_templates(self) -> dict[str, Any]:
        """The regions behind each BAR as info mtree shows them (fakeqemu.machine.pci.regions' recorded
        form): BAR 0's register block, MSI-X table and PBA at nvme_mbar_size's offsets, the CMB, and the
        PMR backend's RAM while PMRCTL.EN enables it."""

        def io(name: str, addr: int, size: int) -> dict[str, Any]:
            return {"addr": addr, "kind": "i/o", "last": size - 1, "name": name, "prio": 0}

        pba = _align(self.msix_entries, 64) // 8
        subs = [
            io("nvme", 0, self.table_offset),
            io("msix-table", self.table_offset, ENTRY_SIZE * self.msix_entries),
            io("msix-pba", self.pba_offset, pba),
        ]
        out: dict[str, Any] = {"0": {"kind": "i/o", "name": "nvme-bar0", "prio": 1, "sub": subs}}
        if self.cmb_size:
            out[str(CMB_BIR)] = {"kind": "i/o", "name": "nvme-cmb", "prio": 1}
        if self.pmr is not None and self.pmr_enabled:
            owner = f" owner:{{obj path={self.pmr.path}}}"
            out[str(PMR_BIR)] = {"kind": "ram", "name": self.pmr.id, "prio": 1, "owner": owner}
        return out

    def _cmb_enable_regs(self) -> None:
        self._set(CMBLOC, 4, self._get(CMBLOC, 4) | (1 << 6) | (1 << 5) | CMB_BIR)
        sz = 1 | (1 << 2) | (1 << 3) | (1 << 4) | (2 << 8) | ((self.cmb_size // MiB) << 12)
        self._set(CMBSZ, 4, self._get(CMBSZ, 4) | sz)

    def _get(self, off: int, size: int) -> int:
        return int.from_bytes(self.regs[off : off + size], "little")

    def _set(self, off: int, size: int, value: int) -> None:
        self.regs[off : off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    # --- reset ---------------------------------------------------------------------------------------

    def reset(self) -> None:
        """nvme_pci_reset (nvme_ctrl_reset; the PCI core resets the MSI-X table)."""
        self._ctrl_reset()

    def _ctrl_reset(self) -> None:
        for off in (CSTS, INTMS, INTMC, CC):
            self._set(off, 4, 0)

    def remove(self) -> None:
        """nvme_exit: the PMR backend is free again."""
        if self.pmr is not None:
            self.pmr.mapped_by = None

    # --- BARs ----------------------------------------------------------------------------------------

    def bar_read(self, bar: int, offset: int, size: int) -> int:
        if bar == 0:
            # the MSI-X table and PBA above the registers are answered by the function's MSI-X
            return self._mmio_read(offset, size) if offset < self.table_offset else 0
        if bar == CMB_BIR and self.cmb_size:
            return _load(self.cmb, offset, size)
        if bar == PMR_BIR and self.pmr is not None and self.pmr_enabled and offset < self.pmr_size:
            n = min(size, self.pmr_size - offset)
            return int.from_bytes(self.pmr.read(offset, n), "little")
        return 0

    def bar_write(self, bar: int, offset: int, size: int, value: int) -> None:
        if bar == 0:
            if offset < min(self.table_offset, BAR_BLOCK):
                self._write_bar(offset, max(size, 2), value)
        elif bar == CMB_BIR and self.cmb_size:
            _store(self.cmb, offset, size, value)
        elif bar == PMR_BIR and self.pmr is not None and self.pmr_enabled and offset < self.pmr_size:
            n = min(size, self.pmr_size - offset)
            self.pmr.write(offset, value.to_bytes(size, "little")[:n])

    def _mmio_read(self, offset: int, size: int) -> int:
        """nvme_mmio_read: accesses narrower than 2 bytes are made 2 bytes wide (the region's minimum)."""
        wide = max(size, 2)
        if offset > BAR_BLOCK - wide:
            return 0
        return self._get(offset, wide) & ((1 << (8 * size)) - 1)

    def _write_bar(self, offset: int, size: int, data: int) -> None:
        """nvme_write_bar."""
        cap = self._get(CAP, 8)
        cmbs, pmrs = cap >> 57 & 1, cap >> 56 & 1  # the CMB and PMR registers only with the feature
        if offset == INTMS:
            self._set(INTMS, 4, self._get(INTMS, 4) | data)
            self._set(INTMC, 4, self._get(INTMS, 4))
        elif offset == INTMC:
            self._set(INTMS, 4, self._get(INTMS, 4) & ~data)
            self._set(INTMC, 4, self._get(INTMS, 4))
        elif offset == CC:
            self._write_cc(data)
        elif offset == AQA:
            self._set(AQA, 4, data)
        elif offset in (ASQ, ACQ):
            self._set(offset, size, data)
        elif offset in (ASQ + 4, ACQ + 4, CMBMSC + 4):
            self._set(offset, 4, data)
        elif offset == CMBMSC and cmbs:
            self._write_cmbmsc(size, data)
        elif offset == PMRCTL and pmrs:
            self._set(PMRCTL, 4, data)
            self.pmr_enabled = bool(data & 1)
            self._set(PMRSTS, 4, 0 if self.pmr_enabled else self._get(PMRSTS, 4) | PMRSTS_NRDY)
        elif offset == PMRMSCL and pmrs:
            self._write_pmrmscl(data)
        elif offset == PMRMSCU and pmrs:
            self._set(PMRMSCU, 4, data)

    def _write_cc(self, data: int) -> None:
        cc = self._get(CC, 4)
        csts = self._get(CSTS, 4)
        self._set(CC, 4, data)
        shn, old_shn = (data >> 14) & 3, (cc >> 14) & 3
        if shn and not old_shn:
            csts = (csts & ~(3 << 2)) | CSTS_SHST_COMPLETE
        elif not shn and old_shn:
            csts &= ~(3 << 2)
        if data & 1 and not cc & 1:
            csts = CSTS_READY if self._start_ok() else CSTS_FAILED
        elif not data & 1 and cc & 1:
            self._ctrl_reset()
            return
        self._set(CSTS, 4, csts)

    def _start_ok(self) -> bool:
        """nvme_start_ctrl's checks (no queue exists before the controller starts)."""
        cap, cc, aqa = self._get(CAP, 8), self._get(CC, 4), self._get(AQA, 4)
        mps = (cc >> 7) & 0xF
        page = 1 << (mps + 12)
        iosqes, iocqes = (cc >> 16) & 0xF, (cc >> 20) & 0xF
        return not (
            self._get(ASQ, 8) & (page - 1)
            or self._get(ACQ, 8) & (page - 1)
            or not (cap >> 37) & 0xFF & (1 << ((cc >> 4) & 7))
            or mps < (cap >> 48) & 0xF
            or mps > (cap >> 52) & 0xF
            or not CQES <= iocqes <= CQES
            or not SQES <= iosqes <= SQES
            or not aqa & 0xFFF
            or not (aqa >> 16) & 0xFFF
        )

    def _write_cmbmsc(self, size: int, data: int) -> None:
        self._set(CMBMSC, size, data)
        self.cmb_cmse = False
        if data & 1:
            self._cmb_enable_regs()
            if data & 2:
                cba = (self._get(CMBMSC, 8) >> 12 & ((1 << 52) - 1)) << 12
                if cba + self.cmb_size >= 1 << 64:
                    self._set(CMBSTS, 4, self._get(CMBSTS, 4) | 1)
                    return
                self.cmb_cmse = True
        else:
            self._set(CMBSZ, 4, 0)
            self._set(CMBLOC, 4, 0)

    def _write_pmrmscl(self, data: int) -> None:
        self._set(PMRMSCL, 4, data)
        if data & 2 and self.pmr is not None:
            cba = self._get(PMRMSCU, 4) << 32 | ((data >> 12) & 0xFFFFF) << 12
            if cba + self.pmr_size >= 1 << 64:
                self._set(PMRSTS, 4, self._get(PMRSTS, 4) | 1 << 12)


def _load(buf: bytearray, offset: int, size: int) -> int:
    return int.from_bytes(buf[offset : offset + size], "little")


def _store(buf: bytearray, offset: int, size: int, value: int) -> None:
    end = min(offset + size, len(buf))
    if offset < end:
        buf[offset:end] = value.to_bytes(size, "little")[: end - offset]
