"""The sample city: deterministic, valid, and shaped as the policy documents describe."""

from __future__ import annotations

from pathlib import Path

from grassroots.graph.store import Store
from grassroots.importers import import_path
from grassroots.sample.city import generate, write_bundle
from grassroots.schema import Label, RelType


def test_the_same_seed_gives_the_same_city(tmp_path: Path) -> None:
    list(write_bundle(generate("small", seed=11), tmp_path / "a"))
    list(write_bundle(generate("small", seed=11), tmp_path / "b"))
    list(write_bundle(generate("small", seed=12), tmp_path / "c"))
    for name in ("areas.csv", "contacts.csv", "posts.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "posts.csv").read_bytes() != (
        tmp_path / "c" / "posts.csv"
    ).read_bytes()


def test_the_sample_city_imports_cleanly(store: Store, tmp_path: Path) -> None:
    rows = generate("small")
    list(write_bundle(rows, tmp_path / "city"))
    outcome = import_path(store, tmp_path / "city")
    assert all(t.created == t.total for t in outcome.tallies.values())
    counts = store.counts()
    kinds = [r["kind"] for r in rows["areas"]]
    assert counts[Label.AREA] == len(kinds)
    assert {
        "city",
        "district",
        "subdistrict",
        "township",
        "community",
        "village",
        "grid",
        "building",
    } <= set(kinds)
    # every table is present, and so are the deliberate gaps
    assert all(rows[t] for t in rows)
    assert counts[Label.HOUSEHOLD] > counts[RelType.CONTACTS] > 0
    grids = [r["id"] for r in rows["areas"] if r["kind"] == "grid"]
    built_on = {r["area_id"] for r in rows["party_orgs"]}
    assert 0 < len([g for g in grids if g not in built_on]) < len(grids) / 4
    assert any(p["concurrent"] == "true" for p in rows["posts"])
    assert {d["role"] for d in rows["dispatches"]} == {"resident", "liaison", "first_secretary"}
