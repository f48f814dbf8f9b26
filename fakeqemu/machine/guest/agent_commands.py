"""The guest agent's answers about the guest: identity, time, vCPUs, memory, network, disks and filesystems,
freeze, power, statistics (fakeqemu.machine.guest.agent runs them)."""

from __future__ import annotations

from typing import Any

from fakeqemu.machine.guest.agent import (
    BOOT_NS_BEFORE,
    CPU_STATS,
    DISK_BYTES,
    DISK_STATS,
    FREEZE_ALLOWED,
    MEMORY_BLOCK,
    OSINFO,
    GuestAgent,
)
from fakeqemu.machine.guest.agent import command as _cmd
from fakeqemu.qmp.errors import GenericError


@_cmd("guest-sync")
@_cmd("guest-sync-delimited")
def _sync(a: GuestAgent, args: dict[str, Any]) -> Any:
    return args["id"]


@_cmd("guest-ping")
def _ping(a: GuestAgent, args: dict[str, Any]) -> Any:
    return {}


@_cmd("guest-info")
def _info(a: GuestAgent, args: dict[str, Any]) -> Any:
    cmds = []
    for c in a.schema.commands:
        enabled = c["enabled"] and c["name"] not in a.blocked and (not a.frozen or c["name"] in FREEZE_ALLOWED)
        cmds.append({"name": c["name"], "enabled": enabled, "success-response": c["success-response"]})
    return {"version": ".".join(map(str, a.machine.config.qemu_version)), "supported_commands": cmds}


@_cmd("guest-get-time")
def _get_time(a: GuestAgent, args: dict[str, Any]) -> Any:
    return a.now_ns()


@_cmd("guest-set-time")
def _set_time(a: GuestAgent, args: dict[str, Any]) -> Any:
    t = args.get("time")
    # without a time the guest reads its hardware clock, which runs with the host's
    a.clock_offset_ns = 0 if t is None else t - int(a.machine.clock() * 1e9)
    return {}


@_cmd("guest-get-timezone")
def _timezone(a: GuestAgent, args: dict[str, Any]) -> Any:
    return {"zone": "UTC", "offset": 0}


@_cmd("guest-get-host-name")
def _host_name(a: GuestAgent, args: dict[str, Any]) -> Any:
    return {"host-name": a.host_name}


@_cmd("guest-get-osinfo")
def _osinfo(a: GuestAgent, args: dict[str, Any]) -> Any:
    return dict(OSINFO)


@_cmd("guest-get-users")
def _users(a: GuestAgent, args: dict[str, Any]) -> Any:
    login = (a.now_ns() - BOOT_NS_BEFORE) / 1e9
    return [{"user": u, "login-time": login} for u in a.users]


@_cmd("guest-get-vcpus")
def _get_vcpus(a: GuestAgent, args: dict[str, Any]) -> Any:
    # qemu-ga lists them last first (measured)
    return [
        {"logical-id": n, "online": n not in a.offline_cpus, "can-offline": n != 0}
        for n in reversed(range(a.vcpu_count()))
    ]


@_cmd("guest-set-vcpus")
def _set_vcpus(a: GuestAgent, args: dict[str, Any]) -> Any:
    done = 0
    for v in args["vcpus"]:
        n, online = v["logical-id"], v["online"]
        if n < 0 or n >= a.vcpu_count():
            if done == 0:
                raise GenericError(f'open("/sys/devices/system/cpu/cpu{n}"): No such file or directory')
            break
        if n == 0 and not online:
            if done == 0:
                raise GenericError("logical processor #0 can't be offlined")
            break
        if online:
            a.offline_cpus.discard(n)
        else:
            a.offline_cpus.add(n)
        done += 1
    return done


@_cmd("guest-get-memory-block-info")
def _mem_block_info(a: GuestAgent, args: dict[str, Any]) -> Any:
    return {"size": MEMORY_BLOCK}


@_cmd("guest-get-memory-blocks")
def _mem_blocks(a: GuestAgent, args: dict[str, Any]) -> Any:
    blocks = max(1, (a.machine.config.memory_mb << 20) // MEMORY_BLOCK)
    return [{"phys-index": n, "online": True, "can-offline": n != 0} for n in range(blocks)]


@_cmd("guest-set-memory-blocks")
def _set_mem_blocks(a: GuestAgent, args: dict[str, Any]) -> Any:
    return [{"phys-index": b["phys-index"], "response": "success"} for b in args["mem-blks"]]


def _stats(seed: int) -> dict[str, Any]:
    return {
        "rx-bytes": 1500 * seed,
        "rx-packets": seed,
        "rx-errs": 0,
        "rx-dropped": 0,
        "tx-bytes": 900 * seed,
        "tx-packets": seed,
        "tx-errs": 0,
        "tx-dropped": 0,
    }


def _eui64_link_local(mac: str) -> str:
    b = [int(x, 16) for x in mac.split(":")]
    b[0] ^= 0x02
    words = [(b[0] << 8) | b[1], (b[2] << 8) | 0xFF, (0xFE << 8) | b[3], (b[4] << 8) | b[5]]
    return "fe80::" + ":".join(f"{w:x}" for w in words)


def _ip(addr: str) -> dict[str, Any]:
    ip, _, prefix = addr.partition("/")
    kind = "ipv6" if ":" in ip else "ipv4"
    return {"ip-address-type": kind, "ip-address": ip, "prefix": int(prefix or (128 if kind == "ipv6" else 32))}


@_cmd("guest-network-get-interfaces")
def _interfaces(a: GuestAgent, args: dict[str, Any]) -> Any:
    out = [
        {
            "name": "lo",
            "hardware-address": "00:00:00:00:00:00",
            "ip-addresses": [_ip("127.0.0.1/8"), _ip("::1/128")],
            "statistics": _stats(40),
        }
    ]
    for n, dev in enumerate(a.nics()):
        mac = dev.get("mac")
        addrs = [_ip(x) for x in a.nic_addresses(n, dev)] + [_ip(_eui64_link_local(mac) + "/64")]
        out.append(
            {"name": a.nic_name(dev), "hardware-address": mac, "ip-addresses": addrs, "statistics": _stats(100 + n)}
        )
    return out


def _disk_address(a: GuestAgent, dev: Any, name: str, bus_type: str) -> dict[str, Any]:
    pci = {"domain": 0, "bus": a._bus_number(dev), "slot": dev.slot, "function": dev.function}
    return {"pci-controller": pci, "bus-type": bus_type, "bus": 0, "target": 0, "unit": 0, "dev": f"/dev/{name}"}


@_cmd("guest-get-disks")
def _disks(a: GuestAgent, args: dict[str, Any]) -> Any:
    out = []
    for name, dev, bus_type in a.disks():
        addr = _disk_address(a, dev, name, bus_type)
        out.append({"name": f"/dev/{name}", "partition": False, "dependencies": [], "address": addr})
        out.append({"name": f"/dev/{name}1", "partition": True, "dependencies": [f"/dev/{name}"], "address": addr})
    return out


def _mounts(a: GuestAgent) -> list[tuple[str, str, Any, str]]:
    """(mount point, partition, device, disk name) of the guest's filesystems: the first partition of each
    disk, the first disk at /."""
    return [("/" if n == 0 else f"/mnt/{name}", f"{name}1", dev, name) for n, (name, dev, _) in enumerate(a.disks())]


@_cmd("guest-get-fsinfo")
def _fsinfo(a: GuestAgent, args: dict[str, Any]) -> Any:
    out = []
    for mount, part, dev, name in _mounts(a):
        out.append(
            {
                "name": part,
                "mountpoint": mount,
                "type": "ext4",
                "used-bytes": DISK_BYTES // 4,
                "total-bytes": DISK_BYTES,
                "disk": [_disk_address(a, dev, name, "virtio")],
            }
        )
    return out


@_cmd("guest-fsfreeze-status")
def _fsfreeze_status(a: GuestAgent, args: dict[str, Any]) -> Any:
    return "frozen" if a.frozen else "thawed"


@_cmd("guest-fsfreeze-freeze")
def _fsfreeze(a: GuestAgent, args: dict[str, Any]) -> Any:
    return _freeze(a, None)


@_cmd("guest-fsfreeze-freeze-list")
def _fsfreeze_list(a: GuestAgent, args: dict[str, Any]) -> Any:
    return _freeze(a, args.get("mountpoints"))


def _freeze(a: GuestAgent, mountpoints: list[str] | None) -> int:
    mounts = [m for m, _, _, _ in _mounts(a) if mountpoints is None or m in mountpoints]
    a.frozen = True
    a.actions.append(("fsfreeze", ",".join(mounts)))
    return len(mounts)


@_cmd("guest-fsfreeze-thaw")
def _fsthaw(a: GuestAgent, args: dict[str, Any]) -> Any:
    if not a.frozen:
        return 0
    a.frozen = False
    a.actions.append(("fsthaw", ""))
    return len(_mounts(a))


@_cmd("guest-fstrim")
def _fstrim(a: GuestAgent, args: dict[str, Any]) -> Any:
    minimum = args.get("minimum", 0)
    a.trimmed += 1
    return {"paths": [{"path": m, "trimmed": DISK_BYTES // 2, "minimum": minimum} for m, _, _, _ in _mounts(a)]}


@_cmd("guest-shutdown")
def _shutdown(a: GuestAgent, args: dict[str, Any]) -> Any:
    mode = args.get("mode", "powerdown")
    if mode not in ("powerdown", "halt", "reboot"):
        raise GenericError("mode is invalid (valid values are: halt|powerdown|reboot")
    a._power(mode)
    return {}


@_cmd("guest-suspend-ram")
@_cmd("guest-suspend-hybrid")
def _suspend_ram_cmd(a: GuestAgent, args: dict[str, Any]) -> Any:
    if not a.machine.s3_enabled:
        raise GenericError("the requested suspend mode is not supported by the guest")
    a._power("ram")
    return {}


@_cmd("guest-suspend-disk")
def _suspend_disk_cmd(a: GuestAgent, args: dict[str, Any]) -> Any:
    a._power("disk")
    return {}


# --- statistics ------------------------------------------------------------------------------------------


@_cmd("guest-get-diskstats")
def _diskstats(a: GuestAgent, args: dict[str, Any]) -> Any:
    out = []
    for n, (name, _, _) in enumerate(a.disks()):
        stats = {key: 0 for key in DISK_STATS}
        stats.update({"read-sectors": 2048, "read-ios": 64, "write-sectors": 1024, "write-ios": 32})
        out.append({"name": name, "major": 254, "minor": 16 * n, "stats": stats})
    return out


@_cmd("guest-get-cpustats")
def _cpustats(a: GuestAgent, args: dict[str, Any]) -> Any:
    out = []
    for n in range(a.vcpu_count()):
        stats: dict[str, Any] = {"type": "linux", "cpu": n}
        stats.update({key: 0 for key in CPU_STATS})
        stats.update({"user": 1000, "system": 500, "idle": 100000})
        out.append(stats)
    return out


@_cmd("guest-get-devices")
def _devices(a: GuestAgent, args: dict[str, Any]) -> Any:
    return []  # disabled on Linux, as in qemu-ga
