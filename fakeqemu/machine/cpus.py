"""vCPUs: the ``-smp`` topology, the possible CPUs and the plugged ones, CPU hot(un)plug.

``-smp N,sockets=S,dies=D,cores=C,threads=T,maxcpus=M`` as QEMU 7.2 fills in what is missing (sockets
first). Possible CPU ``i`` has thread ``i % T``, core ``(i / T) % C``, die ``(i / (T*C)) % D``, socket
``i / (T*C*D)`` and the APIC ID x86 packs from them (each field as many bits as its count needs).
Each plugged vCPU has a real idle thread whose id ``query-cpus-fast`` reports (so a management tool can
pin it); the thread starts when first asked for, so idle VMs stay cheap. The boot CPUs are
``/machine/unattached/device[0]``, ``device[2]``, ``device[3]``, ... (device[1] is the first one's
kvmvapic); a hot-added one is ``/machine/peripheral/ID``, a QOM object made like
the boot CPU's recorded one. Hotplug goes through the ACPI CPU hotplug block (fakeqemu.machine.acpi.cpuhp);
the guest model (fakeqemu.machine.guest.hotplug) answers its GPE.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.core.qdev import Device
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

CPU_TYPE = "qemu64-x86_64-cpu"
BOOT_CPU_PATH = "/machine/unattached/device[0]"


@dataclass(frozen=True)
class Topology:
    """The -smp topology: CPUs at start, sockets, dies, cores, threads, and the most CPUs."""

    cpus: int = 1
    sockets: int = 1
    dies: int = 1
    cores: int = 1
    threads: int = 1
    maxcpus: int = 1

    @classmethod
    def parse(cls, opts: dict[str, str]) -> Topology:
        """smp_parse for x86 in QEMU 7.2: missing counts default to 1, sockets computed first."""

        def num(key: str) -> int:
            text = opts.get(key, "0") or "0"
            if not text.isdigit():
                raise ValueError(f"Parameter 'smp.{key}' expects a number")
            return int(text)

        cpus, sockets, dies, cores, threads, maxcpus = (
            num(k) for k in ("cpus", "sockets", "dies", "cores", "threads", "maxcpus")
        )
        dies = dies or 1
        threads = threads or 1
        cores = cores or 1
        if sockets == 0:
            sockets = max(1, (maxcpus or cpus or 1) // (dies * cores * threads))
        maxcpus = maxcpus or sockets * dies * cores * threads
        cpus = cpus or maxcpus
        if sockets * dies * cores * threads != maxcpus:
            raise ValueError(
                f"Invalid CPU topology: product of the hierarchy must match maxcpus: sockets ({sockets}) * "
                f"dies ({dies}) * cores ({cores}) * threads ({threads}) != maxcpus ({maxcpus})"
            )
        if cpus > maxcpus:
            raise ValueError(f"Invalid SMP CPUs {cpus}. The max CPUs supported by machine is {maxcpus}")
        return cls(cpus, sockets, dies, cores, threads, maxcpus)

    def ids(self, i: int) -> dict[str, int]:
        t, c, d = self.threads, self.cores, self.dies
        return {"socket": i // (t * c * d), "die": (i // (t * c)) % d, "core": (i // t) % c, "thread": i % t}

    def arch_id(self, i: int) -> int:
        ids = self.ids(i)
        tb, cb, db = ((n - 1).bit_length() for n in (self.threads, self.cores, self.dies))
        return (((ids["socket"] << db | ids["die"]) << cb | ids["core"]) << tb) | ids["thread"]

    def props(self, i: int) -> dict[str, int]:
        """CpuInstanceProperties in QAPI order (node-id, socket-id, die-id, core-id, thread-id)."""
        ids = self.ids(i)
        out = {"socket-id": ids["socket"]}
        if self.dies > 1:
            out["die-id"] = ids["die"]
        out["core-id"] = ids["core"]
        out["thread-id"] = ids["thread"]
        return out


def boot_cpu_path(index: int) -> str:
    """Where QEMU 7.2 puts boot CPU ``index`` (measured): the first CPU's realize adds its kvmvapic as
    /machine/unattached/device[1], so the other boot CPUs are device[2], device[3], ..."""
    return f"/machine/unattached/device[{index + 1 if index else 0}]"


class VcpuThread:
    """A real, idle thread standing for one vCPU."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._stop.wait, name=name, daemon=True)
        self._thread.start()

    @property
    def native_id(self) -> int:
        return self._thread.native_id or 0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(eq=False)
class Vcpu:
    """One vCPU: its index, QOM path, its CPU device and its idle thread."""

    index: int
    qom_path: str
    device: Device | None = None
    thread: VcpuThread | None = field(default=None, repr=False)

    def thread_id(self) -> int:
        if self.thread is None:
            self.thread = VcpuThread(f"CPU {self.index}/TCG")
        return self.thread.native_id


class Cpus:
    """One VM's vCPUs."""

    def __init__(self, machine: Machine, topology: Topology) -> None:
        self.machine = machine
        self.topology = topology
        #: plugged vCPUs by possible-CPU index
        self.plugged: dict[int, Vcpu] = {}
        self.cpuhp: Any = None
        for i in range(topology.cpus):
            self.plugged[i] = Vcpu(i, boot_cpu_path(i))

    def close(self) -> None:
        for v in self.plugged.values():
            if v.thread is not None:
                v.thread.stop()
                v.thread = None

    def plug_boot_cpus(self) -> None:
        if self.cpuhp is not None:
            for i, v in self.plugged.items():
                self.cpuhp.plug(i, v, hotplugged=False)

    # --- queries ----------------------------------------------------------------------------------

    def query_cpus_fast(self) -> list[dict[str, Any]]:
        out = []
        for n, (i, v) in enumerate(sorted(self.plugged.items())):
            out.append(
                {
                    "cpu-index": n,
                    "qom-path": v.qom_path,
                    "thread-id": v.thread_id(),
                    "props": self.topology.props(i),
                    "target": "x86_64",
                }
            )
        return out

    def query_hotpluggable(self) -> list[dict[str, Any]]:
        out = []
        for i in reversed(range(self.topology.maxcpus)):
            entry: dict[str, Any] = {"type": CPU_TYPE, "vcpus-count": 1, "props": self.topology.props(i)}
            v = self.plugged.get(i)
            if v is not None:
                entry["qom-path"] = v.qom_path
            out.append(entry)
        return out

    def describe(self) -> list[dict[str, Any]]:
        """The plugged vCPUs, with the unplug requests the guest has not answered."""
        slots = self.cpuhp.slots if self.cpuhp is not None else []
        return [
            {
                "index": i,
                "qom-path": v.qom_path,
                "props": self.topology.props(i),
                "removing": i < len(slots) and slots[i].is_removing,
            }
            for i, v in sorted(self.plugged.items())
        ]

    # --- hotplug ----------------------------------------------------------------------------------

    def device_add(self, args: dict[str, Any]) -> None:
        """device_add of a CPU (x86_cpu_pre_plug's checks, then the ACPI plug)."""
        board = self.machine.board
        if board is None or self.cpuhp is None:
            raise GenericError("Parameter 'driver' expects a pluggable device type")
        topo = self.topology
        dev_id = args.get("id")
        want: dict[str, int] = {}
        for key, count in (("socket-id", topo.sockets), ("die-id", topo.dies), ("core-id", topo.cores),
                           ("thread-id", topo.threads)):  # fmt: skip
            name = key[:-3]
            if key not in args:
                if key == "die-id" and topo.dies == 1:
                    want[key] = 0
                    continue
                raise GenericError(f"CPU {key} is not set")
            value = args[key]
            if not isinstance(value, int) or isinstance(value, bool):
                raise GenericError(f"Parameter '{key}' expects int32_t")
            if value < 0 or value >= count:
                raise GenericError(f"Invalid CPU {name}-id: {value} must be in range 0:{count - 1}")
            want[key] = value
        index = next(i for i in range(topo.maxcpus) if all(topo.props(i).get(k, 0) == v for k, v in want.items()))
        if index in self.plugged:
            raise GenericError(f"CPU[{index}] with APIC ID {topo.arch_id(index)} exists")
        if dev_id is not None and dev_id in board.peripheral.children:
            raise GenericError(f"Duplicate device ID '{dev_id}'")
        dev = self._make_device(dev_id, index)
        vcpu = Vcpu(index, dev.path, dev)
        self.plugged[index] = vcpu
        self.cpuhp.plug(index, vcpu, hotplugged=True)

    def _make_device(self, dev_id: str | None, index: int) -> Device:
        board = self.machine.board
        assert board is not None
        boot = board.tree.must(BOOT_CPU_PATH)
        values = {k: v for k, v in boot.values.items() if not k.startswith(("child[", "unnamed-gpio"))}
        ids = self.topology.ids(index)
        values.update({"socket-id": ids["socket"], "die-id": ids["die"], "core-id": ids["core"],
                       "thread-id": ids["thread"], "apic-id": self.topology.arch_id(index)})  # fmt: skip
        dev = Device(boot.type, [p for p in boot.props if not p[1].startswith("child<")], values, boot.errors)
        dev.id = dev_id
        dev.hotplugged = True
        dev.machine = self.machine
        dev.deleted_paths = ("/lapic",)  # its local APIC device goes first (measured)
        if dev_id is not None:
            board.peripheral.add_child(dev_id, dev)
        else:
            board.peripheral_anon.add_child(f"device[{board.anon_count}]", dev)
            board.anon_count += 1
        return dev

    def find(self, dev: Device) -> Vcpu | None:
        return next((v for v in self.plugged.values() if v.device is dev), None)

    def device_del(self, dev: Device) -> None:
        vcpu = self.find(dev)
        if vcpu is None or self.cpuhp is None:
            raise GenericError("Boot CPU is unpluggable")
        self.cpuhp.unplug_request(vcpu)

    def eject(self, vcpu: Vcpu) -> None:
        """The guest's _EJ0 went through: unplug (the vCPU thread ends), unparent; DEVICE_DELETED follows."""
        self.cpuhp.unplugged(vcpu)
        del self.plugged[vcpu.index]
        if vcpu.thread is not None:
            vcpu.thread.stop()
            vcpu.thread = None
        if vcpu.device is not None:
            vcpu.device.unparent()
