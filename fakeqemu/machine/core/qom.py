"""The QOM object tree: objects with child and other properties, QEMU's paths, property listing and lookup.

An object's property list is what ``qom-list`` answers. Objects whose properties never change after they
are built (nearly all of them) share their list and values with every VM (they come from
fakeqemu/data/machine.json, recorded from QEMU 7.2); objects whose instance properties come and go at run
time (containers, buses) keep them in a StrHashTable, which gives GLib's order, as QEMU's does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fakeqemu.qmp.errors import DeviceNotFound, GenericError
from fakeqemu.qmp.ghash import StrHashTable

Prop = tuple[str, str]  # (name, type) as qom-list shows it
_EMPTY: Mapping[str, Any] = {}


class Obj:
    """One QOM object. ``props`` is the fixed part of its qom-list reply (in reply order); an object with
    dynamic instance properties has ``table`` (GLib order of their names) and ``dyn_types``."""

    __slots__ = (
        "children",
        "dyn_types",
        "errors",
        "mount",
        "name",
        "own",
        "parent",
        "props",
        "shared",
        "table",
        "type",
        "values",
    )

    def __init__(
        self,
        type_name: str,
        props: Sequence[Sequence[str]],
        values: Mapping[str, Any] = _EMPTY,
        errors: Mapping[str, Any] = _EMPTY,
        *,
        dynamic: Sequence[Prop] | None = None,
    ) -> None:
        self.type = type_name
        self.parent: Obj | None = None
        self.name = ""
        #: the path a shared subtree's root hangs from in every VM ("" for any other object): a shared
        #: object holds no pointer into a VM
        self.mount = ""
        self.children: dict[str, Obj] = {}
        self.props = props
        self.values = values
        self.errors = errors
        #: values set for this instance only (qom-set, or fixed up from a template)
        self.own: dict[str, Any] | None = None
        self.table: StrHashTable | None = None
        self.dyn_types: dict[str, str] | None = None
        #: part of a subtree every VM of the process shares: never modified, its parent is any VM's
        self.shared = False
        if dynamic is not None:
            self.table = StrHashTable()
            self.dyn_types = {}
            for name, typ in dynamic:
                self.add_dynamic(name, typ)

    # --- the tree ---------------------------------------------------------------------------------

    def add_child(self, name: str, child: Obj, listed: bool = True) -> Obj:
        """object_property_add_child; ``name`` may end in ``[*]`` for the first free index. ``listed``:
        False when the property is already in the object's table (replayed from a record)."""
        if name.endswith("[*]"):
            stem = name[:-3]
            i = 0
            while f"{stem}[{i}]" in self.children:
                i += 1
            name = f"{stem}[{i}]"
        if name in self.children:
            raise GenericError(f"attempt to add duplicate property '{name}' to object (type '{self.type}')")
        child.parent = self
        child.name = name
        self.children[name] = child
        if self.table is not None and listed:
            self.add_dynamic(name, f"child<{child.type}>")
        return child

    def attach_shared(self, child: Obj) -> None:
        """Hang a shared, read-only subtree here: the VM's tree points to it, not it to the VM (its
        ``mount`` says where it hangs, the same path in every VM)."""
        assert child.shared and child.parent is None and child.mount == self.path, child.mount
        self.children[child.name] = child

    def remove_child(self, child: Obj) -> None:
        """object_unparent: the child leaves the tree at once."""
        if self.children.get(child.name) is child:
            del self.children[child.name]
            self.remove_dynamic(child.name)
        child.parent = None

    def add_dynamic(self, name: str, typ: str) -> None:
        if self.table is None:
            self.table = StrHashTable()
            self.dyn_types = {}
        assert self.dyn_types is not None
        self.table.insert(name)
        self.dyn_types[name] = typ

    def remove_dynamic(self, name: str) -> None:
        if self.table is not None and self.dyn_types is not None and self.table.remove(name):
            del self.dyn_types[name]

    @property
    def path(self) -> str:
        parts: list[str] = []
        obj = self
        while obj.parent is not None:
            parts.append(obj.name)
            obj = obj.parent
        if obj.mount:
            parts.append(obj.name)
            return obj.mount.rstrip("/") + "/" + "/".join(reversed(parts))
        return "/" + "/".join(reversed(parts))

    def walk(self) -> Iterator[Obj]:
        yield self
        for child in list(self.children.values()):
            yield from child.walk()

    # --- properties --------------------------------------------------------------------------------

    def list_props(self) -> list[Prop]:
        out: list[Prop] = [(p[0], p[1]) for p in self.props]
        if self.table is not None and self.dyn_types is not None:
            types = self.dyn_types
            out.extend((name, types[name]) for name in reversed(list(self.table)))
        return out

    def prop_type(self, name: str) -> str | None:
        if self.dyn_types is not None and name in self.dyn_types:
            return self.dyn_types[name]
        for p in self.props:
            if p[0] == name:
                return p[1]
        return None

    def get(self, name: str) -> Any:
        """qom-get: the property's value, or QEMU's error."""
        typ = self.prop_type(name)
        if typ is None:
            raise GenericError(f"Property '{self.type}.{name}' not found")
        if typ.startswith("child<"):
            child = self.children.get(name)
            return child.path if child is not None else ""
        value = self.dynamic_value(name)
        if value is not None:
            return value
        if self.own is not None and name in self.own:
            own = self.own[name]
            return own() if callable(own) else own
        if name in self.values:
            return self.values[name]
        err = self.errors.get(name)
        if err is not None:
            raise GenericError(str(err.get("desc", "")))
        raise GenericError(f"Property '{self.type}.{name}' not found")

    def dynamic_value(self, name: str) -> Any:
        """Values computed from the live state (subclasses: links, hotplugged, ...); None for stored."""
        if name == "type":
            return self.type
        return None

    def set_own(self, name: str, value: Any) -> None:
        if self.shared:
            raise RuntimeError(f"{self.path} is shared by every VM: set its values on the VM's tree")
        if self.own is None:
            self.own = {}
        self.own[name] = value


class Tree:
    """The root of a VM's QOM tree, with QEMU's path resolution (object_resolve_path)."""

    __slots__ = ("overrides", "root")

    def __init__(self, root: Obj) -> None:
        self.root = root
        #: qom-set values of shared objects, for this VM only: path -> {property: value}
        self.overrides: dict[str, dict[str, Any]] = {}

    def get(self, obj: Obj, name: str) -> Any:
        """qom-get on this VM's tree."""
        if obj.shared and self.overrides:
            values = self.overrides.get(obj.path)
            if values is not None and name in values:
                return values[name]
        return obj.get(name)

    def set(self, obj: Obj, name: str, value: Any) -> None:
        if obj.shared:
            self.overrides.setdefault(obj.path, {})[name] = value
        else:
            obj.set_own(name, value)

    def resolve(self, path: str) -> Obj | None:
        return self.lookup(path)[0]

    def lookup(self, path: str) -> tuple[Obj | None, bool]:
        """object_resolve_path: (the object or None, whether a partial path was ambiguous)."""
        if path.startswith("/"):
            return self._resolve_abs(self.root, [p for p in path.split("/") if p]), False
        parts = [p for p in path.split("/") if p]
        found: Obj | None = None
        for obj in self.root.walk():
            hit = self._resolve_abs(obj, parts) if parts else obj
            if hit is not None:
                if found is not None and found is not hit:
                    return None, True
                found = hit
        return found, False

    def _resolve_abs(self, obj: Obj, parts: list[str]) -> Obj | None:
        cur: Obj | None = obj
        for part in parts:
            if cur is None:
                return None
            nxt = cur.children.get(part)
            if nxt is None:
                typ = cur.prop_type(part)
                if typ is None or not typ.startswith("link<"):
                    return None
                try:
                    target = cur.get(part)
                except GenericError:
                    return None
                nxt = self._resolve_abs(self.root, [p for p in str(target).split("/") if p]) if target else None
            cur = nxt
        return cur

    def must(self, path: str) -> Obj:
        """What qom-list and qom-get do with their path: the object, or QEMU's error."""
        obj, ambiguous = self.lookup(path)
        if ambiguous:
            raise GenericError(f"Path '{path}' is ambiguous")
        if obj is None:
            raise DeviceNotFound(f"Device '{path}' not found")
        return obj
