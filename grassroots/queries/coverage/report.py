"""The coverage report as planners read it: a terminal table, the contract's JSON, and an
Excel workbook (a summary sheet, one sheet per rule with its gaps) to send to districts.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from grassroots.queries.coverage.engine import Report, RuleResult
from grassroots.queries.coverage.rules import Pack, load_packs

Breakdown = list[tuple[str, str, Report]]
SHOWN_GAPS = 5
NOTHING = "nothing to check"  # a rule whose focus has no node in the scope: 0 / 0
NONE_IN_AREA = "–"  # the same, in the by-area grid
PERCENT = "0.0%"  # Excel's number format for ratios
XLSX_CELL_CHARS = 32_767  # the most an Excel cell holds


def by_pack(report: Report) -> dict[str, list[RuleResult]]:
    """Results grouped by pack, each pack's rules worst ratio first, then those with
    nothing to check."""
    grouped: dict[str, list[RuleResult]] = defaultdict(list)
    for result in report.results:
        grouped[result.rule.pack].append(result)
    return {
        pack: sorted(results, key=lambda r: (r.nothing_to_check, r.ratio, r.rule.id))
        for pack, results in grouped.items()
    }


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"


def _shown(result: RuleResult) -> str:
    return NOTHING if result.nothing_to_check else _percent(result.ratio)


def packs_line(report: Report) -> str:
    """Which packs ran, and how to add the others."""
    ran = ", ".join(report.packs) or "none"
    others = report.other_packs
    if not others:
        return f"packs checked: {ran} (every pack)"
    first = others[0]
    return (
        f"packs checked: {ran}; not checked: {', '.join(others)}. Add one with"
        f" --pack {first}, or for every report with GRASSROOTS_PACKS={first};"
        " --pack all checks every pack."
    )


def _style(result: RuleResult) -> str:
    if not result.gaps:
        return "green"
    return "red" if result.rule.severity == "must" else "yellow"


def _id_width(results: list[RuleResult]) -> int:
    return max((len(r.rule.id) for r in results), default=4)


def print_table(report: Report, console: Console, breakdown: Breakdown | None = None) -> None:
    """The report for a terminal of any width: every rule id whole (ids never wrap; titles
    and the ratio's words do), the Chinese title in a column of its own when it fits.
    Every name, id and message is printed as text, never as rich markup."""
    heading = Text(f"Coverage as of {report.as_of.isoformat()}", style="bold")
    if report.scope:
        heading.append(f" in {report.scope}")
    console.print(heading)
    console.print(Text(packs_line(report)))
    id_width = _id_width(report.results)
    # id, 要求 (at least 24 cells), severity, checked, satisfied, gaps, ratio; 3 cells
    # of padding and rule between columns
    wide = console.width >= id_width + 24 + 8 + 7 + 9 + 6 + 7 + 6 * 3
    for pack, results in by_pack(report).items():
        table = Table(
            title=f"pack {pack}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
        )
        table.add_column("rule" if wide else "rule / 要求", min_width=id_width, overflow="fold")
        if wide:
            table.add_column("要求", overflow="fold", ratio=1)
        table.add_column("severity", no_wrap=True)
        table.add_column("checked", justify="right", no_wrap=True)
        if wide:
            table.add_column("satisfied", justify="right", no_wrap=True)
        table.add_column("gaps", justify="right", no_wrap=True)
        table.add_column("ratio", justify="right", no_wrap=True)
        for r in results:
            rule = Text(r.rule.id)
            if not wide:
                rule.append("\n" + r.rule.title_zh, style="dim")
            numbers = [str(r.checked), *([str(r.satisfied)] if wide else []), str(len(r.gaps))]
            table.add_row(
                rule,
                *([Text(r.rule.title_zh)] if wide else []),
                Text(r.rule.severity.value),
                *numbers,
                Text(_shown(r) if wide else _shown(r).replace(" to ", "\nto ")),
                style=_style(r),
            )
        console.print(table)
    worst = [r for r in report.results if r.gaps]
    if worst:
        console.print(
            Text("Gaps", style="bold"),
            "(the first few per rule; --format xlsx or json lists every one)",
        )
    for r in sorted(worst, key=lambda r: (r.ratio, r.rule.id)):
        line = Text(r.rule.id, style="bold")
        line.append(f"  {r.rule.title_zh}  ({r.rule.source.document} {r.rule.source.clause})")
        console.print(line)
        for gap in r.gaps[:SHOWN_GAPS]:
            shown = Text("  ")
            shown.append(gap.id, style="dim")
            shown.append(f"  {gap.path}")
            console.print(shown)
        if len(r.gaps) > SHOWN_GAPS:
            console.print(Text(f"  and {len(r.gaps) - SHOWN_GAPS} more"))
    if breakdown:
        print_breakdown(breakdown, console)


def print_breakdown(breakdown: Breakdown, console: Console) -> None:
    """Ratios by area: a row per rule, a column per area, in as many blocks of columns as
    the width needs. ``–`` marks an area with nothing to check."""
    if not breakdown:
        return
    results = breakdown[0][2].results
    id_width = _id_width(results)
    names = _area_names([(path, sub.scope_name) for _, path, sub in breakdown])
    widths = [min(max(cell_len(name), 6), 24) for name in names]
    blocks: list[list[int]] = [[]]
    used = id_width
    for index, width in enumerate(widths):
        if blocks[-1] and used + 3 + width > console.width:
            blocks.append([])
            used = id_width
        blocks[-1].append(index)
        used += 3 + width
    console.print(Text("ratio by area", style="bold"), Text(f"({NONE_IN_AREA} nothing to check)"))
    for block in blocks:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("rule", min_width=id_width, overflow="fold")
        for index in block:
            table.add_column(
                Text(names[index]),
                justify="right",
                min_width=widths[index],
                overflow="fold",
            )
        for row, result in enumerate(results):
            cells = []
            for index in block:
                sub = breakdown[index][2].results[row]
                cells.append(NONE_IN_AREA if sub.nothing_to_check else _percent(sub.ratio))
            table.add_row(Text(result.rule.id), *cells)
        console.print(table)


def _area_names(areas: list[tuple[str, str | None]]) -> list[str]:
    """Each area's own name, or its whole path where two areas share a name."""
    names = [name or path for path, name in areas]
    return [n if names.count(n) == 1 else path for (path, _), n in zip(areas, names, strict=True)]


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
                        "ratio": r.shown_ratio,
                        "nothing_to_check": r.nothing_to_check,
                    }
                    for r in sub.results
                ],
            }
            for area, path, sub in breakdown
        ]
    return json.dumps(data, ensure_ascii=False, indent=2)


# Words of rule ids, shortened in sheet names (longest word first) until a name fits
ABBREVIATIONS = {
    "households": "hh",
    "household": "hh",
    "community": "comm",
    "communities": "comms",
    "committee": "cttee",
    "concurrent": "concur",
    "residents": "resid",
    "members": "mbrs",
    "village": "vill",
    "building": "bldg",
    "service": "svc",
    "existing": "exist",
    "centre": "ctr",
    "subdistrict": "subdist",
    "township": "twp",
    "secretary": "secy",
    "dispatch": "disp",
    "dispatching": "disp",
    "responsible": "resp",
}


def _sheet_name(rule_id: str, used: set[str]) -> str:
    """A unique sheet name within Excel's 31 characters: the rule id when it fits, else
    the id with its longest words abbreviated (``dl_community_centre_per_100_hh``), cut
    letter by letter only when that is not enough, and ``~2`` when two ids end alike."""
    words = rule_id.split("_")
    for index in sorted(range(len(words)), key=lambda i: -len(words[i])):
        if len("_".join(words)) <= 31:
            break
        words[index] = ABBREVIATIONS.get(words[index], words[index])
    while len("_".join(words)) > 31 and max(map(len, words)) > 3:
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        words[longest] = words[longest][:-1]
    base = "_".join(words)[:31]
    name, index = base, 2
    while name.lower() in used:  # Excel's sheet names ignore case
        suffix = f"~{index}"
        name = base[: 31 - len(suffix)] + suffix
        index += 1
    used.add(name.lower())
    return name


def _cell_text(value: object) -> object:
    """A value as the workbook stores it: text without the control characters Excel
    refuses, cut to what a cell holds; numbers and None as they are."""
    if not isinstance(value, str):
        return value
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("", value)[:XLSX_CELL_CHARS]


def _append(sheet: Any, values: list[object]) -> None:
    """Append a row; every string is text, never a formula (a name may begin with ``=``)."""
    sheet.append([_cell_text(v) for v in values])
    for cell in sheet[sheet.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"
            cell.quotePrefix = True


def write_xlsx(report: Report, path: Path | IO[bytes], breakdown: Breakdown | None = None) -> None:
    """To a file, or a binary stream (the API's ``workbook``): a summary sheet (a row per
    rule, its id linked to the rule's sheet), a sheet per rule with gaps (its full id in
    A1), and the by-area grid; ratios in percent format."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.hyperlink import Hyperlink

    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "汇总 summary"
    bold = Font(bold=True)
    _append(
        summary,
        [
            f"覆盖情况 coverage as of {report.as_of.isoformat()}",
            f"范围 scope: {report.scope or '全部 all'}",
        ],
    )
    _append(summary, [packs_line(report)])
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
    for cell in summary[summary.max_row]:
        cell.font = bold
    used = {summary.title.lower()}
    for pack, results in by_pack(report).items():
        for r in results:
            rule = r.rule
            _append(
                summary,
                [
                    pack,
                    rule.id,
                    rule.title_zh,
                    rule.title,
                    rule.severity.value,
                    r.checked,
                    r.satisfied,
                    NOTHING if r.nothing_to_check else r.ratio,
                    len(r.gaps),
                    rule.source.document,
                    rule.source.clause,
                    rule.source.quote,
                ],
            )
            row = summary.max_row
            summary.cell(row, 8).number_format = PERCENT
            if not r.gaps:
                continue
            name = _sheet_name(rule.id, used)
            link = summary.cell(row, 2)
            link.hyperlink = Hyperlink(ref=link.coordinate, location=f"'{name}'!A1")
            link.style = "Hyperlink"
            sheet = book.create_sheet(name)
            _append(sheet, [rule.id, rule.title_zh, rule.title])
            sheet["A1"].font = bold
            _append(sheet, [f"{rule.source.document} {rule.source.clause}", rule.source.quote])
            _append(sheet, ["编号 id", "名称 name", "区县 district", "路径 path", "说明 message"])
            for cell in sheet[3]:
                cell.font = bold
            for gap in r.gaps:
                parts = gap.path.split("/")
                district = parts[1] if len(parts) > 1 else parts[0]
                _append(sheet, [gap.id, gap.name, district, gap.path, gap.message])
            sheet.column_dimensions["A"].width = max(len(rule.id), 12)
            sheet.column_dimensions["D"].width = 60
    if breakdown:
        sheet = book.create_sheet(_sheet_name("by area", used))
        rules = [r.rule.id for r in breakdown[0][2].results]
        _append(sheet, ["area", *rules])
        for _, area_path, sub in breakdown:
            _append(
                sheet,
                [
                    area_path,
                    *(NONE_IN_AREA if r.nothing_to_check else r.ratio for r in sub.results),
                ],
            )
            for cell in sheet[sheet.max_row][1:]:
                cell.number_format = PERCENT
        _append(sheet, [])
        _append(sheet, [f"{NONE_IN_AREA} {NOTHING} 无检查对象"])
    summary.column_dimensions["B"].width = 36
    summary.column_dimensions["C"].width = 36
    if not isinstance(path, Path):
        book.save(path)
        return
    tmp = path.with_name(path.name + ".partial")  # a file is whole, or not there
    book.save(tmp)
    tmp.replace(path)


def list_rules(console: Console) -> None:
    """Every rule of every pack, then how many of each document's requirements are
    checked from data."""
    packs = load_packs()
    for pack in packs.values():
        _print_pack(pack, console)
    console.print(Text("Requirements checked from data, per document", style="bold"))
    for file, (machine, total, document) in accounting(packs).items():
        console.print(
            Text(
                f"  {file}  {document}: {len(machine)} of {total} machine-checked,"
                f" {total - len(machine)} by hand"
            )
        )


def _print_pack(pack: Pack, console: Console) -> None:
    table = Table(title=Text(f"pack {pack.pack}: {pack.title}"), title_justify="left")
    table.add_column("rule", min_width=_id_width_of(pack), overflow="fold")
    for name in ("要求", "severity", "checked", "clause"):
        table.add_column(name, overflow="fold")
    for rule in pack.rules:
        table.add_row(
            Text(rule.id),
            Text(rule.title_zh),
            Text(rule.severity.value),
            Text("by hand" if rule.manual else "from data"),
            Text(rule.source.clause),
        )
    console.print(table)


def _id_width_of(pack: Pack) -> int:
    return max((len(rule.id) for rule in pack.rules), default=4)


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
