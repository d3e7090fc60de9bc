"""Dispatched cadres (选派干部): a unit sends a person to a village or community."""

from __future__ import annotations

from grassroots.schema.base import Choice, Dated, Day, Id, column


class DispatchRole(Choice):
    RESIDENT = "resident", "驻村(社区)"
    LIAISON = "liaison", "结对共建联络员"
    FIRST_SECRETARY = "first_secretary", "第一书记"

    @classmethod
    def _missing_(cls, value: object) -> DispatchRole | None:
        aliases = {
            "驻村": cls.RESIDENT,
            "驻社区": cls.RESIDENT,
            "驻村(社区)": cls.RESIDENT,
            "驻村（社区）": cls.RESIDENT,
            "联络员": cls.LIAISON,
        }
        return aliases.get(str(value).strip()) or super()._missing_(value)


class Dispatch(Dated):
    id: Id = column("编号")
    person_id: Id = column("人员编号")
    unit_id: Id = column("派出单位")
    area_id: Id = column("派驻村社区")
    role: DispatchRole = column("类型")
    since: Day = column("起始日期")  # required here, optional in Dated
