"""What every ledger row shares: strict models, the contract's parsing, bilingual enums.

Glossary
    choice   an enum whose members carry a Chinese alias (``AreaKind.VILLAGE.zh == "村"``);
             a cell may name it in English (any case) or in Chinese.
    id       an ``id`` or ``*_id`` cell: text without ``|``, control characters or lone
             surrogates (``ID_REFUSED``).
    day      a date written ``YYYY-MM-DD``, ``YYYY/M/D`` or ``YYYY年M月D日``.
    flag     a boolean written ``true/false``, ``1/0``, ``是/否`` (also ``yes/no``, ``y/n``).
    dated    a row with ``since``/``until``; *active on D* when since <= D <= until, an
             empty bound being open.

>>> parse_day("2026年6月30日")
datetime.date(2026, 6, 30)
>>> parse_flag("是")
True
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class Choice(StrEnum):
    """A string enum whose members also carry a Chinese alias: ``VILLAGE = "village", "村"``."""

    zh: str

    def __new__(cls, value: str, zh: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh = zh
        return member

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        text = str(value).strip()
        for member in cls:
            if text.lower() == member.value or text == member.zh:
                return member
        return None

    @classmethod
    def choices(cls) -> str:
        """The accepted spellings, for error messages: ``city 市, district 区县, …``."""
        return ", ".join(f"{m.value} {m.zh}".strip() for m in cls)


_DAY_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)


def parse_day(raw: object) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    if len(text) == 10 and text[4] == "-" and text[7] == "-":  # the common case, fast
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass  # "2026-02-30" and the like: the patterns below say what is wrong
    if "T" in text or " " in text:  # a spreadsheet may write "2026-06-30 00:00:00"
        text = re.split(r"[T ]", text, maxsplit=1)[0]
    for pattern in _DAY_PATTERNS:
        if match := pattern.match(text):
            year, month, day = (int(part) for part in match.groups())
            try:
                return date(year, month, day)
            except ValueError as exc:
                raise ValueError(f"{text!r} is not a real day ({exc})") from None
    raise ValueError(f"{text!r} is not a date; write YYYY-MM-DD, YYYY/M/D or YYYY年M月D日")


_TRUE = {"true", "1", "是", "yes", "y", "t", "√"}
_FALSE = {"false", "0", "否", "no", "n", "f", "×"}


def parse_flag(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{raw!r} is not a yes/no value; write true/false, 1/0 or 是/否")


MAX_COUNT = 2**53 - 1
"""The largest count a cell may hold: every whole number up to it is exact as a float, as
Excel stores numbers, and it fits the 64 bits both stores keep."""


def parse_count(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a whole number")
    if isinstance(raw, int):
        number: float = raw
    elif isinstance(raw, float) and raw.is_integer():
        number = raw
    else:
        text = str(raw).strip().replace(",", "")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number") from None
        if not number.is_integer():  # also inf and nan
            raise ValueError(f"{raw!r} is not a whole number")
    if abs(number) > MAX_COUNT:
        raise ValueError(f"{raw!r} is too large to be a count (at most {MAX_COUNT:,})")
    return int(number)


def parse_text(raw: object) -> str:
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, float) and raw.is_integer():  # a spreadsheet's 1001.0 is the id "1001"
        return str(int(raw))
    return str(raw).strip()


_CHAR_NAMES = {"\t": "tab", "\n": "line feed", "\r": "carriage return", "\x00": "NUL"}


def describe_char(char: str) -> str:
    """A character no cell may hold, for messages: ``the control character U+000B``.

    >>> describe_char("\\t")
    'the control character U+0009 (tab)'
    >>> describe_char("\\ud800")
    'a lone surrogate U+D800 (half of a character, from broken text)'
    """
    code = f"U+{ord(char):04X}"
    if 0xD800 <= ord(char) <= 0xDFFF:
        return f"a lone surrogate {code} (half of a character, from broken text)"
    if char in "\ufffe\uffff":
        return f"the non-character {code}"
    name = _CHAR_NAMES.get(char)
    return f"the control character {code}" + (f" ({name})" if name else "")


ID_REFUSED = re.compile("[|\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
"""What an id cannot hold: ``|``, which joins the parts of a link's key (so that person
``RTP|1`` with household ``RTH`` and person ``RTP`` with household ``1|RTH`` would make
one key), control characters (tabs and line breaks too), lone surrogates and the
non-characters U+FFFE and U+FFFF (which no XML, so no .xlsx report, can hold)."""


def parse_id(raw: object) -> str:
    text = parse_text(raw)
    if match := ID_REFUSED.search(text):
        char = match.group()
        if char == "|":
            raise ValueError(
                f"{text!r} contains '|', which an id cannot hold (it joins the parts of a"
                " link's key); use '-' or '_' instead, here and where other rows name it"
            )
        raise ValueError(
            f"{text!r} contains {describe_char(char)}; an id is one line of visible text,"
            " so remove it, here and where other rows name it"
        )
    return text


Day = Annotated[date, BeforeValidator(parse_day)]
Flag = Annotated[bool, BeforeValidator(parse_flag)]
Count = Annotated[int, BeforeValidator(parse_count), Field(ge=0)]
Text = Annotated[str, BeforeValidator(parse_text), Field(min_length=1)]
Id = Annotated[str, BeforeValidator(parse_id), Field(min_length=1)]
"""An ``id`` or a reference (``*_id``): text without ``|`` or control characters."""


def parse_amount(raw: object) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a number")
    text = raw if isinstance(raw, int | float) else str(raw).strip()
    if isinstance(text, str):
        text = text.replace(",", "").removesuffix("元").removesuffix("平方米")
    try:
        number = float(text)
    except (ValueError, OverflowError):  # OverflowError: an integer beyond any float
        raise ValueError(f"{raw!r} is not a number") from None
    if not math.isfinite(number):  # "inf", "nan", "1e400"
        raise ValueError(f"{raw!r} is not a number")
    return number


Amount = Annotated[float, BeforeValidator(parse_amount), Field(ge=0)]
"""A non-negative quantity such as square metres or yuan (``1,200`` and ``1200元`` too)."""


def column(zh: str, **kwargs: Any) -> Any:
    """A model field with the Chinese column header a ledger may use for it."""
    return Field(json_schema_extra={"zh": zh}, **kwargs)


class Row(BaseModel):
    """One ledger row: strict, so a misspelt column is an error, never a silent drop."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Dated(Row):
    """A row that holds between two days, either bound open."""

    since: Day | None = column("起始日期", default=None)
    until: Day | None = column("终止日期", default=None)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.since and self.until and self.until < self.since:
            raise ValueError(f"until {self.until} is before since {self.since}")
        return self

    def active_on(self, day: date) -> bool:
        return (self.since is None or self.since <= day) and (
            self.until is None or day <= self.until
        )
