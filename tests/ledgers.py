"""Small hand-built ledgers with known contents, shared by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import write_table

Ledger = dict[str, list[dict[str, Any]]]


def small_city() -> Ledger:
    """A city, one district, a subdistrict, a community with two grids, a village."""
    return {
        "areas": [
            {"id": "C", "name": "大连市", "kind": "city", "parent_id": ""},
            {"id": "D", "name": "中山区", "kind": "district", "parent_id": "C"},
            {"id": "S", "name": "桃源街道", "kind": "subdistrict", "parent_id": "D"},
            {"id": "K", "name": "东山社区", "kind": "community", "parent_id": "S"},
            {"id": "G1", "name": "东山第1网格", "kind": "grid", "parent_id": "K"},
            {"id": "G2", "name": "东山第2网格", "kind": "grid", "parent_id": "K"},
            {"id": "B1", "name": "1号楼", "kind": "building", "parent_id": "G1"},
            {"id": "B2", "name": "2号楼", "kind": "building", "parent_id": "G2"},
            {"id": "T", "name": "青堆镇", "kind": "township", "parent_id": "D"},
            {"id": "V", "name": "河口村", "kind": "village", "parent_id": "T"},
        ],
        "party_orgs": [
            {"id": "OC", "name": "市委", "form": "committee", "parent_id": "", "area_id": "C"},
            {"id": "OD", "name": "区委", "form": "committee", "parent_id": "OC", "area_id": "D"},
            {
                "id": "OS",
                "name": "街道党工委",
                "form": "working_committee",
                "parent_id": "OD",
                "area_id": "S",
            },
            {
                "id": "OK",
                "name": "东山社区党委",
                "form": "committee",
                "parent_id": "OS",
                "area_id": "K",
                "member_count": "40",
            },
            {
                "id": "OG1",
                "name": "第1网格党支部",
                "form": "branch",
                "parent_id": "OK",
                "area_id": "G1",
            },
            {
                "id": "OB1",
                "name": "1号楼党小组",
                "form": "group",
                "parent_id": "OG1",
                "area_id": "B1",
            },
        ],
        "units": [
            {"id": "U1", "name": "市财政局", "kind": "agency", "level": "city", "area_id": "C"},
            {
                "id": "U2",
                "name": "桃源派出所",
                "kind": "police",
                "level": "subdistrict",
                "area_id": "S",
            },
        ],
        "people": [
            {
                "id": "P1",
                "name": "王伟",
                "gender": "M",
                "party_member": "true",
                "phone": "13812345678",
                "id_number": "21020219800101123X",
            },
            {"id": "P2", "name": "李娜", "gender": "F", "party_member": "true"},
            {"id": "P3", "name": "张强", "gender": "M", "party_member": "true"},
        ],
        "posts": [
            {"person_id": "P1", "org_id": "OK", "post": "secretary", "since": "2021-01-01"},
            {
                "person_id": "P3",
                "org_id": "OK",
                "post": "committee_member",
                "concurrent": "true",
                "since": "2022-01-01",
            },
        ],
        "employments": [
            {
                "person_id": "P2",
                "unit_id": "U1",
                "position": "副局长",
                "leadership": "true",
                "since": "2020-01-01",
            },
            {"person_id": "P3", "unit_id": "U2", "position": "所长", "leadership": "true"},
        ],
        "households": [
            {"id": "H1", "building_id": "B1", "name": "1-101", "size": "3"},
            {"id": "H2", "building_id": "B2", "name": "2-101", "size": "2"},
        ],
        "contacts": [{"person_id": "P1", "household_id": "H1", "since": "2023-01-01"}],
        "pairings": [
            {
                "id": "PR1",
                "unit_id": "U1",
                "org_id": "OK",
                "responsible_id": "P2",
                "since": "2024-01-01",
            },
        ],
        "projects": [
            {"id": "PJ1", "pairing_id": "PR1", "name": "老旧小区改造", "status": "active"}
        ],
        "dispatches": [
            {
                "id": "DP1",
                "person_id": "P2",
                "unit_id": "U1",
                "area_id": "K",
                "role": "resident",
                "since": "2024-01-01",
            },
        ],
        "reports": [{"person_id": "P2", "org_id": "OK", "since": "2024-03-01"}],
    }


def write_ledger(folder: Path, ledger: Ledger, encoding: str = "utf-8") -> Path:
    for table, rows in ledger.items():
        if rows:
            write_table(folder, table, rows, encoding)
    return folder


def two_districts() -> Ledger:
    """``small_city`` and a second district, 西岗区, whose unit is paired with 东山社区
    and sends it a cadre; and a city unit paired with 西岗区's community: links that
    cross a district's boundary both ways."""
    ledger = small_city()
    ledger["areas"] += [
        {"id": "D2", "name": "西岗区", "kind": "district", "parent_id": "C"},
        {"id": "S2", "name": "白云街道", "kind": "subdistrict", "parent_id": "D2"},
        {"id": "K2", "name": "八一社区", "kind": "community", "parent_id": "S2"},
        {"id": "G21", "name": "八一第1网格", "kind": "grid", "parent_id": "K2"},
    ]
    ledger["party_orgs"] += [
        {"id": "OD2", "name": "西岗区委", "form": "committee", "parent_id": "OC", "area_id": "D2"},
        {
            "id": "OK2",
            "name": "八一社区党委",
            "form": "committee",
            "parent_id": "OD2",
            "area_id": "K2",
        },
    ]
    ledger["units"] += [
        {"id": "U3", "name": "西岗医院", "kind": "hospital", "level": "district", "area_id": "D2"}
    ]
    ledger["people"] += [
        {"id": "P4", "name": "赵敏", "gender": "F", "party_member": "true", "phone": "13900001111"},
        {"id": "P5", "name": "孙立", "gender": "M", "party_member": "true"},
    ]
    ledger["posts"] += [{"person_id": "P5", "org_id": "OK2", "post": "secretary"}]
    ledger["employments"] += [
        {"person_id": "P4", "unit_id": "U3", "position": "院长", "leadership": "true"},
        {"person_id": "P5", "unit_id": "U3", "position": "医生"},
    ]
    ledger["pairings"] += [
        {
            "id": "PR2",
            "unit_id": "U3",
            "org_id": "OK",
            "responsible_id": "P4",
            "since": "2024-01-01",
        },
        {
            "id": "PR3",
            "unit_id": "U2",
            "org_id": "OK2",
            "responsible_id": "P3",
            "since": "2024-01-01",
        },
    ]
    ledger["projects"] += [
        {"id": "PJ2", "pairing_id": "PR3", "name": "八一义诊", "status": "active"}
    ]
    ledger["dispatches"] += [
        {
            "id": "DP2",
            "person_id": "P5",
            "unit_id": "U3",
            "area_id": "K2",
            "role": "first_secretary",
            "since": "2024-01-01",
        },
    ]
    return ledger
