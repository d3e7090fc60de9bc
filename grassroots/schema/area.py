"""Areas (区域): the territory the party-org tree is laid over, city down to building."""

from __future__ import annotations

from grassroots.schema.base import Choice, Count, Row, Text, column


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
    id: Text = column("编号")
    name: Text = column("名称")
    kind: AreaKind = column("类型")
    parent_id: Text | None = column("上级编号", default=None)
    households: Count | None = column("户数", default=None)
    population: Count | None = column("人口", default=None)
