"""Importing ledgers, on both stores: what goes in, what is rejected, and that a rejected
bundle leaves the store exactly as it was."""

from __future__ import annotations

import copy
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from grassroots.errors import GrassrootsError, LedgerError
from grassroots.graph.store import Store
from grassroots.importers import import_path
from grassroots.schema import BY_NAME, Label, RelType
from grassroots.settings import load_settings
from tests.conftest import snapshot, write_table
from tests.ledgers import Ledger, small_city, write_ledger


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = str(Path(sys.executable).with_name("grassroots"))
    return subprocess.run([command, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def loaded(store: Store, tmp_path: Path) -> Store:
    """The store holding the small city, so that "unchanged" means something."""
    import_path(store, write_ledger(tmp_path / "base", small_city()))
    return store


def reject(store: Store, tmp_path: Path, ledger: Ledger | Path, *expected: str) -> LedgerError:
    """Import ``ledger``, expect it rejected with each of ``expected`` among its problems,
    and the store unchanged."""
    before = snapshot(store, tmp_path)
    folder = ledger if isinstance(ledger, Path) else write_ledger(tmp_path / "bad", ledger)
    with pytest.raises(LedgerError) as caught:
        import_path(store, folder)
    lines = [str(p) for p in caught.value.problems]
    for wanted in expected:
        assert any(line.startswith(wanted) for line in lines), (wanted, lines)
    assert snapshot(store, tmp_path) == before
    return caught.value


def test_a_ledger_becomes_the_graph(store: Store, tmp_path: Path) -> None:
    outcome = import_path(store, write_ledger(tmp_path / "l", small_city()))
    assert outcome.tallies["areas"].created == 10
    assert outcome.tallies["posts"].created == 2
    counts = store.counts()
    assert counts[Label.AREA] == 10
    assert counts[Label.PARTY_ORG] == 6
    assert counts[RelType.WITHIN] == 9
    assert counts[RelType.HOLDS_POST] == 2
    assert counts[RelType.LED_BY] == 1
    node = store.nodes(["OK"])["OK"]
    assert node.props == {
        "id": "OK",
        "name": "东山社区党委",
        "form": "committee",
        "member_count": 40,
        "category": "territorial",
    }
    assert node.refs == {RelType.UNDER: "OS", RelType.BUILT_ON: "K"}


def test_reimporting_changes_nothing(loaded: Store, tmp_path: Path) -> None:
    before = snapshot(loaded, tmp_path)
    outcome = import_path(loaded, write_ledger(tmp_path / "again", small_city()))
    assert outcome.written == 0
    assert all(t.unchanged == t.total for t in outcome.tallies.values())
    assert snapshot(loaded, tmp_path) == before


def test_a_changed_row_is_updated_in_place(loaded: Store, tmp_path: Path) -> None:
    ledger = {
        "areas": [{"id": "G2", "name": "东山第二网格", "kind": "grid", "parent_id": "K"}],
        "party_orgs": [
            {
                "id": "OG1",
                "name": "第1网格党支部",
                "form": "general_branch",
                "parent_id": "OK",
                "area_id": "G2",
            }
        ],
    }
    outcome = import_path(loaded, write_ledger(tmp_path / "u", ledger))
    assert outcome.tallies["areas"].updated == 1
    nodes = loaded.nodes(["G2", "OG1", "OB1"])
    assert nodes["G2"].props["name"] == "东山第二网格"
    assert nodes["OG1"].refs[RelType.BUILT_ON] == "G2"
    assert nodes["OB1"].refs[RelType.UNDER] == "OG1"  # what points at it is kept
    assert loaded.counts()[RelType.BUILT_ON] == 6  # the old BUILT_ON was replaced, not added


def test_dry_run_validates_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    outcome = import_path(store, write_ledger(tmp_path / "l", small_city()), dry_run=True)
    assert outcome.tallies["areas"].created == 10
    assert store.counts() == {}


def test_references_may_name_stored_nodes(loaded: Store, tmp_path: Path) -> None:
    ledger = {
        "households": [{"id": "H9", "building_id": "B1"}],
        "contacts": [{"person_id": "P2", "household_id": "H9"}],
    }
    import_path(loaded, write_ledger(tmp_path / "more", ledger))
    assert loaded.nodes(["H9"])["H9"].refs == {RelType.IN_BUILDING: "B1"}


def test_extra_columns_are_kept_as_properties_and_named(store: Store, tmp_path: Path) -> None:
    # none of these is one slip from a column of areas: 服务中心面积 is two characters
    # from 服务用房面积, note two letters from name, and name2 sits beside name itself
    extra = {"服务中心面积": "1200", "note": "x", "remark": "y", "备注": "z", "name2": "w"}
    ledger = {"areas": [{"id": "C", "name": "大连市", "kind": "city", **extra}]}
    outcome = import_path(store, write_ledger(tmp_path / "x", ledger))
    assert store.nodes(["C"])["C"].props == {"id": "C", "name": "大连市", "kind": "city", **extra}
    assert outcome.extra_columns == {"areas": list(extra)}


def test_the_import_summary_names_the_extra_columns(env: dict[str, str], tmp_path: Path) -> None:
    ledger = small_city()
    ledger["areas"][0]["备注"] = "市本级"
    ledger["households"][0]["楼层"] = "1"
    result = run_cli("import", str(write_ledger(tmp_path / "l", ledger)), env=env)
    assert result.returncode == 0, result.stderr
    assert "areas: extra columns kept as properties: 备注" in result.stdout
    assert "households: extra columns kept as properties: 楼层" in result.stdout


@pytest.mark.parametrize(
    ("table", "header", "meant"),
    [
        ("areas", "上级编码", "上级编号 (parent_id)"),  # the issue's own typo
        ("areas", "parentid", "上级编号 (parent_id)"),  # a letter left out
        ("areas", "Parent-ID", "上级编号 (parent_id)"),  # one letter wrong, any case
        ("areas", "parnet_id", "上级编号 (parent_id)"),  # two letters swapped
        ("areas", "上级编号号", "上级编号 (parent_id)"),  # a character too many
        ("areas", "household", "户数 (households)"),
        ("people", "phones", "电话 (phone)"),
        ("households", "szie", "人数 (size)"),
    ],
)
def test_a_header_one_slip_from_a_column_is_an_error(
    store: Store, tmp_path: Path, table: str, header: str, meant: str
) -> None:
    rows = {
        "areas": [
            {"id": "C", "name": "大连市", "kind": "city"},
            {"id": "D", "name": "中山区", "kind": "district", header: "C"},
        ],
        "people": [{"id": "P", "name": "王伟", header: "13800000000"}],
        "households": [{"id": "H", header: "3"}],
    }[table]
    ledger: Ledger = {table: rows}
    if table == "households":
        ledger["areas"] = [{"id": "B", "name": "1号楼", "kind": "building"}]
        rows[0]["building_id"] = "B"
    reject(
        store,
        tmp_path,
        ledger,
        f"{table} row 1 header: {header!r} is not a column of {table}; did you mean {meant}?",
    )


def test_short_names_match_only_exactly(store: Store, tmp_path: Path) -> None:
    # "ids" is one letter from "id", but "id" is too short to guess at: with no id column
    # the row is refused for the missing column, not for a typo
    ledger = {"areas": [{"ids": "C", "name": "大连市", "kind": "city"}]}
    error = reject(store, tmp_path, ledger, "areas row 1 id: required column is missing")
    assert not any(p.column == "header" for p in error.problems)


def test_chinese_headers_and_values_are_read(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "zh"
    write_table(
        folder,
        "区域",
        [
            {"编号": "C", "名称": "大连市", "类型": "市"},
            {"编号": "D", "名称": "中山区", "类型": "区县", "上级编号": "C"},
        ],
    )
    write_table(
        folder,
        "人员",
        [
            {
                "编号": "P",
                "姓名": "王伟",
                "性别": "男",
                "是否党员": "是",
                "出生日期": "1980年3月5日",
                "学历": "本科",
            }
        ],
    )
    write_table(
        folder,
        "选派干部",
        [
            {
                "编号": "X",
                "人员编号": "P",
                "派出单位": "U",
                "派驻村社区": "D",
                "类型": "第一书记",
                "起始日期": "2024/3/1",
            }
        ],
    )
    write_table(
        folder, "单位", [{"编号": "U", "名称": "市财政局", "单位类型": "机关", "层级": "市级"}]
    )
    import_path(store, folder)
    nodes = store.nodes(["D", "P", "X"])
    assert nodes["D"].props["kind"] == "district"
    assert nodes["P"].props == {
        "id": "P",
        "name": "王伟",
        "gender": "M",
        "party_member": True,
        "birth_date": "1980-03-05",
        "education": "bachelor",
    }
    assert nodes["X"].props["role"] == "first_secretary"
    assert nodes["X"].props["since"] == "2024-03-01"


def _as_workbook(ledger: Ledger, path: Path, chinese: bool) -> Path:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for table, rows in ledger.items():
        spec = BY_NAME[table]
        sheet = book.create_sheet(spec.zh if chinese else table)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        zh = spec.columns()
        sheet.append([zh.get(c, c) if chinese else c for c in columns])
        for row in rows:
            sheet.append([row.get(c) or None for c in columns])
    book.save(path)
    return path


def test_gbk_csv_and_xlsx_give_identical_stores(tmp_path: Path, store: Store) -> None:
    from grassroots.graph.duck import DuckStore

    ledger = small_city()
    zh_rows: Ledger = {}
    for table, rows in ledger.items():
        zh = BY_NAME[table].columns()
        zh_rows[BY_NAME[table].zh] = [{zh[k]: v for k, v in row.items()} for row in rows]
    gbk = write_ledger(tmp_path / "gbk", zh_rows, encoding="gbk")
    assert "区域.csv" in {p.name for p in gbk.iterdir()}
    (gbk / "区域.csv").read_bytes().decode("gbk")  # it really is GBK
    book = _as_workbook(ledger, tmp_path / "ledger.xlsx", chinese=True)

    import_path(store, gbk)
    other = DuckStore(tmp_path / "other")  # from Neo4j: the other store too
    import_path(other, book)
    assert snapshot(store, tmp_path) == snapshot(other, tmp_path)
    other.close()
    assert store.counts()[RelType.CONTACTS] == 1


def test_utf8_with_bom_is_read(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "bom"
    write_table(folder, "areas", [{"id": "C", "name": "大连市", "kind": "city"}], "utf-8-sig")
    import_path(store, folder)
    assert store.nodes(["C"])["C"].props["name"] == "大连市"


# -- one test per class of bad input ------------------------------------------------------


def test_dangling_reference(loaded: Store, tmp_path: Path) -> None:
    ledger = {
        "party_orgs": [
            {"id": "OX", "name": "x", "form": "branch", "parent_id": "NOPE", "area_id": "G2"}
        ]
    }
    error = reject(loaded, tmp_path, ledger, "party_orgs row 2 parent_id: no party_orgs")
    assert "'NOPE'" in str(error)


def test_reference_to_the_wrong_table(loaded: Store, tmp_path: Path) -> None:
    ledger = {"households": [{"id": "H9", "building_id": "P1"}]}
    reject(loaded, tmp_path, ledger, "households row 2 building_id: 'P1' is a stored person")


def test_unknown_enum_value(loaded: Store, tmp_path: Path) -> None:
    ledger = {"areas": [{"id": "Z", "name": "z", "kind": "镇区", "parent_id": "D"}]}
    error = reject(loaded, tmp_path, ledger, "areas row 2 kind: '镇区' is not one of")
    assert "township 乡镇" in str(error)


def test_cycle_in_the_party_org_tree(loaded: Store, tmp_path: Path) -> None:
    ledger = {
        "party_orgs": [
            {"id": "OD", "name": "区委", "form": "committee", "parent_id": "OB1", "area_id": "D"}
        ]
    }
    error = reject(loaded, tmp_path, ledger, "party_orgs row 2 parent_id: makes a cycle")
    assert "OD → OB1 → OG1 → OK → OS → OD" in str(error)


def test_cycle_in_the_area_tree_within_the_bundle(store: Store, tmp_path: Path) -> None:
    ledger = {
        "areas": [
            {"id": "A", "name": "a", "kind": "grid", "parent_id": "B"},
            {"id": "B", "name": "b", "kind": "grid", "parent_id": "A"},
        ]
    }
    reject(store, tmp_path, ledger, "areas row 2 parent_id: makes a cycle")


def test_kinds_out_of_order(loaded: Store, tmp_path: Path) -> None:
    ledger = {"areas": [{"id": "X", "name": "x", "kind": "district", "parent_id": "G1"}]}
    reject(loaded, tmp_path, ledger, "areas row 2 parent_id: a district (区县) cannot lie within")


def test_changing_a_kind_under_stored_children(loaded: Store, tmp_path: Path) -> None:
    ledger = {"areas": [{"id": "G1", "name": "x", "kind": "building", "parent_id": "K"}]}
    reject(loaded, tmp_path, ledger, "areas row 2 kind: stored area 'B1' lies within this one")


def test_impossible_date(loaded: Store, tmp_path: Path) -> None:
    ledger = {"contacts": [{"person_id": "P2", "household_id": "H2", "since": "2024-02-30"}]}
    reject(loaded, tmp_path, ledger, "contacts row 2 since: '2024-02-30' is not a real day")


def test_unreadable_date(loaded: Store, tmp_path: Path) -> None:
    ledger = {"contacts": [{"person_id": "P2", "household_id": "H2", "since": "30.6.2024"}]}
    reject(loaded, tmp_path, ledger, "contacts row 2 since: '30.6.2024' is not a date")


def test_reversed_date_range(loaded: Store, tmp_path: Path) -> None:
    ledger = {
        "dispatches": [
            {
                "id": "DX",
                "person_id": "P3",
                "unit_id": "U1",
                "area_id": "V",
                "role": "liaison",
                "since": "2025-01-01",
                "until": "2024-12-31",
            }
        ]
    }
    reject(loaded, tmp_path, ledger, "dispatches row 2 until: until 2024-12-31 is before since")


def test_duplicate_id_in_the_bundle(store: Store, tmp_path: Path) -> None:
    ledger = {
        "areas": [{"id": "C", "name": "大连市", "kind": "city"}],
        "units": [{"id": "C", "name": "市财政局", "kind": "agency"}],
    }
    reject(store, tmp_path, ledger, "units row 2 id: id 'C' is already used by areas row 2")


def test_id_already_stored_as_another_kind(loaded: Store, tmp_path: Path) -> None:
    ledger = {"units": [{"id": "K", "name": "x", "kind": "agency"}]}
    reject(loaded, tmp_path, ledger, "units row 2 id: id 'K' is already stored as a area")


def test_duplicate_link(loaded: Store, tmp_path: Path) -> None:
    row = {"person_id": "P2", "household_id": "H2", "since": "2024-01-01"}
    reject(loaded, tmp_path, {"contacts": [row, dict(row)]}, "contacts row 3 person_id: repeats")


def test_missing_required_column(loaded: Store, tmp_path: Path) -> None:
    ledger = {"areas": [{"id": "Z", "kind": "grid", "parent_id": "K"}]}
    reject(loaded, tmp_path, ledger, "areas row 1 name: required column is missing")


def test_empty_required_cell(loaded: Store, tmp_path: Path) -> None:
    ledger = {
        "areas": [
            {"id": "Z", "name": "", "kind": "grid", "parent_id": "K"},
            {"id": "Y", "name": "y", "kind": "grid", "parent_id": "K"},
        ]
    }
    reject(loaded, tmp_path, ledger, "areas row 2 name: required, but empty")


def test_undecodable_file(loaded: Store, tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "areas.csv").write_bytes(b"id,name,kind\nZ,\xff\xfe\xfa\xfb\x81,grid\n")
    reject(loaded, tmp_path, folder, "areas row 2 file: areas.csv is neither UTF-8 nor GBK")


def test_unknown_file_name(loaded: Store, tmp_path: Path) -> None:
    folder = write_ledger(
        tmp_path / "f", {"areas": [{"id": "Z", "name": "z", "kind": "grid", "parent_id": "K"}]}
    )
    write_table(folder, "villages", [{"id": "V2", "name": "v"}])
    reject(loaded, tmp_path, folder, "villages row 1 file: unknown table 'villages'")


def test_unknown_sheet_name(loaded: Store, tmp_path: Path) -> None:
    book = _as_workbook(
        {"areas": [{"id": "Z", "name": "z", "kind": "grid", "parent_id": "K"}]},
        tmp_path / "w.xlsx",
        chinese=False,
    )
    from openpyxl import load_workbook

    wb = load_workbook(book)
    wb.create_sheet("Sheet2").append(["a"])
    wb.save(book)
    reject(loaded, tmp_path, book, "Sheet2 row 1 sheet: unknown table 'Sheet2'")


def test_every_problem_is_reported_not_only_the_first(loaded: Store, tmp_path: Path) -> None:
    ledger = copy.deepcopy(small_city())
    ledger["areas"][4]["kind"] = "gird"
    ledger["people"][1]["gender"] = "X"
    ledger["pairings"][0]["since"] = ""
    ledger["projects"][0]["pairing_id"] = "PR404"
    error = reject(
        loaded,
        tmp_path,
        ledger,
        "areas row 6 kind:",
        "people row 3 gender:",
        "pairings row 2 since: required",
        "projects row 2 pairing_id:",
    )
    assert "nothing was written" in str(error)


def test_a_path_that_is_no_bundle(store: Store, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(GrassrootsError, match="give a folder of CSV files"):
        import_path(store, tmp_path / "notes.txt")
    with pytest.raises(GrassrootsError, match="no such file"):
        import_path(store, tmp_path / "missing")


# -- ids, characters, encodings and sizes ---------------------------------------------------


def test_a_pipe_in_an_id_is_refused(loaded: Store, tmp_path: Path) -> None:
    # link keys join ids with "|": person "RTP|1" + household "RTH" and person "RTP" +
    # household "1|RTH" would make the same contact
    ledger = {
        "people": [{"id": "RTP|1", "name": "王伟"}, {"id": "RTP", "name": "李娜"}],
        "households": [{"id": "1|RTH", "building_id": "B1"}, {"id": "RTH", "building_id": "B1"}],
        "contacts": [
            {"person_id": "RTP|1", "household_id": "RTH"},
            {"person_id": "RTP", "household_id": "1|RTH"},
        ],
    }
    error = reject(
        loaded,
        tmp_path,
        ledger,
        "people row 2 id: 'RTP|1' contains '|'",
        "households row 2 id: '1|RTH' contains '|'",
        "contacts row 2 person_id: 'RTP|1' contains '|'",
        "contacts row 3 household_id: '1|RTH' contains '|'",
    )
    assert "use '-' or '_' instead" in str(error)


@pytest.mark.parametrize(("cell", "shown"), [("RT\x0bP", "U+000B"), ("RT\tP", "U+0009 (tab)")])
def test_a_control_character_in_an_id_is_refused(
    store: Store, tmp_path: Path, cell: str, shown: str
) -> None:
    ledger = {"areas": [{"id": cell, "name": "大连市", "kind": "city"}]}
    reject(
        store, tmp_path, ledger, f"areas row 2 id: {cell!r} contains the control character {shown}"
    )


@pytest.mark.parametrize(
    ("column", "cell", "shown"),
    [
        ("name", "大连\x0b市", "U+000B"),
        ("name", "大连\x00市", "U+0000"),
        ("备注", "x\x1fy", "U+001F"),  # an extra column is checked as well
    ],
)
def test_a_control_character_in_a_cell_is_refused(
    store: Store, tmp_path: Path, column: str, cell: str, shown: str
) -> None:
    ledger = {"areas": [{"id": "C", "name": "大连市", "kind": "city", column: cell}]}
    error = reject(
        store, tmp_path, ledger, f"areas row 2 {column}: contains the control character {shown}"
    )
    assert len(error.problems) == 1


def test_tabs_and_line_breaks_in_free_text_are_kept(store: Store, tmp_path: Path) -> None:
    name = "大连市\n中山区\t(合署)"
    import_path(
        store, write_ledger(tmp_path / "l", {"areas": [{"id": "C", "name": name, "kind": "city"}]})
    )
    assert store.nodes(["C"])["C"].props["name"] == name


def test_a_lone_surrogate_in_a_dump_is_a_row_problem(store: Store, tmp_path: Path) -> None:
    dump = tmp_path / "s.jsonl"
    dump.write_text(
        '{"type":"node","id":"A","labels":["Area"],"properties":'
        '{"id":"A","name":"a\\ud800","kind":"city"}}\n',
        encoding="utf-8",
    )
    reject(store, tmp_path, dump, "areas row 1 name: contains a lone surrogate U+D800")


def test_a_file_mixing_utf8_and_gbk_is_refused_at_its_first_odd_row(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    head = "id,name,kind\nC,大连市,city\nD,中山区,district\n".encode()
    (folder / "areas.csv").write_bytes(head + "S,测试,subdistrict\n".encode("gbk"))
    error = reject(store, tmp_path, folder, "areas row 4 file: areas.csv mixes encodings")
    assert "save it as UTF-8 (or as GBK) throughout" in str(error)


def test_a_gbk_file_with_a_utf8_row_is_refused_too(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    head = "id,name,kind\nC,大连市,city\n".encode("gbk")
    (folder / "areas.csv").write_bytes(head + "D,测试,district\n".encode())
    reject(store, tmp_path, folder, "areas row 3 file: areas.csv mixes encodings")


def test_a_bom_before_gbk_text_says_so(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "bom"
    folder.mkdir()
    data = "id,name,kind\nC,大连市,city\n".encode("gbk")
    (folder / "areas.csv").write_bytes(b"\xef\xbb\xbf" + data)
    error = reject(store, tmp_path, folder, "areas row 2 file: areas.csv starts with a UTF-8")
    assert "byte-order mark" in str(error) and "not UTF-8" in str(error)


def test_a_cell_over_the_size_limit_is_a_row_problem(store: Store, tmp_path: Path) -> None:
    limit = load_settings().max_cell_chars
    folder = tmp_path / "big"
    folder.mkdir()
    fits, over = "x" * limit, "y" * (limit + 1)
    (folder / "areas.csv").write_text(
        f"id,name,kind\nC,{fits},city\nD,{over},district\n", encoding="utf-8"
    )
    error = reject(store, tmp_path, folder, "areas row 3 file: a cell is longer than")
    assert [p.row for p in error.problems] == [3]  # row 2's cell, at the limit, is fine


def test_a_dump_cell_over_the_size_limit_is_a_row_problem(store: Store, tmp_path: Path) -> None:
    limit = load_settings().max_cell_chars
    dump = tmp_path / "big.jsonl"
    dump.write_text(
        '{"type":"node","id":"A","labels":["Area"],"properties":'
        f'{{"id":"A","name":"{"x" * (limit + 1)}","kind":"city"}}}}\n',
        encoding="utf-8",
    )
    reject(store, tmp_path, dump, "areas row 1 name: longer than")


def test_a_dump_of_random_bytes_is_a_row_problem(store: Store, tmp_path: Path) -> None:
    dump = tmp_path / "noise.jsonl"
    good = (
        '{"type":"node","id":"A","labels":["Area"],'
        '"properties":{"id":"A","name":"a","kind":"city"}}'
    )
    dump.write_bytes(good.encode() + b"\n\xff\xfe\x00\x81garbage\n")
    reject(store, tmp_path, dump, "dump row 2 line: not UTF-8 text")


def test_deeply_nested_json_in_a_dump_is_a_row_problem(store: Store, tmp_path: Path) -> None:
    dump = tmp_path / "deep.jsonl"
    dump.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    reject(store, tmp_path, dump, "dump row 1 line: nested too deeply")


def _bulky_workbook(path: Path, rows: int, width: int) -> Path:
    """An .xlsx whose cells are long and distinct: small zipped, big unpacked."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "areas"
    sheet.append(["id", "name", "kind"])
    for index in range(rows):
        sheet.append([f"A{index}", f"{index:06d}" + "x" * width, "city"])
    book.save(path)
    return path


def test_a_workbook_over_the_unpacked_size_limit_is_refused_unread(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = _bulky_workbook(tmp_path / "bomb.xlsx", rows=40, width=30_000)
    unpacked = sum(i.file_size for i in zipfile.ZipFile(book).infolist())
    assert book.stat().st_size < 100_000 < 1_000_000 < unpacked  # a small file, unpacking big
    monkeypatch.setenv("GRASSROOTS_MAX_XLSX_MB", "1")
    error = reject(store, tmp_path, book, "bomb.xlsx row 1 file: this workbook unpacks to")
    assert "GRASSROOTS_MAX_XLSX_MB" in str(error)
    monkeypatch.setenv("GRASSROOTS_MAX_XLSX_MB", "2")
    assert import_path(store, book, dry_run=True).tallies["areas"].created == 40


def test_a_workbook_over_the_row_limit_is_refused(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = _bulky_workbook(tmp_path / "long.xlsx", rows=12, width=1)
    monkeypatch.setenv("GRASSROOTS_MAX_XLSX_ROWS", "10")
    error = reject(store, tmp_path, book, "long.xlsx row 1 file: this workbook has more than 10")
    assert "GRASSROOTS_MAX_XLSX_ROWS" in str(error)
    monkeypatch.setenv("GRASSROOTS_MAX_XLSX_ROWS", "13")  # the 12 rows and the header
    assert import_path(store, book, dry_run=True).tallies["areas"].created == 12


@pytest.mark.parametrize(
    ("column", "cell", "expected"),
    [
        ("households", "100000000000000000000000", "households: '100000000000000000000000' is too"),
        ("service_centre_m2", "inf", "service_centre_m2: 'inf' is not a number"),
        ("service_centre_m2", "1e400", "service_centre_m2: '1e400' is not a number"),
        ("name", "大连\ufffe市", "name: contains the non-character U+FFFE"),
    ],
)
def test_values_no_store_or_report_can_hold_are_row_problems(
    store: Store, tmp_path: Path, column: str, cell: str, expected: str
) -> None:
    ledger = {"areas": [{"id": "C", "name": "大连市", "kind": "city", column: cell}]}
    reject(store, tmp_path, ledger, f"areas row 2 {expected}")


def test_a_dump_number_beyond_64_bits_is_a_row_problem(store: Store, tmp_path: Path) -> None:
    dump = tmp_path / "n.jsonl"
    node = (
        '{"type":"node","id":"%s","labels":["Area"],'
        '"properties":{"id":"%s","name":"a","kind":"city",%s}}\n'
    )
    dump.write_text(
        node % ("A", "A", f'"households":{10**20}')
        + node % ("B", "B", f'"备注":{10**20},"面积":NaN'),
        encoding="utf-8",
    )
    reject(
        store,
        tmp_path,
        dump,
        "areas row 1 households: 100000000000000000000 is too large to be a count",
        "areas row 2 备注: 100000000000000000000 is a number no store can keep",
        "areas row 2 面积: nan is a number no store can keep",
    )


# -- the columnar path gives exactly the row path's answers --------------------------------

BROKEN_CELLS = [
    "",
    " ",
    "x|y",
    "2026-13-01",
    "2026-02-30",
    "2026/6/3",
    "2026年6月30日",
    "1,200",
    "-1",
    "12.5",
    "1e400",
    "不是",
    "是",
    "否",
    "村",
    "VILLAGE",
    "男",
    "m",
    "驻村",
    "\x0b",
    "a\u3000",
    "C",
    "D",
    "S",
    "G1",
    "nobody",
    "12",
    "0",
    "true",
    "branch",
    "党支部",
    "x" * 3,
]
TYPED_CELLS = [12, 1.5, True, 2**70, float("nan"), [1], {"a": 1}]


def _broken(seed: int) -> Ledger:
    import random

    rng = random.Random(seed)
    ledger = copy.deepcopy(small_city())
    for _ in range(rng.randint(1, 6)):
        table = rng.choice([name for name, rows in ledger.items() if rows])
        row = rng.choice(ledger[table])
        column = rng.choice([*row, "备注"])
        row[column] = rng.choice(BROKEN_CELLS)
    if rng.random() < 0.3:  # a duplicate row: ids or link keys repeat
        table = rng.choice([name for name, rows in ledger.items() if rows])
        ledger[table].append(dict(rng.choice(ledger[table])))
    return ledger


@pytest.mark.parametrize("store_kind", ["local"])
def test_the_columnar_path_reports_exactly_what_the_row_path_reports(
    store: Store, tmp_path: Path
) -> None:
    """Many seeded broken bundles (bad cells, typed cells as a dump holds them, repeated
    rows), checked against a loaded store: the same problems (table, row, column, message,
    code) or, when valid, the same tallies, from both paths."""
    import random

    from grassroots.importers.ledger import import_bundle, import_rows
    from grassroots.importers.sources import read_bundle

    import_path(store, write_ledger(tmp_path / "base", small_city()))

    def answer(run: Any, bundle: Any) -> Any:
        try:
            outcome = run(store, bundle, dry_run=True)
        except LedgerError as exc:
            return [(p.table, p.row, p.column, p.message, p.code) for p in exc.problems]
        return {n: vars(t) for n, t in outcome.tallies.items()}, outcome.extra_columns

    differ = []
    for seed in range(120):
        bundle = read_bundle(write_ledger(tmp_path / f"b{seed}", _broken(seed)))
        rng = random.Random(seed)
        if seed % 3 == 0 and bundle.tables:  # cells typed as a dump or a workbook holds them
            raw = rng.choice(bundle.tables)
            if raw.rows:
                cells = rng.choice(raw.rows).cells
                cells[rng.choice(list(cells))] = rng.choice(TYPED_CELLS)
        rows, columns = answer(import_rows, bundle), answer(import_bundle, bundle)
        if rows != columns:
            differ.append((seed, rows, columns))
    assert not differ, differ[:2]


def test_each_store_imports_by_the_path_registered_for_its_name(store: Store) -> None:
    """The columnar path is chosen by the store's name in a registry, as coverage
    evaluators are, not by the store's class: the embedded DuckDB store stages a bundle
    in SQL; a store without a registered path takes the row path."""
    from grassroots.graph.duck import DuckStore
    from grassroots.importers.ledger import IMPORTERS, import_rows, importer_for

    expected = IMPORTERS[DuckStore.name] if store.name == DuckStore.name else import_rows
    assert importer_for(store) is expected


# -- CSV read by DuckDB: the same rows, numbers and problems as Python's reader ------------


def _csv_text(rows: list[list[str]], rng: Any) -> str:
    """``rows`` as CSV text, written in one of the ways spreadsheets and people write it."""
    eol = rng.choice(["\n", "\r\n"])
    quote_all = rng.random() < 0.2
    lines = []
    for record in rows:
        cells = []
        for cell in record:
            if quote_all or any(c in cell for c in ',"\r\n') or rng.random() < 0.05:
                cell = '"' + cell.replace('"', '""') + '"'
            cells.append(cell)
        lines.append(",".join(cells))
    text = eol.join(lines)
    return text + eol if rng.random() < 0.8 else text


ODD_CELLS = [
    "a,b",
    'say "hi"',
    "two\nlines",
    "two\r\nlines",
    " padded ",
    "\u3000全角空格\u3000",
    "\t",
    "   ",
    "",
    "\x0b",
    "\u2028",
    "\x1c边\x1f",
    "é",
    "\ufeff",
]


def _odd_table(rows: list[dict[str, Any]], rng: Any) -> list[list[str]]:
    header = list(dict.fromkeys(k for row in rows for k in row))
    if rng.random() < 0.3:
        header.append(rng.choice(["备注", "", "note"]))
    records = [header]
    for row in rows:
        record = [str(row.get(h, "")) for h in header]
        roll = rng.random()
        if roll < 0.15:
            record[rng.randrange(len(record))] = rng.choice(ODD_CELLS)
        elif roll < 0.2:
            record = record[: rng.randrange(1, len(record) + 1)]  # a short row
        elif roll < 0.23:
            record.append(rng.choice(["", "extra"]))  # a long row
        records.append(record)
        if rng.random() < 0.04:
            records.append(rng.choice([[], [""] * len(header), ["  "]]))  # blank rows
    return records


def _odd_ledger(folder: Path, seed: int) -> Path:
    import random

    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for name, rows in small_city().items():
        if not rows:
            continue
        text = _csv_text(_odd_table(rows, rng), rng)
        encoding = rng.choice(["utf-8", "utf-8-sig", "gbk"])
        try:
            data = text.encode(encoding)
        except UnicodeEncodeError:
            data = text.encode("utf-8")
        (folder / f"{name}.csv").write_bytes(data)
    return folder


@pytest.mark.parametrize("store_kind", ["local"])
def test_csv_read_in_sql_numbers_rows_and_reports_exactly_as_the_python_reader(
    store: Store, tmp_path: Path
) -> None:
    """Seeded CSV files written every way a ledger arrives (BOM, GBK, CRLF, quoted cells
    with commas, quotes and line breaks, blank and whitespace rows, short and long rows,
    odd whitespace and control characters, an extra or empty header): the staged path
    reading the files in SQL gives the problems, or tallies, of Python's reader and the
    row path, row numbers included."""
    from grassroots.importers.ledger import import_rows
    from grassroots.importers.sources import read_bundle

    import_path(store, write_ledger(tmp_path / "base", small_city()))

    def answer(folder: Path, sql: bool) -> Any:
        try:
            if sql:
                outcome = import_path(store, folder, dry_run=True)
            else:
                outcome = import_rows(store, read_bundle(folder), dry_run=True)
        except LedgerError as exc:
            return [(p.table, p.row, p.column, p.message, p.code) for p in exc.problems]
        return {n: vars(t) for n, t in outcome.tallies.items()}, outcome.extra_columns

    differ = []
    for seed in range(60):
        folder = _odd_ledger(tmp_path / f"odd{seed}", seed)
        rows, columns = answer(folder, sql=False), answer(folder, sql=True)
        if rows != columns:
            differ.append((seed, rows, columns))
    assert not differ, differ[:2]


def test_a_clean_csv_file_is_left_to_sql_unread(tmp_path: Path) -> None:
    """For the staged path, a CSV file's rows are not read into Python at all: the table
    keeps its headers and the file DuckDB reads; a file that DuckDB's reader might number
    differently (a blank line) is read by Python, as before."""
    from grassroots.importers.sources import read_bundle

    folder = write_ledger(tmp_path / "l", small_city())
    (folder / "units.csv").write_text("id,name,kind\n\nU9,某单位,agency\n", encoding="utf-8")
    tables = {raw.table.name: raw for raw in read_bundle(folder, defer_csv=True).tables}
    assert tables["areas"].rows == []
    assert tables["areas"].csv is not None
    assert tables["areas"].headers == ["id", "name", "kind", "parent_id"]
    assert tables["units"].csv is None
    assert [row.number for row in tables["units"].rows] == [3]


def test_sql_strips_a_cell_of_what_python_strips() -> None:
    from grassroots.importers.columns import BLANKS

    assert "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()) == BLANKS
