"""People (人员). ``phone``, ``id_number`` and ``birth_date`` are personal data: see
``PERSONAL``."""

from __future__ import annotations

from collections.abc import Callable

from grassroots.schema.base import Choice, Day, Flag, Id, Row, Text, column
from grassroots.schema.elements import Props


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


def _hide_id_number(value: str) -> str:
    """An 18-digit ID number keeps its first 3 and last 4 characters, hiding the birth
    date (digits 7-14); an old 15-digit one keeps its last 3, as its birth date is digits
    7-12."""
    return mask(value) if len(value) == 18 else "*" * max(len(value) - 3, 0) + value[-3:]


HIDDEN: dict[str, Callable[[str], str | None]] = {
    "phone": mask,
    "id_number": _hide_id_number,
    # A date cannot be shown in part, and the birth date is digits 7-14 of the ID
    # number: hidden, it is null.
    "birth_date": lambda value: None,
}
"""How each personal property of a person is shown to whom may not see it in full (the
API without the ``personal`` grant, and the audit log always)."""
assert set(HIDDEN) == PERSONAL, "every personal property, and only those, has a way to be hidden"


def hide_personal(props: Props) -> Props:
    """``props`` with every personal property hidden (``HIDDEN``)."""
    if not PERSONAL & props.keys():
        return props
    shown = dict(props)
    for key, hide in HIDDEN.items():
        if shown.get(key) is not None:
            shown[key] = hide(str(shown[key]))
    return shown
