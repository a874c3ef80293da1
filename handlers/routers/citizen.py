"""Citizens on the official account: scans, new cases, follow-up messages, status queries, 我的."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis

from handlers import payloads
from handlers.admin.qr_stats import record_follow, record_scan
from handlers.cases import follow_ups, visits
from handlers.cases.media import DOWNLOAD_MEDIA, MEDIA_TYPES
from handlers.cases.new_cases import NewCase, write_new_case
from handlers.cases.outbox import wake_waiting_messages
from handlers.cases.people import Person
from handlers.events import CitizenEvent, Reply
from handlers.miniprogram.identity import linked_ids, linked_ids_of
from handlers.routing import Router
from handlers.settings import Settings
from handlers.texts import citizen as texts
from models import intake_sql, window
from models.entities import Case, CaseEvent, CaseMessage, CaseState, Citizen, ContactPoint, ScanBinding
from models.jobs import enqueue
from models.state import TERMINAL, Transition, apply_transition, record_event
from models.timeutil import get_clock, now
from models.tracking import code_pattern, find_code

router = Router("citizen", event_type=CitizenEvent)

CASE_MESSAGE_TYPES = frozenset({"text", "image", "voice", "video", "location", "link"})


# ---- filters -------------------------------------------------------------------------------------


def is_scan(event: CitizenEvent) -> bool:
    return event.kind == "scan" or (event.kind == "subscribe" and event.contact_point_key is not None)


def is_plain_subscribe(event: CitizenEvent) -> bool:
    return event.kind == "subscribe"


def is_text(event: CitizenEvent) -> bool:
    return event.kind == "message" and event.msg_type == "text"


def tracking_code_query(event: CitizenEvent, settings: Settings) -> dict[str, Any] | None:
    """A short text that is (essentially) just a tracking code: 「MS…」「查询 MS…」「MS… 进度？」. A code
    with more to say (「MS… 路灯还是不亮」) is a follow-up, not a question."""
    if not is_text(event) or len(event.text) > 40:
        return None
    check = find_code(event.text, settings.tracking_prefix)
    return {"code_check": check} if check and only_a_code(event.text, settings.tracking_prefix) else None


# What may stand around a code in a status query.
_QUERY_WORDS = frozenset(
    {"查", "查询", "查一下", "查下", "请问", "编号", "查询编号", "我的编号", "进度", "查询进度", "办理进度"}
    | {"状态", "办理状态", "怎么样了", "怎样了", "到哪了", "query", "status"}
)


def only_a_code(text: str, prefix: str) -> bool:
    """Nothing in `text` but its first tracking code, punctuation and the words of a status query."""
    rest = code_pattern(prefix).sub(" ", text, count=1)
    return all(word in _QUERY_WORDS for word in _MARKS.split(rest.lower()) if word)


_MY_CASES_WORDS = frozenset({"我的", "my", "我的诉求", "查询", "查询进度", "进度", "我的进度"})


def my_cases_command(event: CitizenEvent) -> bool:
    return is_text(event) and event.text.strip().lower() in _MY_CASES_WORDS


# A greeting or a call for help on its own says nothing to act on: it gets the how-to, not a case.
_HELP_WORDS = frozenset(
    {"帮助", "help", "菜单", "使用说明", "怎么用"} | {"你好", "您好", "在吗", "在么", "在不在", "有人吗", "hi", "hello"}
)
_MARKS = re.compile(r"[\s!！?？。.,，、~～…]+")


def help_command(event: CitizenEvent) -> bool:
    """Only greetings and help words, in any mix with punctuation ("你好，在吗？", "？？"); anything
    more ("你好，路灯坏了") is a message about something."""
    if not is_text(event) or not event.text.strip():
        return False
    return all(word in _HELP_WORDS for word in _MARKS.split(event.text.lower()) if word)


def is_case_message(event: CitizenEvent) -> bool:
    return event.kind == "message" and event.msg_type in CASE_MESSAGE_TYPES


def is_message(event: CitizenEvent) -> bool:
    return event.kind == "message"


def new_case_test(root: Router, settings: Settings, redis: aioredis.Redis) -> Callable[[CitizenEvent], bool]:
    """The batch intake's test of a message that starts a case, derived from the router itself: the
    message reaches `handle_case_message` when its sender is on no roster (the batch checks members
    and open cases itself) and the router can tell without I/O (handlers.routing.static_route). A
    status query, 我的, a greeting, a survey answer, a binding code or a message naming a tracking code
    reaches another handler first."""
    nobody = Person()

    def starts_a_case(event: CitizenEvent) -> bool:
        data = {"event": event, "settings": settings, "redis": redis}
        return root.static_route(data, {"person": nobody}) is handle_case_message

    return starts_a_case


# ---- helpers -------------------------------------------------------------------------------------


async def get_citizen(event: CitizenEvent, *, touch_window: bool) -> Citizen:
    """The citizen for this sender; a message reopens the customer-service window, a subscribe or scan
    opens the short one of events (models.window: 3 sends within a minute)."""
    opens_event = not touch_window and event.kind in ("scan", "subscribe")
    defaults: dict[str, Any] = {"channel": event.channel}
    if opens_event:
        defaults.update(window.opened_by_event(event.created_at))
    citizen, created = await Citizen.get_or_create(openid=event.sender, defaults=defaults)
    if touch_window:
        # Messages can only wait for the citizen (wechat.out_of_window = "none") while the window of an
        # earlier message of theirs was shut or used up (one who never wrote has no case to hear about).
        last = citizen.last_inbound_at
        was_shut = last is not None and (
            last <= event.created_at - window.LENGTH or citizen.window_sends >= window.MAX_SENDS
        )
        await citizen.save(update_fields=window.open_on(citizen, event.created_at))
        if was_shut:
            await wake_waiting_messages(citizen)
    elif opens_event and not created:
        await citizen.save(update_fields=window.open_event_on(citizen, event.created_at))
    return citizen


async def bound_contact_point(redis: aioredis.Redis, settings: Settings, openid: str) -> ContactPoint | None:
    """The contact point the citizen's last scan binds them to: Redis caches it, the database keeps it
    (with its expiry), so a flushed or restarted Redis loses nothing."""
    key = await redis.get(settings.key("bind", openid))
    if key:
        text = key.decode() if isinstance(key, bytes) else str(key)
        return await ContactPoint.get_or_none(key=text, revoked_at=None)
    moment = now()
    scan = await ScanBinding.get_or_none(openid=openid, expires_at__gt=moment).prefetch_related("contact_point")
    if scan is None or not scan.contact_point.is_active:
        return None
    await _cache_scan(redis, settings, openid, scan.contact_point.key, scan.expires_at - moment)
    return scan.contact_point


async def remember_scan(redis: aioredis.Redis, settings: Settings, openid: str, point: ContactPoint) -> None:
    """Bind the citizen to the scanned point for `scan_binding_ttl_s`: in the database, then the cache."""
    moment = now()
    lasting = timedelta(seconds=max(1.0, settings.scan_binding_ttl_s))
    connection = ScanBinding._meta.db
    dialect = connection.capabilities.dialect
    for sql, params in intake_sql.scan_binding_upsert(dialect, openid, point.id, moment, moment + lasting):
        await connection.execute_query(sql, params)
    await _cache_scan(redis, settings, openid, point.key, lasting)


async def _cache_scan(redis: aioredis.Redis, settings: Settings, openid: str, point_key: str, left: timedelta) -> None:
    """The binding's expiry is business time (the month simulation runs it fast); Redis counts real seconds."""
    real_s = get_clock().to_real_seconds(left.total_seconds())
    if real_s >= 1:
        await redis.set(settings.key("bind", openid), point_key, ex=int(real_s))


async def case_named_in(event: CitizenEvent, citizen: Citizen, settings: Settings) -> Case | None:
    """The citizen's own case whose tracking code a text quotes; somebody else's code names nothing."""
    if event.msg_type != "text":
        return None
    check = find_code(event.text, settings.tracking_prefix)
    if check is None or not check.valid:
        return None
    return await Case.get_or_none(code=check.code, citizen=citizen)


# ---- handlers ------------------------------------------------------------------------------------


@router.handler(is_scan)
async def handle_scan(event: CitizenEvent, redis: aioredis.Redis, settings: Settings) -> Reply:
    """Bind the citizen to the scanned contact point for a while and greet them by its name."""
    await get_citizen(event, touch_window=False)
    key = event.contact_point_key
    point = await ContactPoint.get_or_none(key=key) if key else None
    await record_scan(point, event.created_at, new_follower=event.kind == "subscribe")
    if point is None:
        return Reply(texts.greeting_general(settings))
    if not point.is_active:
        return Reply(texts.greeting_revoked(point.name))
    await remember_scan(redis, settings, event.sender, point)
    return Reply(texts.greeting_for_contact_point(point.name, settings))


def template_outcome(event: CitizenEvent) -> dict[str, Any] | None:
    if event.kind != "template_outcome":
        return None
    return {"msgid": int(event.extra["key"]), "status": str(event.extra.get("status", ""))}


@router.handler(template_outcome)
async def handle_template_outcome(msgid: int, status: str) -> None:
    """WeChat telling how one of our template messages ended; nothing to answer."""
    await visits.record_template_outcome(msgid, status)


@router.handler(is_plain_subscribe)
async def handle_subscribe(event: CitizenEvent, settings: Settings) -> Reply:
    await get_citizen(event, touch_window=False)
    await record_follow(event.created_at)
    return Reply(texts.greeting_general(settings))


def survey_words(event: CitizenEvent) -> dict[str, Any] | None:
    """「1」「2 基本满意」「不满意 还是没修好」「MS… 3 …」: words that answer a survey (no I/O)."""
    if not is_text(event):
        return None
    answer = visits.parse_survey_answer(event.text)
    return {"answer": answer} if answer is not None else None


async def survey_case(event: CitizenEvent, answer: visits.SurveyAnswer, settings: Settings) -> dict[str, Any] | None:
    """The citizen's case in its return visit that `answer` answers, if any (also one filed in the
    mini-program by the same person: the survey may have reached them here)."""
    query = Case.filter(citizen_id__in=await linked_ids_of(event.sender), state=CaseState.RETURN_VISIT)
    if answer.code_text:
        check = find_code(answer.code_text, settings.tracking_prefix)
        if check is None or not check.valid:
            return None
        query = query.filter(code=check.code)
    case = await query.order_by("-visit_sent_at", "-id").first()
    return {"case": case} if case else None


@router.handler(survey_words, survey_case)
async def handle_survey_answer(
    event: CitizenEvent, answer: Any, case: Case, redis: aioredis.Redis, settings: Settings
) -> Reply:
    await get_citizen(event, touch_window=True)
    text = await visits.record_visit(
        case, answer.score, answer.comment, f"citizen:{event.sender}", "citizen", redis, settings
    )
    return Reply(text, case_id=case.id)


@router.handler(tracking_code_query)
async def handle_status_query(event: CitizenEvent, code_check: Any) -> Reply:
    """A citizen asks about a case by its code. Somebody else's code reads exactly like a missing one."""
    citizen = await get_citizen(event, touch_window=True)
    if not code_check.valid:
        return Reply(texts.code_check_failed(code_check.code))
    people = await linked_ids(citizen)  # the same person's mini-program cases too
    case = await Case.get_or_none(code=code_check.code, citizen_id__in=people).prefetch_related("contact_point")
    if case is None:
        return Reply(texts.code_not_found(code_check.code))
    where = case.contact_point.name if case.contact_point else None
    last_reply, merged_into = case.last_reply, None
    if case.state == CaseState.MERGED:
        # A merged case is answered through the one it joined (whose citizens all get that reply);
        # that one may itself have been merged since: follow the chain to the case still handled.
        target = case
        for _ in range(10):
            target_id: int | None = target.merged_into_id  # type: ignore[attr-defined]
            joined = await Case.get_or_none(id=target_id) if target_id is not None else None
            if joined is None:
                break
            target = joined
            if target.state != CaseState.MERGED:
                break
        if target is not case:
            merged_into = (target.code, target.state_zh, target.state in TERMINAL)
            last_reply = target.last_reply or last_reply
    finished = case.state in TERMINAL
    rejected_because = None
    if case.state == CaseState.REJECTED:  # the reason the citizen was told, told again
        rejection = await CaseEvent.filter(case=case, kind=f"state:{Transition.REJECT.value}").order_by("-id").first()
        if rejection is not None and rejection.detail.get("reason"):
            rejected_because = str(rejection.detail["reason"])
    text = texts.case_status(
        case.code,
        case.state_zh,
        where,
        last_reply,
        case.created_at,
        merged_into,
        finished=finished,
        rejected_because=rejected_because,
    )
    return Reply(text, case_id=case.id)


@router.handler(my_cases_command)
async def handle_my_cases(event: CitizenEvent) -> Reply:
    citizen = await get_citizen(event, touch_window=True)
    query = Case.filter(citizen=citizen)
    total = await query.count()
    cases = await query.order_by("-created_at", "-id").limit(10).prefetch_related("contact_point")
    lines = [
        texts.my_case_line(
            index, case.code, case.contact_point.name if case.contact_point else None, case.state_zh, case.created_at
        )
        for index, case in enumerate(cases, start=1)
    ]
    return Reply(texts.my_cases(lines, total))


@router.handler(help_command)
async def handle_help(event: CitizenEvent) -> Reply:
    await get_citizen(event, touch_window=True)
    return Reply(texts.citizen_help())


def names_a_code(event: CitizenEvent, settings: Settings) -> bool:
    """A text naming a tracking code (「MS… 路灯还是不亮」): about that case if it is the citizen's."""
    return is_text(event) and find_code(event.text, settings.tracking_prefix) is not None


@router.handler(is_case_message, names_a_code)
async def handle_message_naming_a_code(
    event: CitizenEvent, redis: aioredis.Redis, settings: Settings, inbound_key: str
) -> Reply:
    """As any case message (handle_case_message looks the named case up); a handler of its own so that
    the batch intake, which cannot look it up, leaves these to the router (new_case_test)."""
    return await handle_case_message(event, redis, settings, inbound_key)


@router.handler(is_case_message)
async def handle_case_message(
    event: CitizenEvent, redis: aioredis.Redis, settings: Settings, inbound_key: str
) -> Reply:
    """A new case, or a follow-up joining the citizen's open case (the one a member asked about, or
    one at the same contact point within the grouping window)."""
    citizen = await get_citizen(event, touch_window=True)
    hurried = await follow_ups.over_pace(redis, settings, event.sender)
    point = await bound_contact_point(redis, settings, event.sender)
    moment = now()  # business time (the month simulation runs it fast); WeChat's CreateTime is kept raw
    window_start = moment - timedelta(seconds=settings.group_window_s)
    # The citizen names one of their cases (「MS… 路灯还是不亮」): the message is about that one, if still open.
    named = await case_named_in(event, citizen, settings)
    # A member asked this citizen a question: the next messages answer it, wherever they come from.
    asked = (
        await Case.filter(citizen=citizen, state=CaseState.NEEDS_INFO)
        .order_by("-updated_at")
        .prefetch_related("contact_point")
        .first()
    )
    open_case = (
        (named if named is not None and named.state not in TERMINAL else None)
        or asked
        or (
            await Case.filter(
                citizen=citizen,
                contact_point=point,
                last_citizen_message_at__gte=window_start,
            )
            .exclude(state__in=list(TERMINAL))
            .order_by("-id")
            .first()
        )
    )
    if open_case is None:  # a new case: the same plan the batch intake writes many with
        earlier = (
            named
            if named is not None and named.state == CaseState.CLOSED
            else await Case.filter(citizen=citizen, contact_point=point, state=CaseState.CLOSED).order_by("-id").first()
        )
        new = NewCase(
            event,
            inbound_key,
            (point.id, point.key, point.name) if point else None,
            (earlier.id, earlier.code) if earlier else None,
        )
        written = await write_new_case(settings, new, moment)
        return Reply(written.reply, case_id=written.case_id)
    case, actor = open_case, f"citizen:{event.sender}"
    case.last_citizen_message_at = moment
    case.updated_at = moment
    await case.save(update_fields=["last_citizen_message_at", "updated_at"])
    if case.state == CaseState.NEEDS_INFO:
        await apply_transition(case, Transition.PROVIDE_INFO, actor=actor, at=moment)
    message = await CaseMessage.create(
        case=case,
        direction="in",
        author=actor,
        msg_type=event.msg_type,
        content=event.text,
        media_id=event.media_id,
        extra=event.extra,
        inbound_key=inbound_key,
        created_at=moment,
    )
    await record_event(case, "message.in", actor, at=moment, message_id=message.id, msg_type=event.msg_type)
    if event.media_id and event.msg_type in MEDIA_TYPES:
        await enqueue(
            DOWNLOAD_MEDIA,
            payloads.download_media(event.media_id, message.id, event.msg_type),
            key=f"media:{event.channel}:{event.media_id}",
            case_id=case.id,
        )
    if case.member_id is not None:  # type: ignore[attr-defined]
        await follow_ups.gather(case, message)  # gathered into digests: a flood must not bury the member
    count = await CaseMessage.filter(case=case, direction="in").count()
    if hurried:  # stored and forwarded like the rest; only the answer asks them to slow down
        return Reply(texts.case_follow_up_slow_down(case.code, count), case_id=case.id)
    return Reply(texts.case_follow_up(case.code, count), case_id=case.id)


@router.handler(is_message)
async def handle_unsupported_message(event: CitizenEvent) -> Reply:
    await get_citizen(event, touch_window=True)
    return Reply(texts.unsupported_message())
