"""One exception tree. The CLI prints ``str(error)`` and exits 1; the API maps each to a
GraphQL error; nothing else reaches a user.

    GrassrootsError            anything the user can act on; its message says what to do
    ├── ConfigError            a setting is missing or wrong (GRASSROOTS_*, NEO4J_*)
    ├── StoreError             the store could not do what was asked
    │   ├── StoreUnavailable   the store cannot be reached or opened (Neo4j down, bad password)
    │   └── StoreBusy          another import holds the write lock (GRASSROOTS_LOCK_SECONDS)
    ├── LedgerError            a bundle was rejected; ``problems`` lists every bad cell
    ├── NotFound               an id names nothing of the kind asked for
    └── RuleError              a coverage pack or rule is malformed or unknown
"""

from __future__ import annotations

from dataclasses import dataclass, field


class GrassrootsError(Exception):
    """Base of every error meant for a user."""


class ConfigError(GrassrootsError):
    pass


class StoreError(GrassrootsError):
    pass


class StoreUnavailable(StoreError):
    pass


class NotFound(GrassrootsError):
    pass


class RuleError(GrassrootsError):
    pass


@dataclass(frozen=True, order=True)
class Problem:
    """One bad cell of a ledger: ``TABLE row N column: message``.

    ``row`` counts as a spreadsheet does: the header is row 1, the first data row is row 2
    (for a ``.jsonl`` dump, the line number).
    """

    table: str
    row: int
    column: str
    message: str
    # what kind of problem, for programs (the API's failure types): invalid, missing,
    # reference, duplicate, cycle, kind_order, dates, file
    code: str = field(default="invalid", compare=False)

    def __str__(self) -> str:
        return f"{self.table} row {self.row} {self.column}: {self.message}"


class LedgerError(GrassrootsError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        count = len(self.problems)
        super().__init__(
            "\n".join(str(p) for p in self.problems)
            + f"\n{count} problem{'s' if count != 1 else ''}; nothing was written."
            " Correct the rows above and import again."
        )


class StoreBusy(StoreError):
    """Another import held the store's critical section for longer than this one waits."""
