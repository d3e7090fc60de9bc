"""The coverage report as planners read it: a terminal table, the contract's JSON, and an
Excel workbook (a summary sheet, one sheet per rule with its gaps) to send to districts.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from grassroots.queries.coverage.engine import Report, RuleResult
from grassroots.queries.coverage.rules import Pack, load_packs

Breakdown = list[tuple[str, str, Report]]
SHOWN_GAPS = 5


def by_pack(report: Report) -> dict[str, list[RuleResult]]:
    """Results grouped by pack, each pack's rules worst ratio first."""
    grouped: dict[str, list[RuleResult]] = defaultdict(list)
    for result in report.results:
        grouped[result.rule.pack].append(result)
    return {
        pack: sorted(results, key=lambda r: (r.ratio, r.rule.id))
        for pack, results in grouped.items()
    }


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"


def print_table(report: Report, console: Console, breakdown: Breakdown | None = None) -> None:
    where = f" in {report.scope}" if report.scope else ""
    console.print(f"[bold]Coverage as of {report.as_of.isoformat()}{where}[/bold]")
    for pack, results in by_pack(report).items():
        table = Table(title=f"pack {pack}", title_justify="left", show_lines=False)
        for name, justify in [
            ("rule", "left"),
            ("要求", "left"),
            ("", "left"),
            ("checked", "right"),
            ("satisfied", "right"),
            ("ratio", "right"),
            ("gaps", "right"),
        ]:
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for r in results:
            style = "green" if not r.gaps else "red" if r.rule.severity == "must" else "yellow"
            table.add_row(
                r.rule.id,
                r.rule.title_zh,
                r.rule.severity.value,
                str(r.checked),
                str(r.satisfied),
                _percent(r.ratio),
                str(len(r.gaps)),
                style=style,
            )
        console.print(table)
    worst = [r for r in report.results if r.gaps]
    if worst:
        console.print("[bold]Gaps[/bold] (first few per rule; --format xlsx or json lists all)")
    for r in sorted(worst, key=lambda r: (r.ratio, r.rule.id)):
        console.print(
            f"[bold]{r.rule.id}[/bold]  {r.rule.title_zh}  "
            f"({r.rule.source.document} {r.rule.source.clause})"
        )
        for gap in r.gaps[:SHOWN_GAPS]:
            console.print(f"  {gap.path}  [dim]{gap.id}[/dim]", markup=True, highlight=False)
        if len(r.gaps) > SHOWN_GAPS:
            console.print(f"  … and {len(r.gaps) - SHOWN_GAPS} more")
    if breakdown:
        print_breakdown(breakdown, console)


def print_breakdown(breakdown: Breakdown, console: Console) -> None:
    if not breakdown:
        return
    rules = [r.rule.id for r in breakdown[0][2].results]
    table = Table(title="ratio by area", title_justify="left")
    table.add_column("area")
    for rule_id in rules:
        table.add_column(rule_id, justify="right")
    for _, path, report in breakdown:
        table.add_row(path, *(_percent(r.ratio) if r.checked else "–" for r in report.results))
    console.print(table)


def to_json(report: Report, breakdown: Breakdown | None = None) -> str:
    data: dict[str, Any] = report.to_json()
    if breakdown is not None:
        data["by"] = [
            {
                "id": area,
                "path": path,
                "rules": [
                    {
                        "id": r.rule.id,
                        "checked": r.checked,
                        "satisfied": r.satisfied,
                        "ratio": r.ratio,
                    }
                    for r in sub.results
                ],
            }
            for area, path, sub in breakdown
        ]
    return json.dumps(data, ensure_ascii=False, indent=2)


def _sheet_name(rule_id: str, used: set[str]) -> str:
    name = rule_id[:31]
    index = 2
    while name in used:
        suffix = f"~{index}"
        name = rule_id[: 31 - len(suffix)] + suffix
        index += 1
    used.add(name)
    return name


def write_xlsx(report: Report, path: Path, breakdown: Breakdown | None = None) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "汇总 summary"
    bold = Font(bold=True)
    summary.append(
        [
            f"覆盖情况 coverage as of {report.as_of.isoformat()}",
            f"范围 scope: {report.scope or '全部 all'}",
        ]
    )
    summary.append([])
    header = [
        "pack",
        "规则 rule",
        "要求",
        "title",
        "severity",
        "checked",
        "satisfied",
        "ratio",
        "gaps",
        "依据文件 document",
        "条款 clause",
        "原文 quote",
    ]
    summary.append(header)
    for cell in summary[3]:
        cell.font = bold
    used = {summary.title}
    for pack, results in by_pack(report).items():
        for r in results:
            rule = r.rule
            summary.append(
                [
                    pack,
                    rule.id,
                    rule.title_zh,
                    rule.title,
                    rule.severity.value,
                    r.checked,
                    r.satisfied,
                    r.ratio,
                    len(r.gaps),
                    rule.source.document,
                    rule.source.clause,
                    rule.source.quote,
                ]
            )
            if not r.gaps:
                continue
            sheet = book.create_sheet(_sheet_name(rule.id, used))
            sheet.append([rule.title_zh, rule.title])
            sheet.append([f"{rule.source.document} {rule.source.clause}", rule.source.quote])
            sheet.append(["编号 id", "名称 name", "区县 district", "路径 path", "说明 message"])
            for cell in sheet[3]:
                cell.font = bold
            for gap in r.gaps:
                parts = gap.path.split("/")
                district = parts[1] if len(parts) > 1 else parts[0]
                sheet.append([gap.id, gap.name, district, gap.path, gap.message])
            sheet.column_dimensions["D"].width = 60
    if breakdown:
        sheet = book.create_sheet(_sheet_name("by area", used))
        rules = [r.rule.id for r in breakdown[0][2].results]
        sheet.append(["area", *rules])
        for _, area_path, sub in breakdown:
            sheet.append([area_path, *(r.ratio if r.checked else None for r in sub.results)])
    summary.column_dimensions["C"].width = 36
    tmp = path.with_name(path.name + ".partial")
    book.save(tmp)
    tmp.replace(path)


def list_rules(console: Console) -> None:
    """Every rule of every pack, then how many of each document's requirements are
    checked from data."""
    packs = load_packs()
    for pack in packs.values():
        _print_pack(pack, console)
    console.print("[bold]Requirements checked from data, per document[/bold]")
    for file, (machine, total, document) in accounting(packs).items():
        console.print(
            f"  {file}  {document}: {len(machine)} of {total} machine-checked,"
            f" {total - len(machine)} by hand"
        )


def _print_pack(pack: Pack, console: Console) -> None:
    table = Table(title=f"pack {pack.pack}: {pack.title}", title_justify="left")
    for name in ("rule", "要求", "severity", "checked", "clause"):
        table.add_column(name)
    for rule in pack.rules:
        table.add_row(
            rule.id,
            rule.title_zh,
            rule.severity.value,
            "by hand" if rule.manual else "from data",
            rule.source.clause,
        )
    console.print(table)


def accounting(packs: dict[str, Pack]) -> dict[str, tuple[set[str], int, str]]:
    """Per source file: the requirement ids checked from data, how many there are in all,
    and the document's title. A machine rule checks the requirements it ``covers``; a
    manual rule is one requirement checked by hand."""
    machine: dict[str, set[str]] = defaultdict(set)
    everything: dict[str, set[str]] = defaultdict(set)
    titles: dict[str, str] = {}
    for pack in packs.values():
        for rule in pack.rules:
            file = rule.source.file
            titles[file] = rule.source.document
            if rule.manual:
                everything[file].add(rule.id)
            else:
                machine[file].update(rule.covers)
                everything[file].update(rule.covers)
    return {f: (machine[f], len(everything[f]), titles[f]) for f in sorted(everything)}
