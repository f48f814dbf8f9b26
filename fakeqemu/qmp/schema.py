"""QEMU 7.2's QAPI schema: argument checking and introspection (query-qmp-schema, query-commands).

The data file fakeqemu/data/qapi-schema.json is recorded from the real binary by tools/record_schema.py:
``schema`` is QEMU's ``query-qmp-schema`` list in QEMU's order with each object's keys in the order QEMU
inserts them (sorted: QEMU's generated QLit tables list keys sorted), so fakeqemu.qmp.encode reproduces
QEMU's bytes. Introspection writes every integer type as ``int``; ``int-types`` holds the real widths
measured from QEMU and ``alternate-names`` the real names of alternates (QEMU prints them in errors).

Argument checking follows QEMU's QObject input visitor, as measured against QEMU 7.2:

* members are visited in schema order (base members, then the members of the union variant picked by the
  discriminator); the first error wins; members nobody consumed are reported last, per struct, when the
  struct is complete ("Parameter 'backend.zz' is unexpected"): when several are left, the one QEMU reports
  is the first in its GLib hash table's slot order (modelled by ``_glib_first_left``);
* "full" names: ``a.b.c`` for nested members, ``keys[0]`` for array elements, used by "is missing",
  "is unexpected" and "Invalid parameter type for ..., expected: string|boolean|integer|number|null|
  object|array"; "bare" names (the member's own name, ``null`` for an array element) are used by
  "Parameter 'x' does not accept value 'v'" (enums), "Invalid parameter type for 'x', expected: <Alt>"
  (alternates) and "Parameter 'x' expects int32_t" (sized integers out of range), while
  "Parameter 'a.b' expects uint64" (uint64/size/uintN given anything but an integer that fits in 64 bits)
  takes the full name;
* a present optional member is visited even when it is ``null``; ``any`` takes everything.

device_add is 'gen': false in QEMU (its handler takes any arguments): ``not_generated`` lists it, and
check_args leaves its arguments to the handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from fakeqemu.qmp import cnum
from fakeqemu.qmp.errors import GenericError
from fakeqemu.qmp.ghash import StrHashTable
from fakeqemu.recorded import document

#: a compiled check: (value, bare name or None, full name) -> normalised value
Check = Callable[[Any, "str | None", str], Any]

_INT64 = (-(2**63), 2**63 - 1)
_SIZED = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
}
_TYPE_WORD = {"str": "string", "bool": "boolean", "int": "integer", "number": "number", "null": "null"}


def _type_error(full: str, word: str) -> GenericError:
    return GenericError(f"Invalid parameter type for '{full}', expected: {word}")


def _bare(name: str | None) -> str:
    return "null" if name is None else name


def _is_qnum_int(value: Any) -> bool:
    """True for what QEMU's JSON parser makes an integer QNum (int64 or uint64 range)."""
    return type(value) is int and -(2**63) <= value <= 2**64 - 1


# -- builtin checks -----------------------------------------------------------------------------------
def _check_str(value: Any, name: str | None, full: str) -> Any:
    if type(value) is not str:
        raise _type_error(full, "string")
    return value


def _check_bool(value: Any, name: str | None, full: str) -> Any:
    if type(value) is not bool:
        raise _type_error(full, "boolean")
    return value


def _check_int(value: Any, name: str | None, full: str) -> Any:
    if type(value) is not int or not _INT64[0] <= value <= _INT64[1]:
        raise _type_error(full, "integer")
    return value


def _check_number(value: Any, name: str | None, full: str) -> Any:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _type_error(full, "number")


def _check_null(value: Any, name: str | None, full: str) -> Any:
    if value is not None:
        raise _type_error(full, "null")
    return value


def _check_any(value: Any, name: str | None, full: str) -> Any:
    return value


def _check_uint64(value: Any, name: str | None, full: str) -> Any:
    if not _is_qnum_int(value):
        raise GenericError(f"Parameter '{full}' expects uint64")
    return value if value >= 0 else value + 2**64  # QEMU takes negative values modulo 2^64


def _sized_check(kind: str) -> Check:
    low, high = _SIZED[kind]
    if kind.startswith("u"):

        def check_unsigned(value: Any, name: str | None, full: str) -> Any:
            number = _check_uint64(value, name, full)
            if number > high:
                raise GenericError(f"Parameter '{_bare(name)}' expects {kind}_t")
            return number

        return check_unsigned

    def check_signed(value: Any, name: str | None, full: str) -> Any:
        number = _check_int(value, name, full)
        if not low <= number <= high:
            raise GenericError(f"Parameter '{_bare(name)}' expects {kind}_t")
        return number

    return check_signed


_BUILTIN: dict[str, Check] = {
    "str": _check_str,
    "bool": _check_bool,
    "int": _check_int,
    "number": _check_number,
    "null": _check_null,
    "any": _check_any,
    "uint64": _check_uint64,
    "size": _check_uint64,
    **{k: _sized_check(k) for k in _SIZED},
}


# -- keyval mode (qobject_input_visitor_new_keyval): every scalar arrives as a string ---------------------
def _keyval_text(value: Any, full: str) -> str:
    """qobject_input_get_keyval: a scalar's text; a dict or list where a scalar belongs is refused."""
    if type(value) is not str:
        raise GenericError(f"Parameters '{full}.*' are unexpected")
    return value


def _keyval_parsed(parse: Callable[[str], Any], word: str) -> Check:
    def check(value: Any, name: str | None, full: str) -> Any:
        out = parse(_keyval_text(value, full))
        if out is None:
            raise GenericError(f"Parameter '{full}' expects {word}")
        return out

    return check


def _keyval_bool(text: str) -> bool | None:
    """qapi_bool_parse."""
    return True if text in ("on", "yes", "true", "y") else False if text in ("off", "no", "false", "n") else None


def _keyval_number(value: Any, name: str | None, full: str) -> Any:
    out = cnum.strtod_finite(_keyval_text(value, full))
    if out is None:
        raise _type_error(full, "number")
    return out


def _keyval_str(value: Any, name: str | None, full: str) -> Any:
    return _keyval_text(value, full)


def _ranged(parse: Check, kind: str) -> Check:
    """visit_type_intN/uintN: the 64-bit visit, then the range, named by the member's own name."""
    low, high = _SIZED[kind]

    def check(value: Any, name: str | None, full: str) -> Any:
        number = parse(value, name, full)
        if not low <= number <= high:
            raise GenericError(f"Parameter '{_bare(name)}' expects {kind}_t")
        return number

    return check


_KEYVAL_INT = _keyval_parsed(cnum.strtoi64, "integer")
_KEYVAL_UINT = _keyval_parsed(cnum.strtou64, "integer")
_KEYVAL_BUILTIN: dict[str, Check] = {
    "str": _keyval_str,
    "bool": _keyval_parsed(_keyval_bool, "'on' or 'off'"),
    "int": _KEYVAL_INT,
    "number": _keyval_number,
    "null": _check_null,
    "any": _check_any,
    "uint64": _KEYVAL_UINT,
    "size": _keyval_parsed(cnum.strtosz, "size"),
    **{k: _ranged(_KEYVAL_UINT if k.startswith("u") else _KEYVAL_INT, k) for k in _SIZED},
}

_JSON_KIND: dict[type, str] = {
    str: "str",
    bool: "bool",
    int: "num",
    float: "num",
    dict: "object",
    list: "array",
}


# -- GLib hash table order for "is unexpected" ------------------------------------------------------


def _glib_first_left(keys: Iterable[str], consumed: Iterable[str]) -> str | None:
    """The key QEMU's check_struct reports: the struct's keys go into a GHashTable in QDict order,
    members are removed as they are visited, and the first slot still holding a key wins."""
    from fakeqemu.qmp.encode import qdict_order

    table = StrHashTable()
    for key in qdict_order(tuple(keys)):
        table.insert(key)
    for key in consumed:
        table.remove(key)
    return table.first()


# -- object checks ------------------------------------------------------------------------------------
class _Member:
    __slots__ = ("check", "name", "optional")

    def __init__(self, name: str, optional: bool) -> None:
        self.name = name
        self.optional = optional
        self.check: Check = _check_any


class _Object:
    """A struct or flat union: members in visiting order, variant members keyed by discriminator value."""

    __slots__ = ("members", "names", "tag", "variants")

    def __init__(self) -> None:
        self.members: list[_Member] = []
        self.names: frozenset[str] = frozenset()
        self.tag: str | None = None
        self.variants: dict[str, _Object] = {}

    def visit(self, value: dict[str, Any], prefix: str, consumed: list[str]) -> dict[str, Any] | None:
        """Check the members of ``value``; return a normalised copy if any member changed, else None."""
        changed: dict[str, Any] | None = None
        for member in self.members:
            key = member.name
            if key not in value:
                if member.optional:
                    continue
                raise GenericError(f"Parameter '{prefix}{key}' is missing")
            item = value[key]
            out = member.check(item, key, prefix + key)
            consumed.append(key)
            if out is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = out
        if self.tag is not None:
            variant = self.variants.get(value[self.tag])
            if variant is not None:
                sub = variant.visit(value if changed is None else changed, prefix, consumed)
                if sub is not None:
                    changed = sub
        return changed

    def check_struct(self, value: Any, name: str | None, full: str) -> Any:
        if type(value) is not dict:
            raise _type_error(full, "object")
        prefix = full + "." if full else ""
        consumed: list[str] = []
        changed = self.visit(value, prefix, consumed)
        if len(consumed) != len(value):
            left = _glib_first_left(value, consumed)
            raise GenericError(f"Parameter '{prefix}{left}' is unexpected")
        return value if changed is None else changed


class Schema:
    """QEMU 7.2's schema, loaded once and shared (read-only) by every VM in the process."""

    _loaded: ClassVar[Schema | None] = None
    #: fakeqemu's own commands and types (introspection format), declared by the code that defines them
    _own_declared: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.qemu_version: str = data["qemu-version"]
        self.raw_sha256: str = data["raw-sha256"]
        self.raw_length: int = data["raw-length"]
        self.entities: list[dict[str, Any]] = data["schema"]
        self.by_name: dict[str, dict[str, Any]] = {e["name"]: e for e in self.entities}
        self.index: dict[str, int] = {e["name"]: i for i, e in enumerate(self.entities)}
        self.commands_order: list[str] = data["commands-order"]
        #: commands QEMU runs without a generated argument visitor (their handler checks arguments)
        self.not_generated: frozenset[str] = frozenset(data["gen-false"])
        self._int_types: dict[str, dict[str, str]] = data["int-types"]
        self._alt_names: dict[str, str] = data["alternate-names"]
        self._checks: dict[str, Check] = {}
        #: the same checks in keyval mode (qobject_input_visitor_new_keyval: -blockdev KEY=VALUE,...)
        self._keyval_checks: dict[str, Check] = {}
        self._own: dict[str, dict[str, Any]] = {}
        #: every command (QEMU's and fakeqemu's own) by name; its check is compiled when first needed
        self._command_entities = {e["name"]: e for e in self.entities if e["meta-type"] == "command"}
        #: a command's compiled argument check and whether it takes no arguments
        self._commands: dict[str, tuple[Check, bool]] = {}
        #: QEMU's commands and events; and (once introspection needs them) the types QEMU lists though
        #: nothing refers to them (used only by members its build left out): those appear only in the
        #: untrimmed introspection
        self._roots = frozenset(e["name"] for e in self.entities if e["meta-type"] in ("command", "event"))
        self._orphans: frozenset[str] | None = None

    @classmethod
    def load(cls) -> Schema:
        if cls._loaded is None:
            loaded = cls(document("qapi-schema.json"))
            loaded._add_own(cls._own_declared)
            cls._loaded = loaded
        return cls._loaded

    @classmethod
    def declare_own(cls, entities: Iterable[dict[str, Any]]) -> None:
        """Declare commands that are not QEMU's (fakeqemu's x-fakeqemu-*) with their argument types, in
        introspection format: check_args then checks their arguments as QEMU's generated code would."""
        entities = list(entities)
        cls._own_declared.extend(entities)
        if cls._loaded is not None:
            cls._loaded._add_own(entities)

    def _add_own(self, entities: list[dict[str, Any]]) -> None:
        for e in entities:
            if e["name"] in self.by_name:
                raise ValueError(f"{e['name']} is QEMU's already")
            self._own[e["name"]] = e
            if e["meta-type"] == "command":
                self._command_entities[e["name"]] = e

    def _entity(self, name: str) -> dict[str, Any]:
        e = self.by_name.get(name)
        return e if e is not None else self._own[name]

    # -- commands -----------------------------------------------------------------------------------
    def has_command(self, name: str) -> bool:
        return name in self._command_entities

    def command_allows_oob(self, name: str) -> bool:
        e = self._command_entities.get(name)
        return e is not None and bool(e.get("allow-oob"))

    def _command(self, name: str) -> tuple[Check, bool] | None:
        entry = self._commands.get(name)
        if entry is None:
            e = self._command_entities.get(name)
            if e is None:
                return None
            arg = self._entity(e["arg-type"])
            no_args = not arg.get("members") and "tag" not in arg
            entry = self._commands[name] = (self._check_for(e["arg-type"]), no_args)
        return entry

    def check_args(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        """Check ``args`` like QEMU's generated marshaller for ``command``; raise GenericError with
        QEMU's text on the first error. Returns ``args`` or a normalised copy (uint64 values taken
        modulo 2^64, ints given for ``number`` as floats). fakeqemu's own commands are checked against
        what they declared (declare_own); 'gen': false commands (device_add) are returned unchecked."""
        entry = self._command(command)
        if entry is None or command in self.not_generated:
            return args
        if entry[1]:
            if args:
                left = _glib_first_left(args, ())
                raise GenericError(f"Parameter '{left}' is unexpected")
            return args
        result: dict[str, Any] = entry[0](args, None, "")
        return result

    # -- checking a value of a type (command-line options QEMU visits against a QAPI type) -------------
    def type_of(self, command: str, what: str = "arg-type") -> str:
        """The (masked) name of a command's argument or return type: e.g. BlockdevOptions is blockdev-add's."""
        name: str = self._command_entities[command][what]
        return name

    def check_value(self, tname: str, value: Any, keyval: bool = False) -> Any:
        """Visit ``value`` as QEMU's QObject input visitor visits type ``tname``: in keyval mode (a
        KEY=VALUE,... option after keyval_parse: every scalar a string, converted per the schema) or not
        (JSON). Returns the typed value; GenericError with QEMU's text on the first error."""
        return self._check_for(tname, keyval)(value, None, "")

    # -- compiling checks ---------------------------------------------------------------------------
    def _check_for(self, tname: str, keyval: bool = False) -> Check:
        cache = self._keyval_checks if keyval else self._checks
        check = cache.get(tname)
        if check is not None:
            return check
        e = self._entity(tname)
        mt = e["meta-type"]
        if mt == "builtin":
            check = (_KEYVAL_BUILTIN if keyval else _BUILTIN)[tname]
        elif mt == "enum":
            check = self._enum_check(e, keyval)
        elif mt == "array":
            check = self._array_check(e, keyval)
        elif mt == "alternate":
            check = self._alternate_check(e, keyval)
        else:
            obj = _Object()
            # registered before its members compile: recursive types refer to it
            check = cache[tname] = obj.check_struct
            self._fill_object(obj, e, keyval)
        cache[tname] = check
        return check

    def _member_check(self, owner: str, key: str, tname: str, keyval: bool) -> Check:
        kind = self._int_types.get(owner, {}).get(key)
        if kind is None:
            return self._check_for(tname, keyval)
        element = (_KEYVAL_BUILTIN if keyval else _BUILTIN)[kind]
        if tname == "int":
            return element

        def check_int_list(value: Any, name: str | None, full: str) -> Any:
            return self._visit_list(value, full, element, keyval)

        return check_int_list

    def _fill_object(self, obj: _Object, e: dict[str, Any], keyval: bool) -> None:
        for m in e["members"]:
            member = _Member(m["name"], "default" in m)
            member.check = self._member_check(e["name"], m["name"], m["type"], keyval)
            obj.members.append(member)
        obj.names = frozenset(m["name"] for m in e["members"])
        if "tag" in e:
            obj.tag = e["tag"]
            for v in e.get("variants", []):
                sub = _Object()
                self._fill_object(sub, self._entity(v["type"]), keyval)
                obj.variants[v["case"]] = sub

    @staticmethod
    def _enum_check(e: dict[str, Any], keyval: bool) -> Check:
        values = frozenset(e["values"])

        def check_enum(value: Any, name: str | None, full: str) -> Any:
            if keyval:
                _keyval_text(value, full)
            elif type(value) is not str:
                raise _type_error(full, "string")
            if value not in values:
                raise GenericError(f"Parameter '{_bare(name)}' does not accept value '{value}'")
            return value

        return check_enum

    @staticmethod
    def _visit_list(value: Any, full: str, element: Check, keyval: bool) -> Any:
        if type(value) is not list:
            raise _type_error(full, "array")
        changed: list[Any] | None = None
        for i, item in enumerate(value):
            out = element(item, None, f"{full}.{i}" if keyval else f"{full}[{i}]")
            if out is not item:
                if changed is None:
                    changed = list(value)
                changed[i] = out
        return value if changed is None else changed

    def _array_check(self, e: dict[str, Any], keyval: bool) -> Check:
        element_type: str = e["element-type"]
        cache: list[Check] = []

        def check_array(value: Any, name: str | None, full: str) -> Any:
            if not cache:
                cache.append(self._check_for(element_type, keyval))
            return self._visit_list(value, full, cache[0], keyval)

        return check_array

    def _alternate_check(self, e: dict[str, Any], keyval: bool) -> Check:
        alt_name = self._alt_names.get(e["name"], e["name"])
        branches: dict[str, str] = {}
        int_kinds = self._int_types.get(e["name"], {})
        for i, m in enumerate(e["members"]):
            t = m["type"]
            target = self.by_name.get(t, {"meta-type": "builtin"})
            mt = target["meta-type"]
            if mt == "builtin":
                kind = {"str": "str", "bool": "bool", "int": "num", "number": "num", "null": "null"}.get(t, "any")
            else:
                kind = {"enum": "str", "object": "object", "array": "array"}.get(mt, "any")
            branches[kind] = f"#{i}" if f"#{i}" in int_kinds else t
        checks: dict[str, Check] = {}

        def check_alternate(value: Any, name: str | None, full: str) -> Any:
            kind = "null" if value is None else _JSON_KIND.get(type(value), "num")
            branch = branches.get(kind)
            if branch is None:
                raise GenericError(f"Invalid parameter type for '{_bare(name)}', expected: {alt_name}")
            check = checks.get(branch)
            if check is None:
                check = checks[branch] = (
                    (_KEYVAL_BUILTIN if keyval else _BUILTIN)[int_kinds[branch]]
                    if branch.startswith("#")
                    else self._check_for(branch, keyval)
                )
            return check(value, name, full)

        return check_alternate

    # -- introspection ------------------------------------------------------------------------------
    def _reach(self, roots: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            name = stack.pop()
            if name in seen or name not in self.by_name:
                continue
            seen.add(name)
            stack.extend(self._refs(self.by_name[name]))
        return seen

    def _refs(self, e: dict[str, Any]) -> list[str]:
        mt = e["meta-type"]
        if mt == "command":
            return [e["arg-type"], e["ret-type"]]
        if mt == "event":
            return [e["arg-type"]]
        if mt == "array":
            return [e["element-type"]]
        refs = [m["type"] for m in e.get("members", []) if "type" in m]
        refs += [v["type"] for v in e.get("variants", [])]
        return refs

    def introspect(
        self, commands: Iterable[str], events: Iterable[str], extra: Iterable[dict[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        """query-qmp-schema's return restricted to ``commands`` and ``events`` (names QEMU does not know
        are skipped) and every type they reach, in QEMU's order (asked for all of QEMU's commands and
        events, this is QEMU's list exactly, with the few types nothing refers to); then ``extra``
        entities (fakeqemu's own commands and their types, in introspection format): extra commands and
        events follow QEMU's commands and events, extra types go last, and schema types they reference
        are included."""
        wanted = {n for n in commands if n in self.by_name and self.by_name[n]["meta-type"] == "command"}
        wanted |= {n for n in events if n in self.by_name and self.by_name[n]["meta-type"] == "event"}
        extras = list(extra)
        extra_names = {e["name"] for e in extras}
        stack = list(wanted)
        for e in extras:
            stack += [r for r in self._refs(e) if r not in extra_names]
        seen = self._reach(stack)
        if self._roots <= wanted:
            if self._orphans is None:
                self._orphans = frozenset(self.by_name) - self._reach(self._roots)
            seen |= self._orphans
        picked = [e for e in self.entities if e["name"] in seen]
        head = [e for e in picked if e["meta-type"] in ("command", "event")]
        tail = [e for e in picked if e["meta-type"] not in ("command", "event")]
        extra_head = [e for e in extras if e["meta-type"] in ("command", "event")]
        extra_tail = [e for e in extras if e["meta-type"] not in ("command", "event")]
        return head + extra_head + tail + extra_tail

    def commands_list(self, commands: Iterable[str]) -> list[dict[str, Any]]:
        """query-commands' return for these commands, in QEMU's order (names QEMU does not know, i.e.
        fakeqemu's own commands, come first: QEMU lists the last registered first)."""
        names = list(commands)
        known = set(names)
        own = [n for n in names if n not in self.index]
        return [{"name": n} for n in own] + [{"name": n} for n in self.commands_order if n in known]
