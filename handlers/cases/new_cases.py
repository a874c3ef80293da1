"""New cases in batches: the common first message, written for many citizens in one transaction.

Under load most callbacks are a citizen's first message about something: a new case. Through the
router each costs about 18 statements; here a whole batch costs about a dozen, run as one plan (one
round trip to the database thread on SQLite, models/plans.py), with the same rows,
timeline, jobs and reply as `intake.handle_case_message` writes for a new case. Anything else (a
member, a status query, a survey answer, a citizen with an open case, a case that follows a closed
one at the same contact point) is left to the router, which handles it one by one.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from handlers.admin.qr_stats import NO_POINT, local_day
from handlers.batch import AlreadyHandled, BatchItem, PassiveSlot
from handlers.cases.actions import CASE_CREATED
from handlers.cases.media import DOWNLOAD_MEDIA, MEDIA_TYPES
from handlers.cases.outbox import SEND_CITIZEN
from handlers.events import CitizenEvent
from handlers.routers.citizen import message_excerpt, starts_a_case_outright
from handlers.settings import Settings
from handlers.texts import citizen as texts
from models import window
from models.bulk import Statement, in_list, insert_statements, padded
from models.entities import (
    CASE_STATE_ZH,
    TERMINAL_STATES,
    Case,
    CaseEvent,
    CaseMessage,
    CaseState,
    Citizen,
    ContactPoint,
    InboundMessage,
    InboxStatus,
)
from models.jobs import Job
from models.plans import Plan, Rows, insert_plan, merged_statements, run_in_transaction
from models.qr import ContactPointDaily
from models.timeutil import now
from models.tracking import reserve_codes_plan

log = logging.getLogger(__name__)
_SKIPPED_STATES = [CaseState.MERGED.value, CaseState.REJECTED.value]  # cases that say nothing about the next one


@dataclass
class _Facts:
    """What the batch needs to know before it writes: who is a member, who has cases, who scanned what."""

    member_openids: set[str] = field(default_factory=set)
    open_case_openids: set[str] = field(default_factory=set)
    closed_at_points: set[tuple[str, int | None]] = field(default_factory=set)  # (openid, contact point id)
    points: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # openid -> (id, key, name)

    def point_of(self, openid: str) -> tuple[int, str, str] | None:
        return self.points.get(openid)

    def starts_a_new_case(self, openid: str) -> bool:
        point = self.point_of(openid)
        return (
            openid not in self.member_openids
            and openid not in self.open_case_openids
            and (openid, point[0] if point else None) not in self.closed_at_points
        )


class BatchIntake:
    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings

    async def __call__(self, items: list[BatchItem]) -> dict[int, str | None]:
        candidates = [
            item
            for item in items
            if isinstance(item.event, CitizenEvent) and starts_a_case_outright(item.event, self.settings)
        ]
        if not candidates:
            return {}
        openids = [item.event.sender for item in candidates]
        bound = await self.redis.mget([self.settings.key("bind", openid) for openid in openids])
        point_keys = {
            openid: value.decode() if isinstance(value, bytes) else str(value)
            for openid, value in zip(openids, bound, strict=True)
            if value
        }
        claimed: list[PassiveSlot] = []

        def claim(items: list[BatchItem]) -> list[bool]:
            """Which of these requests still wait to carry the reply (a claimed one waits for the commit)."""
            won = []
            for item in items:
                carries = item.slot is not None and item.slot.claim()
                if carries and item.slot is not None:
                    claimed.append(item.slot)
                won.append(carries)
            return won

        def start(dialect: str, in_loop: bool) -> Plan[dict[int, str | None]]:
            # Called once the database is ours, in the event loop's thread. Claims are made only when
            # nothing but this transaction is left to wait for: statement by statement (PostgreSQL)
            # right before the replies are written; for a plan in the database's thread (SQLite), where
            # no slot may be touched, here and now.
            if in_loop:
                decide = claim
            else:
                early = dict(zip([item.row.id for item in candidates], claim(candidates), strict=True))

                def decide(items: list[BatchItem]) -> list[bool]:
                    return [early[item.row.id] for item in items]

            return self._batch_plan(dialect, candidates, point_keys, decide, now())

        try:
            replies = await run_in_transaction(start)
        except BaseException as exc:
            for slot in claimed:  # rolled back: the router handles these rows and may still answer passively
                slot.release()
            if isinstance(exc, AlreadyHandled):
                return {}  # another worker got there first: the router sorts it out row by row
            raise
        for item in candidates:
            if item.row.id not in replies and item.slot is not None:
                item.slot.release()  # left to the router, which may still answer passively
        return replies

    def _batch_plan(
        self,
        dialect: str,
        candidates: list[BatchItem],
        point_keys: dict[str, str],
        decide: Callable[[list[BatchItem]], list[bool]],
        moment: datetime,
    ) -> Plan[dict[int, str | None]]:
        """Read what decides who gets a new case here, then write those cases, in one transaction."""
        facts = yield from _facts_plan(dialect, [item.event.sender for item in candidates], point_keys)
        items = [item for item in candidates if facts.starts_a_new_case(item.event.sender)]
        if not items:
            return {}
        events = [item.event for item in items if isinstance(item.event, CitizenEvent)]
        if len(events) != len(items):  # pragma: no cover - __call__ passes citizens' messages only
            raise TypeError("the batch intake takes citizens' messages only")
        return (yield from self._case_plan(dialect, items, events, decide, facts, moment))

    def _case_plan(
        self,
        dialect: str,
        items: list[BatchItem],
        events: list[CitizenEvent],
        decide: Callable[[list[BatchItem]], list[bool]],
        facts: _Facts,
        moment: datetime,
    ) -> Plan[dict[int, str | None]]:
        """Every row of the new cases, as `intake.handle_case_message` writes them for one."""
        settings = self.settings
        codes = yield from reserve_codes_plan(dialect, settings.tracking_prefix, moment, len(items))
        citizens = yield from insert_plan(
            dialect,
            Citizen,
            [
                {
                    "openid": event.sender,
                    "channel": event.channel,
                    "created_at": moment,
                    **window.opened_by_message(event.created_at),
                }
                for event in events
            ],
            returning=("id", "openid", "channel"),
            on_conflict='ON CONFLICT ("openid") DO UPDATE SET '
            + ", ".join(f'"{column}" = excluded."{column}"' for column in window.opened_by_message(moment)),
        )
        citizen_of = {row["openid"]: row for row in citizens}
        assign_due = settings.sla.assign_deadline(moment)
        points = [facts.point_of(event.sender) for event in events]
        case_rows = [
            {
                "code": code,
                "citizen_id": citizen_of[event.sender]["id"],
                "contact_point_id": point[0] if point else None,
                "state": CaseState.RECEIVED,
                "summary": message_excerpt(event)[:200],
                "created_at": moment,
                "updated_at": moment,
                "last_citizen_message_at": moment,
                "assign_due_at": assign_due,
            }
            for code, event, point in zip(codes, events, points, strict=True)
        ]
        created = yield from insert_plan(dialect, Case, case_rows, returning=("id", "code"))
        case_id = {row["code"]: int(row["id"]) for row in created}
        ids = [case_id[code] for code in codes]
        actors = [f"citizen:{event.sender}" for event in events]
        messages = yield from insert_plan(
            dialect,
            CaseMessage,
            [
                {
                    "case_id": case,
                    "direction": "in",
                    "author": actor,
                    "msg_type": event.msg_type,
                    "content": event.text,
                    "media_id": event.media_id,
                    "extra": event.extra,
                    "inbound_key": item.row.dedupe_key,
                    "created_at": moment,
                }
                for case, actor, event, item in zip(ids, actors, events, items, strict=True)
            ],
            returning=("id", "inbound_key"),
        )
        message_id = {row["inbound_key"]: int(row["id"]) for row in messages}
        # Both timeline entries of every new case in one statement: all "created" first, then all
        # "message.in", so each case's entries keep the order the router writes them in.
        created_events = [
            {
                "case_id": case,
                "kind": "created",
                "actor": actor,
                "detail": {"contact_point": point[1] if point else None},
                "created_at": moment,
            }
            for case, actor, point in zip(ids, actors, points, strict=True)
        ]
        message_events = [
            {
                "case_id": case,
                "kind": "message.in",
                "actor": actor,
                "detail": {"message_id": message_id[item.row.dedupe_key], "msg_type": event.msg_type},
                "created_at": moment,
            }
            for case, actor, event, item in zip(ids, actors, events, items, strict=True)
        ]
        timeline = insert_statements(dialect, CaseEvent, created_events + message_events)
        jobs: list[dict[str, Any]] = []
        replies: dict[int, str | None] = {}  # passive replies only
        sent: dict[int, tuple[str, str]] = {}  # row id -> (reply text, channel)
        passive = decide(items)
        for case, code, event, item, point, carried in zip(ids, codes, events, items, points, passive, strict=True):
            if event.media_id and event.msg_type in MEDIA_TYPES:
                jobs.append(
                    _job(
                        DOWNLOAD_MEDIA,
                        {
                            "media_id": event.media_id,
                            "message_id": message_id[item.row.dedupe_key],
                            "msg_type": event.msg_type,
                        },
                        f"media:{event.channel}:{event.media_id}",
                        case,
                        moment,
                    )
                )
            jobs.append(_job(CASE_CREATED, {"case_id": case}, f"{CASE_CREATED}:{case}", case, moment))
            text = texts.case_received(code, point[2] if point else None, settings)
            if carried:
                replies[item.row.id], sent[item.row.id] = text, (text, "passive")
            else:
                replies[item.row.id], sent[item.row.id] = None, (text, "outbox")
                payload = {
                    "openid": event.sender,
                    "channel": citizen_of[event.sender]["channel"],
                    "text": text,
                    "case_code": code,
                    "case_state": CASE_STATE_ZH[CaseState.RECEIVED],
                }
                jobs.append(_job(SEND_CITIZEN, payload, f"reply:{item.row.dedupe_key}", case, moment))
        queued = insert_statements(dialect, Job, jobs, on_conflict='ON CONFLICT ("key") DO NOTHING')
        # Done, with the reply each row got, in the same transaction: a row some other worker
        # finished meanwhile rolls it all back. The day's counts, the timeline and the jobs, which
        # nothing here reads back, go with it: on PostgreSQL one round trip for the four.
        row_ids = list(sent)
        leading = [*_new_case_counts(dialect, points, moment), *timeline, *queued]
        updated: Rows = []
        for statement in merged_statements(dialect, leading, _mark_done_statement(dialect, sent, moment)):
            updated = yield statement
        if len(updated) != len(row_ids):
            raise AlreadyHandled(f"{len(row_ids) - len(updated)} of {len(row_ids)} rows")
        return replies


def _facts_plan(dialect: str, openids: list[str], point_keys: dict[str, str]) -> Generator[Statement, Rows, _Facts]:
    """Who is a member, who has cases, where each scanned: two plain SELECTs for the whole batch (ORM
    queries cost several times more)."""
    facts = _Facts()
    openids = padded(openids)
    sql = (
        f'SELECT z."openid", z."member_id", c."contact_point_id", c."state" FROM "{Citizen._meta.db_table}" z '
        f'LEFT JOIN "{Case._meta.db_table}" c ON c."citizen_id" = z."id" '
        f'AND c."state" NOT IN {in_list(dialect, _SKIPPED_STATES)} '
        f'WHERE z."openid" IN {in_list(dialect, openids, len(_SKIPPED_STATES) + 1)}'
    )
    for row in (yield sql, [*_SKIPPED_STATES, *openids]):
        openid, state = row["openid"], row["state"]
        if row["member_id"] is not None:
            facts.member_openids.add(openid)
        if state == CaseState.CLOSED:
            facts.closed_at_points.add((openid, row["contact_point_id"]))
        elif state is not None and state not in TERMINAL_STATES:
            facts.open_case_openids.add(openid)
    if point_keys:
        wanted = padded(sorted(set(point_keys.values())))
        points = yield (
            f'SELECT "id", "key", "name" FROM "{ContactPoint._meta.db_table}" '
            f'WHERE "revoked_at" IS NULL AND "key" IN {in_list(dialect, wanted)}',
            wanted,
        )
        by_key = {row["key"]: (int(row["id"]), row["key"], row["name"]) for row in points}
        facts.points = {openid: by_key[key] for openid, key in point_keys.items() if key in by_key}
    return facts


def _new_case_counts(dialect: str, points: list[tuple[int, str, str] | None], moment: datetime) -> list[Statement]:
    counts = Counter(point[1] if point else NO_POINT for point in points)
    day = local_day(moment)
    return insert_statements(
        dialect,
        ContactPointDaily,
        [{"point_key": key, "day": day, "new_cases": count} for key, count in counts.items()],
        on_conflict='ON CONFLICT ("point_key", "day") DO UPDATE SET '
        '"new_cases" = "contact_point_daily"."new_cases" + excluded."new_cases"',
    )


def _mark_done_statement(dialect: str, sent: dict[int, tuple[str, str]], moment: datetime) -> Statement:
    rows = padded(list(sent.items()))  # a repeated row repeats a WHEN and an IN entry: nothing changes
    row_ids = [row_id for row_id, _ in rows]
    texts_params = [value for row_id, (text, _) in rows for value in (row_id, text)]
    channel_params = [value for row_id, (_, channel) in rows for value in (row_id, channel)]
    params = [
        InboxStatus.DONE.value,
        _db_time(moment),
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


def _db_time(moment: Any) -> Any:
    return InboundMessage._meta.fields_map["processed_at"].to_db_value(moment, InboundMessage)


def _job(kind: str, payload: dict[str, Any], key: str, case_id: int, moment: Any) -> dict[str, Any]:
    return {"kind": kind, "key": key, "payload": payload, "case_id": case_id, "run_at": moment, "created_at": moment}
