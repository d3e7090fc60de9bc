"""The ``grassroots`` command. Every ``GrassrootsError`` becomes one clear message and
exit status 1; anything else is reported as an internal error without a traceback
(``GRASSROOTS_DEBUG=1`` shows it)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ContextDecorator, contextmanager
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grassroots.errors import GrassrootsError
from grassroots.graph import Store, open_store
from grassroots.importers import Outcome, import_path, write_dump
from grassroots.progress import Tick
from grassroots.queries import accounts
from grassroots.schema import Role
from grassroots.schema.audit import Actor, Change, Entry
from grassroots.schema.base import parse_day
from grassroots.schema.person import PERSONAL
from grassroots.settings import Settings, StoreKind, load_settings

if TYPE_CHECKING:
    from grassroots.queries.paths import LinkPath

app = typer.Typer(
    help="Grassroots: the party-organisation graph, its coverage checks and its API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _store_kind(value: str) -> StoreKind:
    try:
        return StoreKind(value)  # the embedded store's earlier names too (settings.py)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is no store; name local or neo4j") from None


StoreOption = Annotated[
    StoreKind | None,
    typer.Option(
        "--store",
        parser=_store_kind,
        metavar="[local|neo4j]",
        help="local (embedded, default) or neo4j; or GRASSROOTS_STORE.",
    ),
]
_chosen: dict[str, StoreKind] = {}


@app.callback()
def _main(store: StoreOption = None) -> None:
    if store is not None:
        _chosen["store"] = store


def _settings(store: StoreKind | None) -> Settings:
    chosen = store or _chosen.get("store")
    base = load_settings()
    return base.model_copy(update={"store": chosen}) if chosen else base


def _actor(account: str | None = None) -> Actor:
    """Who a command writes as, for the audit log (``Actor.local``)."""
    return Actor.local(account)


def _notice(text: str) -> None:
    err.print(text, markup=False)


@contextmanager
def _store(store: StoreKind | None) -> Iterator[Store]:
    from grassroots.graph.served import ServedStore

    opened = open_store(_settings(store), _notice)
    if isinstance(opened, ServedStore):  # DuckDB admits one process: serve does the work
        server = opened.server
        _notice(f"handed to the running grassroots serve at {server.url} (pid {server.pid})")
    try:
        yield opened
    finally:
        opened.close()


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


class _PathErrors(ContextDecorator):
    """A file the system will not read or write is the user's to fix: one line naming it."""

    def __init__(self, hint: str) -> None:
        self.hint = hint

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, trace: object) -> None:
        if isinstance(exc, OSError) and exc.filename is not None:
            name = str(exc.filename).removesuffix(".partial")
            raise GrassrootsError(f"{name}: {_reason(exc).lower()}; {self.hint}") from None


def _output_file(path: Path, example: str) -> Path:
    """``path`` if a file may be written there; else one line saying what to do instead.

    Checked before any work, so a long export or report does not fail at its end."""
    parent = path.parent
    if path.is_dir():
        raise GrassrootsError(f"{path} is a folder; name a file to write, such as {path / example}")
    if path.exists() and not path.is_file():
        kind = "fifo" if stat.S_ISFIFO(path.stat().st_mode) else "device or special file"
        raise GrassrootsError(f"{path} is a {kind}, not a file; name a plain file to write")
    if parent.exists() and not parent.is_dir():
        raise GrassrootsError(f"{path}: {parent} is a file, not a folder; choose another path")
    if not parent.exists():
        raise GrassrootsError(
            f"{path}: the folder {parent} does not exist; create it first"
            f" (mkdir -p {parent}) or choose another path"
        )
    return path


class _Bar:
    """A rich progress bar for long work; quiet when the work is small or not a terminal."""

    def __init__(self, console: Console, threshold: int = 20_000) -> None:
        self.console = console
        self.threshold = threshold
        self.progress: Progress | None = None

    def __call__(self, stage: str, total: int) -> Tick:
        if total < self.threshold:
            return lambda n: None
        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description:<11}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
        task = self.progress.add_task(stage, total=total)
        progress = self.progress
        return lambda n: progress.advance(task, n)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _print_outcome(outcome: Outcome, path: Path) -> None:
    verb = "would write" if outcome.dry_run else "imported"
    out.print(f"{verb} {path}:")
    for table, tally in outcome.tallies.items():
        out.print(
            f"  {table:<12} {tally.created:>7} created {tally.updated:>7} updated"
            f" {tally.unchanged:>7} unchanged"
        )
    for table, headers in outcome.extra_columns.items():
        out.print(f"{table}: extra columns kept as properties: {', '.join(headers)}", markup=False)
    if outcome.dry_run:
        out.print("dry run: the bundle is valid; nothing was written.")
    elif outcome.written == 0:
        out.print("nothing changed: the store already holds this bundle.")


@app.command("import")
def import_(
    path: Annotated[
        Path, typer.Argument(help="A folder of CSV files, an .xlsx workbook or a .jsonl dump.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate only; write nothing.")
    ] = False,
    as_account: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Import for this account (an editor or admin): every row must lie inside"
            " its areas, or nothing is written.",
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Import a ledger bundle or a dump: all or nothing, idempotent."""
    bar = _Bar(err)
    try:
        with _store(store) as opened, _PathErrors("check the files there"):
            within = accounts.writer(opened, as_account).areas if as_account else ()
            outcome = import_path(
                opened,
                path,
                dry_run=dry_run,
                progress=bar,
                actor=_actor(as_account),
                within=within,
            )
    finally:
        bar.close()
    _print_outcome(outcome, path)


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    GRAPHML = "graphml"
    GEXF = "gexf"


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="The file to write.")],
    format_: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="jsonl (a dump that `import` restores), or graphml or gexf (for Gephi,"
            " yEd, Cytoscape).",
        ),
    ] = ExportFormat.JSONL,
    scope: Annotated[
        str | None,
        typer.Option(help="graphml/gexf: only the subtree of this area (or party org's area)."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="graphml/gexf: only what is active on this day."),
    ] = None,
    no_personal: Annotated[
        bool,
        typer.Option(
            "--no-personal",
            help="Leave out people's phone, id_number and birth_date (then not a full backup).",
        ),
    ] = False,
    store: StoreOption = None,
) -> None:
    """Write the whole graph as a .jsonl dump that `import` restores exactly, or the
    graph or an area's subtree as GraphML or GEXF.

    Every format holds people's personal fields in full unless --no-personal; keep the
    file as you keep the ledger."""
    fields = ", ".join(sorted(PERSONAL))
    if format_ is not ExportFormat.JSONL:
        _export_graph(path, format_, scope, as_of, no_personal, store)
        return
    if scope or as_of:
        raise GrassrootsError(
            "--scope and --as-of apply to --format graphml or gexf; a jsonl dump holds"
            " the whole graph, so that `import` restores it"
        )
    _output_file(path, "graph.jsonl")
    with _store(store) as opened, _PathErrors("choose a file you may write"):
        summary = write_dump(opened, path, personal=not no_personal)
    out.print(f"wrote {summary.lines} lines to {path}")
    if no_personal:
        err.print(
            f"left out the personal fields ({fields}) of {summary.personal} people: this dump"
            " is not a full backup, and importing it would clear those fields in the store",
            markup=False,
        )
    elif summary.personal:
        err.print(
            f"personal data: {path} holds the personal fields ({fields}) of"
            f" {summary.personal} people in full; keep it as you keep the ledger,"
            " or export with --no-personal",
            markup=False,
        )


def _export_graph(
    path: Path,
    format_: ExportFormat,
    scope: str | None,
    as_of: str | None,
    no_personal: bool,
    store: StoreKind | None,
) -> None:
    from grassroots.exports.graph_file import GraphFormat, write_graph
    from grassroots.queries.places import scope_area

    day = _day(as_of)
    _output_file(path, f"graph.{format_.value}")
    with _store(store) as opened, _PathErrors("choose a file you may write"):
        resolved = _scope(opened, scope)
        area = scope_area(opened, resolved) if resolved else None
        summary = write_graph(
            opened,
            path,
            GraphFormat(format_.value),
            area,
            day.isoformat() if day else None,
            personal=not no_personal,
        )
    out.print(f"wrote {summary.nodes} nodes and {summary.edges} edges to {path}", markup=False)
    fields = ", ".join(sorted(PERSONAL))
    if no_personal:
        err.print(f"left out the personal fields ({fields}) of {summary.personal} people")
    elif summary.personal:
        err.print(
            f"personal data: {path} holds the personal fields ({fields}) of"
            f" {summary.personal} people in full; keep it as you keep the ledger,"
            " or export with --no-personal",
            markup=False,
        )


@app.command()
def reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
    store: StoreOption = None,
) -> None:
    """Empty the store."""
    settings = _settings(store)
    where = settings.neo4j_uri if settings.store is StoreKind.NEO4J else str(settings.data)
    if not yes:
        if not sys.stdin.isatty():
            raise GrassrootsError("reset needs confirmation; run it again with --yes")
        typer.confirm(
            f"Delete everything in the {settings.store.value} store at {where}?", abort=True
        )
    with _store(store) as opened:
        # the log keeps what the graph held, by label and type: a reset's before
        held = Change(kind="graph", type="graph", id="graph", before=opened.counts())
        opened.reset(Entry.begin(_actor(), "reset", [held]))
    out.print(f"the {settings.store.value} store at {where} is empty")


@app.command()
def generate(
    folder: Annotated[Path, typer.Argument(help="The folder to write the ledger bundle into.")],
    scale: Annotated[str, typer.Option(help="tiny, small, district or city.")] = "small",
    seed: Annotated[int, typer.Option(help="The same seed gives the same city.")] = 7,
) -> None:
    """Write a realistic sample city as a ledger bundle (CSV files)."""
    from grassroots.sample.city import SCALES, generate, write_bundle

    if scale not in SCALES:
        raise GrassrootsError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    if folder.exists() and not folder.is_dir():
        raise GrassrootsError(f"{folder} is a file; generate writes a folder of CSV files there")
    with _PathErrors("choose a folder you may write"):
        written = dict(write_bundle(generate(scale, seed), folder))
    out.print(f"wrote {sum(written.values())} rows in {len(written)} tables to {folder}")


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    XLSX = "xlsx"


class ByLevel(StrEnum):
    DISTRICT = "district"
    SUBDISTRICT = "subdistrict"
    TOWNSHIP = "township"
    COMMUNITY = "community"
    VILLAGE = "village"


def _day(text: str | None, option: str = "--as-of") -> date | None:
    """A day as the ledger writes it (the ledger's own parser: YYYY-MM-DD, YYYY/M/D,
    YYYY年M月D日)."""
    if text is None:
        return None
    try:
        return parse_day(text)
    except ValueError as exc:
        raise GrassrootsError(f"{option}: {exc}") from None


def _scope(store: Store, scope: str | None) -> str | None:
    """The id a scope names (an id, or a unique name of an area or party org); a name
    matched is reported on stderr, so the user sees which node it was."""
    if scope is None:
        return None
    from grassroots.queries.places import describe, resolve
    from grassroots.schema import Label

    found = resolve(store, scope, (Label.AREA, Label.PARTY_ORG), "scope")
    if found != scope:
        path = describe(store, [found]).get(found, (scope, scope))[1]
        err.print(f"scope {scope} = {found} ({path})", markup=False)
    return found


@app.command("coverage")
@_PathErrors("choose a file you may write")
def coverage_(
    pack: Annotated[
        list[str] | None, typer.Option("--pack", help="A pack to check (repeatable).")
    ] = None,
    rule: Annotated[
        list[str] | None, typer.Option("--rule", help="A rule to check (repeatable).")
    ] = None,
    scope: Annotated[
        str | None, typer.Option(help="Only inside this area (or party org's area).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day, YYYY-MM-DD (default today).")
    ] = None,
    format_: Annotated[
        Format, typer.Option("--format", help="table, json or xlsx.")
    ] = Format.TABLE,
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of the terminal.")
    ] = None,
    by: Annotated[
        ByLevel | None, typer.Option(help="Also break ratios down by areas of this kind.")
    ] = None,
    list_rules_: Annotated[
        bool, typer.Option("--list-rules", help="List every rule and stop.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Check coverage rules and report every gap with its path and policy source."""
    from grassroots.queries.coverage import coverage
    from grassroots.queries.coverage import report as render
    from grassroots.queries.coverage.engine import breakdown
    from grassroots.queries.coverage.rules import packs_to_run
    from grassroots.schema import AreaKind

    if list_rules_:
        render.list_rules(out)
        return
    day = _day(as_of)
    packs = packs_to_run(pack, _settings(store).packs, rule)  # core + GRASSROOTS_PACKS
    if output:
        _output_file(output, f"coverage.{format_.value if format_ is not Format.TABLE else 'txt'}")
    with _store(store) as opened:
        scope = _scope(opened, scope)
        result = coverage(opened, packs, rule, scope, day)
        split = breakdown(opened, AreaKind(by.value), packs, rule, scope, day) if by else None
        empty = not opened.counts()
    if format_ is Format.XLSX:
        target = output or Path(f"coverage-{result.as_of.isoformat()}.xlsx")
        render.write_xlsx(result, target, split)
        out.print(f"wrote the coverage report to {target}", markup=False)
    elif format_ is Format.JSON:
        text = render.to_json(result, split)
        if output:
            output.write_text(text + "\n", encoding="utf-8")
            out.print(f"wrote the coverage report to {output}", markup=False)
        else:
            print(text)
    elif output:
        with output.open("w", encoding="utf-8") as handle:
            render.print_table(result, Console(file=handle, width=160), split)
        out.print(f"wrote the coverage report to {output}", markup=False)
    else:
        render.print_table(result, out, split)
    if empty:  # said last, after the report: an error writing it stays the one line
        err.print(
            f"the store is empty ({_where(_settings(store))}): every rule has nothing to"
            f" check; import a ledger first ({_program()} import PATH)",
            markup=False,
        )


@app.command("audit")
@_PathErrors("choose a file you may write")
def audit_(
    since: Annotated[
        str | None,
        typer.Option(help="From this day (YYYY-MM-DD) or moment (ISO, UTC) on."),
    ] = None,
    area: Annotated[
        str | None, typer.Option(help="Only changes inside this area's subtree (id or name).")
    ] = None,
    user: Annotated[str | None, typer.Option(help="Only this account's (or CLI user's).")] = None,
    format_: Annotated[
        Format, typer.Option("--format", help="table, json or xlsx.")
    ] = Format.TABLE,
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of the terminal.")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Who changed what, when, through what, and what it was before: every write."""
    from grassroots.queries import audit

    moment = _moment(since)
    if output:
        _output_file(output, f"audit.{format_.value if format_ is not Format.TABLE else 'txt'}")
    with _store(store) as opened:
        entries = audit.audit_log(opened, moment, area, user)
    if format_ is Format.XLSX:
        target = output or Path("audit.xlsx")
        audit.write_xlsx(entries, target)
        out.print(f"wrote {len(entries)} audit entries to {target}", markup=False)
    elif format_ is Format.JSON:
        text = audit.to_json(entries)
        if output:
            output.write_text(text + "\n", encoding="utf-8")
            out.print(f"wrote {len(entries)} audit entries to {output}", markup=False)
        else:
            print(text)
    elif output:
        with output.open("w", encoding="utf-8") as handle:
            audit.print_table(entries, Console(file=handle, width=160))
        out.print(f"wrote {len(entries)} audit entries to {output}", markup=False)
    else:
        audit.print_table(entries, out)


def _moment(text: str | None) -> datetime | None:
    """``--since``: a day (the ledger's spellings: its start, in UTC) or an ISO moment."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        day = _day(text, "--since")
        assert day is not None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class PathFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command("path")
def path_(
    a: Annotated[str, typer.Argument(help="One end: an id, or the exact name of one node.")],
    b: Annotated[str, typer.Argument(help="The other end, the same way.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day, YYYY-MM-DD (default today).")
    ] = None,
    max_hops: Annotated[
        int, typer.Option("--max-hops", min=1, max=16, help="The longest chain to look for.")
    ] = 8,
    format_: Annotated[
        PathFormat, typer.Option("--format", help="table or json.")
    ] = PathFormat.TABLE,
    store: StoreOption = None,
) -> None:
    """The shortest chain of posts, employments, contacts, pairings, dispatches and
    org/area parents, active on the day, that links two nodes (a cadre and a village,
    a unit and a grid)."""
    import json

    from grassroots.queries import paths

    day = _day(as_of)
    with _store(store) as opened:
        start = paths.resolve_end(opened, a, "the first end")
        end = paths.resolve_end(opened, b, "the second end")
        found = paths.link_path(opened, start, end, day, max_hops=max_hops)
        answer = paths.as_json(opened, found)
    if format_ is PathFormat.JSON:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    _print_path(answer, found)


def _print_path(answer: dict[str, Any], found: LinkPath) -> None:
    from rich.table import Table
    from rich.text import Text

    from grassroots.queries.paths import not_found_message

    nodes = answer["nodes"]
    if not found.found:
        out.print(f"{answer['from']} – {answer['to']}: {not_found_message(found)}", markup=False)
        return
    first, last = nodes[0], nodes[-1]
    out.print(
        f"{first['path']} ({first['id']}) → {last['path']} ({last['id']}),"
        f" as of {answer['as_of']}: {answer['hops']} steps",
        markup=False,
    )
    table = Table(show_edge=False, pad_edge=False)
    for column in ("#", "from", "link", "to"):
        table.add_column(column)
    for i, step in enumerate(answer["steps"]):
        here, there = nodes[i], nodes[i + 1]
        arrow = "→" if step["forward"] else "←"
        detail = ", ".join(f"{k} {v}" for k, v in sorted(step["props"].items()))
        link = f"{arrow} {step['rel_zh']} {step['rel']}" + (f" ({detail})" if detail else "")
        table.add_row(
            str(i + 1),
            Text(f"{here['name']} {here['id']}"),
            Text(link),
            Text(f"{there['name']} {there['id']}"),
        )
    out.print(table)
    if found.cut:
        out.print(
            f"the search was cut at {found.max_frontier:,} nodes a step: a shorter chain may exist",
            markup=False,
        )


def _free_port(host: str, wanted: int) -> int:
    import socket

    with socket.socket() as probe:
        # as uvicorn binds: a port whose last server just stopped (its connections in
        # TIME_WAIT) is free, one with a server listening is not
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, wanted))
            return wanted
        except OSError:
            probe.bind((host, 0))
            return int(probe.getsockname()[1])


def _serve(settings: Settings, host: str, port: int) -> None:
    import logging

    import uvicorn

    from grassroots.api.app import create_app
    from grassroots.api.local import serving
    from grassroots.graph.duck import DuckStore
    from grassroots.graph.serve_file import announced

    # opened here, not by create_app, so that what opening tells (the Neo4j server it
    # found, a store it moved) reaches the user's stderr as every other command's does
    application = create_app(settings, open_store(settings, _notice))
    chosen = _free_port(host, port)
    if chosen != port:
        out.print(f"port {port} is taken; using {chosen}")
    out.print(f"web page:    http://{host}:{chosen}/  (open it in a browser: 组织架构与覆盖情况)")
    out.print(f"GraphQL API: http://{host}:{chosen}/graphql  (GraphiQL in a browser)")
    out.print(f"health:      http://{host}:{chosen}/healthz   (Ctrl+C stops)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    held = application.state.store
    if not isinstance(held, DuckStore):
        try:
            uvicorn.run(application, host=host, port=chosen, log_level="info")
        finally:
            held.close()  # its drivers and the async one's thread
        return
    # this process holds the DuckDB file: CLI commands hand their work to it meanwhile
    secret = secrets.token_urlsafe(32)
    # uvicorn re-raises a SIGTERM (kill, systemd, docker stop) once it has shut down; as an
    # exit, not the default kill, it lets serve.json go and the file close below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with serving(held, secret) as local, announced(held.data, local, secret):
            uvicorn.run(application, host=host, port=chosen, log_level="info")
    finally:
        held.close()


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option(help="Write the SDL to this file.")] = None,
) -> None:
    """Print the GraphQL schema (SDL); the committed copy is schema.graphql."""
    from grassroots.api.schema import build_schema

    text = build_schema().as_str() + "\n"
    if output:
        with _PathErrors("choose a file you may write"):
            _output_file(output, "schema.graphql").write_text(text, encoding="utf-8")
        out.print(f"wrote the schema to {output}")
    else:
        print(text, end="")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port (a free one if it is taken).")] = 8000,
    store: StoreOption = None,
) -> None:
    """Serve the web page at /, the GraphQL API at /graphql (GraphiQL on GET) and health
    at /healthz."""
    _serve(_settings(store), host, port)


def _where(settings: Settings) -> str:
    if settings.store is StoreKind.NEO4J:
        return f"Neo4j at {settings.neo4j_uri} (database {settings.neo4j_database})"
    return f"the embedded store at {settings.data}"


def _demo_settings(store: StoreKind | None, data: Path | None) -> Settings:
    """The demo's own embedded store (GRASSROOTS_DEMO_DATA), whatever GRASSROOTS_STORE and
    GRASSROOTS_DATA say: only --store neo4j, or --data, on the command line sends the
    sample city elsewhere."""
    base = load_settings()
    chosen = store or _chosen.get("store")
    if chosen is StoreKind.NEO4J:
        if data is not None:
            raise GrassrootsError(
                "--data names an embedded store's folder; leave it out with --store neo4j"
            )
        return base.model_copy(update={"store": StoreKind.NEO4J})
    return base.model_copy(update={"store": StoreKind.LOCAL, "data": data or base.demo_data})


def _other_data(store: Store, sample: Path) -> dict[str, int]:
    """What ``store`` holds besides the sample city: empty when it holds nothing, or
    exactly the sample city (a demo run before), its nodes per label otherwise."""
    from grassroots.errors import LedgerError
    from grassroots.schema import BY_LINK, BY_NAME, Label

    counts = store.counts()
    labels = {label.value for label in Label}
    nodes = {k: n for k, n in counts.items() if k in labels}
    if not counts:
        return {}
    try:
        trial = import_path(store, sample, dry_run=True)
    except LedgerError:  # its ids clash with the sample's: certainly other data
        return nodes
    rows = {True: 0, False: 0}
    for table, tally in trial.tallies.items():
        rows[BY_NAME[table].is_node] += tally.total
    links = sum(counts.get(rel.value, 0) for rel in BY_LINK)
    if trial.written == 0 and (sum(nodes.values()), links) == (rows[True], rows[False]):
        return {}
    return nodes


def _guard_demo_target(store: Store, sample: Path, where: str, yes: bool) -> None:
    """Never mix the sample city into other data without the user's word."""
    found = _other_data(store, sample)
    if not found:
        return
    held = ", ".join(f"{n:,} {label}" for label, n in sorted(found.items()))
    what = f"{where} already holds other data ({held}), not only the sample city"
    todo = (
        "run the demo on its own store (leave out --store and --data), empty that store"
        " first (grassroots reset), or pass --yes to add the sample city to it anyway"
    )
    if yes:
        err.print(f"{what}; --yes: adding the sample city to it", markup=False)
        return
    if not sys.stdin.isatty():
        raise GrassrootsError(f"{what}; the demo will not mix its fictional city into it: {todo}")
    err.print(f"{what}. The demo's fictional city would be mixed into it.", markup=False)
    err.print(f"Instead you may {todo}.", markup=False)
    typer.confirm("Add the sample city to it anyway?", abort=True)


@app.command()
def demo(
    store: StoreOption = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="The demo's embedded store folder (default GRASSROOTS_DEMO_DATA,"
            " ./grassroots-demo)."
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Write into a store that holds other data, unasked."),
    ] = False,
    host: Annotated[str, typer.Option(help="The address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to serve on.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after the report.")] = False,
) -> None:
    """Load a realistic sample city into the demo's own store, print its coverage, and
    serve the API. Your ledgers stay apart: the demo never writes into GRASSROOTS_DATA."""
    from grassroots.queries.coverage import coverage
    from grassroots.queries.coverage.report import print_table
    from grassroots.sample.city import generate as make_city
    from grassroots.sample.city import write_bundle

    settings = _demo_settings(store, data)
    where = _where(settings)
    out.print("[bold]Grassroots demo: the sample city of 大连市[/bold]")
    out.print(f"the demo's store: {where}", markup=False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sample-city"
        list(write_bundle(make_city("small"), folder))
        bar = _Bar(err)
        opened = open_store(settings, _notice)
        try:
            _guard_demo_target(opened, folder, where, yes)
            outcome = import_path(opened, folder, progress=bar, actor=_actor())
            counts = opened.counts()
            bar.close()
            _print_outcome(outcome, Path("sample city"))
            out.print(
                "the store holds: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
            )
            print_table(coverage(opened, ["core", "dalian"]), out)
        finally:
            bar.close()
            opened.close()
    me = _program()
    out.print(f"more: {me} coverage --help, {me} coverage --list-rules", markup=False)
    if settings.store is StoreKind.NEO4J:
        query = f"{me} coverage --store neo4j --scope 中山区"
    else:
        query = (
            f"GRASSROOTS_DATA={settings.data} {me} coverage"
            f" --store {settings.store.value} --scope 中山区"
        )
    out.print(f"query the demo's store: {query}", markup=False)
    default = load_settings()
    out.print(
        f"your own ledgers: {me} import PATH goes to the default store,"
        f" {_where(default)} (GRASSROOTS_STORE, GRASSROOTS_DATA), not to the demo's",
        markup=False,
    )
    if no_serve:
        out.print(f"serve it: {me} demo (it serves after the report)", markup=False)
    else:
        out.print(
            'try: { orgChart(rootId: "中共东山社区总支部委员会", depth: 1)'
            " { id parentId name form childCount secretary { name } } }",
            markup=False,
        )
        _serve(settings, host, port)


users = typer.Typer(help="Accounts of the API: a role, the areas bound, personal data.")
tokens = typer.Typer(help="API tokens of an account: shown once, kept only as a digest.")
app.add_typer(users, name="users")
app.add_typer(tokens, name="tokens")


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise typer.BadParameter(f"choose one of {Role.choices()}") from None


@users.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The account's name (Chinese works: 中山区组织部).")],
    role: Annotated[
        Role, typer.Option(parser=_role, help="viewer 查看, editor 编辑 or admin 管理.")
    ] = Role.VIEWER,
    area: Annotated[
        list[str] | None,
        typer.Option(
            "--area",
            help="An area (id or unique name) whose subtree the account is bound to;"
            " repeat for several. None: the whole graph.",
        ),
    ] = None,
    personal: Annotated[
        bool, typer.Option("--personal", help="May see phones and ID numbers in full.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Add an account; `grassroots tokens issue NAME` then gives it a token."""
    with _store(store) as opened:
        made = accounts.add_account(opened, name, role, area or [], personal, _actor())
    bound = ", ".join(made.areas) or "the whole graph"
    out.print(f"account {made.name!r}: {made.role.value}, {bound}", markup=False)


@users.command("list")
def users_list(store: StoreOption = None) -> None:
    """The accounts, with their roles and areas."""
    with _store(store) as opened:
        found = accounts.accounts(opened)
    for user in found:
        state = "disabled" if user.disabled else "active"
        flags = ", personal" if user.personal else ""
        bound = ",".join(user.areas) or "all"
        out.print(f"{user.name}\t{user.role.value}{flags}\t{bound}\t{state}", markup=False)
    if not found:
        _notice("no accounts yet: grassroots users add NAME --role viewer")


@users.command("disable")
def users_disable(name: str, store: StoreOption = None) -> None:
    """Disable an account: none of its tokens answers from the next request on."""
    with _store(store) as opened:
        accounts.disable_account(opened, name, _actor())
    out.print(f"account {name!r} is disabled", markup=False)


@tokens.command("issue")
def tokens_issue(
    name: Annotated[str, typer.Argument(help="The account the token is for.")],
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="Expires after this many days.")
    ] = 90,
    never: Annotated[bool, typer.Option("--never-expires", help="No expiry.")] = False,
    store: StoreOption = None,
) -> None:
    """Issue a token; its secret is printed once, on stdout, and never kept."""
    expires = None if never or days is None else accounts.now() + timedelta(days=days)
    with _store(store) as opened:
        secret, made = accounts.issue_token(opened, name, expires, _actor())
    until = made.expires.strftime("%Y-%m-%d %H:%M UTC") if made.expires else "never"
    _notice(f"token {made.id} for {name!r}, expires {until}; it is shown only now:")
    out.print(secret, markup=False)


@tokens.command("list")
def tokens_list(
    name: Annotated[str | None, typer.Argument(help="Only this account's.")] = None,
    store: StoreOption = None,
) -> None:
    """The tokens (ids, never secrets), with their state."""
    with _store(store) as opened:
        found = accounts.tokens(opened, name)
    moment = accounts.now()
    for token in found:
        until = token.expires.strftime("%Y-%m-%d") if token.expires else "never"
        state = token.state(moment)
        out.print(f"{token.id}\t{token.account}\t{until}\t{state}", markup=False)
    if not found:
        _notice("no tokens yet: grassroots tokens issue NAME")


@tokens.command("revoke")
def tokens_revoke(token_id: str, store: StoreOption = None) -> None:
    """Revoke a token by its id (`tokens list`): refused from the next request on."""
    with _store(store) as opened:
        accounts.revoke_token(opened, token_id, _actor())
    out.print(f"token {token_id} is revoked", markup=False)


def _program() -> str:
    """How the user can run this command again: ``grassroots`` when their PATH finds this
    very program, else the path they ran it by (``.venv/bin/grassroots`` under make)."""
    invoked = Path(sys.argv[0])
    found = shutil.which("grassroots")
    if invoked.name != "grassroots" or (found and Path(found).resolve() == invoked.resolve()):
        return "grassroots"
    return os.path.relpath(invoked) if invoked.is_absolute() else str(invoked)


def main() -> None:
    try:
        app()
    except GrassrootsError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted; nothing half-written is kept")
        sys.exit(130)
    except Exception as exc:  # the last guard: no traceback reaches a user
        if os.environ.get("GRASSROOTS_DEBUG"):
            raise
        err.print(
            f"internal error: {exc.__class__.__name__}: {exc}. This is a bug; run again with"
            " GRASSROOTS_DEBUG=1 for details and report it.",
            markup=False,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
