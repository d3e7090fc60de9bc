"""Areas (区域): the territory the party-org tree is laid over, city down to building."""

from __future__ import annotations

from grassroots.schema.base import Amount, Choice, Count, Flag, Id, Row, Text, column


class AreaKind(Choice):
    CITY = "city", "市"
    DISTRICT = "district", "区县"
    SUBDISTRICT = "subdistrict", "街道"
    TOWNSHIP = "township", "乡镇"
    COMMUNITY = "community", "社区"
    VILLAGE = "village", "村"
    GRID = "grid", "网格"
    BUILDING = "building", "楼栋"

    @property
    def level(self) -> int:
        """0 for a city down to 5 for a building; a parent's level is always lower."""
        return _LEVELS[self]


_LEVELS = {
    AreaKind.CITY: 0,
    AreaKind.DISTRICT: 1,
    AreaKind.SUBDISTRICT: 2,
    AreaKind.TOWNSHIP: 2,
    AreaKind.COMMUNITY: 3,
    AreaKind.VILLAGE: 3,
    AreaKind.GRID: 4,
    AreaKind.BUILDING: 5,
}


class Area(Row):
    id: Id = column("编号")
    name: Text = column("名称")
    kind: AreaKind = column("类型")
    parent_id: Id | None = column("上级编号", default=None)
    households: Count | None = column("户数", default=None)
    population: Count | None = column("人口", default=None)
    # Optional columns beyond the contract, for the regional packs' requirements
    # (docs/ledger.md): service premises, staff and funds of a village, community,
    # subdistrict or township.
    service_centre_m2: Amount | None = column("服务用房面积", default=None)
    workers: Count | None = column("社区工作者数", default=None)
    working_fund: Amount | None = column("年工作经费", default=None)
    party_service_fund: Amount | None = column("服务群众专项经费", default=None)
    central: Flag | None = column("中心村", default=None)
    new_build: Flag | None = column("新建社区", default=None)
