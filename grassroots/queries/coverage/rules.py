"""The rule format. A pack is a YAML file in ``packs/``; each rule names its *focus* (the
nodes it checks), a *condition* each must meet, and the policy clause it comes from.

Condition shapes (few, composable):

``count``   at least / at most n distinct nodes reached along a path of steps, each step
            one relationship (out or in) with filters on the relationship and its target;
            ``same_as`` requires the end node to be one reached along another path.
``compare`` a property of the focus compared with a number, or with a multiple of another
            of its properties (``service_centre_m2 >= 0.3 * households``).
``match``   a filter on the focus's own properties (``form: [committee]``).
``all`` / ``any``  conjunction / disjunction of conditions.

Filters: a list means "one of", a scalar "equal to", a map one of ``ne`` (absent counts as
different), ``gte`` ``lte`` ``gt`` ``lt`` (numeric; absent fails), ``exists``.

As-of: every dated element (a post, employment, contact or report; a pairing or
dispatch) counts only when active on the day asked, wherever it appears: in the focus or
along a path. Rules never say so; the engine does it, once.

A rule with ``manual: true`` records a requirement that ledger data cannot check; it keeps
its source so that each pack is a complete picture of its document.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grassroots.errors import RuleError
from grassroots.graph.filters import OPERATORS, Filters
from grassroots.schema import Label, RelType


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Severity(StrEnum):
    MUST = "must"
    SHOULD = "should"


class Step(Strict):
    rel: RelType
    dir: Literal["out", "in"] = "out"
    where: Filters = Field(default_factory=dict)  # on the relationship
    to: Label
    to_where: Filters = Field(default_factory=dict)  # on the node it reaches


class Count(Strict):
    kind: Literal["count"] = "count"
    path: list[Step] = Field(min_length=1)
    at_least: int | None = Field(default=None, ge=0)
    at_most: int | None = Field(default=None, ge=0)
    same_as: list[Step] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.at_least is None and self.at_most is None:
            raise ValueError("a count needs at_least or at_most")
        return self


class Compare(Strict):
    kind: Literal["compare"] = "compare"
    property: str
    op: Literal[">=", "<=", ">", "<", "==", "!="]
    value: float
    times: str | None = None  # compare with value * focus[times] instead of value


class Match(Strict):
    kind: Literal["match"] = "match"
    where: Filters = Field(min_length=1)


class AllOf(Strict):
    kind: Literal["all"] = "all"
    of: list[Condition] = Field(min_length=1)


class AnyOf(Strict):
    kind: Literal["any"] = "any"
    of: list[Condition] = Field(min_length=1)


Condition = Annotated[Count | Compare | Match | AllOf | AnyOf, Field(discriminator="kind")]
AllOf.model_rebuild()
AnyOf.model_rebuild()


class Focus(Strict):
    label: Label
    where: Filters = Field(default_factory=dict)
    having: Condition | None = None  # only focus nodes that also meet this


class Source(Strict):
    document: str
    file: str
    clause: str
    quote: str


class Rule(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    pack: str
    title: str
    title_zh: str
    severity: Severity
    source: Source
    focus: Focus | None = None
    condition: Condition | None = None
    manual: bool = False
    message: str = ""  # why a gap fails, shown with each gap
    covers: list[str] = Field(default_factory=list)  # requirement ids in the policy's list
    notes: str | None = None

    @model_validator(mode="after")
    def _checkable(self) -> Self:
        if self.manual and (self.focus or self.condition):
            raise ValueError("a manual rule has no focus or condition")
        if not self.manual and not (self.focus and self.condition and self.message):
            raise ValueError("a machine rule needs a focus, a condition and a message")
        if self.focus and self.focus.label is Label.PERSON:
            raise ValueError("people are not a focus: they lie in no area, so no scope fits")
        return self


class Pack(Strict):
    pack: str
    title: str
    document: str | None = None  # the policy document it encodes; None for core
    rules: list[Rule]


def _validate_filters(filters: Filters, where: str) -> None:
    for name, value in filters.items():
        if isinstance(value, dict):
            unknown = set(value) - OPERATORS
            if unknown or len(value) != 1:
                raise RuleError(f"{where}: filter on {name!r} must be one of {sorted(OPERATORS)}")


def _filters_of(condition: Condition | None) -> list[Filters]:
    if condition is None:
        return []
    if isinstance(condition, Count):
        steps = [*condition.path, *(condition.same_as or [])]
        return [f for step in steps for f in (step.where, step.to_where)]
    if isinstance(condition, AllOf | AnyOf):
        return [f for part in condition.of for f in _filters_of(part)]
    if isinstance(condition, Match):
        return [condition.where]
    return []


# libyaml's safe loader when PyYAML was built with it (the wheels are): the packs parse in
# 0.09 s instead of 1.1 s (under the profiler).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# every pack, as `--pack all` (or the API's packs: ["all"]) asks
ALL = "all"
# checked when no pack is named, before the ones a planner chose (GRASSROOTS_PACKS)
CORE = "core"


def pack_names() -> list[str]:
    """The names of the shipped packs (each ``packs/NAME.yaml``), without parsing them."""
    folder = resources.files("grassroots.queries.coverage") / "packs"
    return sorted(
        e.name.removesuffix(".yaml") for e in folder.iterdir() if e.name.endswith(".yaml")
    )


@cache
def load_packs() -> dict[str, Pack]:
    """Every pack shipped in ``packs/``, validated; rule ids are unique across packs."""
    packs: dict[str, Pack] = {}
    seen: dict[str, str] = {}
    folder = resources.files("grassroots.queries.coverage") / "packs"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        raw = yaml.load(entry.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
        name = raw.get("pack")
        if name != entry.name.removesuffix(".yaml"):
            raise RuleError(f"pack {entry.name} must be named {entry.name[:-5]!r}, not {name!r}")
        for rule in raw.get("rules", []):
            rule.setdefault("pack", name)
        try:
            pack = Pack.model_validate(raw)
        except ValidationError as exc:
            raise RuleError(f"pack {entry.name} is malformed:\n{exc}") from None
        for rule in pack.rules:
            if rule.id in seen:
                raise RuleError(f"rule {rule.id} is in packs {seen[rule.id]} and {pack.pack}")
            seen[rule.id] = pack.pack
            focus_filters = (
                [rule.focus.where, *_filters_of(rule.focus.having)] if rule.focus else []
            )
            for filters in [*_filters_of(rule.condition), *focus_filters]:
                _validate_filters(filters, f"rule {rule.id}")
        packs[pack.pack] = pack
    return packs


def packs_to_run(
    asked: list[str] | None, chosen: list[str], rules: list[str] | None = None
) -> list[str] | None:
    """The packs a report checks: those asked for (``all``: every pack); else, when rules
    are named, theirs (None); else the core pack and the ``chosen`` ones (GRASSROOTS_PACKS)."""
    if asked:
        return list(load_packs()) if ALL in asked else list(dict.fromkeys(asked))
    if rules:
        return None
    if ALL in chosen:
        return list(load_packs())
    return list(dict.fromkeys([CORE, *chosen]))


def select(packs: list[str] | None, rules: list[str] | None) -> list[Rule]:
    """The machine-checkable rules of the packs and rule ids asked for (all when neither;
    ``all`` among the packs names every pack)."""
    available = load_packs()
    if packs and ALL in packs:
        packs = list(available)
    for name in packs or []:
        if name not in available:
            raise RuleError(
                f"unknown pack {name!r}; the packs are {', '.join(available)} (or {ALL})"
            )
    everything = {r.id: r for p in available.values() for r in p.rules}
    for rule_id in rules or []:
        if rule_id not in everything:
            raise RuleError(
                f"unknown rule {rule_id!r}; list them with `grassroots coverage --list-rules`"
            )
        if everything[rule_id].manual:
            raise RuleError(
                f"rule {rule_id!r} is checked by hand, not from data (see --list-rules)"
            )
    chosen = [
        rule
        for name, pack in available.items()
        if not packs or name in packs
        for rule in pack.rules
        if not rule.manual and (not rules or rule.id in rules)
    ]
    if rules and not packs:
        chosen = [everything[r] for r in dict.fromkeys(rules)]
    return chosen
