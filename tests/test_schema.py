"""Parsing and validation of every ledger table, as CONTRACT.md section 2 says."""

from __future__ import annotations

import doctest
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

import grassroots.schema.base
import grassroots.schema.person
from grassroots.schema import (
    BY_NAME,
    TABLES,
    AreaKind,
    DispatchRole,
    OrgCategory,
    Row,
    table_named,
)

VALID: dict[str, dict[str, Any]] = {
    "areas": {
        "id": "A",
        "name": "河口村",
        "kind": "村",
        "parent_id": "T",
        "households": "320",
        "population": 1010,
    },
    "party_orgs": {
        "id": "O",
        "name": "河口村党支部",
        "form": "党支部",
        "area_id": "A",
        "member_count": "31",
        "category": "离退休",
    },
    "units": {"id": "U", "name": "市供电公司", "kind": "国企", "level": "市级", "area_id": "A"},
    "people": {
        "id": "P",
        "name": "王伟",
        "gender": "男",
        "birth_date": "1980/3/5",
        "education": "本科",
        "party_member": "是",
        "phone": "13800000000",
        "id_number": "210202198003050011",
    },
    "posts": {
        "person_id": "P",
        "org_id": "O",
        "post": "书记",
        "concurrent": "否",
        "since": "2024年1月1日",
        "until": "",
    },
    "employments": {
        "person_id": "P",
        "unit_id": "U",
        "position": "副总经理",
        "leadership": "1",
        "since": "2020-01-01",
    },
    "households": {"id": "H", "building_id": "B", "name": "1-101", "size": 3.0},
    "contacts": {"person_id": "P", "household_id": "H", "since": "2023-01-01"},
    "pairings": {
        "id": "R",
        "unit_id": "U",
        "org_id": "O",
        "responsible_id": "P",
        "since": "2024-01-01",
        "until": "2026-12-31",
    },
    "projects": {
        "id": "J",
        "pairing_id": "R",
        "name": "道路硬化",
        "category": "民生",
        "status": "实施中",
    },
    "dispatches": {
        "id": "D",
        "person_id": "P",
        "unit_id": "U",
        "area_id": "A",
        "role": "驻村(社区)",
        "since": "2024-03-01",
    },
    "reports": {"person_id": "P", "org_id": "O", "since": "2024-03-01"},
}


def clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v != ""}


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_every_table_parses_a_valid_row(table: str) -> None:
    row = BY_NAME[table].model.model_validate(clean(VALID[table]))
    assert isinstance(row, Row)


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_every_required_column_is_required(table: str) -> None:
    spec = BY_NAME[table]
    for column in spec.required():
        row = clean(VALID[table])
        row.pop(column, None)
        with pytest.raises(ValidationError) as caught:
            spec.model.model_validate(row)
        assert caught.value.errors()[0]["loc"] == (column,)


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_unknown_fields_are_refused_by_the_models(table: str) -> None:
    with pytest.raises(ValidationError):
        BY_NAME[table].model.model_validate({**clean(VALID[table]), "surprise": 1})


def test_values_are_normalised() -> None:
    person = BY_NAME["people"].model.model_validate(VALID["people"])
    assert person.model_dump(mode="json") == {
        "id": "P",
        "name": "王伟",
        "gender": "M",
        "birth_date": "1980-03-05",
        "education": "bachelor",
        "party_member": True,
        "phone": "13800000000",
        "id_number": "210202198003050011",
    }
    household = BY_NAME["households"].model.model_validate(VALID["households"])
    assert household.model_dump()["size"] == 3
    org = BY_NAME["party_orgs"].model.model_validate({"id": "O", "name": "x", "form": "BRANCH"})
    assert org.model_dump()["category"] is OrgCategory.TERRITORIAL


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-06-30", date(2026, 6, 30)),
        ("2026/6/3", date(2026, 6, 3)),
        ("2026年6月30日", date(2026, 6, 30)),
        (" 2026-06-30 00:00:00", date(2026, 6, 30)),
    ],
)
def test_dates_in_every_accepted_form(text: str, day: date) -> None:
    contact = BY_NAME["contacts"].model.model_validate(
        {"person_id": "P", "household_id": "H", "since": text}
    )
    assert contact.model_dump()["since"] == day


@pytest.mark.parametrize("text", ["2026-13-01", "30/06/2026", "yesterday", "2026年2月30日"])
def test_bad_dates_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        BY_NAME["contacts"].model.model_validate(
            {"person_id": "P", "household_id": "H", "since": text}
        )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("FALSE", False),
        ("1", True),
        ("0", False),
        ("是", True),
        ("否", False),
    ],
)
def test_booleans(text: str, value: bool) -> None:
    post = BY_NAME["posts"].model.model_validate(
        {"person_id": "P", "org_id": "O", "post": "委员", "concurrent": text}
    )
    assert post.model_dump()["concurrent"] is value


def test_booleans_refuse_anything_else() -> None:
    with pytest.raises(ValidationError, match="not a yes/no value"):
        BY_NAME["posts"].model.model_validate(
            {"person_id": "P", "org_id": "O", "post": "委员", "concurrent": "maybe"}
        )


def test_since_after_until_is_refused() -> None:
    with pytest.raises(ValidationError, match="is before since"):
        BY_NAME["pairings"].model.model_validate(
            {**VALID["pairings"], "since": "2025-01-01", "until": "2024-01-01"}
        )


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValidationError):
        BY_NAME["areas"].model.model_validate({**VALID["areas"], "households": "-3"})


def test_every_enum_member_has_a_chinese_alias_that_parses() -> None:
    from grassroots.schema import Choice

    for choice in Choice.__subclasses__():
        for member in choice:
            assert member.zh, member
            assert choice(member.zh) is member
            assert choice(member.value.upper()) is member


def test_area_kinds_step_down() -> None:
    assert AreaKind.CITY.level < AreaKind.DISTRICT.level < AreaKind.TOWNSHIP.level
    assert AreaKind.SUBDISTRICT.level == AreaKind.TOWNSHIP.level
    assert AreaKind.VILLAGE.level < AreaKind.GRID.level < AreaKind.BUILDING.level


def test_dispatch_role_accepts_common_spellings() -> None:
    assert DispatchRole("驻村") is DispatchRole.RESIDENT
    assert DispatchRole("联络员") is DispatchRole.LIAISON


def test_tables_are_named_in_english_or_chinese() -> None:
    assert table_named("Areas") is BY_NAME["areas"]
    assert table_named("选派干部") is BY_NAME["dispatches"]
    assert table_named("villages") is None


@pytest.mark.parametrize("module", [grassroots.schema.base, grassroots.schema.person])
def test_doctests(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0
