"""I/O limits of a block backend (block_set_io_throttle, -drive throttling.*) and the throttle groups
they share, as QEMU 7.2 keeps them (util/throttle.c, block/throttle-groups.c, block/qapi-sysemu.c).

The limits belong to a BlockBackend: a device's (its ``drive``) or a -drive's, not to the node, so
query-block shows them and query-named-block-nodes does not. A backend with limits is a member of a
group (named by ``group``, else by the device/id it was set through); the limits are the group's, so
setting them through one member changes every member's; all zeros take the backend out of its group.
No guest I/O is slowed (the guest model's I/O is counted, not timed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

VALUE_MAX = 1_000_000_000_000_000
U64 = 1 << 64
#: the buckets in QEMU's order (ThrottleBucketType): avg member, max member, burst length member
BUCKETS = (
    ("bps", "bps_max", "bps_max_length"),
    ("bps_rd", "bps_rd_max", "bps_rd_max_length"),
    ("bps_wr", "bps_wr_max", "bps_wr_max_length"),
    ("iops", "iops_max", "iops_max_length"),
    ("iops_rd", "iops_rd_max", "iops_rd_max_length"),
    ("iops_wr", "iops_wr_max", "iops_wr_max_length"),
)
#: -drive's throttling.* option names for each member (blockdev.c)
DRIVE_OPTIONS = {
    "bps-total": "bps", "bps-read": "bps_rd", "bps-write": "bps_wr",
    "iops-total": "iops", "iops-read": "iops_rd", "iops-write": "iops_wr",
    "bps-total-max": "bps_max", "bps-read-max": "bps_rd_max", "bps-write-max": "bps_wr_max",
    "iops-total-max": "iops_max", "iops-read-max": "iops_rd_max", "iops-write-max": "iops_wr_max",
    "bps-total-max-length": "bps_max_length", "bps-read-max-length": "bps_rd_max_length",
    "bps-write-max-length": "bps_wr_max_length", "iops-total-max-length": "iops_max_length",
    "iops-read-max-length": "iops_rd_max_length", "iops-write-max-length": "iops_wr_max_length",
    "iops-size": "iops_size",
}  # fmt: skip


def config(args: dict[str, Any]) -> dict[str, int]:
    """A ThrottleConfig from BlockIOThrottle members: unsigned 64-bit values, burst lengths default 1."""
    cfg: dict[str, int] = {}
    for avg, mx, length in BUCKETS:
        cfg[avg] = int(args.get(avg, 0)) % U64
        cfg[mx] = int(args.get(mx, 0)) % U64
        cfg[length] = int(args.get(length, 1)) % U64
    cfg["iops_size"] = int(args.get("iops_size", 0)) % U64
    return cfg


def check(cfg: dict[str, int]) -> None:
    """throttle_is_valid, with its messages in its order."""
    for kind in ("bps", "iops"):
        for suffix in ("", "_max"):
            total, rd, wr = (cfg[f"{kind}{d}{suffix}"] for d in ("", "_rd", "_wr"))
            if total and (rd or wr):
                raise GenericError("bps/iops/max total values and read/write values cannot be used at the same time")
    if cfg["iops_size"] and not (cfg["iops"] or cfg["iops_rd"] or cfg["iops_wr"]):
        raise GenericError("iops size requires an iops value to be set")
    for avg, mx, length in BUCKETS:
        a, m, n = cfg[avg], cfg[mx], cfg[length]
        if a > VALUE_MAX or m > VALUE_MAX:
            raise GenericError(f"bps/iops/max values must be within [0, {VALUE_MAX}]")
        if not n:
            raise GenericError("the burst length cannot be 0")
        if n > 1 and not m:
            raise GenericError("burst length set without burst rate")
        if m and n > VALUE_MAX // m:
            raise GenericError("burst length too high for this burst rate")
        if m and not a:
            raise GenericError("bps_max/iops_max require corresponding bps/iops values")
        if m and m < a:
            raise GenericError("bps_max/iops_max cannot be lower than bps/iops")


def enabled(cfg: dict[str, int]) -> bool:
    return any(cfg[avg] for avg, _, _ in BUCKETS)


class ThrottleGroups:
    """One VM's throttle groups: name -> limits, and which backends are members (by owner key)."""

    __slots__ = ("groups", "members")

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, int]] = {}
        #: backend key (the node the backend's root is) -> (group, owner: the device or the -drive id)
        self.members: dict[str, tuple[str, object]] = {}

    def group_of(self, node: str, owner: object) -> str | None:
        member = self.members.get(node)
        if member is None or member[1] is not owner:
            return None
        return member[0]

    def set(self, node: str, owner: object, cfg: dict[str, int], default_group: str, group: str | None) -> None:
        """blk_io_limits_enable / _update_group / blk_set_io_limits / blk_io_limits_disable."""
        current = self.group_of(node, owner)
        if enabled(cfg):
            if current is None:
                current = group or default_group
            elif group is not None:
                current = group
            self.members[node] = (current, owner)
            self.groups[current] = cfg
        elif current is not None:
            del self.members[node]
        self._prune()

    def _prune(self) -> None:
        used = {g for g, _ in self.members.values()}
        for name in [g for g in self.groups if g not in used]:
            del self.groups[name]

    def info(self, node: str, owner: object) -> dict[str, Any] | None:
        """The BlockDeviceInfo members of a throttled backend, in QAPI member order after ``image``:
        the maxima, burst lengths and op size only where set, then the group."""
        group = self.group_of(node, owner)
        if group is None:
            return None
        cfg = self.groups[group]
        out: dict[str, Any] = {avg: cfg[avg] for avg, _, _ in BUCKETS}
        extra: dict[str, Any] = {mx: cfg[mx] for _, mx, _ in BUCKETS if cfg[mx]}
        extra.update({length: cfg[length] for _, mx, length in BUCKETS if cfg[mx]})
        if cfg["iops_size"]:
            extra["iops_size"] = cfg["iops_size"]
        extra["group"] = group
        return {"avg": out, "extra": extra}


def drive_limits(m: Machine) -> ThrottleGroups:
    """The VM's groups, with the -drive throttling.* options applied once (as the drive was opened)."""
    tg = m.throttle_groups
    if tg is None:
        tg = ThrottleGroups()
        m.throttle_groups = tg
        for name, entry in m.backends.blockdevs.items():
            opts = entry["options"]
            if not entry.get("legacy"):
                continue
            args = {DRIVE_OPTIONS[k[11:]]: int(v) for k, v in opts.items() if k[11:] in DRIVE_OPTIONS
                    and k.startswith("throttling.") and str(v).isdigit()}  # fmt: skip
            cfg = config(args)
            if enabled(cfg):
                group = opts.get("throttling.group")
                tg.set(name, str(opts["id"]), cfg, str(opts["id"]), str(group) if group is not None else None)
    return tg


def with_limits(info: dict[str, Any], limits: dict[str, Any] | None) -> dict[str, Any]:
    """A BlockDeviceInfo (from graph.node_info) with a backend's limits put in, in QAPI member order."""
    if limits is None:
        return info
    out: dict[str, Any] = {}
    for key, value in info.items():
        out[key] = limits["avg"].get(key, value)
        if key == "image":
            out.update(limits["extra"])
    return out
