"""Tracking codes: <prefix><YYMMDD><4+ digit per-day sequence><Damm check digit>.

The Damm check digit catches every single-digit error and every swap of two adjacent digits, so a
mistyped code is recognised as invalid instead of pointing at somebody else's case.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from models.entities import TrackingSequence
from models.plans import run_plan

LOCAL_TZ = ZoneInfo("Asia/Shanghai")

_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_digit(digits: str) -> int:
    interim = 0
    for char in digits:
        interim = _DAMM[interim][int(char)]
    return interim


def format_code(prefix: str, day: str, sequence: int) -> str:
    body = f"{day}{sequence:04d}"
    return f"{prefix.upper()}{body}{damm_digit(body)}"


class CodeCheck:
    """Result of reading something a person typed as a tracking code."""

    def __init__(self, code: str | None, valid: bool) -> None:
        self.code = code
        self.valid = valid


def code_pattern(prefix: str) -> re.Pattern[str]:
    """Matches a tracking code inside text, in any case, with one space where a person would put one:
    after the prefix and between the date and the sequence (MS 261123 00017). Spaces anywhere among the
    digits let a code swallow a number typed after it ("MS26112300017 3号楼门口也有" read as 12 digits)."""
    gap = r"[^\S\r\n]?"  # one blank of any kind (an ideographic space too), never a line break
    return re.compile(rf"(?<![A-Za-z0-9])({re.escape(prefix)}){gap}(\d{{6}}){gap}(\d{{5,}})(?!\d)", re.IGNORECASE)


def find_code(text: str, prefix: str) -> CodeCheck | None:
    """The first tracking-code-looking token in `text`: None if there is none, else its normal form and
    whether its check digit is right."""
    match = code_pattern(prefix).search(text)
    if not match:
        return None
    digits = "".join(str(int(char)) for char in match.group(2) + match.group(3))  # full-width digits too
    code = f"{prefix.upper()}{digits}"
    return CodeCheck(code, is_valid_code(code, prefix))


def is_valid_code(code: str, prefix: str) -> bool:
    if not code.upper().startswith(prefix.upper()):
        return False
    digits = code[len(prefix) :]
    return len(digits) >= 11 and digits.isdigit() and damm_digit(digits) == 0


async def next_code(prefix: str, at: datetime) -> str:
    """Allocate the next tracking code for the local (Asia/Shanghai) day of `at`."""
    return (await reserve_codes(prefix, at, 1))[0]


async def reserve_codes(prefix: str, at: datetime, count: int) -> list[str]:
    """Allocate `count` consecutive tracking codes for the local (Asia/Shanghai) day of `at`.

    One upsert that adds `count` to the day's counter and returns the new value: atomic in the database,
    so concurrent processes never get the same number. Runs in the caller's transaction, if any.
    """
    if count < 1:
        return []
    connection = TrackingSequence._meta.db
    return await run_plan(connection, reserve_codes_plan(connection.capabilities.dialect, prefix, at, count))


def reserve_codes_plan(
    dialect: str, prefix: str, at: datetime, count: int
) -> Generator[tuple[str, list[Any]], list[dict[str, Any]], list[str]]:
    """The upsert behind `reserve_codes` as a step of a plan (models/plans.py): the codes reserved."""
    table = TrackingSequence._meta.db_table
    day = at.astimezone(LOCAL_TZ).strftime("%y%m%d")
    params = "$1, $2" if dialect == "postgres" else "?, ?"
    rows = yield (
        f'INSERT INTO "{table}" ("day", "last_value") VALUES ({params}) '
        f'ON CONFLICT ("day") DO UPDATE SET "last_value" = "{table}"."last_value" + excluded."last_value" '
        'RETURNING "last_value"',
        [day, count],
    )
    last = int(rows[0]["last_value"])
    return [format_code(prefix, day, sequence) for sequence in range(last - count + 1, last + 1)]
