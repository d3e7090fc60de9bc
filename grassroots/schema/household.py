"""Households (住户) in buildings, and the party members who keep in touch (党员联系户)."""

from __future__ import annotations

from grassroots.schema.base import Count, Dated, Id, Row, Text, column


class Household(Row):
    id: Id = column("编号")
    building_id: Id = column("楼栋编号")
    name: Text | None = column("户主或门牌", default=None)
    size: Count | None = column("人数", default=None)


class Contact(Dated):
    person_id: Id = column("党员编号")
    household_id: Id = column("住户编号")
