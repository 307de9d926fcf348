"""A read-only, hashable mapping for the fields of frozen value objects."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

__all__ = ["FrozenMapping", "freeze", "thaw"]

V = TypeVar("V")


class FrozenMapping(Mapping[str, V]):
    """A mapping that cannot change, so the value object holding it can be hashed.

    It compares equal to any mapping with the same items (a plain ``dict``
    included) and hashes by its items; hashing fails, as for a tuple, only
    when a value is itself unhashable.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, V] | None = None) -> None:
        self._data: dict[str, V] = dict(data or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(self._data)


def freeze(value: object) -> object:
    """A deep read-only copy of JSON-like data: mappings frozen, lists made tuples."""
    if isinstance(value, Mapping):
        return FrozenMapping({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: object) -> object:
    """The plain (JSON-ready) copy of :func:`freeze`'s result: dicts and lists."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value
