"""Values for WeChat's typed template data keys (official-account category templates and mini-program
subscribe messages share the rules).

A key's type is its name without the digits (thing2 -> thing). What each type takes, from the
"参数值内容限制说明" tables of subscribeMessage.send and of the official account's template message
(类目模板, since the May 2023 rules; `first` and `remark` are no longer shown):

    thing             20 characters or fewer (Chinese, digits, letters, symbols)
    character_string  32 or fewer digits, letters or symbols (no Chinese)
    phrase            5 Chinese characters or fewer, nothing else
    number            32 digits or fewer;  letter: 32 letters or fewer;  symbol: 5 symbols or fewer
    time / date       "2019-10-01 15:01" style (24-hour; date may carry a time)
    name              10 Chinese characters or fewer (or 20 letters)
    phone_number      17 digits or symbols;  car_number: 8 characters;  amount: a currency sign and digits
    const             only the values approved for the template (configured as "=<value>", sent as is)
    keyword           an old template's untyped key (kept short: the field shows one line)

WeChat refuses a value outside its type with 47003, and the whole message with it: `fit` cuts every
value to its type so that a long reply still goes out (the full text is behind the message's link).
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from models.sla import LOCAL_TZ

THING_MAX = 20
STRING_MAX = 32
PHRASE_MAX = 5
NAME_MAX = 10
SYMBOL_MAX = 5
KEYWORD_MAX = 100
PHONE_MAX = 17
CAR_MAX = 8
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def key_type(key: str) -> str:
    return key.rstrip("0123456789")


def local_time(moment: datetime) -> str:
    """A `time` value: Beijing time, minutes."""
    return moment.astimezone(ZoneInfo(LOCAL_TZ)).strftime("%Y-%m-%d %H:%M")


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def fit(key: str, value: str) -> str:
    """`value` as WeChat accepts it for a data key of this type."""
    kind = key_type(key)
    value = " ".join(value.split())  # a line break shows as nothing in a template field
    if kind == "character_string":
        return "".join(ch for ch in value if ch.isascii() and ch.isprintable())[:STRING_MAX].strip() or "-"
    if kind == "phrase":
        return "".join(_CJK.findall(value))[:PHRASE_MAX] or "有更新"
    if kind == "number":
        return "".join(ch for ch in value if ch.isdigit())[:STRING_MAX] or "0"
    if kind == "letter":
        return "".join(ch for ch in value if ch.isascii() and ch.isalpha())[:STRING_MAX] or "A"
    if kind == "name":
        return "".join(_CJK.findall(value))[:NAME_MAX] or "群众"
    if kind == "symbol":
        return "".join(ch for ch in value if not ch.isalnum() and not ch.isspace())[:SYMBOL_MAX] or "-"
    if kind == "phone_number":
        return "".join(ch for ch in value if ch.isascii() and (ch.isdigit() or ch in "+-()"))[:PHONE_MAX] or "-"
    if kind == "car_number":
        return value.replace(" ", "")[:CAR_MAX] or "-"
    if kind == "amount":
        digits = re.search(r"\d+(?:\.\d{1,2})?", value)
        return f"¥{digits.group(0)}" if digits else "¥0"
    if kind in ("time", "date"):
        return value
    if kind == "keyword":
        return _cut(value, KEYWORD_MAX) or "-"
    return _cut(value, THING_MAX) or "-"
