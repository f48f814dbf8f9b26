"""The iteration order of a GLib 2.74 GHashTable keyed by strings (g_str_hash): QOM keeps an object's
properties in one, and QAPI's input visitor the keys of a struct it checks (the first key left over is the
one "is unexpected" names). The one replay of GLib's table for both (machine imports qmp, not the reverse).

QEMU's ``qom-list`` walks an object's instance property table, then its class's tables, and prepends each
property to the reply, so the reply's order is the reverse of the table's slot order. That order depends on
the keys, the order they were inserted and removed, and the table's resize history; this class replays the
same open-addressing scheme (hash * 11 mod a prime, quadratic probing, tombstones, in-place resize) on the
keys alone. Only the keys are kept: values live on the owning object.
"""

from __future__ import annotations

from collections.abc import Iterator

_MIN_SHIFT = 3
_UNUSED = 0
_TOMBSTONE = 1
#: GLib's prime_mod table, indexed by shift
_PRIME_MOD = (
    1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071, 262139,
    524287, 1048573, 2097143, 4194301, 8388593, 16777213, 33554393, 67108859, 134217689, 268435399,
    536870909, 1073741789, 2147483647,
)  # fmt: skip


def str_hash(key: str) -> int:
    """g_str_hash: djb2 over the UTF-8 bytes as signed chars."""
    h = 5381
    for b in key.encode("utf-8", "surrogatepass"):
        if b >= 0x80:
            b -= 0x100
        h = (h * 33 + b) & 0xFFFFFFFF
    return h


class StrHashTable:
    """Keys of a GHashTable<char*, ...> in GLib's slot order."""

    __slots__ = ("_hashes", "_keys", "_mod", "_nnodes", "_noccupied", "_shift", "_size")

    def __init__(self, keys: tuple[str, ...] | list[str] = ()) -> None:
        self._set_shift(_MIN_SHIFT)
        self._hashes = [_UNUSED] * self._size
        self._keys: list[str | None] = [None] * self._size
        self._nnodes = 0
        self._noccupied = 0
        for key in keys:
            self.insert(key)

    def _set_shift(self, shift: int) -> None:
        self._shift = shift
        self._size = 1 << shift
        self._mod = _PRIME_MOD[shift]

    def _index(self, h: int) -> int:
        return ((h * 11) & 0xFFFFFFFF) % self._mod

    def _lookup(self, key: str) -> tuple[int, int, bool]:
        """Slot for ``key``, its hash, and whether the key is present."""
        h = str_hash(key)
        if h <= 1:
            h = 2
        mask = self._size - 1
        i = self._index(h)
        step = 0
        tomb: int | None = None
        hashes = self._hashes
        while hashes[i] != _UNUSED:
            if hashes[i] == h and self._keys[i] == key:
                return i, h, True
            if hashes[i] == _TOMBSTONE and tomb is None:
                tomb = i
            step += 1
            i = (i + step) & mask
        return (tomb if tomb is not None else i), h, False

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key)[2]

    def __len__(self) -> int:
        return self._nnodes

    def insert(self, key: str) -> None:
        i, h, found = self._lookup(key)
        if found:
            return
        reused = self._hashes[i] == _TOMBSTONE
        self._hashes[i] = h
        self._keys[i] = key
        self._nnodes += 1
        if not reused:  # g_hash_table_insert_node resizes only when an unused slot was taken
            self._noccupied += 1
            self._maybe_resize()

    def remove(self, key: str) -> bool:
        i, _, found = self._lookup(key)
        if not found:
            return False
        self._hashes[i] = _TOMBSTONE
        self._keys[i] = None
        self._nnodes -= 1
        self._maybe_resize()
        return True

    def first(self) -> str | None:
        """The key in the lowest slot (None when empty)."""
        return next(iter(self), None)

    def __iter__(self) -> Iterator[str]:
        for h, k in zip(self._hashes, self._keys, strict=True):
            if h > _TOMBSTONE:
                assert k is not None
                yield k

    def _maybe_resize(self) -> None:
        size, nocc = self._size, self._noccupied
        if (size > self._nnodes * 4 and size > 1 << _MIN_SHIFT) or size <= nocc + nocc // 16:
            self._resize()

    def _resize(self) -> None:
        old_size = self._size
        n = int(self._nnodes * 1.333)
        shift = 0
        while n:
            n >>= 1
            shift += 1
        self._set_shift(max(shift, _MIN_SHIFT))
        if self._size > old_size:
            self._hashes.extend([_UNUSED] * (self._size - old_size))
            self._keys.extend([None] * (self._size - old_size))
        moved = bytearray(max(self._size, old_size))
        mask = self._size - 1
        hashes, keys = self._hashes, self._keys
        for i in range(old_size):
            h = hashes[i]
            if h <= _TOMBSTONE:
                hashes[i] = _UNUSED
                continue
            if moved[i]:
                continue
            hashes[i] = _UNUSED
            key = keys[i]
            keys[i] = None
            while True:
                j = self._index(h)
                step = 0
                while moved[j]:
                    step += 1
                    j = (j + step) & mask
                moved[j] = 1
                replaced_h, replaced_k = hashes[j], keys[j]
                hashes[j], keys[j] = h, key
                if replaced_h <= _TOMBSTONE:
                    break
                h, key = replaced_h, replaced_k
        if self._size < old_size:
            del self._hashes[self._size :]
            del self._keys[self._size :]
        self._noccupied = self._nnodes
