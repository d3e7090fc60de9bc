"""The ten contract rules as hand-written DuckDB SQL over the ledger's CSV files.

The second baseline of the embedded store (DESIGN.md, "Performance we aim at"): what
DuckDB itself does with the same files and no grassroots code. ``load`` reads the CSVs
into tables of an in-memory database with ``read_csv`` (the physical floor of an import);
``evaluate`` runs one query per rule over them. Each query judges every focus node
(``id``, ``ok``) and the same wrapper counts them, so every rule answers as ours does: how
many were checked, and the ids of the gaps.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb

# Column types read_csv must not guess: a column empty in its sample would come out as
# VARCHAR, and a day compared as text with a DATE parameter is an error.
TYPES: dict[str, dict[str, str]] = {
    "people": {"party_member": "BOOLEAN"},
    "posts": {"concurrent": "BOOLEAN", "since": "DATE", "until": "DATE"},
    "employments": {"leadership": "BOOLEAN", "since": "DATE", "until": "DATE"},
    "contacts": {"since": "DATE", "until": "DATE"},
    "pairings": {"responsible_id": "VARCHAR", "since": "DATE", "until": "DATE"},
    "dispatches": {"since": "DATE", "until": "DATE"},
    "reports": {"since": "DATE", "until": "DATE"},
}

LOAD = """
CREATE OR REPLACE TABLE {table} AS
SELECT *
FROM read_csv($path, header = true{types})
"""

ACTIVE = """
CREATE OR REPLACE MACRO active_on(since, until, day) AS
  (since IS NULL OR since <= day) AND (until IS NULL OR day <= until)
"""

REPORT = """
WITH judged AS (
{judge}
)
SELECT count(*), list(id ORDER BY id) FILTER (WHERE NOT ok)
FROM judged
"""

VILLAGES = "FROM areas AS a\nWHERE a.kind IN ('village', 'community')"

JUDGE: dict[str, str] = {
    "grid_has_branch": """
SELECT a.id, EXISTS (
  SELECT 1
  FROM party_orgs AS o
  WHERE o.area_id = a.id
    AND o.form IN ('branch', 'general_branch')
) AS ok
FROM areas AS a
WHERE a.kind = 'grid'""",
    "building_has_group": """
SELECT a.id, EXISTS (
  SELECT 1
  FROM party_orgs AS o
  WHERE o.area_id = a.id
) AS ok
FROM areas AS a
WHERE a.kind = 'building'""",
    "household_has_contact": """
SELECT h.id, EXISTS (
  SELECT 1
  FROM contacts AS c
  JOIN people AS p ON p.id = c.person_id
  WHERE c.household_id = h.id
    AND active_on(c.since, c.until, $day)
    AND p.party_member IS DISTINCT FROM false
) AS ok
FROM households AS h""",
    "area_has_party_org": f"""
SELECT a.id, EXISTS (
  SELECT 1
  FROM party_orgs AS o
  WHERE o.area_id = a.id
) AS ok
{VILLAGES}""",
    "area_has_resident_cadre": f"""
SELECT a.id, EXISTS (
  SELECT 1
  FROM dispatches AS d
  WHERE d.area_id = a.id
    AND d.role IN ('resident', 'first_secretary')
    AND active_on(d.since, d.until, $day)
) AS ok
{VILLAGES}""",
    "area_has_liaison_cadre": f"""
SELECT a.id, EXISTS (
  SELECT 1
  FROM dispatches AS d
  WHERE d.area_id = a.id
    AND d.role = 'liaison'
    AND active_on(d.since, d.until, $day)
) AS ok
{VILLAGES}""",
    "area_is_paired": f"""
SELECT a.id, EXISTS (
  SELECT 1
  FROM party_orgs AS o
  JOIN pairings AS p ON p.org_id = o.id
  WHERE o.area_id = a.id
    AND active_on(p.since, p.until, $day)
) AS ok
{VILLAGES}""",
    "pairing_has_project": """
SELECT p.id, EXISTS (
  SELECT 1
  FROM projects AS j
  WHERE j.pairing_id = p.id
) AS ok
FROM pairings AS p
WHERE active_on(p.since, p.until, $day)""",
    "pairing_has_responsible_leader": """
SELECT p.id, EXISTS (
  SELECT 1
  FROM employments AS e
  WHERE e.person_id = p.responsible_id
    AND e.unit_id = p.unit_id
    AND e.leadership
    AND active_on(e.since, e.until, $day)
) AS ok
FROM pairings AS p
WHERE active_on(p.since, p.until, $day)""",
    "big_committee_formed": """
SELECT o.id, EXISTS (
  SELECT 1
  FROM posts AS s
  WHERE s.org_id = o.id
    AND s.concurrent
    AND active_on(s.since, s.until, $day)
) AS ok
FROM party_orgs AS o
JOIN areas AS a ON a.id = o.area_id
WHERE a.kind IN ('subdistrict', 'township', 'community')""",
}


def connect() -> duckdb.DuckDBPyConnection:
    db = duckdb.connect(":memory:")
    db.execute(ACTIVE)
    return db


def load(db: duckdb.DuckDBPyConnection, folder: Path) -> int:
    """Read every CSV file of the bundle into a table of its name, as an import reads
    them all; the rows read."""
    total = 0
    for path in sorted(folder.glob("*.csv")):
        table = path.stem
        # read_csv takes its types as a constant struct, not a parameter; they come from
        # TYPES above, never from the files.
        types = ", ".join(f"'{name}': '{kind}'" for name, kind in TYPES.get(table, {}).items())
        text = LOAD.format(table=table, types=f", types = {{{types}}}" if types else "")
        db.execute(text, {"path": str(path)})
        ((count,),) = db.execute(f"SELECT count(*) FROM {table}").fetchall()
        total += int(count)
    return total


def evaluate(db: duckdb.DuckDBPyConnection, rule: str, day: date) -> tuple[int, list[str]]:
    text = REPORT.format(judge=JUDGE[rule])
    params: dict[str, Any] = {"day": day} if "$day" in text else {}
    ((checked, gaps),) = db.execute(text, params).fetchall()
    return int(checked), [str(g) for g in gaps or []]
