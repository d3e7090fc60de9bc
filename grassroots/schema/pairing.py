"""Paired co-building (结对共建): a unit pairs with a party org, runs projects there."""

from __future__ import annotations

from grassroots.schema.base import Choice, Dated, Day, Id, Row, Text, column


class Pairing(Dated):
    id: Id = column("编号")
    unit_id: Id = column("单位编号")
    org_id: Id = column("党组织编号")
    responsible_id: Id | None = column("责任领导", default=None)
    since: Day = column("起始日期")  # required here, optional in Dated


class ProjectStatus(Choice):
    PLANNED = "planned", "计划"
    ACTIVE = "active", "实施中"
    DONE = "done", "已完成"


class Project(Row):
    id: Id = column("编号")
    pairing_id: Id = column("结对编号")
    name: Text = column("名称")
    category: Text | None = column("类别", default=None)
    status: ProjectStatus | None = column("状态", default=None)
