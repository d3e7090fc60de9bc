"""Posts (职务) people hold in party orgs; ``concurrent`` marks a big-committee member."""

from __future__ import annotations

from grassroots.schema.base import Choice, Dated, Flag, Id, column


class PostKind(Choice):
    SECRETARY = "secretary", "书记"
    DEPUTY_SECRETARY = "deputy_secretary", "副书记"
    COMMITTEE_MEMBER = "committee_member", "委员"
    GROUP_LEADER = "group_leader", "组长"
    GRID_LEADER = "grid_leader", "网格长"
    OTHER = "other", "其他"


class Post(Dated):
    person_id: Id = column("人员编号")
    org_id: Id = column("党组织编号")
    post: PostKind = column("职务")
    concurrent: Flag = column("兼职", default=False)


class Report(Dated):
    """An in-service member reporting to a community's party org (在职党员报到)."""

    person_id: Id = column("党员编号")
    org_id: Id = column("党组织编号")
