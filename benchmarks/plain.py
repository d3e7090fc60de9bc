"""The ten contract rules in plain Python: the baseline a planner could write in an afternoon.

    python benchmarks/plain.py FOLDER --as-of 2026-06-30

Reads the ledger's CSV files from scratch with ``csv`` and dicts (no grassroots import, no
other library), evaluates the ten rules of CONTRACT.md section 3 as of the day, and prints
one JSON object: for each rule, how many nodes it checked and the ids of its gaps, sorted.
``benchmarks/run.py`` times this whole process beside a whole ``grassroots coverage``
process and asserts both find the same gaps.

It reads the bench's own generated ledgers: days written ``YYYY-MM-DD`` (so comparing
the text compares the days), enum values in English, booleans as the generator writes
them (the other spellings the contract allows are accepted too).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator
from pathlib import Path

TRUE = {"true", "1", "是", "yes"}
FALSE = {"false", "0", "否", "no"}


def rows(folder: Path, table: str) -> Iterator[dict[str, str]]:
    path = folder / f"{table}.csv"
    if not path.exists():  # any table may be absent
        return
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle)


def active(row: dict[str, str], day: str) -> bool:
    since, until = row.get("since") or "", row.get("until") or ""
    return (not since or since <= day) and (not until or day <= until)


def evaluate(folder: Path, day: str) -> dict[str, dict[str, object]]:
    areas = {row["id"]: row["kind"] for row in rows(folder, "areas")}
    orgs = list(rows(folder, "party_orgs"))
    org_area = {org["id"]: org["area_id"] for org in orgs}
    non_members = {
        row["id"] for row in rows(folder, "people") if row.get("party_member", "") in FALSE
    }

    built_on: set[str] = set()  # areas with any party org built on them
    branch_on: set[str] = set()  # areas with a branch or general branch built on them
    for org in orgs:
        if org["area_id"]:
            built_on.add(org["area_id"])
            if org["form"] in ("branch", "general_branch"):
                branch_on.add(org["area_id"])

    contacted = {
        row["household_id"]
        for row in rows(folder, "contacts")
        if active(row, day) and row["person_id"] not in non_members
    }
    households = [row["id"] for row in rows(folder, "households")]

    resident: set[str] = set()
    liaison: set[str] = set()
    for row in rows(folder, "dispatches"):
        if active(row, day):
            if row["role"] in ("resident", "first_secretary"):
                resident.add(row["area_id"])
            elif row["role"] == "liaison":
                liaison.add(row["area_id"])

    pairings = [row for row in rows(folder, "pairings") if active(row, day)]
    paired_orgs = {row["org_id"] for row in pairings}
    paired_areas = {org_area[org] for org in paired_orgs if org_area.get(org)}
    with_project = {row["pairing_id"] for row in rows(folder, "projects")}
    leaders = {
        (row["person_id"], row["unit_id"])
        for row in rows(folder, "employments")
        if active(row, day) and row.get("leadership", "") in TRUE
    }
    concurrent = {
        row["org_id"]
        for row in rows(folder, "posts")
        if active(row, day) and row.get("concurrent", "") in TRUE
    }

    def kind(*kinds: str) -> list[str]:
        return [area for area, k in areas.items() if k in kinds]

    villages = kind("village", "community")
    big = [
        org["id"]
        for org in orgs
        if areas.get(org["area_id"]) in ("subdistrict", "township", "community")
    ]
    checks: dict[str, tuple[list[str], set[str] | list[str]]] = {
        "grid_has_branch": (kind("grid"), branch_on),
        "building_has_group": (kind("building"), built_on),
        "household_has_contact": (households, contacted),
        "area_has_party_org": (villages, built_on),
        "area_has_resident_cadre": (villages, resident),
        "area_has_liaison_cadre": (villages, liaison),
        "area_is_paired": (villages, paired_areas),
        "pairing_has_project": ([p["id"] for p in pairings], with_project),
        "pairing_has_responsible_leader": (
            [p["id"] for p in pairings],
            {p["id"] for p in pairings if (p.get("responsible_id"), p["unit_id"]) in leaders},
        ),
        "big_committee_formed": (big, concurrent),
    }
    report: dict[str, dict[str, object]] = {}
    for rule, (focus, satisfied) in checks.items():
        ok = set(satisfied)
        report[rule] = {"checked": len(focus), "gaps": sorted(n for n in focus if n not in ok)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--as-of", required=True, help="YYYY-MM-DD")
    args = parser.parse_args()
    print(json.dumps(evaluate(args.folder, args.as_of), ensure_ascii=False))


if __name__ == "__main__":
    main()
