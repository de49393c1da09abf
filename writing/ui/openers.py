"""The registry behind the Library's "Open in its tab": which tab takes a draft of each kind back.

A tab registers, while it is built, the components to fill and a function draft -> their values;
the Library (built last) reads the registry. Neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from writing.library.store import Draft


@dataclass(frozen=True)
class Opener:
    """How a tab takes a draft back: its tab id, the components to fill, and draft -> their values."""

    tab_id: str
    outputs: list[Any]
    load: Callable[[Draft], Sequence[Any]]


@dataclass
class Openers:
    by_kind: dict[str, Opener] = field(default_factory=dict)

    def register(self, kind: str, *, tab_id: str, outputs: Sequence[Any],
                 load: Callable[[Draft], Sequence[Any]]) -> None:
        """Call in the tab's builder, before the Library tab is built."""
        self.by_kind[kind] = Opener(tab_id, list(outputs), load)

    def get(self, kind: str) -> Opener | None:
        return self.by_kind.get(kind)

    def __bool__(self) -> bool:
        return bool(self.by_kind)

    def outputs(self) -> list[Any]:
        """Every component some opener fills, each once, in registration order."""
        return list(dict.fromkeys(c for opener in self.by_kind.values() for c in opener.outputs))
