"""The VM's memory regions as QEMU 7.2's memory API holds them (what HMP ``info mtree`` prints).

The board's own regions are recorded from QEMU (tools/record_mtree.py writes fakeqemu/data/mtree.json, read
when first needed). The PCI parts are derived from the functions' configuration space, as QEMU's
pci_update_mappings and pci_bridge_update_mappings make them: each function's bus-master address space
(its alias of ``system`` enabled by the command register's bus-master bit); each BAR with an address, while
its decoding is on, a priority-1 subregion of its bus's I/O or memory container, named and divided as the
device type's recorded BAR (``bars``); a bridge's or root port's windows, priority-1 aliases of its own
``pci_bridge_io`` / ``pci_bridge_pci`` containers at their base, sized from base and limit while the
command register decodes that space (0 otherwise), into which the BARs behind it go.

Not modelled: regions the firmware or a guest changes on the board itself (PAM, SMRAM, the PM I/O block's
base, q35's MMCONFIG window, kvmvapic's ROM alias), ROM BARs a guest enables, the VGA aliases of bridges.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.core.pciconfig import UNMAPPED, ConfigSpace
from fakeqemu.machine.core.qdev import Device, PCIBus, PCIDevice
from fakeqemu.machine.pci import chipset
from fakeqemu.recorded import document

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

FULL = (1 << 64) - 1
COMMAND_MASTER = 0x4


@functools.cache
def recorded() -> Mapping[str, Any]:
    return document("mtree.json")


class Region:
    """A MemoryRegion: its place in its container, priority, whether enabled, alias, subregions (in
    QEMU's list order: higher priority first, the latest added first among equals)."""

    __slots__ = (
        "addr", "alias", "container", "dev", "enabled", "kind", "last", "name", "nv", "offset", "owner", "prio",
        "qom", "size", "sub",
    )  # fmt: skip

    def __init__(self, name: str, kind: str, addr: int, last: int, prio: int = 0, owner: str = "") -> None:
        self.name, self.kind, self.addr, self.last, self.prio = name, kind, addr, last, prio
        #: its size (``last`` + 1, a region of size 0 aside: both print one byte)
        self.size = last + 1
        #: a container renders nothing of its own, only its subregions (QEMU's ``terminates`` false)
        self.container = False
        #: the device that owns it, for one a user plugged (what a reference to the region holds)
        self.dev: Device | None = None
        #: what ``-o`` prints after the region (`` owner:{dev id=x}``, `` parent:{obj path=...}``)
        self.owner = owner
        self.enabled = True
        self.nv = False
        self.alias: Region | None = None
        self.offset = 0
        self.sub: list[Region] = []
        #: its QOM path, for a container PCI regions go in (what their ``container`` property names)
        self.qom = ""

    def add(self, region: Region) -> None:
        """memory_region_add_subregion_overlap: before the first subregion of no higher priority."""
        for i, other in enumerate(self.sub):
            if region.prio >= other.prio:
                self.sub.insert(i, region)
                return
        self.sub.append(region)

    def type(self) -> str:
        """memory_region_type (an alias: its target's)."""
        return self.alias.type() if self.alias is not None else self.kind


class AddressSpace:
    __slots__ = ("name", "root")

    def __init__(self, name: str, root: Region) -> None:
        self.name, self.root = name, root


def _build(rec: Mapping[str, Any], named: dict[str, Region], aliases: list[tuple[Region, str]]) -> Region:
    r = Region(rec["name"], rec["kind"], rec.get("addr", 0), rec.get("last", 0), rec["prio"], rec.get("owner", ""))
    r.enabled = not rec.get("disabled", False)
    r.nv = bool(rec.get("nv", False))
    r.container = bool(rec.get("container", False))
    if "alias" in rec:
        aliases.append((r, rec["alias"]))
        r.offset = rec["offset"]
    else:
        named.setdefault(r.name, r)
    for sub in rec.get("sub", ()):
        r.sub.append(_build(sub, named, aliases))
    return r


def owner_text(dev: Device) -> str:
    """mtree_expand_owner for a device."""
    return f" owner:{{dev id={dev.id}}}" if dev.id else f" owner:{{dev path={dev.path}}}"


class Bus:
    """A PCI bus's I/O and memory containers (the root bus's: the board's ``io`` and ``pci``)."""

    __slots__ = ("io", "mem")

    def __init__(self, io: Region, mem: Region) -> None:
        self.io, self.mem = io, mem


class Placed:
    """A region a PCI function put into a container (a BAR, a bridge window), for its QOM properties."""

    __slots__ = ("container", "region", "size", "window")

    def __init__(self, region: Region, container: Region, size: int, window: bool) -> None:
        self.region, self.container, self.size, self.window = region, container, size, window


class Layout:
    __slots__ = ("named", "placed", "spaces")

    def __init__(self, named: Mapping[str, Region]) -> None:
        #: the board's regions by name (the first of a name)
        self.named = named
        self.spaces: list[AddressSpace] = []
        #: id(device) -> what it has placed now
        self.placed: dict[int, list[Placed]] = {}

    def put(self, dev: PCIDevice, container: Region, region: Region, size: int, window: bool) -> None:
        container.add(region)
        self.placed.setdefault(id(dev), []).append(Placed(region, container, size, window))


def address_spaces(kind: str, root_bus: PCIBus, memory_mb: int, others: Sequence[Device] = ()) -> list[AddressSpace]:
    """The VM's address spaces now, in QEMU's order of creation where it is fixed (QEMU prints them in
    the order of a hash table of pointers: no order at all across runs). ``others``: the devices off
    PCI a user or the command line added (ISA ones)."""
    return layout(kind, root_bus, memory_mb, others).spaces


def of_machine(machine: Machine) -> Layout | None:
    """The VM's regions as the firmware has left them by now (None: a machine without PCI)."""
    host, board = machine.pci_host, machine.board
    if host is None or board is None:
        return None
    machine.pci_now()
    others = [d for bus in board.buses() if not isinstance(bus, PCIBus) for d in bus.devices if not d.shared]
    return layout(host.kind, host.root_bus, machine.config.memory_mb, others)


def layout(kind: str, root_bus: PCIBus, memory_mb: int, others: Sequence[Device] = ()) -> Layout:
    board = recorded()["boards"][kind]
    named: dict[str, Region] = {}
    aliases: list[tuple[Region, str]] = []
    out = Layout(named)
    spaces = out.spaces
    for block in board["spaces"]:
        root = _build(block["root"], named, aliases)
        spaces += [AddressSpace(name, root) for name in block["names"]]
    order = board["order"]
    spaces.sort(key=lambda s: order.index(s.name) if s.name in order else len(order))  # as QEMU made them
    for name, rec in board["regions"].items():
        if name not in named:
            named[name] = _build(rec, named, aliases)
    for region, target in aliases:
        region.alias = named[target]
    _ram(kind, named, memory_mb)
    system = named["system"]
    io = next(s.root for s in spaces if s.name == "I/O")
    devices: list[PCIDevice] = []
    for root in (io, named["pci"]):  # their QOM parent is the -o text's: /machine/unattached
        root.qom = root.owner.partition("path=")[2].rstrip("}") + f"/{root.name}[0]"
    _bus(root_bus, Bus(io, named["pci"]), devices, out)
    for other in others:
        _fixed(other, named, {})
    for dev in devices:
        if dev.pci_function is not None and dev.type in PM_BLOCKS:
            _pm_blocks(dev.type, dev.pci_function.config_read, named, io)
        if dev.pci_function is not None:
            _chipset(dev.type, dev.pci_function.config_read, named, board.get("placed", {}))
    for dev in sorted(devices, key=lambda d: d.created):  # as realized (the board's own first)
        spaces.append(AddressSpace(dev.type, _bus_master(dev, system)))
    return out


def low_memory(kind: str, size: int) -> int:
    """How much RAM sits below 4 GiB (pc_init1's gigabyte-aligned 3 GiB once RAM reaches 3.5 GiB;
    pc_q35_init's 2 GiB once it reaches 2.75 GiB)."""
    if kind == "q35":
        return size if size < 0xB0000000 else 0x80000000
    return size if size < 0xE0000000 else 0xC0000000


def _ram(kind: str, named: dict[str, Region], memory_mb: int) -> None:
    """-m: pc.ram, its alias below 4 GiB and the rest above 4 GiB (pc_memory_init), and on q35 the TSEG
    regions, placed at the top of low memory (mch_update_smram, TSEG still off)."""
    size = memory_mb << 20
    ram, system = named.get("pc.ram"), named["system"]
    below = next((r for r in walk(system) if r.name == "ram-below-4g"), None)
    if ram is None or below is None or ram.size == size:
        return
    low = low_memory(kind, size)
    ram.last, below.last = size - 1, low - 1
    ram.size, below.size = size, low
    if size > low:
        above = Region("ram-above-4g", below.kind, 1 << 32, size - low - 1, below.prio, below.owner)
        above.alias, above.offset = ram, low
        system.add(above)
    for region in (*walk(system), *walk(named.get("smram", system))):
        if region.name in ("tseg-blackhole", "tseg-window"):
            region.addr = low
            if region.alias is not None:
                region.offset = low


#: the power-management function's I/O blocks that its configuration registers place: the region, the base
#: register and its mask, the enable register and bit (pm_io_space_update, smbus_io_space_update,
#: ich9_lpc_pmbase_sci_update: ICH9's block sits at 0, disabled, while ACPI is off)
PM_BLOCKS: dict[str, tuple[tuple[str, int, int, int, int], ...]] = {
    "PIIX4_PM": (("piix4-pm", 0x40, 0xFFC0, 0x80, 0x01), ("pm-smbus", 0x90, 0xFFC0, 0xD2, 0x01)),
    "ICH9-LPC": (("ich9-pm", 0x40, 0xFF80, 0x44, 0x80),),
}


def _pm_blocks(dtype: str, read: Callable[[int, int], int], named: dict[str, Region], io: Region) -> None:
    for name, base_reg, mask, enable_reg, bit in PM_BLOCKS[dtype]:
        region = named.get(name)
        if region is None or region not in io.sub:
            continue
        on = bool(read(enable_reg, 1) & bit)
        base = read(base_reg, 4) & mask
        if dtype == "ICH9-LPC":
            base = base if on else 0
            on = base != 0
        io.sub.remove(region)  # memory_region_set_address: deleted and added again
        region.addr, region.enabled = base, on
        io.add(region)


def _chipset(dtype: str, read: Callable[[int, int], int], named: dict[str, Region], placed: Mapping[str, Any]) -> None:
    """What the host bridge's and LPC's registers map: q35's MMCONFIG window (PCIEXBAR,
    pcie_host_mmcfg_update), ICH9's root complex register block (RCBA, ich9_lpc_rcba_update), the
    i440FX's SMRAM (its SMRAM register's G_SMRAME and D_OPEN, i440fx_update_memory_mappings)."""
    if dtype == "mch":
        base, length = chipset.mmconfig(read(0x60, 4) | read(0x64, 4) << 32)
        if length:
            _place(named, placed, "pcie-mmcfg-mmio", base, length)
    elif dtype == "ICH9-LPC":
        rcba = read(0xF0, 4)
        if rcba & 1:
            _place(named, placed, "lpc-rcrb-mmio", rcba & 0xFFFFC000, None)
    elif dtype == "i440FX" and "smram" in named:
        smram = read(0x72, 1)
        named["smram"].enabled = bool(smram & 0x08)
        for region in walk(named["system"]):
            if region.name == "smram-region":
                region.enabled = not smram & 0x40


def _place(named: dict[str, Region], placed: Mapping[str, Any], name: str, addr: int, size: int | None) -> None:
    rec = placed.get(name)
    container = named.get(rec["container"]) if rec is not None else None
    if rec is None or container is None:
        return
    r = rec["region"]
    last = r["last"] if size is None else size - 1
    region = Region(r["name"], r["kind"], addr, last, r["prio"], r["owner"])
    region.container = bool(r.get("container", False))
    container.add(region)


def _bus_master(dev: PCIDevice, system: Region) -> Region:
    owner = owner_text(dev)
    root = Region("bus master container", "i/o", 0, FULL, 0, owner)
    root.container = True
    alias = Region("bus master", "i/o", 0, FULL, 0, owner)
    alias.alias = system
    fn = dev.pci_function
    alias.enabled = fn is not None and bool(fn.config.u16(0x04) & COMMAND_MASTER)
    root.add(alias)
    return root


def _bus(bus: PCIBus, containers: Bus, devices: list[PCIDevice], out: Layout) -> None:
    """Each function on ``bus`` (in plug order, as realized), its BARs and, for a bridge, its windows and
    what is behind them."""
    for dev in bus.pci_devices:
        devices.append(dev)
        fn = dev.pci_function
        config = None if fn is None else fn.config  # never looked at: its reset state, nothing decoded
        if dev.pci_child_buses:
            behind = _windows(dev, config, containers, out)
        made: dict[str, Region] = {}
        if config is not None:
            _bars(dev, config, containers, out, made)
        _fixed(dev, out.named, made)
        for sub in dev.pci_child_buses:
            _bus(sub, behind, devices, out)


def _windows(dev: PCIDevice, config: ConfigSpace | None, parent: Bus, out: Layout) -> Bus:
    """pci_bridge_region_init: pref_mem, mem and io aliases into the parent bus, in that order."""
    owner = owner_text(dev)
    mem = Region("pci_bridge_pci", "i/o", 0, FULL, 0, owner)
    io = Region("pci_bridge_io", "i/o", 0, 0xFFFFFFFF, 0, owner)
    mem.qom, io.qom = f"{dev.path}/pci_bridge_pci[0]", f"{dev.path}/pci_bridge_io[0]"
    mem.container = io.container = True
    command = 0 if config is None else config.u16(0x04)
    ranges = ((0, 0xFFF), (0, 0xFFFFF), (0, 0xFFFFF)) if config is None else config.ranges()
    (io_base, io_limit), mem_range, pref_range = ranges
    for name, target, container, (base, limit), on in (
        ("pci_bridge_pref_mem", mem, parent.mem, pref_range, command & 2),
        ("pci_bridge_mem", mem, parent.mem, mem_range, command & 2),
        ("pci_bridge_io", io, parent.io, (io_base, io_limit), command & 1),
    ):
        size = limit + 1 - base if on and limit >= base else 0
        alias = Region(name, "i/o", base, size - 1 if size else 0, 1, owner)
        alias.alias, alias.offset, alias.size = target, base, size
        out.put(dev, container, alias, size, True)
    return Bus(io, mem)


def _bars(dev: PCIDevice, config: ConfigSpace, bus: Bus, out: Layout, made: dict[str, Region]) -> None:
    """pci_update_mappings: each decoded BAR as the device type's recorded region, priority 1 (or as the
    device's model lays them out for its properties: ``bar_templates``)."""
    templates = _templates(dev)
    for bar in config.bars():
        if bar.address == UNMAPPED:
            continue
        rec = templates.get(str(bar.index))
        if rec is None:
            continue  # a device type without a recording: its BARs are not shown
        region = _from_template(rec, bar.address, bar.size - 1, dev, made, rec)
        out.put(dev, bus.io if bar.io else bus.mem, region, bar.size, False)


def _fixed(dev: Device, named: Mapping[str, Region], made: dict[str, Region]) -> None:
    """The regions the device adds at realize that are not BARs (VGA's legacy ranges, ISA ports)."""
    rec = recorded()["fixed"].get(dev.type)
    if rec is None:
        return
    shift = 0
    for prop, recorded_base in rec.get("port", {}).items():  # isa-serial index=1 sits at 0x2f8, ...
        shift = int(dev.get(prop)) - int(recorded_base)
    for place in rec["places"]:
        container = named.get(place["container"])
        if container is not None:
            region = place["region"]
            moved = region["addr"] + (shift if place["container"] == "io" else 0)
            container.add(_from_template(region, moved, region["last"], dev, made, rec["targets"]))


def _from_template(
    rec: Mapping[str, Any], addr: int, last: int, dev: Device, made: dict[str, Region], targets: Mapping[str, Any]
) -> Region:
    """A device's region (and its subregions) from its recording; ``made`` names the device's regions so
    far, for an alias whose target is another of them (rtl8139's memory BAR aliases its I/O BAR's region,
    cirrus's banks its VRAM BAR); ``targets``: the recorded regions an alias may point at instead."""
    owner = rec["owner"].replace("{dev}", dev.path) if "owner" in rec else owner_text(dev)
    region = Region(rec["name"], rec["kind"], addr, last, rec["prio"], owner)
    region.dev = None if "owner" in rec else dev
    region.enabled = not rec.get("disabled", False)
    region.nv = bool(rec.get("nv", False))
    region.container = bool(rec.get("container", False))
    made.setdefault(rec["name"], region)
    for sub in rec.get("sub", ()):
        region.sub.append(_from_template(sub, sub["addr"], sub["last"], dev, made, targets))
    if "alias" in rec:
        target = made.get(rec["alias"])
        if target is None:
            t = targets["target"] if "target" in targets else targets[rec["alias"]]
            target = _from_template(t, 0, t["last"], dev, made, targets)
        region.alias, region.offset = target, rec["offset"]
    return region


#: the memory-region properties a PCI function's mapping changes
QOM_PROPERTIES = frozenset({"addr", "priority", "container", "size"})


WINDOWS = frozenset({"pci_bridge_pref_mem", "pci_bridge_mem", "pci_bridge_io"})


def may_place(dev: PCIDevice, child: str) -> bool:
    """Whether the region QOM names ``child`` under ``dev`` can be a BAR or window of ``dev`` (a cheap
    test before the whole layout is worked out)."""
    stem = child.rpartition("[")[0]
    if dev.pci_child_buses and stem in WINDOWS:
        return True
    return any(rec["name"] == stem for rec in _templates(dev).values())


def _templates(dev: Device) -> Mapping[str, Any]:
    """BAR index -> its region's recorded form: the device model's own layout (``bar_templates``), else the
    device type's recording."""
    own = getattr(dev.model, "bar_templates", None)
    templates: Mapping[str, Any] = own() if own is not None else recorded()["bars"].get(dev.type, {})
    return templates


def qom_property(lay: Layout, dev: PCIDevice, child: str, recorded_value: Callable[[str], Any], prop: str) -> Any:
    """``prop`` of the memory region QOM names ``child`` under ``dev`` while ``dev`` has it placed (a BAR:
    the one of that name and recorded size; a bridge window: the alias, recorded with priority 1), as
    QEMU's memory-region getters answer; None when it is not placed (the recorded value stands: a BAR
    never mapped, or, not modelled, one unmapped again, whose address and priority QEMU keeps)."""
    stem = child.rpartition("[")[0]
    for p in lay.placed.get(id(dev), ()):
        if p.region.name != stem:
            continue
        if p.window != (recorded_value("priority") == 1):  # windows are added at realize, priority 1
            continue
        if not p.window and recorded_value("size") != p.size:
            continue
        values = {"addr": p.region.addr, "priority": p.region.prio, "container": p.container.qom, "size": p.size}
        return values[prop]
    return None


# ------------------------------------------------------------------------------------- flat views


class FlatRange:
    __slots__ = ("mr", "offset", "size", "start")

    def __init__(self, mr: Region, start: int, size: int, offset: int) -> None:
        self.mr, self.start, self.size, self.offset = mr, start, size, offset


def flat_root(mr: Region | None) -> Region | None:
    """memory_region_get_flatview_root: past an alias that covers all of its target and a container whose
    only enabled subregion covers it; None when nothing is enabled."""
    while mr is not None and mr.enabled:
        if mr.alias is not None:
            if not mr.offset and mr.size >= mr.alias.size:
                mr = mr.alias
                continue
        elif mr.container:
            enabled = [c for c in mr.sub if c.enabled]
            if not enabled:
                return None
            if len(enabled) == 1 and not enabled[0].addr and mr.size >= enabled[0].size:
                mr = enabled[0]
                continue
        return mr
    return None


def flatten(root: Region) -> list[FlatRange]:
    """generate_memory_topology: render_memory_region from ``root`` over the whole 64-bit space, then
    flatview_simplify."""
    view: list[FlatRange] = []
    _render(view, root, 0, 0, 1 << 64)
    out: list[FlatRange] = []
    for r in view:
        last = out[-1] if out else None
        if (
            last is not None
            and last.mr is r.mr
            and last.start + last.size == r.start
            and last.offset + last.size == r.offset
        ):
            last.size += r.size
        else:
            out.append(r)
    return out


def _render(view: list[FlatRange], mr: Region, base: int, clip_start: int, clip_end: int) -> None:
    """render_memory_region (``clip_end`` exclusive): subregions in list order (priority first), then the
    region itself into the gaps they left."""
    if not mr.enabled:
        return
    base += mr.addr
    start, end = max(base, clip_start), min(base + mr.size, clip_end)
    if start >= end:
        return
    if mr.alias is not None:
        _render(view, mr.alias, base - mr.alias.addr - mr.offset, start, end)
        return
    for sub in sorted(mr.sub, key=lambda r: -r.prio):  # stable: QEMU's list, by priority
        _render(view, sub, base, start, end)
    if mr.container:
        return
    offset, pos, remain = start - base, start, end - start
    i = 0
    while i < len(view) and remain:
        r = view[i]
        if pos >= r.start + r.size:
            i += 1
            continue
        if pos < r.start:
            now = min(remain, r.start - pos)
            view.insert(i, FlatRange(mr, pos, now, offset))
            i += 1
            pos, offset, remain = pos + now, offset + now, remain - now
        r = view[i]
        now = min(pos + remain, r.start + r.size) - pos
        pos, offset, remain = pos + now, offset + now, remain - now
        i += 1
    if remain:
        view.insert(i, FlatRange(mr, pos, remain, offset))


def walk(region: Region) -> Iterator[Region]:
    yield region
    for sub in region.sub:
        yield from walk(sub)
