"""The ``grassroots`` command. Every ``GrassrootsError`` becomes one clear message and
exit status 1; anything else is reported as an internal error without a traceback
(``GRASSROOTS_DEBUG=1`` shows it)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grassroots.errors import GrassrootsError
from grassroots.graph import Store, open_store
from grassroots.importers import Outcome, import_path, write_dump
from grassroots.progress import Tick
from grassroots.settings import Settings, StoreKind, load_settings

app = typer.Typer(
    help="Grassroots: the party-organisation graph, its coverage checks and its API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

StoreOption = Annotated[
    StoreKind | None,
    typer.Option("--store", help="memory (embedded, default) or neo4j; or GRASSROOTS_STORE."),
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


@contextmanager
def _store(store: StoreKind | None) -> Iterator[Store]:
    opened = open_store(_settings(store))
    try:
        yield opened
    finally:
        opened.close()


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
    store: StoreOption = None,
) -> None:
    """Import a ledger bundle or a dump: all or nothing, idempotent."""
    bar = _Bar(err)
    try:
        with _store(store) as opened:
            outcome = import_path(opened, path, dry_run=dry_run, progress=bar)
    finally:
        bar.close()
    _print_outcome(outcome, path)


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="The .jsonl file to write.")],
    store: StoreOption = None,
) -> None:
    """Write the whole graph as a .jsonl dump that `import` restores exactly."""
    with _store(store) as opened:
        lines = write_dump(opened, path)
    out.print(f"wrote {lines} lines to {path}")


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
        opened.reset()
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


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise GrassrootsError(f"--as-of {text!r} is not a day; write YYYY-MM-DD") from None


@app.command("coverage")
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
    with _store(store) as opened:
        result = coverage(opened, packs, rule, scope, day)
        split = breakdown(opened, AreaKind(by.value), packs, rule, scope, day) if by else None
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


def _free_port(host: str, wanted: int) -> int:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind((host, wanted))
            return wanted
        except OSError:
            probe.bind((host, 0))
            return int(probe.getsockname()[1])


def _serve(store: StoreKind | None, host: str, port: int) -> None:
    import logging

    import uvicorn

    from grassroots.api.app import create_app

    settings = _settings(store)
    application = create_app(settings)
    chosen = _free_port(host, port)
    if chosen != port:
        out.print(f"port {port} is taken; using {chosen}")
    out.print(f"GraphQL API: http://{host}:{chosen}/graphql  (GraphiQL in a browser)")
    out.print(f"health:      http://{host}:{chosen}/healthz   (Ctrl+C stops)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(application, host=host, port=chosen, log_level="info")


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option(help="Write the SDL to this file.")] = None,
) -> None:
    """Print the GraphQL schema (SDL); the committed copy is schema.graphql."""
    from grassroots.api.schema import build_schema

    text = build_schema().as_str() + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote the schema to {output}")
    else:
        print(text, end="")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port (a free one if it is taken).")] = 8000,
    store: StoreOption = None,
) -> None:
    """Serve the GraphQL API at /graphql (GraphiQL on GET) and health at /healthz."""
    _serve(store, host, port)


@app.command()
def demo(
    store: StoreOption = None,
    host: Annotated[str, typer.Option(help="The address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to serve on.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after the report.")] = False,
) -> None:
    """Load a realistic sample city, print its coverage, and serve the API."""
    from grassroots.sample.city import generate as make_city
    from grassroots.sample.city import write_bundle

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sample-city"
        list(write_bundle(make_city("small"), folder))
        bar = _Bar(err)
        try:
            with _store(store) as opened:
                outcome = import_path(opened, folder, progress=bar)
                counts = opened.counts()
        finally:
            bar.close()
    out.print("[bold]Grassroots demo: the sample city of 大连市[/bold]")
    _print_outcome(outcome, Path("sample city"))
    out.print("the store holds: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    from grassroots.queries.coverage import coverage
    from grassroots.queries.coverage.report import print_table

    with _store(store) as opened:
        print_table(coverage(opened, ["core", "dalian"]), out)
    out.print("more: grassroots coverage --help, grassroots coverage --list-rules")
    if not no_serve:
        out.print('try: { orgChart(rootId: "O-C01", depth: 2) { id parentId name childCount } }')
        _serve(store, host, port)


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
