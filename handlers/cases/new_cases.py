"""New cases: the one writer of a case a citizen's message starts, for one message or a batch of many.

Under load most callbacks are a citizen's first message about something: a new case. `BatchIntake`
writes such cases for a whole batch in one transaction, as one plan (one round trip to the database
thread on SQLite, models/plans.py). The router's new-case path (handlers.routers.citizen) writes its one
case through the very same plan, a batch of one, so both paths write the same rows, timeline, jobs and
reply. What the batch leaves to the router, message by message: anything from a member, a status query,
a survey answer, a citizen with a case still open (the message may belong to it).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from handlers import payloads
from handlers.admin.qr_stats import NO_POINT, local_day
from handlers.batch import AlreadyHandled, BatchItem, PassiveSlot
from handlers.cases.actions import CASE_CREATED
from handlers.cases.media import DOWNLOAD_MEDIA, LABELS, MEDIA_TYPES
from handlers.cases.outbox import SEND_CITIZEN
from handlers.events import CitizenEvent
from handlers.settings import Settings
from handlers.texts import citizen as texts
from models import intake_sql, window
from models.bulk import Statement, insert_statements
from models.entities import CASE_STATE_ZH, Case, CaseEvent, CaseMessage, CaseState, Citizen
from models.jobs import Job
from models.plans import Plan, Rows, insert_plan, merged_statements, run_in_transaction, run_plan
from models.state import TERMINAL
from models.timeutil import now
from models.tracking import reserve_codes_plan

log = logging.getLogger(__name__)

Point = tuple[int, str, str]  # a contact point's id, key, name


@dataclass(frozen=True)
class NewCase:
    """A citizen's message that starts a case."""

    event: CitizenEvent
    inbound_key: str  # the inbox row's dedupe key, kept on the case message
    point: Point | None  # the contact point the citizen scanned, if any
    follows: tuple[int, str] | None = None  # (id, code) of their closed case at that point, if any


@dataclass
class Written:
    """What the plan wrote for one new case, and the reply it owes the citizen."""

    case_id: int
    code: str
    reply: str
    passive: bool  # the reply goes back in the HTTP answer; else it was queued in the outbox


@dataclass
class WrittenBatch:
    cases: list[Written]
    # Statements whose rows nobody reads (day counts, timeline, jobs), left for the caller to run:
    # the batch folds them into its final statement (one round trip on PostgreSQL).
    trailing: list[Statement]


def message_excerpt(event: CitizenEvent) -> str:
    """A case's summary: the message's text, with a label for what is not text."""
    label = LABELS.get(event.msg_type, "")
    text = f"{label}{event.text}" if event.msg_type != "text" else event.text
    return " ".join(text.split())[:120]


def new_cases_plan(
    dialect: str,
    settings: Settings,
    new: list[NewCase],
    passive: Callable[[list[NewCase]], list[bool]],
    moment: datetime,
) -> Plan[WrittenBatch]:
    """Every row of the new cases: citizen (window opened), case, message, timeline, the day's count,
    jobs (set-up, media, and the reply when it does not go back passively). `passive` is asked, right
    before the replies are decided, which of the cases' requests still wait to carry their reply."""
    events = [item.event for item in new]
    codes = yield from reserve_codes_plan(dialect, settings.tracking_prefix, moment, len(new))
    citizens = yield from insert_plan(
        dialect,
        Citizen,
        [
            {"openid": e.sender, "channel": e.channel, "created_at": moment, **window.opened_by_message(e.created_at)}
            for e in events
        ],
        returning=("id", "openid", "channel"),
        on_conflict=intake_sql.citizen_upsert_conflict(window.opened_by_message(moment)),
    )
    citizen_of = {row["openid"]: row for row in citizens}
    assign_due = settings.sla.assign_deadline(moment)
    case_rows = []
    for code, item in zip(codes, new, strict=True):
        row: dict[str, Any] = {
            "code": code,
            "citizen_id": citizen_of[item.event.sender]["id"],
            "contact_point_id": item.point[0] if item.point else None,
            "state": CaseState.RECEIVED,
            "summary": message_excerpt(item.event)[:200],
            "created_at": moment,
            "updated_at": moment,
            "last_citizen_message_at": moment,
            "assign_due_at": assign_due,
        }
        if item.follows:
            row["follows_id"] = item.follows[0]
        case_rows.append(row)
    # Rows with and without follows_id are separate INSERTs (absent columns are left out): match by code.
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
                "msg_type": item.event.msg_type,
                "content": item.event.text,
                "media_id": item.event.media_id,
                "extra": item.event.extra,
                "inbound_key": item.inbound_key,
                "created_at": moment,
            }
            for case, actor, item in zip(ids, actors, new, strict=True)
        ],
        returning=("id", "inbound_key"),
    )
    message_id = {row["inbound_key"]: int(row["id"]) for row in messages}
    # The timeline entries of every new case in one statement: all "created" first, then "follows",
    # then all "message.in", so each case's entries keep the order they happened in.
    created_events = [
        {
            "case_id": case,
            "kind": "created",
            "actor": actor,
            "detail": {"contact_point": item.point[1] if item.point else None},
            "created_at": moment,
        }
        for case, actor, item in zip(ids, actors, new, strict=True)
    ]
    follows_events = [
        {
            "case_id": case,
            "kind": "follows",
            "actor": actor,
            "detail": {"earlier": item.follows[1]},
            "created_at": moment,
        }
        for case, actor, item in zip(ids, actors, new, strict=True)
        if item.follows
    ]
    message_events = [
        {
            "case_id": case,
            "kind": "message.in",
            "actor": actor,
            "detail": {"message_id": message_id[item.inbound_key], "msg_type": item.event.msg_type},
            "created_at": moment,
        }
        for case, actor, item in zip(ids, actors, new, strict=True)
    ]
    timeline = insert_statements(dialect, CaseEvent, created_events + follows_events + message_events)
    jobs: list[dict[str, Any]] = []
    written: list[Written] = []
    carried = passive(new)
    for case, code, item, goes_back in zip(ids, codes, new, carried, strict=True):
        event = item.event
        if event.media_id and event.msg_type in MEDIA_TYPES:
            media = payloads.download_media(event.media_id, message_id[item.inbound_key], event.msg_type)
            jobs.append(_job(DOWNLOAD_MEDIA, media, f"media:{event.channel}:{event.media_id}", case, moment))
        jobs.append(_job(CASE_CREATED, payloads.case_created(case), f"{CASE_CREATED}:{case}", case, moment))
        text = texts.case_received(code, item.point[2] if item.point else None, settings)
        if item.follows:
            text += texts.follows_earlier(item.follows[1])
        if not goes_back:
            reply = payloads.send_citizen(
                event.sender,
                citizen_of[event.sender]["channel"],
                text,
                case_code=code,
                case_state=CASE_STATE_ZH[CaseState.RECEIVED],
            )
            jobs.append(_job(SEND_CITIZEN, reply, f"reply:{item.inbound_key}", case, moment))
        written.append(Written(case, code, text, goes_back))
    queued = insert_statements(dialect, Job, jobs, on_conflict='ON CONFLICT ("key") DO NOTHING')
    counts = Counter(item.point[1] if item.point else NO_POINT for item in new)
    trailing = [*intake_sql.add_new_cases(dialect, counts, local_day(moment)), *timeline, *queued]
    return WrittenBatch(written, trailing)


async def write_new_case(settings: Settings, item: NewCase, moment: datetime) -> Written:
    """One new case, in the caller's transaction (the router's path); its reply goes back passively
    (the inbox sends it through the outbox when the request cannot carry it)."""
    connection = Case._meta.db
    return await run_plan(connection, _one_plan(connection.capabilities.dialect, settings, item, moment))


def _one_plan(dialect: str, settings: Settings, item: NewCase, moment: datetime) -> Plan[Written]:
    batch = yield from new_cases_plan(dialect, settings, [item], lambda items: [True] * len(items), moment)
    # Not `yield from` the list: a list iterator cannot be sent the rows each statement returns.
    for statement in batch.trailing:  # noqa: UP028
        yield statement
    return batch.cases[0]


def _job(kind: str, payload: Any, key: str, case_id: int, moment: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "key": key,
        "payload": dict(payload),
        "case_id": case_id,
        "run_at": moment,
        "created_at": moment,
    }


# ---- the batch ------------------------------------------------------------------------------------


@dataclass
class _Facts:
    """What the batch needs to know before it writes: who is a member, who has cases, who scanned what."""

    member_openids: set[str] = field(default_factory=set)
    open_case_openids: set[str] = field(default_factory=set)
    closed_at_points: dict[tuple[str, int | None], tuple[int, str]] = field(default_factory=dict)  # latest
    points: dict[str, Point] = field(default_factory=dict)  # openid -> the point they scanned

    def new_case(self, item: BatchItem, event: CitizenEvent) -> NewCase | None:
        """The new case this message starts, or None when the router must decide (a member writing, or
        a case still open that the message may belong to)."""
        openid = event.sender
        if openid in self.member_openids or openid in self.open_case_openids:
            return None
        point = self.points.get(openid)
        follows = self.closed_at_points.get((openid, point[0] if point else None))
        return NewCase(event, item.row.dedupe_key, point, follows)


class BatchIntake:
    """The batch handler the inbox calls with each batch of stored callbacks (handlers.batch)."""

    def __init__(
        self, redis: aioredis.Redis, settings: Settings, starts_a_case: Callable[[CitizenEvent], bool]
    ) -> None:
        """`starts_a_case`: whether the router would take this message as a new case's first message,
        were the sender a citizen with no open case (the router's own test, see handlers.routers.citizen)."""
        self.redis = redis
        self.settings = settings
        self.starts_a_case = starts_a_case

    async def __call__(self, items: list[BatchItem]) -> dict[int, str | None]:
        candidates = [item for item in items if isinstance(item.event, CitizenEvent) and self.starts_a_case(item.event)]
        if not candidates:
            return {}
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

            return self._batch_plan(dialect, candidates, decide, now())

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
        decide: Callable[[list[BatchItem]], list[bool]],
        moment: datetime,
    ) -> Plan[dict[int, str | None]]:
        """Read what decides who gets a new case here, write those cases, and mark their inbox rows
        done with the reply each got, in one transaction."""
        facts = yield from _facts_plan(dialect, [item.event.sender for item in candidates], moment)
        items: list[BatchItem] = []
        new: list[NewCase] = []
        for item in candidates:
            if isinstance(item.event, CitizenEvent) and (case := facts.new_case(item, item.event)) is not None:
                items.append(item)
                new.append(case)
        if not new:
            return {}
        item_of = {id(case): item for case, item in zip(new, items, strict=True)}
        batch = yield from new_cases_plan(
            dialect, self.settings, new, lambda cases: decide([item_of[id(case)] for case in cases]), moment
        )
        replies: dict[int, str | None] = {}  # passive replies only
        sent: dict[int, tuple[str, str]] = {}  # row id -> (reply text, channel)
        for item, written in zip(items, batch.cases, strict=True):
            replies[item.row.id] = written.reply if written.passive else None
            sent[item.row.id] = (written.reply, "passive" if written.passive else "outbox")
        # Done, with the reply each row got, in the same transaction: a row some other worker
        # finished meanwhile rolls it all back. The day's counts, the timeline and the jobs, which
        # nothing here reads back, go with it: on PostgreSQL one round trip for the four.
        updated: Rows = []
        for statement in merged_statements(dialect, batch.trailing, intake_sql.mark_done(dialect, sent, moment)):
            updated = yield statement
        if len(updated) != len(sent):
            raise AlreadyHandled(f"{len(sent) - len(updated)} of {len(sent)} rows")
        return replies


def _facts_plan(dialect: str, openids: list[str], moment: datetime) -> Generator[Statement, Rows, _Facts]:
    """Who is a member, who has cases, where each scanned (the scan bindings in the database, not their
    Redis cache, which a flush empties): two plain SELECTs for the whole batch (ORM queries cost several
    times more)."""
    facts = _Facts()
    for row in (yield intake_sql.citizens_and_cases(dialect, openids)):
        openid, state = row["openid"], row["state"]
        if row["member_id"] is not None:
            facts.member_openids.add(openid)
        if state == CaseState.CLOSED:
            at = (openid, row["contact_point_id"])
            if at not in facts.closed_at_points or facts.closed_at_points[at][0] < int(row["case_id"]):
                facts.closed_at_points[at] = (int(row["case_id"]), row["code"])
        elif state is not None and state not in TERMINAL:
            facts.open_case_openids.add(openid)
    for row in (yield intake_sql.bound_points(dialect, openids, moment)):
        facts.points[row["openid"]] = (int(row["id"]), row["key"], row["name"])
    return facts
