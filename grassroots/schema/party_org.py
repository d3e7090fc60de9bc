"""Party organisations (党组织), from a city committee down to a building group."""

from __future__ import annotations

from grassroots.schema.base import Choice, Count, Id, Row, Text, column


class OrgForm(Choice):
    COMMITTEE = "committee", "党委"
    WORKING_COMMITTEE = "working_committee", "党工委"
    GENERAL_BRANCH = "general_branch", "党总支"
    BRANCH = "branch", "党支部"
    GROUP = "group", "党小组"


class OrgCategory(Choice):
    TERRITORIAL = "territorial", "区域"
    ENTERPRISE = "enterprise", "企业"
    MOBILE = "mobile", "流动党员"
    RETIRED = "retired", "离退休"
    PROPERTY = "property", "物业"
    NEW_ECONOMY = "new_economy", "新业态"
    AGENCY = "agency", "机关"
    OTHER = "other", "其他"


class PartyOrg(Row):
    id: Id = column("编号")
    name: Text = column("名称")
    form: OrgForm = column("组织形式")
    parent_id: Id | None = column("上级党组织", default=None)
    area_id: Id | None = column("所在区域", default=None)
    member_count: Count | None = column("党员数", default=None)
    category: OrgCategory = column("类别", default=OrgCategory.TERRITORIAL)
