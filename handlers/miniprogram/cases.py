"""A mini-program citizen's cases: filing one, listing theirs, one case's public view, a follow-up and
the return-visit rating. Each runs in the caller's transaction (handlers.miniprogram.idempotency.once).

Filing writes the case through `handlers.cases.new_cases.write_new_case`, the one writer of new cases:
the same tracking code series, timeline, `case.created` job (triage card, deadlines, auto-assign) and
counters as a first official-account message. The acknowledgement goes back in the HTTP answer, as a
passive reply does on the official account.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from handlers.admin.roster import KEY_RE
from handlers.cases import follow_ups
from handlers.cases.masking import mask_personal_numbers
from handlers.cases.new_cases import NewCase, write_new_case
from handlers.cases.visits import record_visit
from handlers.events import CitizenEvent
from handlers.miniprogram import uploads as upload_store
from handlers.miniprogram.errors import Refused, Why, invalid
from handlers.miniprogram.identity import CHANNEL, linked_ids
from handlers.miniprogram.views import case_detail, case_summary
from handlers.settings import Settings
from handlers.texts import miniprogram as texts
from models.entities import Case, CaseMessage, CaseState, Citizen, ContactPoint
from models.miniprogram import SubscribeConsent, Upload
from models.state import TERMINAL, IllegalTransition, Transition, apply_transition, record_event
from models.timeutil import now
from models.tracking import find_code

TEXT_MAX_CHARS = 2000
COMMENT_MAX_CHARS = 500
ADDRESS_MAX_CHARS = 200
PAGE_SIZE = 20
PAGE_SIZE_MAX = 50
VISIT_CHANNEL = "wxa"  # Case.visit_channel of a rating given in the mini-program
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def actor_of(citizen: Citizen) -> str:
    return f"citizen:{citizen.openid}"


# ---- checking what the citizen sent -------------------------------------------------------------------


def clean_text(value: object, field: str = "text", *, limit: int = TEXT_MAX_CHARS, required: bool = True) -> str:
    """Text as a citizen typed it: NFC, control characters out, trimmed; empty or too long refused."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        label = texts.FIELD_LABELS.get(field, field)
        raise invalid(field, texts.text_empty() if required else texts.field_invalid(label))
    text = _CONTROL.sub("", unicodedata.normalize("NFC", value.replace("\r\n", "\n"))).strip()
    if required and not text:
        raise invalid(field, texts.text_empty())
    if len(text) > limit:
        raise invalid(field, texts.text_too_long(limit) if field == "text" else texts.COMMENT_TOO_LONG)
    return text


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    address: str


def check_location(value: object) -> Location | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not {"latitude", "longitude"} <= set(value)
        or set(value)
        - {
            "latitude",
            "longitude",
            "address",
        }
    ):
        raise invalid("location", texts.BAD_COORDINATES)
    lat, lon = value["latitude"], value["longitude"]
    for number in (lat, lon):
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            raise invalid("location", texts.BAD_COORDINATES)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise invalid("location", texts.BAD_COORDINATES)
    address = clean_text(value.get("address"), "location.address", limit=ADDRESS_MAX_CHARS, required=False)
    return Location(float(lat), float(lon), address)


def check_score(value: object) -> int:
    if isinstance(value, bool) or value not in (1, 2, 3):
        raise invalid("score", texts.BAD_SCORE)
    return int(value)


async def find_point(key: object) -> ContactPoint:
    if not isinstance(key, str) or not key:
        raise invalid("contact_point", texts.field_required("联系点"))
    # Only a key the roster could hold reaches the database (a NUL byte is an error on PostgreSQL).
    point = await ContactPoint.get_or_none(key=key) if KEY_RE.fullmatch(key) else None
    if point is None:
        raise invalid("contact_point", texts.CONTACT_POINT_NOT_FOUND, code="unknown_contact_point")
    return point


async def find_own_case(citizen: Citizen, code_text: str, settings: Settings) -> Case:
    """The citizen's case (any of their linked openids) with this code. A code that is not theirs reads
    exactly like one that does not exist; a wrong check digit says so (it is the typing, not the case)."""
    check = find_code(code_text, settings.tracking_prefix) if len(code_text) <= 40 else None
    if check is None or check.code is None or check.code != code_text.strip().upper():
        raise Refused(Why.NOT_FOUND, "not_found", texts.CASE_NOT_FOUND)
    if not check.valid:
        raise Refused(Why.BAD_CHECK_DIGIT, "bad_check_digit", texts.BAD_CHECK_DIGIT)
    case = await Case.get_or_none(code=check.code, citizen_id__in=await linked_ids(citizen)).prefetch_related(
        "contact_point", "citizen"
    )
    if case is None:
        raise Refused(Why.NOT_FOUND, "not_found", texts.CASE_NOT_FOUND)
    return case


def _acknowledgement(case: Case, message: str) -> dict[str, Any]:
    return {"tracking_code": case.code, "status": str(case.state), "status_text": case.state_zh, "message": message}


# ---- filing a case ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCaseRequest:
    point: ContactPoint
    text: str
    uploads: list[Upload]
    location: Location | None
    phone: str | None  # already exchanged from the phone_code


async def file_case(citizen: Citizen, request: NewCaseRequest, settings: Settings) -> dict[str, Any]:
    moment = now()
    actor = actor_of(citizen)
    point = request.point
    active = point if point.is_active else None  # a revoked point takes messages, as a scan of it does
    earlier = await Case.filter(citizen=citizen, contact_point=active, state=CaseState.CLOSED).order_by("-id").first()
    extra: dict[str, Any] = {"via": "api"} if active else {"via": "api", "revoked_point": point.key}
    event = CitizenEvent(
        channel=CHANNEL,
        sender=citizen.openid,
        kind="message",
        created_at=moment,
        msg_type="text",
        text=request.text,
        extra=extra,
    )
    new = NewCase(
        event,
        f"{CHANNEL}:api:{secrets.token_hex(16)}",
        (active.id, active.key, active.name) if active else None,
        (earlier.id, earlier.code) if earlier else None,
    )
    written = await write_new_case(settings, new, moment)
    case = await Case.get(id=written.case_id)
    if request.location is not None:
        await _add_location(case, request.location, actor)
    await upload_store.attach(case, request.uploads, actor)
    if request.phone:
        citizen.phone = request.phone
        await citizen.save(update_fields=["phone"])
    return _acknowledgement(case, texts.case_filed(case.code, active.name if active else None, settings))


async def _add_location(case: Case, location: Location, actor: str) -> None:
    """As the official account's location message: msg_type location, the address as its text."""
    moment = now()
    message = await CaseMessage.create(
        case=case,
        direction="in",
        author=actor,
        msg_type="location",
        content=location.address,
        extra={"latitude": location.latitude, "longitude": location.longitude, "label": location.address},
        created_at=moment,
    )
    await record_event(case, "message.in", actor, at=moment, message_id=message.id, msg_type="location")


# ---- reading -----------------------------------------------------------------------------------------


def _cursor_of(case_id: int) -> str:
    return base64.urlsafe_b64encode(f"c1:{case_id}".encode()).decode().rstrip("=")


def _after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, number = text.partition(":")
    if prefix != "c1" or not number.isdigit() or len(number) > 12:
        raise invalid("cursor", texts.BAD_CURSOR)
    return int(number)


def check_limit(value: str | None) -> int:
    if value is None:
        return PAGE_SIZE
    if not value.isdigit() or not 1 <= int(value) <= PAGE_SIZE_MAX:
        raise invalid("limit", texts.BAD_LIMIT)
    return int(value)


async def list_cases(citizen: Citizen, cursor: str | None, limit: int) -> dict[str, Any]:
    """Newest first, both channels' cases of a linked person; `next_cursor` null on the last page."""
    after = _after(cursor)
    query = Case.filter(citizen_id__in=await linked_ids(citizen))
    if after is not None:
        query = query.filter(id__lt=after)
    rows = await query.order_by("-id").limit(limit + 1).prefetch_related("contact_point", "citizen")
    page = rows[:limit]
    more = len(rows) > limit
    return {"cases": [case_summary(case) for case in page], "next_cursor": _cursor_of(page[-1].id) if more else None}


async def show_case(citizen: Citizen, code: str, settings: Settings, committee_name: str) -> dict[str, Any]:
    return await case_detail(await find_own_case(citizen, code, settings), committee_name)


# ---- writing to a case --------------------------------------------------------------------------------


async def follow_up(citizen: Citizen, case: Case, text: str, uploads: list[Upload]) -> dict[str, Any]:
    """What the official account does with a message joining an open case: the case's time, a member's
    question answered (待补充 → 办理中), the message, and the member holding the case told."""
    if CaseState(case.state) in TERMINAL:
        raise Refused(Why.CONFLICT, "case_closed", texts.CASE_CLOSED)
    moment = now()
    actor = actor_of(citizen)
    case.last_citizen_message_at = moment
    case.updated_at = moment
    await case.save(update_fields=["last_citizen_message_at", "updated_at"])
    if case.state == CaseState.NEEDS_INFO:
        await apply_transition(case, Transition.PROVIDE_INFO, actor=actor, at=moment)
    message = await CaseMessage.create(
        case=case,
        direction="in",
        author=actor,
        msg_type="text",
        content=text,
        extra={"via": "api"},
        inbound_key=f"{CHANNEL}:api:{secrets.token_hex(16)}",
        created_at=moment,
    )
    await record_event(case, "message.in", actor, at=moment, message_id=message.id, msg_type="text")
    attached = await upload_store.attach(case, uploads, actor)
    if case.member_id is not None:  # type: ignore[attr-defined]
        # Gathered into digests like the official account's follow-ups (handlers.cases.follow_ups); the
        # message's text carries the labels of what was attached.
        labels = "".join(texts.UPLOAD_LABELS[item.msg_type] for item in attached)
        if labels:
            message.content = f"{text}{labels}"
            await message.save(update_fields=["content"])
        await follow_ups.gather(case, message)
    count = await CaseMessage.filter(case=case, direction="in").count()
    return _acknowledgement(case, texts.follow_up_added(case.code, count))


async def rate(
    citizen: Citizen, case: Case, score: int, comment: str, redis: aioredis.Redis, settings: Settings
) -> dict[str, Any]:
    """The return visit, as the chat survey records it (2 closes, 3 reopens to the same member...)."""
    if case.state != CaseState.RETURN_VISIT:
        raise Refused(Why.CONFLICT, "not_in_return_visit", texts.NOT_IN_RETURN_VISIT)
    try:
        text = await record_visit(case, score, comment, actor_of(citizen), VISIT_CHANNEL, redis, settings)
    except IllegalTransition:  # answered on the other channel at the same moment
        raise Refused(Why.CONFLICT, "not_in_return_visit", texts.NOT_IN_RETURN_VISIT) from None
    return _acknowledgement(case, text)


# ---- the citizen ------------------------------------------------------------------------------------


async def about(citizen: Citizen) -> dict[str, Any]:
    ids = await linked_ids(citizen)
    people = await Citizen.filter(id__in=ids)
    channels = sorted({"miniprogram" if row.channel == CHANNEL else "official_account" for row in people})
    phone = next((row.phone for row in people if row.phone), None)
    consents = await SubscribeConsent.filter(citizen=citizen, remaining__gt=0)
    return {
        "channels": channels,
        "cases_count": await Case.filter(citizen_id__in=ids).count(),
        "phone": mask_personal_numbers(phone) if phone else None,
        "consents": {row.template_id: row.remaining for row in consents},
    }


async def forget_phone(citizen: Citizen) -> None:
    """The phone number goes from every openid of the person."""
    await Citizen.filter(id__in=await linked_ids(citizen)).update(phone=None)
