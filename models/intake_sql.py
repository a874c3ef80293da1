"""Hand-written SQL of the new-case plan (handlers.cases.new_cases): what plain statements do better than
ORM queries on the intake's hot path. Each returns `(sql, params)` for models.plans; `dialect` is
"sqlite" or "postgres"."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from models.bulk import Statement, in_list, insert_statements, padded
from models.entities import Case, CaseState, Citizen, ContactPoint, InboundMessage, InboxStatus, ScanBinding
from models.qr import ContactPointDaily

# Cases that say nothing about a citizen's next message: it neither joins them nor follows them.
_SKIPPED_STATES = [CaseState.MERGED.value, CaseState.REJECTED.value]


def citizens_and_cases(dialect: str, openids: list[str]) -> Statement:
    """Per citizen of `openids` that exists: its member binding and each of its cases that is not
    merged or rejected (id, code, contact point, state); a citizen without such cases comes once with
    NULLs."""
    openids = padded(openids)
    sql = (
        f'SELECT z."openid", z."member_id", c."id" AS "case_id", c."code", c."contact_point_id", c."state" '
        f'FROM "{Citizen._meta.db_table}" z '
        f'LEFT JOIN "{Case._meta.db_table}" c ON c."citizen_id" = z."id" '
        f'AND c."state" NOT IN {in_list(dialect, _SKIPPED_STATES)} '
        f'WHERE z."openid" IN {in_list(dialect, openids, len(_SKIPPED_STATES) + 1)}'
    )
    return sql, [*_SKIPPED_STATES, *openids]


def bound_points(dialect: str, openids: list[str], moment: datetime) -> Statement:
    """openid, and id, key and name of the contact point, of each of `openids` whose scan still binds
    them at `moment` to a point that is not revoked."""
    wanted = padded(sorted(set(openids)))
    expires = ScanBinding._meta.fields_map["expires_at"].to_db_value(moment, ScanBinding)
    first = "$1" if dialect == "postgres" else "?"
    return (
        f'SELECT b."openid", p."id", p."key", p."name" FROM "{ScanBinding._meta.db_table}" b '
        f'JOIN "{ContactPoint._meta.db_table}" p ON p."id" = b."contact_point_id" '
        f'WHERE p."revoked_at" IS NULL AND b."expires_at" > {first} AND b."openid" IN {in_list(dialect, wanted, 2)}',
        [expires, *wanted],
    )


def scan_binding_upsert(
    dialect: str, openid: str, point_id: int, scanned_at: datetime, expires_at: datetime
) -> list[Statement]:
    """Bind `openid` to the contact point until `expires_at` (a later scan replaces an earlier one)."""
    row = {"openid": openid, "contact_point_id": point_id, "scanned_at": scanned_at, "expires_at": expires_at}
    conflict = 'ON CONFLICT ("openid") DO UPDATE SET ' + ", ".join(
        f'"{column}" = excluded."{column}"' for column in ("contact_point_id", "scanned_at", "expires_at")
    )
    return insert_statements(dialect, ScanBinding, [row], on_conflict=conflict)


def citizen_upsert_conflict(window_columns: Mapping[str, Any]) -> str:
    """A citizen who exists already: only its customer-service window columns change."""
    return 'ON CONFLICT ("openid") DO UPDATE SET ' + ", ".join(
        f'"{column}" = excluded."{column}"' for column in window_columns
    )


def add_new_cases(dialect: str, counts: Mapping[str, int], day: date) -> list[Statement]:
    """Add to the day's new-case count of each contact point key."""
    return insert_statements(
        dialect,
        ContactPointDaily,
        [{"point_key": key, "day": day, "new_cases": count} for key, count in counts.items()],
        on_conflict='ON CONFLICT ("point_key", "day") DO UPDATE SET '
        '"new_cases" = "contact_point_daily"."new_cases" + excluded."new_cases"',
    )


def mark_done(dialect: str, sent: dict[int, tuple[str, str]], moment: datetime) -> Statement:
    """Inbox rows done, each with the reply it got: row id -> (reply text, channel). Returns the ids of
    the rows it changed: a row some other worker finished meanwhile is not among them."""
    rows = padded(list(sent.items()))  # a repeated row repeats a WHEN and an IN entry: nothing changes
    row_ids = [row_id for row_id, _ in rows]
    texts_params = [value for row_id, (text, _) in rows for value in (row_id, text)]
    channel_params = [value for row_id, (_, channel) in rows for value in (row_id, channel)]
    params = [
        InboxStatus.DONE.value,
        InboundMessage._meta.fields_map["processed_at"].to_db_value(moment, InboundMessage),
        *texts_params,
        *channel_params,
        InboxStatus.PENDING.value,
        *row_ids,
    ]
    return _mark_done_sql(dialect, len(row_ids)), params


@functools.lru_cache(maxsize=512)
def _mark_done_sql(dialect: str, rows: int) -> str:
    """`UPDATE … SET "reply_text" = CASE "id" WHEN … THEN … END, … WHERE "status" = … AND "id" IN (…)`
    for `rows` rows; parameters: done, processed_at, (id, text) per row, (id, channel) per row,
    pending, the ids."""
    count = 5 * rows + 3
    marks = iter([f"${number}" for number in range(1, count + 1)] if dialect == "postgres" else ["?"] * count)
    status, processed_at = next(marks), next(marks)
    texts = " ".join(f"WHEN {next(marks)} THEN {next(marks)}" for _ in range(rows))
    channels = " ".join(f"WHEN {next(marks)} THEN {next(marks)}" for _ in range(rows))
    pending = next(marks)
    ids = ", ".join(next(marks) for _ in range(rows))
    return (
        f'UPDATE "{InboundMessage._meta.db_table}" SET "status" = {status}, "processed_at" = {processed_at}, '
        f'"reply_text" = CASE "id" {texts} END, "reply_channel" = CASE "id" {channels} END '
        f'WHERE "status" = {pending} AND "id" IN ({ids}) RETURNING "id"'
    )
