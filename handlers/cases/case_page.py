"""The citizen's case page: links to it, what it shows, and the return visit answered on it.

A reply usually comes days after the citizen's last message, past the 48 h customer-service window:
only a template message reaches them then, and it shows about 20 characters a line. The full reply
lives on this page, behind the template's `url`.

For the delivery side, when it sends a template message about a case to the case's own citizen:

    url = await case_page_url(case, citizen, settings)

creates a link (a row in `case_link`, in the caller's transaction if there is one) and returns the
absolute URL: `settings.public_base_url` + `/c/<token>`. Each call makes a new token, valid for
`[case_page] link_ttl` (default 30 days). Never call it for a member who bound the official account
(audience "member"): the page is the citizen's, with the citizen's messages and survey.

A link opens the page of exactly one case for exactly one citizen; a tracking code never opens it.
Answering the return visit on the page has the same effect as answering it in chat (`record_visit`,
channel "page") and uses the link up.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import redis.asyncio as aioredis
from tortoise.transactions import in_transaction

from handlers.cases.masking import mask_personal_numbers
from handlers.cases.visits import record_visit
from handlers.settings import Settings
from handlers.texts import case_page as texts
from models.after_commit import collecting, run_all
from models.case_page import CaseLink
from models.entities import Case, CaseEvent, CaseMessage, CaseState, Citizen
from models.state import AWAITS_VISIT, IllegalTransition
from models.timeutil import now

PATH_PREFIX = "/c/"
TOKEN_BYTES = 32  # 256 bits, 43 URL-safe characters
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
COMMENT_MAX_CHARS = 500
VISIT_CHANNEL = "page"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def is_well_formed(token: str) -> bool:
    return _TOKEN.fullmatch(token) is not None


async def create_link(case: Case, citizen: Citizen, settings: Settings) -> str:
    """A new token for `case`'s page, for `citizen` (who must be the case's citizen)."""
    if citizen.id != case.citizen_id:  # type: ignore[attr-defined]
        raise ValueError(f"case {case.code}: a page link is only for the case's own citizen")
    moment = now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await CaseLink.create(
        token_hash=hash_token(token),
        case=case,
        citizen=citizen,
        created_at=moment,
        expires_at=moment + timedelta(seconds=settings.case_link_ttl_s),
    )
    return token


async def case_page_url(case: Case, citizen: Citizen, settings: Settings) -> str:
    """The absolute URL of `case`'s page for its citizen (a new link each call); see the module's doc."""
    token = await create_link(case, citizen, settings)
    return settings.public_base_url.rstrip("/") + PATH_PREFIX + token


# ---- opening a link -----------------------------------------------------------------------------------


class LinkState(StrEnum):
    OPEN = "open"
    USED = "used"  # the return visit was answered through it
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # never issued, malformed, or not bound to the case's citizen


@dataclass(frozen=True)
class OpenedLink:
    state: LinkState
    link: CaseLink | None = None
    case: Case | None = None

    @property
    def code(self) -> str | None:
        """The tracking code to show on the "link gone" page: only for a link we issued."""
        return self.case.code if self.case is not None and self.state != LinkState.UNKNOWN else None


async def open_link(token: str) -> OpenedLink:
    if not is_well_formed(token):
        return OpenedLink(LinkState.UNKNOWN)
    link = await CaseLink.get_or_none(token_hash=hash_token(token)).prefetch_related("case", "citizen")
    if link is None or link.case.citizen_id != link.citizen_id:  # type: ignore[attr-defined]
        return OpenedLink(LinkState.UNKNOWN)
    if link.used_at is not None:
        return OpenedLink(LinkState.USED, link, link.case)
    if link.expires_at <= now():
        return OpenedLink(LinkState.EXPIRED, link, link.case)
    return OpenedLink(LinkState.OPEN, link, link.case)


def form_nonce(token: str, case: Case) -> str:
    """What the survey form carries back: bound to the page's token and to this round of the return
    visit (the reply it rates), so a form from before a new reply, or made up without the token,
    changes nothing."""
    replied = case.replied_at.isoformat() if case.replied_at else "-"
    message = f"visit:{case.id}:{replied}".encode()
    return hmac.new(token.encode("ascii"), message, hashlib.sha256).hexdigest()


# ---- what the page shows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageMessage:
    time: str
    text: str
    mine: bool  # the citizen's own message; otherwise a member's question to them


@dataclass(frozen=True)
class PageReply:
    time: str
    text: str
    signature: str


@dataclass(frozen=True)
class TimelineEntry:
    time: str
    title: str
    note: str


@dataclass(frozen=True)
class CaseView:
    code: str
    where: str | None
    state_zh: str
    created: str
    conversation: list[PageMessage]  # the citizen's messages and the questions asked, oldest first
    replies: list[PageReply]
    timeline: list[TimelineEntry]
    visit_open: bool
    merged_note: str | None


def _message_text(message: CaseMessage) -> str:
    label = texts.MESSAGE_LABELS.get(message.msg_type, "")
    # Masked even for the citizen: the page may be shared from WeChat's browser, the numbers must not be.
    return (label + mask_personal_numbers(message.content)).strip()


async def _merge_target(case: Case) -> Case | None:
    """The case a merged case is handled through (the end of the chain, as the status query follows it)."""
    target = case
    for _ in range(10):
        target_id: int | None = target.merged_into_id  # type: ignore[attr-defined]
        joined = await Case.get_or_none(id=target_id) if target_id is not None else None
        if joined is None:
            break
        target = joined
        if target.state != CaseState.MERGED:
            break
    return target if target is not case else None


async def case_view(case: Case) -> CaseView:
    await case.fetch_related("contact_point")
    messages = await CaseMessage.filter(case=case).order_by("created_at", "id")
    events = await CaseEvent.filter(case=case).order_by("created_at", "id")
    asked = [str(e.detail.get("reason", "")) for e in events if e.kind == "state:ask"]
    signatures = [str(e.detail.get("by") or texts.STAFF_SIGNATURE_FALLBACK) for e in events if e.kind == "state:reply"]
    conversation: list[PageMessage] = []
    replies: list[PageReply] = []
    for message in messages:
        moment = texts.page_time(message.created_at)
        if message.direction == "in":
            conversation.append(PageMessage(moment, _message_text(message), mine=True))
        elif message.content in asked:  # a member's question (its text is the ask's reason)
            asked.remove(message.content)
            conversation.append(PageMessage(moment, message.content, mine=False))
        else:
            signature = signatures.pop(0) if signatures else texts.STAFF_SIGNATURE_FALLBACK
            replies.append(PageReply(moment, message.content, signature))
    merged_note = None
    if case.state == CaseState.MERGED:
        target = await _merge_target(case)
        if target is not None:
            merged_note = texts.merged_into(target.code, target.state_zh)
            reply_text = target.last_reply or case.last_reply
            if reply_text and not replies:
                replies.append(PageReply(texts.page_time(target.replied_at or target.updated_at), reply_text, ""))
    elif case.last_reply and not replies:  # answered through a case it was merged with earlier
        replies.append(PageReply(texts.page_time(case.replied_at or case.updated_at), case.last_reply, ""))
    return CaseView(
        code=case.code,
        where=case.contact_point.name if case.contact_point else None,
        state_zh=case.state_zh,
        created=texts.page_time(case.created_at),
        conversation=conversation,
        replies=replies,
        timeline=_timeline(case, events),
        visit_open=CaseState(case.state) in AWAITS_VISIT,
        merged_note=merged_note,
    )


def _timeline(case: Case, events: list[CaseEvent]) -> list[TimelineEntry]:
    entries = [TimelineEntry(texts.page_time(case.created_at), *texts.SUBMITTED)]
    for event in events:
        known = texts.TIMELINE.get(event.kind)
        if known is None:  # the case's birth (above), messages, deadlines, categories, staff's own steps
            continue
        title, note = known
        if event.kind in ("state:close", "state:reopen"):
            score = event.detail.get("score")
            note = texts.visit_note(score if isinstance(score, int) else None)
        elif event.kind == "state:merge" and event.detail.get("target"):
            note = texts.merged_note(str(event.detail["target"]))
        entries.append(TimelineEntry(texts.page_time(event.created_at), title, note))
    return entries


# ---- answering the return visit on the page -----------------------------------------------------------


class BadAnswer(ValueError):
    """The form's values are out of bounds: nothing is changed; `message_zh` says what to fix."""

    def __init__(self, message_zh: str) -> None:
        self.message_zh = message_zh
        super().__init__(message_zh)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def parse_answer(score_text: str, comment_text: str) -> tuple[int, str]:
    """(score 1–3, comment of at most COMMENT_MAX_CHARS characters) or BadAnswer."""
    if score_text not in ("1", "2", "3"):
        raise BadAnswer(texts.BAD_SCORE)
    comment = _CONTROL.sub("", unicodedata.normalize("NFC", comment_text.replace("\r\n", "\n"))).strip()
    if len(comment) > COMMENT_MAX_CHARS:
        raise BadAnswer(texts.comment_too_long(COMMENT_MAX_CHARS))
    return int(score_text), comment


class Outcome(StrEnum):
    RECORDED = "recorded"
    LINK_GONE = "link_gone"  # unknown or expired link
    ALREADY_ANSWERED = "already_answered"  # this link was used for the answer already
    VISIT_OVER = "visit_over"  # the case is not waiting for a return visit (answered in chat, reopened...)
    STALE = "stale"  # the form's nonce does not belong to this link and this round of the visit


@dataclass(frozen=True)
class VisitAnswer:
    outcome: Outcome
    text: str = ""  # the thank-you the chat gives (RECORDED)
    code: str | None = None
    state_zh: str = ""


class _Unchanged(Exception):
    def __init__(self, answer: VisitAnswer) -> None:
        self.answer = answer


async def answer_visit(
    token: str, nonce: str, score: int, comment: str, redis: aioredis.Redis, settings: Settings
) -> VisitAnswer:
    """Record the return visit answered on the page opened by `token`, exactly as the chat records it."""
    try:
        with collecting() as deferred:
            async with in_transaction():
                answer = await _answer(token, nonce, score, comment, redis, settings)
    except _Unchanged as unchanged:  # rolled back: the link stays unused
        return unchanged.answer
    await run_all(deferred)
    return answer


async def _answer(
    token: str, nonce: str, score: int, comment: str, redis: aioredis.Redis, settings: Settings
) -> VisitAnswer:
    opened = await open_link(token)
    if opened.state == LinkState.USED:
        return VisitAnswer(Outcome.ALREADY_ANSWERED, code=opened.code)
    if opened.state != LinkState.OPEN or opened.link is None or opened.case is None:
        return VisitAnswer(Outcome.LINK_GONE, code=opened.code)
    link, case = opened.link, opened.case
    if not hmac.compare_digest(nonce.encode("utf-8", "replace"), form_nonce(token, case).encode("ascii")):
        return VisitAnswer(Outcome.STALE, code=case.code)
    if CaseState(case.state) not in AWAITS_VISIT:
        return VisitAnswer(Outcome.VISIT_OVER, code=case.code, state_zh=case.state_zh)
    moment = now()
    # One answer per link, also for two submissions racing each other: the second finds it used.
    if not await CaseLink.filter(id=link.id, used_at=None).update(used_at=moment):
        return VisitAnswer(Outcome.ALREADY_ANSWERED, code=case.code)
    try:
        text = await record_visit(
            case, score, comment, f"citizen:{link.citizen.openid}", VISIT_CHANNEL, redis, settings
        )
    except IllegalTransition:  # answered in chat at the same moment
        current = await Case.get(id=case.id)
        raise _Unchanged(VisitAnswer(Outcome.VISIT_OVER, code=case.code, state_zh=current.state_zh)) from None
    return VisitAnswer(Outcome.RECORDED, text=text, code=case.code)
