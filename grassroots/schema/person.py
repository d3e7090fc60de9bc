"""People (人员). ``phone``, ``id_number`` and ``birth_date`` are personal data: see
``PERSONAL``."""

from __future__ import annotations

from grassroots.schema.base import Choice, Day, Flag, Id, Row, Text, column


class Gender(Choice):
    M = "M", "男"
    F = "F", "女"

    @classmethod
    def _missing_(cls, value: object) -> Gender | None:
        upper = str(value).strip().upper()
        return cls.__members__.get(upper) or super()._missing_(value)


class Education(Choice):
    PRIMARY = "primary", "小学"
    JUNIOR = "junior", "初中"
    SENIOR = "senior", "高中"
    COLLEGE = "college", "大专"
    BACHELOR = "bachelor", "本科"
    MASTER = "master", "硕士"
    DOCTOR = "doctor", "博士"


class Person(Row):
    id: Id = column("编号")
    name: Text = column("姓名")
    gender: Gender | None = column("性别", default=None)
    birth_date: Day | None = column("出生日期", default=None)
    education: Education | None = column("学历", default=None)
    party_member: Flag | None = column("是否党员", default=None)
    phone: Text | None = column("电话", default=None)
    id_number: Text | None = column("身份证号", default=None)


PERSONAL = frozenset({"phone", "id_number", "birth_date"})
"""Properties never shown in full without the right to see them, and never logged. The
birth date belongs here because it is digits 7-14 of an 18-digit ID number: hiding one
while showing the other would hide nothing."""


def mask(value: str) -> str:
    """``13812345678`` -> ``138****5678``: enough to recognise, not to use.

    >>> mask("13812345678")
    '138****5678'
    >>> mask("21020219800101123X")
    '210***********123X'
    """
    keep_head, keep_tail = (3, 4) if len(value) > 8 else (1, 1)
    if len(value) <= keep_head + keep_tail:
        return "*" * len(value)
    hidden = len(value) - keep_head - keep_tail
    return value[:keep_head] + "*" * hidden + value[-keep_tail:]
