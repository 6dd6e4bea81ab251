"""Name -> object registries with one helpful error for unknown names.

Every choice a user makes by name (model, head, loss, latent distribution, data source)
goes through a `Registry`, so a typo always produces the same kind of message:
``ValueError: Unknown loss 'bcee'. Expected one of ['bce', 'hinge', ...]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """A read-mostly mapping from names to entries, filled by `register`."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None):
        """Registers `entry` under `name`; without `entry`, works as a decorator."""
        if entry is not None:
            self._add(name, entry)
            return entry

        def decorator(obj: T) -> T:
            self._add(name, obj)
            return obj

        return decorator

    def _add(self, name: str, entry: T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice.")
        self._entries[name] = entry

    def get(self, name: str) -> T:  # type: ignore[override]
        """Returns the entry for `name` or raises ValueError naming the valid choices."""
        if not isinstance(name, str) or name not in self._entries:
            raise ValueError(
                f"Unknown {self.kind} {name!r}. Expected one of {sorted(self._entries)}."
            )
        return self._entries[name]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)


def check_choice(kind: str, value, choices) -> None:
    """Raises ValueError unless `value` is one of `choices` (for non-registry enums)."""
    if value not in choices:
        raise ValueError(f"Unknown {kind} {value!r}. Expected one of {sorted(choices)}.")


def check_positive_int(name: str, value) -> int:
    """Returns `value` as int if it is a positive integer, else raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return value

