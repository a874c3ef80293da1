"""Job payloads: one TypedDict per job kind, built here and nowhere else.

A payload is the contract between who enqueues a job (handlers) and who runs it (handlers' own timers,
bot.outbound's senders). Building each through one function here, and reading it through `read()`, lets
mypy check both sides against the same definition: a field one side forgets is a type error, not a job
that fails in production.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, TypeVar, cast

Audience = Literal["citizen", "member"]
# What a message to a citizen is, where it matters for the channel: a mini-program citizen is pushed a
# subscribe message (one consent each) for these only; anything else waits in the case for them.
# topic: a consultation topic's outcome; case_filed: staff made a case of the citizen's opinion (立案)
Purpose = Literal["reply", "question", "survey", "topic", "case_filed"]


class SendCitizen(TypedDict):
    """send.citizen: a message to a WeChat user through the official account."""

    openid: str
    channel: str
    text: str
    case_code: str | None
    case_state: str | None
    audience: Audience  # "member": a member who bound the official account (templates are worded for them)
    part_channels: NotRequired[list[str]]  # delivery's bookkeeping: the channel each part went out on
    timed_out_parts: NotRequired[list[int]]  # delivery's bookkeeping: parts whose send timed out once
    timed_out_late: NotRequired[list[int]]  # parts whose template or subscription notice timed out once
    purpose: NotRequired[Purpose]
    waiting: NotRequired[bool]  # delivery's bookkeeping: it waits for the citizen's next message (told once)
    topic_key: NotRequired[str]  # purpose "topic": the consultation topic the subscribe message opens


class FetchUnionid(TypedDict):
    """citizen.unionid: ask the official account for a follower's unionid (cgi-bin/user/info), which links
    them to the same person's mini-program openid."""

    openid: str


class SendWecomUser(TypedDict):
    """send.wecom_user: a WeCom app message to one staff member or member."""

    userid: str
    text: str
    markdown: bool
    case_code: str | None
    # A citizen's follow-ups: their own lane, behind everything else to the same user (assignments, urgent
    # notices, reminders go first), so that a flood of follow-ups cannot hold those back.
    low_priority: NotRequired[bool]


class SendTriage(TypedDict):
    """send.triage: a markdown message to the triage group."""

    markdown: str
    case_code: str | None


class SendBotReply(TypedDict):
    """send.bot_reply: the smart bot's answer through its response_url (or the triage group)."""

    response_url: str | None
    text: str
    case_code: str | None
    response_url_failed: NotRequired[str]  # delivery's bookkeeping: why the response_url was not used
    response_parts_sent: NotRequired[int]  # delivery's bookkeeping: the first part went through it


class SendReportFile(TypedDict):
    """send.report_file: a topic's draft 社情民意信息 as a DOCX file, through WeCom media/upload, to the triage
    group's appchat (userid None) or to the staff member who asked."""

    topic: str
    userid: str | None
    media_id: NotRequired[str]  # delivery's bookkeeping: uploaded already (valid 3 days), not uploaded again
    uploaded_at: NotRequired[str]  # delivery's bookkeeping: when (ISO 8601)
    filename: NotRequired[str]  # delivery's bookkeeping: the uploaded file's name


class DownloadMedia(TypedDict):
    """media.download: fetch a citizen's image, voice or video before WeChat forgets it."""

    media_id: str
    message_id: int
    msg_type: str


class FollowUps(TypedDict):
    """case.follow_ups: forward a case's follow-ups not yet forwarded to its member, as one digest."""

    case_id: int


class CaseCreated(TypedDict):
    """case.created: the rest of a new case's set-up (category, queue, card, auto-assign)."""

    case_id: int


class DeadlineTimer(TypedDict):
    """sla.remind / sla.overdue: a deadline's reminder or overdue notice (round 2 on: escalation)."""

    case_id: int
    stage: Literal["assign", "reply"]
    due: str  # ISO 8601
    round: int


class VisitStart(TypedDict):
    """visit.start: send the return-visit survey once the reply has had time to arrive."""

    case_id: int
    replied_at: str  # ISO 8601
    waited: NotRequired[bool]  # the reply was still on its way at an earlier try: its clock starts on delivery


class VisitTimeout(TypedDict):
    """visit.timeout: the survey went unanswered: a phone return visit for staff."""

    case_id: int
    sent_at: str  # ISO 8601


def send_citizen(
    openid: str,
    channel: str,
    text: str,
    *,
    case_code: str | None,
    case_state: str | None,
    audience: Audience = "citizen",
    purpose: Purpose | None = None,
    topic_key: str | None = None,
) -> SendCitizen:
    payload: SendCitizen = {
        "openid": openid,
        "channel": channel,
        "text": text,
        "case_code": case_code,
        "case_state": case_state,
        "audience": audience,
    }
    if purpose is not None:
        payload["purpose"] = purpose
    if topic_key is not None:
        payload["topic_key"] = topic_key
    return payload


def fetch_unionid(openid: str) -> FetchUnionid:
    return {"openid": openid}


def send_wecom_user(
    userid: str, text: str, *, markdown: bool, case_code: str | None, low_priority: bool = False
) -> SendWecomUser:
    payload: SendWecomUser = {"userid": userid, "text": text, "markdown": markdown, "case_code": case_code}
    if low_priority:
        payload["low_priority"] = True
    return payload


def send_triage(markdown: str, *, case_code: str | None) -> SendTriage:
    return {"markdown": markdown, "case_code": case_code}


def send_bot_reply(response_url: str | None, text: str, *, case_code: str | None) -> SendBotReply:
    return {"response_url": response_url, "text": text, "case_code": case_code}


def send_report_file(topic: str, userid: str | None) -> SendReportFile:
    return {"topic": topic, "userid": userid}


def download_media(media_id: str, message_id: int, msg_type: str) -> DownloadMedia:
    return {"media_id": media_id, "message_id": message_id, "msg_type": msg_type}


def follow_ups(case_id: int) -> FollowUps:
    return {"case_id": case_id}


def case_created(case_id: int) -> CaseCreated:
    return {"case_id": case_id}


def deadline_timer(case_id: int, stage: Literal["assign", "reply"], due: str, round_no: int) -> DeadlineTimer:
    return {"case_id": case_id, "stage": stage, "due": due, "round": round_no}


def visit_start(case_id: int, replied_at: str) -> VisitStart:
    return {"case_id": case_id, "replied_at": replied_at}


def visit_timeout(case_id: int, sent_at: str) -> VisitTimeout:
    return {"case_id": case_id, "sent_at": sent_at}


P = TypeVar("P")


def read(payload: dict[str, Any], kind: type[P]) -> P:
    """A stored job's payload as the TypedDict of its kind (for the code that runs the job)."""
    return cast(P, payload)
