"""HMP ``info mtree [-f][-d][-o][-D]`` as QEMU 7.2 prints it (mtree_info_as and mtree_print_mr in
softmmu/memory.c) over the VM's memory regions (fakeqemu.machine.pci.regions).

Each address space's root region (address spaces sharing a root under one heading, their names sorted),
then each region an alias points at (``memory-region:``), in the order first met. QEMU walks a hash table
keyed by pointers for the address spaces, so its order changes from run to run; fakeqemu prints the
board's, then each PCI function's. ``-f`` (the flat views) is answered as QEMU does only for its argument
checks: the flat views are not modelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakeqemu.commands.hmp_args import C_SPACE
from fakeqemu.machine.pci.regions import AddressSpace, Region, flat_root, flatten, of_machine

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

MASK = (1 << 64) - 1
#: the declared options, in order (args_type ``flatview:-f,dispatch_tree:-d,owner:-o,disabled:-D``)
OPTIONS = "fdoD"
NAMES = ("flatview", "dispatch_tree", "owner", "disabled")
USAGE = 'Try "help info mtree" for more information\r\n'


def flags(cmd: str, args: str) -> tuple[set[str], str]:
    """QEMU's '-' arguments (monitor_parse_arguments): each declared option in turn takes a ``-X`` naming
    it; a ``-X`` that a later option's type string has (is_valid_option: ``strstr``, so a bare ``-`` too)
    is left for it; any other is ``unsupported option`` (a bare ``-`` prints its NUL: the line ends
    there). Returns the options given and the error text (empty when none)."""
    found: set[str] = set()
    p = args
    for i, letter in enumerate(OPTIONS):
        q = p.lstrip(C_SPACE)
        if not q.startswith("-"):
            continue
        c = q[1:2]
        if c == letter:
            found.add(letter)
            p = q[2:]
            continue
        later = "".join(f",{name}:-{o}" for name, o in zip(NAMES[i + 1 :], OPTIONS[i + 1 :], strict=True))
        if ("-" + c) not in later:
            return found, f"{cmd}: unsupported option -{c}" + ("\r\n" if c else "") + USAGE
    if p.strip(C_SPACE):
        return found, f"{cmd}: extraneous characters at the end of line\r\n" + USAGE
    return found, ""


class _Printer:
    def __init__(self, owner: bool, disabled: bool) -> None:
        self.owner, self.disabled = owner, disabled
        self.out: list[str] = []
        self.queue: list[Region] = []

    def region(self, mr: Region, level: int, base: int) -> None:
        start = (base + mr.addr) & MASK
        end = (start + mr.last) & MASK
        line = "[DETECTED OVERFLOW!] " if start < base or end < start else ""
        nv = "nv-" if mr.nv else ""
        flag = "" if mr.enabled else " [disabled]"
        if mr.alias is not None:
            if not any(q is mr.alias for q in self.queue):
                self.queue.append(mr.alias)
            text = (
                f"{start:016x}-{end:016x} (prio {mr.prio}, {nv}{mr.type()}): alias {mr.name} @{mr.alias.name} "
                f"{mr.offset:016x}-{(mr.offset + mr.last) & MASK:016x}{flag}"
            )
        else:
            text = f"{start:016x}-{end:016x} (prio {mr.prio}, {nv}{mr.type()}): {mr.name}{flag}"
        if mr.enabled or self.disabled:
            line += "  " * level + text + (mr.owner if self.owner else "")
        if line:
            self.out.append(line)
        ordered: list[Region] = []
        for sub in mr.sub:
            at = next(
                (i for i, o in enumerate(ordered) if sub.addr < o.addr or (sub.addr == o.addr and sub.prio > o.prio)),
                len(ordered),
            )
            ordered.insert(at, sub)
        for sub in ordered:
            self.region(sub, level + 1, start)


def render(spaces: list[AddressSpace], owner: bool, disabled: bool) -> str:
    """mtree_info_as."""
    p = _Printer(owner, disabled)
    roots: list[tuple[Region, list[str]]] = []
    for space in spaces:
        entry = next((e for e in roots if e[0] is space.root), None)
        if entry is None:
            roots.append((space.root, [space.name]))
        else:
            entry[1].append(space.name)
    for root, names in roots:
        p.out += [f"address-space: {name}" for name in sorted(names)]
        p.region(root, 1, 0)
        p.out.append("")
    i = 0
    while i < len(p.queue):
        mr = p.queue[i]
        p.out.append(f"memory-region: {mr.name}")
        p.region(mr, 1, 0)
        p.out.append("")
        i += 1
    return "".join(line + "\r\n" for line in p.out)


def info_mtree(machine: Machine, args: str) -> str:
    given, error = flags("mtree", args)
    if error:
        return error
    lay = of_machine(machine)
    if lay is None:
        return "info mtree: not modelled for this machine (fakeqemu)\r\n"
    if "f" in given:
        if "d" in given:
            return "info mtree -f -d: the dispatch tree is not modelled (fakeqemu)\r\n"
        return render_flat(lay.spaces, "o" in given)
    return render(lay.spaces, "o" in given, "D" in given)


def render_flat(spaces: list[AddressSpace], owner: bool) -> str:
    """mtree_info_flatview: each flat view (address spaces whose roots flatten alike share one, listed in
    the order they were made), its ranges with the region that answers there."""
    views: list[tuple[Region | None, list[AddressSpace]]] = []
    for space in spaces:
        root = flat_root(space.root)
        entry = next((v for v in views if v[0] is root), None)
        if entry is None:
            views.append((root, [space]))
        else:
            entry[1].append(space)
    out: list[str] = []
    for n, (root, members) in enumerate(views):
        out.append(f"FlatView #{n}")
        for space in members:
            alias = f", alias {space.root.alias.name}" if space.root.alias is not None else ""
            out.append(f' AS "{space.name}", root: {space.root.name}{alias}')
        out.append(f" Root memory region: {root.name if root is not None else '(none)'}")
        ranges = flatten(root) if root is not None else []
        if not ranges:
            out += ["  No rendered FlatView", ""]
            continue
        for r in ranges:
            mr = r.mr
            if len(members) > 1 and mr.dev is not None:
                # QEMU 7.2 takes a reference on the view per address space and drops one: the view and
                # the owners of its regions stay for good (their DEVICE_DELETED never comes)
                mr.dev.pinned = True
            nv = "nv-" if mr.nv else ""
            line = f"  {r.start:016x}-{r.start + r.size - 1:016x} (prio {mr.prio}, {nv}{mr.type()}): {mr.name}"
            if r.offset:
                line += f" @{r.offset:016x}"
            out.append(line + (mr.owner if owner else ""))
        out.append("")
    return "".join(line + "\r\n" for line in out)
