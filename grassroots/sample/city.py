"""A realistic sample city, generated from a seed and written as a ledger bundle.

Shaped as the policy documents describe: a city of urban districts (subdistricts →
communities) and rural counties (townships → villages); grids of about ``households_per_grid``
households split into buildings; a party org on every level with a realistic share of
gaps (a grid without a branch, a building without a group, a village without a resident
cadre, a pairing without a project...); resident units whose heads sit as concurrent
members of the big committees; city and district units paired with villages and
communities, sending resident cadres and liaisons; party members linked to households;
in-service members reporting to their communities. Dated rows begin and end, so an
as-of question has different answers on different days.

The same seed and scale give the same bundle, byte for byte.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from grassroots.sample import names
from grassroots.schema import BY_NAME

Rows = dict[str, list[dict[str, Any]]]

ORG_SUFFIX = {"committee": "委员会", "general_branch": "总支部委员会", "branch": "支部委员会"}


@dataclass(frozen=True)
class Scale:
    districts: int
    rural_districts: int
    subdistricts: int  # per district
    communities: int  # per subdistrict or township
    grids: int  # per community or village
    buildings: int  # per grid
    households: int  # per building
    gap: float = 0.06  # the share of each requirement left unmet


SCALES = {
    "tiny": Scale(1, 1, 1, 2, 2, 2, 3),
    "small": Scale(3, 1, 2, 3, 3, 4, 8),
    "district": Scale(1, 0, 8, 8, 12, 10, 5),  # about 50k nodes
    "city": Scale(8, 3, 14, 15, 9, 10, 5),  # 1,680 villages and communities
}


class CityGenerator:
    def __init__(self, scale: Scale, seed: int = 7) -> None:
        self.scale = scale
        self.rng = random.Random(seed)
        self.rows: Rows = {table: [] for table in BY_NAME}
        self.people = 0
        self.today = date(2026, 6, 30)

    # -- helpers ------------------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def gap(self) -> bool:
        return self.chance(self.scale.gap)

    def day_between(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randrange((end - start).days + 1))

    def person(self, *, member: bool = True, birth: tuple[int, int] = (1962, 1995)) -> str:
        self.people += 1
        pid = f"P{self.people:07d}"
        rng = self.rng
        name = rng.choice(names.SURNAMES) + "".join(
            rng.choice(names.GIVEN) for _ in range(rng.choice((1, 2)))
        )
        born = self.day_between(date(birth[0], 1, 1), date(birth[1], 12, 31))
        self.rows["people"].append(
            {
                "id": pid,
                "name": name,
                "gender": rng.choice("MF"),
                "birth_date": born.isoformat(),
                "education": rng.choice(["senior", "college", "bachelor", "bachelor", "master"]),
                "party_member": "true" if member else "false",
                "phone": f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
                "id_number": f"2102{rng.randrange(100):02d}{born:%Y%m%d}{rng.randrange(10**4):04d}",
            }
        )
        return pid

    def org(
        self,
        oid: str,
        name: str,
        form: str,
        parent: str | None,
        area: str | None,
        members: int,
        category: str = "territorial",
    ) -> str:
        self.rows["party_orgs"].append(
            {
                "id": oid,
                "name": name,
                "form": form,
                "parent_id": parent or "",
                "area_id": area or "",
                "member_count": members,
                "category": category,
            }
        )
        return oid

    def post(
        self,
        person: str,
        org: str,
        post: str,
        *,
        concurrent: bool = False,
        since: date | None = None,
        until: date | None = None,
    ) -> None:
        self.rows["posts"].append(
            {
                "person_id": person,
                "org_id": org,
                "post": post,
                "concurrent": "true" if concurrent else "false",
                "since": (
                    since or self.day_between(date(2019, 1, 1), date(2024, 12, 31))
                ).isoformat(),
                "until": until.isoformat() if until else "",
            }
        )

    def unit(self, uid: str, name: str, kind: str, level: str, area: str) -> str:
        self.rows["units"].append(
            {"id": uid, "name": name, "kind": kind, "level": level, "area_id": area}
        )
        return uid

    def employ(self, person: str, unit: str, position: str, leadership: bool) -> None:
        self.rows["employments"].append(
            {
                "person_id": person,
                "unit_id": unit,
                "position": position,
                "leadership": "true" if leadership else "false",
                "since": self.day_between(date(2010, 1, 1), date(2023, 12, 31)).isoformat(),
                "until": "",
            }
        )

    # -- the city -----------------------------------------------------------------------

    def build(self) -> Rows:
        s = self.scale
        self.rows["areas"].append({"id": "C01", "name": "大连市", "kind": "city", "parent_id": ""})
        city_org = self.org("O-C01", "中共大连市委员会", "committee", None, "C01", 0)
        self.post(self.person(birth=(1962, 1972)), city_org, "secretary")
        self.city_units = self.units_of("C01", names.CITY_UNITS, "city", "U-C")
        urban = [n for n in names.URBAN_DISTRICTS][: s.districts - s.rural_districts]
        rural = [n for n in names.RURAL_DISTRICTS][: s.rural_districts]
        for index, (dname, is_rural) in enumerate(
            [(n, False) for n in urban] + [(n, True) for n in rural], start=1
        ):
            self.district(f"D{index:02d}", dname, is_rural, city_org)
        return self.rows

    def units_of(
        self, area: str, catalogue: list[tuple[str, str]], level: str, prefix: str
    ) -> list[tuple[str, str]]:
        """Units with a leadership team of three; returns (unit id, leader id) pairs."""
        made = []
        for index, (uname, kind) in enumerate(catalogue, start=1):
            uid = self.unit(f"{prefix}{area}-{index:02d}", uname, kind, level, area)
            leaders = [self.person(birth=(1965, 1985)) for _ in range(3)]
            for rank, leader in enumerate(leaders):
                self.employ(leader, uid, ["主要负责人", "副职", "副职"][rank], True)
            for _ in range(2):
                staff = self.person(birth=(1980, 1998))
                self.employ(staff, uid, "科员", False)
            made.append((uid, leaders[0]))
        return made

    def district(self, did: str, dname: str, rural: bool, city_org: str) -> None:
        s = self.scale
        self.rows["areas"].append(
            {"id": did, "name": dname, "kind": "district", "parent_id": "C01"}
        )
        dorg = self.org(f"O-{did}", f"中共大连市{dname}委员会", "committee", city_org, did, 0)
        self.post(self.person(birth=(1965, 1975)), dorg, "secretary")
        prefix = f"{dname.removesuffix('市').removesuffix('区').removesuffix('县')}"
        district_units = self.units_of(
            did, [(prefix + n, k) for n, k in names.DISTRICT_UNITS], "district", "U-D"
        )
        stems = names.TOWNSHIP_STEMS if rural else names.SUBDISTRICT_STEMS
        for index in range(1, s.subdistricts + 1):
            sid = f"{did}S{index:02d}"
            stem = stems[(index - 1 + int(did[1:]) * 3) % len(stems)]
            kind = "township" if rural else "subdistrict"
            sname = f"{stem}{'镇' if rural else '街道'}"
            self.rows["areas"].append(
                {
                    "id": sid,
                    "name": sname,
                    "kind": kind,
                    "parent_id": did,
                    "service_centre_m2": self.rng.choice([800, 1000, 1200, 1500, 2000]),
                }
            )
            form = "committee" if rural else "working_committee"
            sorg = self.org(
                f"O-{sid}", f"中共{sname}{'委员会' if rural else '工作委员会'}", form, dorg, sid, 0
            )
            self.post(self.person(birth=(1968, 1982)), sorg, "secretary")
            resident = self.units_of(
                sid,
                [(stem + n, k) for n, k in names.RESIDENT_UNITS],
                "subdistrict" if not rural else "township",
                "U-S",
            )
            self.big_committee(sorg, resident)
            for cindex in range(1, s.communities + 1):
                self.community(
                    f"{sid}{'V' if rural else 'K'}{cindex:02d}",
                    sorg,
                    rural,
                    district_units,
                    resident,
                )

    def big_committee(self, org: str, resident: list[tuple[str, str]]) -> None:
        """Heads of resident units as concurrent (兼职) members: the big committee."""
        if self.gap():
            return
        for _unit, leader in self.rng.sample(resident, k=min(3, len(resident))):
            ended = self.chance(0.1)
            self.post(
                leader,
                org,
                "committee_member",
                concurrent=True,
                until=date(2025, 12, 31) if ended else None,
            )

    def community(
        self,
        cid: str,
        sorg: str,
        rural: bool,
        district_units: list[tuple[str, str]],
        resident: list[tuple[str, str]],
    ) -> None:
        s, rng = self.scale, self.rng
        stems = names.VILLAGE_STEMS if rural else names.COMMUNITY_STEMS
        cname = f"{rng.choice(stems)}{'村' if rural else '社区'}"
        grids = s.grids
        households = grids * s.buildings * s.households
        population = households * rng.randint(24, 30) // 10
        short = self.gap()  # premises, staff and funds below the standards
        self.rows["areas"].append(
            {
                "id": cid,
                "name": cname,
                "kind": "village" if rural else "community",
                "parent_id": cid[:-3],
                "households": households,
                "population": population,
                "service_centre_m2": round(max(100 if rural else 300, households * 0.45))
                * (1 if not short else 0.5),
                "workers": max(3, households // (260 if short else 180)),
                "working_fund": (150_000 if short else 420_000)
                if rural
                else (120_000 if short else 250_000),
                "party_service_fund": (50_000 if population < 1500 else 100_000)
                if rural
                else (150_000 if short else 200_000),
                "central": ("true" if rng.random() < 0.3 else "false") if rural else "",
                "new_build": "" if rural else ("true" if rng.random() < 0.2 else "false"),
            }
        )
        paired: str | None = None
        if self.chance(s.gap / 3):
            corg = None  # a village or community with no party org at all
        else:
            form = (
                rng.choice(["committee", "general_branch"])
                if not rural
                else rng.choice(["committee", "general_branch", "branch"])
            )
            corg = self.org(
                f"O-{cid}",
                f"中共{cname}{ORG_SUFFIX[form]}",
                form,
                sorg,
                cid,
                grids * rng.randint(8, 14),
            )
            secretary = self.person(birth=(1968, 1988))
            self.post(secretary, corg, "secretary")
            self.post(self.person(birth=(1975, 1992)), corg, "deputy_secretary")
            for _ in range(rng.randint(1, 3)):
                self.post(self.person(birth=(1970, 1995)), corg, "committee_member")
            if not rural:
                self.big_committee(corg, resident)
            paired = self.pairing(cid, corg, district_units)
        self.dispatches(cid, district_units, paired)
        for gindex in range(1, grids + 1):
            self.grid(f"{cid}G{gindex:02d}", cname, corg)

    def pairing(self, cid: str, corg: str, district_units: list[tuple[str, str]]) -> str | None:
        """Pair a unit with the community's party org; return the unit."""
        if self.gap():
            return None
        rng = self.rng
        unit, leader = rng.choice(self.city_units + district_units)
        pid = f"PR-{cid}"
        since = self.day_between(date(2022, 1, 1), date(2024, 6, 30))
        responsible = leader if not self.gap() else self.person(birth=(1975, 1990))
        self.rows["pairings"].append(
            {
                "id": pid,
                "unit_id": unit,
                "org_id": corg,
                "responsible_id": responsible,
                "since": since.isoformat(),
                "until": "",
            }
        )
        if self.gap():
            return unit
        for index in range(1, rng.randint(1, 3) + 1):
            self.rows["projects"].append(
                {
                    "id": f"{pid}-{index}",
                    "pairing_id": pid,
                    "name": rng.choice(names.PROJECT_NAMES),
                    "category": rng.choice(["民生", "产业", "基层治理", "文化"]),
                    "status": rng.choice(["planned", "active", "active", "done"]),
                }
            )
        if self.chance(0.15):  # an earlier pairing with another unit, since ended
            old_unit, old_leader = rng.choice(self.city_units)
            self.rows["pairings"].append(
                {
                    "id": f"{pid}-old",
                    "unit_id": old_unit,
                    "org_id": corg,
                    "responsible_id": old_leader,
                    "since": "2019-03-01",
                    "until": (since - timedelta(days=1)).isoformat(),
                }
            )
        return unit

    def dispatches(
        self, cid: str, district_units: list[tuple[str, str]], paired: str | None
    ) -> None:
        """A resident cadre and a liaison, mostly from the paired unit (as Dalian asks)."""
        rng = self.rng
        for role in ("resident", "liaison"):
            if self.gap():
                continue
            unit, _ = rng.choice(self.city_units + district_units)
            if paired and not self.gap():
                unit = paired
            cadre = self.person(birth=(1980, 1996))
            self.employ(cadre, unit, "干部", False)
            since = self.day_between(date(2023, 1, 1), date(2025, 3, 1))
            # a small share ended before the sample's "today": a gap that only as-of shows
            until = date(2026, 3, 31) if self.chance(0.05) else None
            if role == "resident" and self.chance(0.3):
                role = "first_secretary"
            self.rows["dispatches"].append(
                {
                    "id": f"DP-{cid}-{role[:3]}",
                    "person_id": cadre,
                    "unit_id": unit,
                    "area_id": cid,
                    "role": role,
                    "since": since.isoformat(),
                    "until": until.isoformat() if until else "",
                }
            )

    def grid(self, gid: str, cname: str, corg: str | None) -> None:
        """A grid, its branch, its buildings; in-service members report to ``corg``."""
        s, rng = self.scale, self.rng
        gname = f"{cname}第{int(gid[-2:])}网格"
        self.rows["areas"].append(
            {
                "id": gid,
                "name": gname,
                "kind": "grid",
                "parent_id": gid[:-3],
                "households": s.buildings * s.households,
            }
        )
        gorg = None
        if corg and not self.gap():
            form = "general_branch" if self.chance(0.2) else "branch"
            gorg = self.org(
                f"O-{gid}",
                f"{gname}党{'总支' if form == 'general_branch' else '支部'}",
                form,
                corg,
                gid,
                rng.randint(6, 30),
            )
            self.post(self.person(birth=(1960, 1985)), gorg, "secretary")
            self.post(self.person(birth=(1970, 1995)), gorg, "grid_leader")
        members = [self.person(birth=(1950, 1995)) for _ in range(max(1, s.buildings // 2))]
        for member in members:
            if corg and gorg and self.chance(0.5):
                self.rows["reports"].append(
                    {
                        "person_id": member,
                        "org_id": corg,
                        "since": self.day_between(date(2021, 1, 1), date(2025, 6, 30)).isoformat(),
                        "until": "",
                    }
                )
        for bindex in range(1, s.buildings + 1):
            self.building(f"{gid}B{bindex:02d}", gname, gorg, members)

    def building(self, bid: str, gname: str, gorg: str | None, members: list[str]) -> None:
        s, rng = self.scale, self.rng
        bname = f"{gname}{int(bid[-2:])}号楼"
        self.rows["areas"].append(
            {"id": bid, "name": bname, "kind": "building", "parent_id": bid[:-3]}
        )
        if gorg and not self.chance(s.gap * 2):
            borg = self.org(f"O-{bid}", f"{bname}党小组", "group", gorg, bid, rng.randint(3, 9))
            self.post(rng.choice(members), borg, "group_leader")
        for hindex in range(1, s.households + 1):
            hid = f"{bid}H{hindex:03d}"
            self.rows["households"].append(
                {
                    "id": hid,
                    "building_id": bid,
                    "name": f"{int(bid[-2:])}-{hindex:03d}",
                    "size": rng.randint(1, 5),
                }
            )
            if self.gap():
                continue
            ended = self.chance(0.03)
            self.rows["contacts"].append(
                {
                    "person_id": rng.choice(members),
                    "household_id": hid,
                    "since": self.day_between(date(2021, 1, 1), date(2025, 12, 31)).isoformat(),
                    "until": "2026-01-31" if ended else "",
                }
            )


def generate(scale: str | Scale = "small", seed: int = 7) -> Rows:
    """The sample city's ledger rows, table by table."""
    chosen = SCALES[scale] if isinstance(scale, str) else scale
    return CityGenerator(chosen, seed).build()


def write_bundle(rows: Rows, folder: Path) -> Iterator[tuple[str, int]]:
    """Write each non-empty table as ``TABLE.csv`` (UTF-8); yield (table, row count)."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, records in rows.items():
        if not records:
            continue
        columns = list(dict.fromkeys(k for record in records for k in record))
        with (folder / f"{table}.csv").open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=columns)
            writer.writeheader()
            writer.writerows(records)
        yield table, len(records)
