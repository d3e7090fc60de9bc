"""Units (单位): agencies, enterprises and institutions that pair, dispatch and employ."""

from __future__ import annotations

from grassroots.schema.base import Choice, Dated, Flag, Id, Row, Text, column


class UnitKind(Choice):
    AGENCY = "agency", "机关"
    PUBLIC_INSTITUTION = "public_institution", "事业单位"
    STATE_ENTERPRISE = "state_enterprise", "国企"
    PRIVATE_ENTERPRISE = "private_enterprise", "民企"
    POLICE = "police", "公安执法"
    HOSPITAL = "hospital", "医疗卫生"
    UTILITY = "utility", "公用事业"
    SCHOOL = "school", "学校"
    SOCIAL_ORG = "social_org", "社会组织"
    PROPERTY_COMPANY = "property_company", "物业企业"
    NEW_ECONOMY = "new_economy", "新业态"
    OTHER = "other", "其他"


class UnitLevel(Choice):
    CITY = "city", "市级"
    DISTRICT = "district", "区县级"
    SUBDISTRICT = "subdistrict", "街道级"
    TOWNSHIP = "township", "乡镇级"


class Unit(Row):
    id: Id = column("编号")
    name: Text = column("名称")
    kind: UnitKind = column("单位类型")
    level: UnitLevel | None = column("层级", default=None)
    area_id: Id | None = column("所在区域", default=None)


class Employment(Dated):
    """A person's job in a unit (任职单位); ``leadership`` marks the leadership team (班子成员)."""

    person_id: Id = column("人员编号")
    unit_id: Id = column("单位编号")
    position: Text | None = column("职位", default=None)
    leadership: Flag = column("班子成员", default=False)
