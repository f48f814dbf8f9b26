"""Memory hot(un)plug: memory backends under /objects, pc-dimm devices, the device-memory region.

``-m SIZE,slots=N,maxmem=MAX`` gives the board a device-memory region at the first GiB boundary above 4 GiB
(above the RAM that sits there) of ``MAX - SIZE`` bytes plus 1 GiB per slot (hw/i386/pc.c), and the ACPI
memory hotplug block N slots (fakeqemu.machine.acpi.memhp). ``object-add``/``-object`` of a
memory-backend-ram or -file makes a QOM object under /objects; ``device_add pc-dimm,memdev=ID`` takes the
first free slot and the lowest free address (hw/mem/pc-dimm.c, hw/mem/memory-device.c), with QEMU's checks
and errors in QEMU's order. ``device_del`` asks the guest through the hotplug block; the guest's eject
unplugs the DIMM (its slot and address are free again, its backend can be deleted), then unparent,
finalize and DEVICE_DELETED. The backends hold no memory: they are descriptions.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.acpi.memhp import AcpiMemHp
from fakeqemu.machine.config import size_bytes
from fakeqemu.machine.core.qdev import Device
from fakeqemu.machine.core.qom import Obj
from fakeqemu.qmp.errors import DeviceNotFound, GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

GiB = 1 << 30
#: alignment of a memory-backend-ram's region (QEMU_VMALLOC_ALIGN on x86_64 Linux) and of a file's
RAM_ALIGN = 2 << 20
PAGE = 4096
ACPI_MAX_RAM_SLOTS = 256
BACKEND_TYPES = ("memory-backend-ram", "memory-backend-file")
DIMM_TYPE = "pc-dimm"
#: pc-dimm's qom-list (QEMU 7.2)
DIMM_PROPS = (
    ("type", "string"),
    ("parent_bus", "link<bus>"),
    ("realized", "bool"),
    ("hotplugged", "bool"),
    ("hotpluggable", "bool"),
    ("memdev", "link<memory-backend>"),
    ("node", "uint32"),
    ("addr", "uint64"),
    ("legacy-memdev", "str"),
    ("slot", "int32"),
    ("size", "uint64"),
)
#: memory-backend-file's own properties, listed after the common ones and before its region
FILE_PROPS = (
    ("readonly", "bool"),
    ("align", "int"),
    ("pmem", "bool"),
    ("mem-path", "string"),
    ("discard-data", "bool"),
)
#: pc-dimm's typed properties as device_add checks them
DIMM_PROP_TYPES = {"memdev": "link<memory-backend>", "node": "uint32", "addr": "uint64", "slot": "int32"}


class MemoryBackend(Obj):
    """A memory-backend-ram/-file object; ``mapped_by`` is the device that maps it (host_memory_backend_is_mapped:
    a pc-dimm, an nvme's PMR)."""

    __slots__ = ("_cow", "_ram", "align", "id", "mapped_by", "options", "size")

    def __init__(self, template: Obj, qom_type: str, backend_id: str, options: dict[str, Any]) -> None:
        props = [(p[0], p[1]) for p in template.props if not p[1].startswith("child<")]
        if qom_type == "memory-backend-file":
            props.extend(FILE_PROPS)
        props.append((f"{backend_id}[0]", "child<memory-region>"))
        size = int(options["size"])
        values = {**template.values, **{k: v for k, v in options.items() if k in template.values}}
        values.update({"type": qom_type, "size": size})
        if qom_type == "memory-backend-file":
            values.update({"readonly": bool(options.get("readonly", False)), "align": int(options.get("align", 0)),
                           "pmem": bool(options.get("pmem", False)), "mem-path": str(options["mem-path"]),
                           "discard-data": bool(options.get("discard-data", False))})  # fmt: skip
        super().__init__(qom_type, props, values)
        self.id = backend_id
        self.size = size
        self.options = options
        self.mapped_by: Device | None = None
        #: the memory's bytes where a guest reaches them (an nvme's PMR): made on first use
        self._ram: bytearray | None = None
        #: a private file mapping's written pages
        self._cow: dict[int, bytearray] = {}
        file_align = int(options.get("align", 0) or 0)
        self.align = RAM_ALIGN if qom_type == "memory-backend-ram" else max(PAGE, file_align)
        region = template.children.get(f"{template.name}[0]")
        if region is not None:
            mr = Obj(region.type, region.props, {**region.values, "size": size})
            self.add_child(f"{backend_id}[0]", mr)

    # --- the memory's contents, for a device that maps the backend into guest space --------------------

    def _path(self) -> str | None:
        """The file the backend maps (a memory-backend-file whose mem-path is not a directory)."""
        path = str(self.values.get("mem-path", ""))
        return path if self.type == "memory-backend-file" and not os.path.isdir(path) else None

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset``, as the mapping shows them: a RAM backend's memory (zeroed); a file's
        bytes, except the pages a private (share=off) mapping has written, which are its own copies."""
        path = self._path()
        if path is None:
            return bytes(self._memory()[offset : offset + size])
        out = bytearray(_file_read(path, offset, size))
        for i in range(size):
            page = self._cow.get((offset + i) // PAGE)
            if page is not None:
                out[i] = page[(offset + i) % PAGE]
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        path = self._path()
        if path is None:
            self._memory()[offset : offset + len(data)] = data
        elif self.options.get("share"):
            with open(path, "r+b") as f:  # MAP_SHARED: the file itself
                f.seek(offset)
                f.write(data)
        else:
            for i, byte in enumerate(data):  # MAP_PRIVATE: copy on write, page by page
                n = (offset + i) // PAGE
                page = self._cow.get(n)
                if page is None:
                    page = self._cow[n] = bytearray(_file_read(path, n * PAGE, PAGE))
                page[(offset + i) % PAGE] = byte

    def _memory(self) -> bytearray:
        if self._ram is None:
            self._ram = bytearray(self.size)
        return self._ram


def _file_read(path: str, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size).ljust(size, b"\0")


class Dimm(Device):
    """A pc-dimm: its slot in the hotplug block, its guest-physical address, its backend."""

    __slots__ = ("addr", "memdev", "node", "slot")

    def __init__(self, memdev: MemoryBackend, addr: int, slot: int, node: int, hotplugged: bool) -> None:
        values = {"type": DIMM_TYPE, "parent_bus": "", "realized": True, "hotplugged": hotplugged,
                  "hotpluggable": True, "memdev": memdev.path, "node": node, "addr": addr, "slot": slot,
                  "size": memdev.size}  # fmt: skip
        errors = {"legacy-memdev": {"desc": "Property 'pc-dimm.legacy-memdev' is not readable"}}
        super().__init__(DIMM_TYPE, DIMM_PROPS, values, errors)
        self.hotplugged = hotplugged
        self.memdev = memdev
        self.addr = addr
        self.slot = slot
        self.node = node

    @property
    def size(self) -> int:
        return self.memdev.size

    def info(self) -> dict[str, Any]:
        """query-memory-devices' PCDIMMDeviceInfo."""
        data: dict[str, Any] = {
            "memdev": self.memdev.path,
            "hotplugged": self.hotplugged,
            "addr": self.addr,
            "hotpluggable": True,
            "size": self.size,
            "slot": self.slot,
            "node": self.node,
        }
        if self.id is not None:
            data["id"] = self.id
        return {"type": "dimm", "data": data}


def cli_object(opts: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """An ``-object memory-backend-*`` option as object-add's (qom-type, id, properties): sizes in the
    key=value syntax may carry a suffix (K, M, G, T), as QEMU's size properties take them."""
    props = {k: v for k, v in opts.items() if k not in ("qom-type", "id")}
    for key in ("size", "align"):
        text = props.get(key)
        if isinstance(text, str):
            try:
                props[key] = size_bytes(text)
            except ValueError:
                raise GenericError(f"Parameter '{key}' expects a size") from None
    for key in ("share", "prealloc", "merge", "dump", "reserve"):
        if isinstance(props.get(key), str):
            props[key] = props[key] in ("on", "yes", "true", "y")
    return str(opts.get("qom-type", "")), str(opts.get("id", "")), props


def above_4g_ram(machine_type: str, ram: int) -> int:
    """x86 RAM mapped above 4 GiB: what does not fit below the PCI hole (pc_init1 / pc_q35_init)."""
    if machine_type == "q35":
        lowmem = 0x80000000 if ram >= 0xB0000000 else 0xB0000000
    else:
        lowmem = 0xC0000000 if ram >= 0xE0000000 else 0xE0000000
    return max(0, ram - lowmem)


class Memory:
    """One VM's memory devices: the backends it made, its DIMMs, the device-memory region, the hotplug block."""

    def __init__(self, machine: Machine) -> None:
        cfg = machine.config
        self.machine = machine
        self.ram = cfg.memory_mb << 20
        self.slots = cfg.ram_slots
        self.maxram = max(cfg.maxmem, self.ram)
        #: the device-memory region: base and size (size 0: no maxmem, no memory devices)
        self.base = -(-(4 * GiB + above_4g_ram(cfg.machine_type, self.ram)) // GiB) * GiB
        self.region_size = self.maxram - self.ram + GiB * self.slots if self.maxram > self.ram else 0
        self.backends: dict[str, MemoryBackend] = {}
        self.dimms: list[Dimm] = []
        self.memhp: AcpiMemHp | None = None

    # --- backends (object-add / -object / object-del) ---------------------------------------------------

    def _objects(self) -> Obj:
        """/objects, made this VM's own the first time it gets a child (the board's is shared)."""
        root = self.machine.qom_tree().must("/")
        if "objects" not in root.children:
            # -M none has no /objects until the first object (container_get), listed second under /
            root.props = [root.props[0], ("objects", "child<container>"), *root.props[1:]]
            root.add_child("objects", Obj("container", [("type", "string")], {"type": "container"}, dynamic=[]))
        objects = root.children["objects"]
        if not objects.shared and objects.table is not None:
            return objects
        fixed = [p for p in objects.props if not p[1].startswith("child<")]
        own = Obj(objects.type, fixed, objects.values, dynamic=[])
        for name, child in objects.children.items():
            own.children[name] = child  # the shared children stay shared, under this VM's container
            own.add_dynamic(name, f"child<{child.type}>")
        own.parent = root
        own.name = "objects"
        root.children["objects"] = own
        return own

    def object_add(self, qom_type: str, backend_id: str, options: dict[str, Any]) -> None:
        """user_creatable_add_type for a memory backend: the object joins /objects, then completes."""
        if qom_type not in BACKEND_TYPES:
            raise GenericError(
                f"fakeqemu does not model object type '{qom_type}' (modelled: {', '.join(BACKEND_TYPES)})"
            )
        objects = self._objects()
        if backend_id in objects.children:
            raise GenericError(f"attempt to add duplicate property '{backend_id}' to object (type 'container')")
        size = options.get("size")
        if size == 0:
            raise GenericError(f"property 'size' of {qom_type} doesn't take value '0'")
        from fakeqemu.machine.board import Board

        board = self.machine.board
        # a machine without a board has no RAM backend to copy: the pc board's (the same class)
        template = (board if board is not None else Board("pc")).tree.must("/objects/pc.ram")
        backend = MemoryBackend(template, qom_type, backend_id, options)
        objects.add_child(backend_id, backend)
        self.backends[backend_id] = backend

    def object_del(self, backend_id: str) -> bool:
        """user_creatable_del for a backend this model made; False: not one of them."""
        backend = self.backends.get(backend_id)
        if backend is None:
            return False
        if backend.mapped_by is not None:
            raise GenericError(f"object '{backend_id}' is in use, can not be deleted")
        del self.backends[backend_id]
        if backend.parent is not None:
            backend.parent.remove_child(backend)
        return True

    def query_memdev(self) -> list[dict[str, Any]]:
        """query-memdev: every backend under /objects, in the order qom-list lists them."""
        objects = self.machine.qom_tree().resolve("/objects")
        if objects is None:
            return []  # -M none before its first object: no /objects
        out = []
        for name, typ in objects.list_props():
            if typ.startswith("child<memory-backend"):
                child = objects.children[name]
                info = memdev_info(child)
                if not isinstance(child, MemoryBackend):  # the board's RAM backend: as big as -m
                    info["size"] = self.ram
                out.append(info)
        return out

    # --- DIMMs --------------------------------------------------------------------------------------------

    def device_add(self, dev_id: str | None, props: dict[str, Any], hotplug: bool) -> Dimm:
        """qdev_device_add of a pc-dimm after its properties were set: pre_plug, realize, plug."""
        machine = self.machine
        board = machine.board
        assert board is not None
        if self.memhp is None and not machine.config.acpi:
            raise GenericError("memory hotplug is not enabled: missing acpi device or acpi disabled")
        memdev_path = props.get("memdev")
        memdev: MemoryBackend | None = None
        if memdev_path is not None:
            name = str(memdev_path).rpartition("/")[2]
            found = board.tree.resolve(f"/objects/{name}")
            if found is None:
                raise DeviceNotFound(f"Device '{name}' not found")
            if not isinstance(found, MemoryBackend):
                raise GenericError("fakeqemu models pc-dimm only over a memory backend it made (object-add)")
            memdev = found
        if not machine.compat.memory_hotplug:  # the ACPI device's pre_plug
            raise GenericError(
                f"memory hotplug is not enabled: {machine.compat.pm_type}.memory-hotplug-support is not set"
            )
        # pc_dimm_pre_plug
        slot = int(props.get("slot", -1))
        if (slot < 0 or slot >= self.slots) and slot != -1:
            raise GenericError(f"invalid slot number {slot}, valid range is [0-{(self.slots - 1) % (1 << 64)}]")
        slot = self._free_slot(None if slot == -1 else slot)
        if memdev is None:
            raise GenericError("'memdev' property must be set")
        addr = self._free_addr(int(props.get("addr", 0)) or None, memdev.align, memdev.size)
        # pc_dimm_realize
        node = int(props.get("node", 0))
        if node:
            raise GenericError(f"'DIMM property node has value {node}' which exceeds the number of numa nodes: 1")
        if memdev.mapped_by is not None:
            raise GenericError(f"can't use already busy memdev: {memdev.id}")
        dimm = Dimm(memdev, addr, slot, node, hotplug)
        dimm.id = dev_id
        dimm.machine = machine
        dimm.user_props = dict(props)
        memdev.mapped_by = dimm
        if dev_id is not None:
            board.peripheral.add_child(dev_id, dimm)
        else:
            board.peripheral_anon.add_child(f"device[{board.anon_count}]", dimm)
            board.anon_count += 1
        self.dimms.append(dimm)
        if self.memhp is not None:
            self.memhp.plug(dimm, hotplug)
        return dimm

    def _free_slot(self, hint: int | None) -> int:
        """pc_dimm_get_free_slot."""
        if self.slots <= 0:
            raise GenericError("no slots where allocated, please specify the 'slots' option")
        used = {d.slot for d in self.dimms}
        if hint is not None:
            if hint >= self.slots:
                raise GenericError(f"invalid slot# {hint}, should be less than {self.slots}")
            if hint in used:
                raise GenericError(f"slot {hint} is busy")
            return hint
        slot = next((i for i in range(self.slots) if i not in used), self.slots)
        if slot == self.slots:
            raise GenericError("no free slots available")
        return slot

    def _free_addr(self, hint: int | None, align: int, size: int) -> int:
        """memory_device_get_free_addr."""
        if not self.region_size:
            raise GenericError(
                "memory devices (e.g. for memory hotplug) are not enabled, please specify the maxmem option"
            )
        lo, total = self.base, self.region_size
        used = sum(d.size for d in self.dimms)
        if used + size > self.maxram - self.ram:
            raise GenericError(
                f"not enough space, currently 0x{used:x} in use of total space for memory devices "
                f"0x{self.maxram - self.ram:x}"
            )
        if hint is not None and hint % align:
            raise GenericError(f"address must be aligned to 0x{align:x} bytes")
        if size % align:
            raise GenericError(f"backend memory size must be multiple of 0x{align:x}")
        if hint is not None:
            if not (lo <= hint and hint + size <= lo + total):
                raise GenericError(
                    f"can't add memory device [0x{hint:x}:0x{size:x}], usable range for memory devices "
                    f"[0x{lo:x}:0x{total:x}]"
                )
            start = hint
        else:
            start = -(-lo // align) * align
        for d in sorted(self.dimms, key=lambda d: d.addr):
            if d.addr < start + size and start < d.addr + d.size:
                if hint is not None:
                    raise GenericError(f"address range conflicts with memory device id='{d.id or '(unnamed)'}'")
                start = -(-(d.addr + d.size) // align) * align
            elif d.addr > start + size - 1:
                break
        if not (lo <= start and start + size <= lo + total):
            raise GenericError(
                "could not find position in guest address space for memory device - memory fragmented due to alignments"
            )
        return start

    def find(self, dev: Device) -> Dimm | None:
        return dev if isinstance(dev, Dimm) and dev in self.dimms else None

    def device_del(self, dimm: Dimm) -> None:
        """pc_memory_unplug_request: the guest is asked through the hotplug block."""
        if self.memhp is None:
            raise GenericError("memory hotplug is not enabled: missing acpi device or acpi disabled")
        self.memhp.unplug_request(dimm)

    def eject(self, dimm: Dimm) -> None:
        """The guest's eject went through: pc_memory_unplug (slot, address and backend are free again),
        then object_unparent; DEVICE_DELETED follows on finalize."""
        if self.memhp is not None:
            self.memhp.unplugged(dimm)
        self.dimms.remove(dimm)
        dimm.memdev.mapped_by = None
        dimm.unparent()

    # --- queries ------------------------------------------------------------------------------------------

    def query_devices(self) -> list[dict[str, Any]]:
        """query-memory-devices: by address (memory_device_build_list sorts them)."""
        return [d.info() for d in sorted(self.dimms, key=lambda d: d.addr)]

    def plugged(self) -> int:
        return sum(d.size for d in self.dimms)

    def describe(self) -> list[dict[str, Any]]:
        """The DIMMs, with the unplug requests the guest has not answered."""
        slots = self.memhp.slots if self.memhp is not None else []
        return [
            {**d.info()["data"], "qom-path": d.path, "removing": d.slot < len(slots) and slots[d.slot].is_removing}
            for d in sorted(self.dimms, key=lambda d: d.slot)
        ]


def memdev_info(obj: Obj) -> dict[str, Any]:
    """MemdevInfo of a backend (one made here, or the board's recorded pc.ram), in QEMU 7.2's order."""
    v = obj.values
    return {
        "share": v.get("share", False),
        "reserve": v.get("reserve", True),
        "prealloc": v.get("prealloc", False),
        "host-nodes": list(v.get("host-nodes", [])),
        "size": v.get("size", 0),
        "merge": v.get("merge", True),
        "dump": v.get("dump", True),
        "policy": v.get("policy", "default"),
        "id": obj.name,
    }
