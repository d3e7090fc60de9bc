"""How long work reports progress without knowing who shows it (a rich bar, or nothing).

``progress("validating", total)`` opens a stage and returns ``tick(n)``, called as work is
done; the CLI passes a rich bar, tests and the API pass ``silent``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Tick = Callable[[int], None]


class Progress(Protocol):
    def __call__(self, stage: str, total: int) -> Tick: ...


def silent(stage: str, total: int) -> Tick:
    return lambda n: None
