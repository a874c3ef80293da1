"""Opinions on a consultation topic: posting, WeChat's verdicts, staff review, 附议, the public listing,
and 立案 (an opinion becomes a case).

Nothing unchecked is listed: an opinion is public once published (WeChat's msg_sec_check said `pass`,
or staff approved a `review` with 通过); an image once WeChat's media check said `pass`. The verdict on
the text is asked for by the bot layer before `post` (it is an HTTP call); `risky` is refused there.
Members post from WeCom (议 <key> <text>): they are known and accountable, and WeChat's check needs an
openid that visited the mini-program in the last two hours, which a member writing in WeCom has not;
their opinions are published as 委员's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from handlers.cases.masking import excerpt, mask_personal_numbers
from handlers.cases.new_cases import NewCase, write_new_case
from handlers.cases.outbox import send_to_citizen, send_to_triage
from handlers.events import CitizenEvent
from handlers.miniprogram.errors import Refused, Why, invalid
from handlers.miniprogram.identity import CHANNEL
from handlers.settings import Settings
from handlers.texts import member as member_texts
from handlers.texts import miniprogram as texts
from handlers.texts import staff as staff_texts
from handlers.topics.topics import is_open
from models.entities import Case, Citizen, ContactPoint, Member
from models.jobs import enqueue
from models.miniprogram import Upload
from models.timeutil import now
from models.topics import (
    ConsultationTopic,
    ImageStatus,
    Opinion,
    OpinionImage,
    OpinionStatus,
    OpinionSupport,
    published_page,
)

MEDIA_CHECK = "opinion.media_check"  # {image_id}: ask WeChat's media_check_async (bot.outbound.content_check)
PAGE_SIZE = 20
TEXT_MAX = 2000  # as a case's text (handlers.miniprogram.cases.TEXT_MAX_CHARS)
PAGE_SIZE_MAX = 50
ORDERS = ("newest", "support")
PSEUDONYM = "用户"


class OpinionError(Exception):
    """A staff or member command about an opinion that cannot be done (the message says why)."""


@dataclass(frozen=True)
class Verdict:
    """WeChat's msg_sec_check (version 2) on a text: suggest pass | review | risky, its label and trace."""

    suggest: str
    label: int
    trace_id: str


async def find_topic(key: str) -> ConsultationTopic:
    topic = await ConsultationTopic.get_or_none(key=key) if 0 < len(key) <= 32 else None
    if topic is None:
        raise Refused(Why.NOT_FOUND, "not_found", texts.TOPIC_NOT_FOUND)
    return topic


def ensure_open(topic: ConsultationTopic) -> None:
    if not is_open(topic):
        raise Refused(Why.CONFLICT, "topic_closed", texts.TOPIC_CLOSED)


def images_only(uploads: list[Upload]) -> list[Upload]:
    if any(upload.kind != "image" for upload in uploads):
        raise invalid("upload_ids", texts.IMAGES_ONLY)
    return uploads


# ---- who wrote it, as others see it -----------------------------------------------------------------


def _mask(name: str) -> str:
    if name.startswith(PSEUDONYM):  # 用户3fa2 -> 用户**a2
        return PSEUDONYM + "**" + name[-2:]
    if len(name) <= 1:
        return name + "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def nickname_of(citizen_openid: str) -> str:
    """A citizen's stable pseudonym (WeChat gives no nickname any more): 用户 and four hex digits of a hash."""
    return PSEUDONYM + hashlib.sha256(citizen_openid.encode()).hexdigest()[:4]


def author(opinion: Opinion) -> dict[str, str]:
    if opinion.member_id is not None:  # type: ignore[attr-defined]
        name = opinion.check.get("name", "")
        return {"kind": "member", "label": texts.AUTHOR_MEMBER, "nickname": _mask(str(name) or "委员")}
    return {"kind": "citizen", "label": texts.AUTHOR_CITIZEN, "nickname": _mask(str(opinion.check.get("name", "")))}


# ---- posting ------------------------------------------------------------------------------------------


async def post(
    citizen: Citizen, topic: ConsultationTopic, text: str, uploads: list[Upload], verdict: Verdict, point: str | None
) -> dict[str, Any]:
    """A citizen's opinion after WeChat's check of its text (in the caller's transaction)."""
    ensure_open(topic)
    if verdict.suggest == "risky":
        raise Refused(Why.INVALID, "content_risky", texts.OPINION_RISKY, "text")
    moment = now()
    status = OpinionStatus.PUBLISHED if verdict.suggest == "pass" else OpinionStatus.REVIEW
    check = {"suggest": verdict.suggest, "label": verdict.label, "trace_id": verdict.trace_id}
    opinion = await Opinion.create(
        topic=topic,
        citizen=citizen,
        text=text,
        status=status,
        point_key=point,
        check={**check, "name": nickname_of(citizen.openid)},
        created_at=moment,
        published_at=moment if status == OpinionStatus.PUBLISHED else None,
    )
    if status == OpinionStatus.PUBLISHED:
        await _count_published(topic.id)
    for upload in uploads:
        # An upload is used once: a case message's id, or (negative) the opinion it went into.
        if not await Upload.filter(id=upload.id, message_id=None).update(message_id=-opinion.id):
            raise invalid("upload_ids", texts.UPLOAD_UNKNOWN)
        image = await OpinionImage.create(
            opinion=opinion,
            upload_id=upload.public_id,
            path=upload.path,
            content_type=upload.content_type,
            fetch_token=secrets.token_urlsafe(32),
            created_at=moment,
        )
        await enqueue(MEDIA_CHECK, {"image_id": image.id}, key=f"media-check:{image.id}")
    if status == OpinionStatus.REVIEW:
        await send_to_triage(staff_texts.opinion_to_review(opinion.id, topic.key, excerpt(text, 200)))
    message = texts.opinion_posted(str(status), bool(uploads))
    return {"opinion_id": opinion.id, "status": str(status), "message": message}


async def post_by_member(member: Member, key: str, text: str) -> Opinion:
    topic = await ConsultationTopic.get_or_none(key=key)
    if topic is None:
        raise OpinionError(member_texts.topic_not_found(key))
    if not is_open(topic):
        raise OpinionError(member_texts.topic_closed(key))
    moment = now()
    await _count_published(topic.id)
    return await Opinion.create(
        topic=topic,
        member=member,
        text=text,
        status=OpinionStatus.PUBLISHED,
        check={"suggest": "member", "name": member.name},
        created_at=moment,
        published_at=moment,
    )


async def _count_published(topic_id: int) -> None:
    await ConsultationTopic.filter(id=topic_id).update(opinion_count=F("opinion_count") + 1)


async def media_verdict(trace_id: str, suggest: str) -> bool:
    """WeChat's wxa_media_check event: the image is shown on `pass`, never otherwise. False: no such trace."""
    status = ImageStatus.PASS if suggest == "pass" else ImageStatus.REFUSED
    return bool(await OpinionImage.filter(trace_id=trace_id, status=ImageStatus.CHECKING).update(status=status)) or (
        await OpinionImage.exists(trace_id=trace_id)
    )


# ---- staff --------------------------------------------------------------------------------------------


async def _find(opinion_id: str) -> Opinion:
    if not opinion_id.lstrip("#").isdigit() or len(opinion_id) > 12:
        raise OpinionError(staff_texts.opinion_not_found(opinion_id))
    opinion = await Opinion.get_or_none(id=int(opinion_id.lstrip("#"))).prefetch_related("topic", "citizen")
    if opinion is None:
        raise OpinionError(staff_texts.opinion_not_found(opinion_id))
    return opinion


async def review(opinion_id: str, approve: bool) -> str:
    opinion = await _find(opinion_id)
    if opinion.status != OpinionStatus.REVIEW:
        raise OpinionError(staff_texts.opinion_not_waiting(opinion.id))
    moment = now()
    if approve:
        await Opinion.filter(id=opinion.id).update(status=OpinionStatus.PUBLISHED, published_at=moment)
        await _count_published(opinion.topic.id)
        return staff_texts.opinion_approved(opinion.id, opinion.topic.key)
    await Opinion.filter(id=opinion.id).update(status=OpinionStatus.REJECTED)
    return staff_texts.opinion_rejected(opinion.id)


async def make_case(opinion_id: str, actor: str, settings: Settings) -> str:
    """立案: the opinion becomes a case (tracking code, triage card, deadlines), and its author is told."""
    opinion = await _find(opinion_id)
    if opinion.case_id is not None:
        case = await Case.get(id=opinion.case_id)
        raise OpinionError(staff_texts.opinion_has_case(opinion.id, case.code))
    citizen = opinion.citizen
    if citizen is None:
        raise OpinionError(staff_texts.OPINION_BY_MEMBER)
    topic = opinion.topic
    point_key = opinion.point_key or (topic.points[0] if topic.points else None)
    point = await ContactPoint.get_or_none(key=point_key) if point_key else None
    active = point if point is not None and point.is_active else None
    moment = now()
    event = CitizenEvent(
        channel=CHANNEL,
        sender=citizen.openid,
        kind="message",
        created_at=moment,
        msg_type="text",
        text=opinion.text,
        extra={"via": "topic", "topic": topic.key, "opinion_id": opinion.id, "by": actor},
    )
    new = NewCase(event, f"{CHANNEL}:opinion:{opinion.id}", (active.id, active.key, active.name) if active else None)
    written = await write_new_case(settings, new, moment)
    case = await Case.get(id=written.case_id)
    await Opinion.filter(id=opinion.id).update(case_id=case.id)
    await send_to_citizen(citizen, texts.opinion_became_case(case.code, topic.title), case=case, purpose="case_filed")
    return staff_texts.opinion_case_made(opinion.id, case.code)


async def top_lines(key: str, limit: int = 10) -> list[tuple[int, int, str, str]]:
    """(id, supports, author label, excerpt) of a topic's most supported published opinions."""
    topic = await ConsultationTopic.get_or_none(key=key)
    if topic is None:
        raise OpinionError(staff_texts.topic_not_found(key))
    rows = (
        await Opinion.filter(topic=topic, status=OpinionStatus.PUBLISHED).order_by("-support_count", "-id").limit(limit)
    )
    return [(o.id, o.support_count, author(o)["label"], excerpt(o.text, 60)) for o in rows]


# ---- 附议 -----------------------------------------------------------------------------------------------


async def support(citizen: Citizen, opinion_id: str) -> dict[str, Any]:
    opinion = None
    if opinion_id.isdigit() and len(opinion_id) <= 12:
        opinion = await Opinion.get_or_none(id=int(opinion_id), status=OpinionStatus.PUBLISHED).prefetch_related(
            "topic"
        )
    if opinion is None:
        raise Refused(Why.NOT_FOUND, "not_found", texts.OPINION_NOT_FOUND)
    ensure_open(opinion.topic)
    if opinion.citizen_id == citizen.id:  # type: ignore[attr-defined]
        raise Refused(Why.CONFLICT, "own_opinion", texts.OWN_OPINION)
    if await OpinionSupport.exists(opinion=opinion, citizen=citizen):
        raise Refused(Why.CONFLICT, "already_supported", texts.ALREADY_SUPPORTED)
    try:
        await OpinionSupport.create(opinion=opinion, citizen=citizen, created_at=now())
    except IntegrityError:  # the same person's second tap at the same moment
        raise Refused(Why.CONFLICT, "already_supported", texts.ALREADY_SUPPORTED) from None
    await Opinion.filter(id=opinion.id).update(support_count=F("support_count") + 1)
    count = opinion.support_count + 1
    return {"opinion_id": opinion.id, "support_count": count, "message": texts.supported(count)}


# ---- reading ------------------------------------------------------------------------------------------


async def topic_view(topic: ConsultationTopic) -> dict[str, Any]:
    status = "open" if is_open(topic) else "closed"
    return {
        "key": topic.key,
        "title": topic.title,
        "body": topic.body,
        "until": topic.until.isoformat(),
        "status": status,
        "status_text": texts.TOPIC_STATUS_ZH[status],
        "opinion_count": topic.opinion_count,
        "summary": topic.summary,
    }


def check_order(value: str | None) -> str:
    if value is None:
        return "newest"
    if value not in ORDERS:
        raise invalid("order", texts.BAD_ORDER)
    return value


def check_limit(value: str | None) -> int:
    if value is None:
        return PAGE_SIZE
    if not value.isdigit() or not 1 <= int(value) <= PAGE_SIZE_MAX:
        raise invalid("limit", texts.BAD_LIMIT)
    return int(value)


def _cursor(order: str, opinion: Opinion) -> str:
    first = opinion.support_count if order == "support" else int(opinion.created_at.timestamp() * 1_000_000)
    return base64.urlsafe_b64encode(f"o1:{order}:{first}:{opinion.id}".encode()).decode().rstrip("=")


def _after(order: str, cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    parts = text.split(":")
    if len(parts) != 4 or parts[:2] != ["o1", order] or not all(p.isdigit() and len(p) <= 18 for p in parts[2:]):
        raise invalid("cursor", texts.BAD_CURSOR)
    return int(parts[2]), int(parts[3])


async def list_opinions(topic: ConsultationTopic, order: str, cursor: str | None, limit: int) -> dict[str, Any]:
    """Published opinions, newest or most supported first; each with its checked images only."""
    after = _after(order, cursor)
    position: tuple[object, int] | None = None
    if after is not None:
        first = after[0] if order == "support" else datetime.fromtimestamp(after[0] / 1_000_000, UTC)
        position = (first, after[1])
    ids = await published_page(topic.id, order, position, limit + 1)
    found = {o.id: o for o in await Opinion.filter(id__in=ids)}
    rows = [found[i] for i in ids if i in found]
    page = rows[:limit]
    images: dict[int, list[str]] = {}
    if page:
        shown = OpinionImage.filter(opinion_id__in=[o.id for o in page], status=ImageStatus.PASS).order_by("id")
        for image in await shown:
            images.setdefault(image.opinion_id, []).append(image.upload_id)  # type: ignore[attr-defined]
    return {
        "opinions": [
            {
                "opinion_id": o.id,
                "text": mask_personal_numbers(o.text),
                "author": author(o),
                "support_count": o.support_count,
                "created_at": o.created_at.isoformat(),
                "image_ids": images.get(o.id, []),
            }
            for o in page
        ],
        "next_cursor": _cursor(order, page[-1]) if len(rows) > limit else None,
    }


# ---- images under WeChat's media check ------------------------------------------------------------------


async def image_to_check(image_id: int) -> tuple[OpinionImage, str] | None:
    """The image a `opinion.media_check` job asks about and its author's openid (None: nothing to ask)."""
    image = await OpinionImage.get_or_none(id=image_id, status=ImageStatus.CHECKING).prefetch_related(
        "opinion__citizen"
    )
    if image is None or image.trace_id is not None or image.opinion.citizen is None:
        return None
    return image, image.opinion.citizen.openid


async def record_trace(image_id: int, trace_id: str) -> None:
    await OpinionImage.filter(id=image_id).update(trace_id=trace_id)


async def image_to_fetch(token: str) -> tuple[str, str] | None:
    """(path, content type) of an image WeChat is checking, by its fetch token; None once decided."""
    image = await OpinionImage.get_or_none(fetch_token=token, status=ImageStatus.CHECKING)
    return (image.path, image.content_type) if image is not None else None
