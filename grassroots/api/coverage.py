"""The coverage report in GraphQL: the same engine as ``grassroots coverage``."""

from __future__ import annotations

import base64
import io
from datetime import date

import strawberry

from grassroots.api.nodes import Connection, I, paginate
from grassroots.graph.store import chain
from grassroots.queries.coverage import engine
from grassroots.queries.coverage.report import write_xlsx
from grassroots.queries.coverage.rules import Severity, packs_to_run
from grassroots.queries.places import TRAIL_RELS

strawberry.enum(Severity)


@strawberry.type
class Source:
    document: str
    clause: str
    quote: str


@strawberry.type
class Gap:
    id: strawberry.ID
    name: str
    path: str
    message: str

    @strawberry.field(
        description="The ids along path, from the top down, this gap's own last: where an "
        "org chart or a map puts the gap's mark (one batched read for a page of gaps)."
    )
    async def trail(self, info: I) -> list[strawberry.ID]:
        found = await info.context.loaders.ancestors([self.id], TRAIL_RELS)
        return [strawberry.ID(i) for i in reversed(list(chain(found, self.id)))]


@strawberry.type
class RuleResult:
    result: strawberry.Private[engine.RuleResult]

    @strawberry.field
    def id(self) -> str:
        return self.result.rule.id

    @strawberry.field
    def pack(self) -> str:
        return self.result.rule.pack

    @strawberry.field
    def title(self) -> str:
        return self.result.rule.title

    @strawberry.field
    def title_zh(self) -> str:
        return self.result.rule.title_zh

    @strawberry.field(
        description="What the rule checks, one node each: Area, PartyOrg, Household, "
        "Pairing, ... (null for a rule checked by hand)."
    )
    def focus(self) -> str | None:
        focus = self.result.rule.focus
        return focus.label.value if focus else None

    @strawberry.field
    def severity(self) -> Severity:
        return self.result.rule.severity

    @strawberry.field
    def source(self) -> Source:
        src = self.result.rule.source
        return Source(document=src.document, clause=src.clause, quote=src.quote)

    @strawberry.field
    def checked(self) -> int:
        return self.result.checked

    @strawberry.field
    def satisfied(self) -> int:
        return self.result.satisfied

    @strawberry.field(
        description="satisfied / checked; 1.0 when nothing is checked, which "
        "nothingToCheck then says."
    )
    def ratio(self) -> float:
        return self.result.ratio

    @strawberry.field(
        description="True when no node of the rule's focus lies in the scope: 0 of 0 "
        "is not a score, whatever ratio shows."
    )
    def nothing_to_check(self) -> bool:
        return self.result.nothing_to_check

    @strawberry.field(description="The failing nodes, in path order.")
    def gaps(self, info: I, first: int | None = 100, after: str | None = None) -> Connection[Gap]:
        gaps = [
            Gap(id=strawberry.ID(g.id), name=g.name, path=g.path, message=g.message)
            for g in self.result.gaps
        ]
        return paginate(gaps, lambda g: str(g.id), first, after, info)


@strawberry.type
class CoverageReport:
    report: strawberry.Private[engine.Report]
    as_of: date
    scope: strawberry.ID | None
    packs: list[str] = strawberry.field(
        description="The packs checked: those asked for, or else core and GRASSROOTS_PACKS."
    )
    rules: list[RuleResult]
    limited_to: list[strawberry.ID] = strawberry.field(
        description="The areas of the caller's account the report is limited to (with no "
        "scope given, each of them, added up); empty for an account of the whole graph."
    )

    @strawberry.field(
        description="This report as an Excel workbook, base64: the same sheets as "
        "`grassroots coverage --format xlsx` (a summary, then a sheet per rule with gaps)."
    )
    def workbook(self) -> str:
        book = io.BytesIO()
        write_xlsx(self.report, book)
        return base64.b64encode(book.getvalue()).decode("ascii")


async def report(
    info: I,
    packs: list[str] | None,
    rules: list[str] | None,
    scope: strawberry.ID | None,
    as_of: date | None,
) -> CoverageReport:
    # the same packs as `grassroots coverage` with the same arguments
    chosen = packs_to_run(packs, info.context.settings.packs, rules)
    # a report reads for seconds at a city's scale: off the event loop, on the request's
    # snapshot, through the store's sync protocol (the engine compiles to its SQL/Cypher)
    seen = await info.context.subtrees()
    if seen is None:
        found = await info.context.whole.call(
            lambda store: engine.coverage(store, chosen, rules, scope, as_of)
        )
    else:  # the engine's compiled queries read the whole store, inside the caller's scope
        found = await info.context.whole.call(
            lambda store: engine.coverage_within(store, seen, chosen, rules, scope, as_of)
        )
    return CoverageReport(
        report=found,
        as_of=found.as_of,
        scope=strawberry.ID(found.scope) if found.scope else None,
        packs=found.packs,
        rules=[RuleResult(result=r) for r in found.results],
        limited_to=[strawberry.ID(area) for area in found.limited_to],
    )
