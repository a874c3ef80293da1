"""Outgoing messages as durable send jobs. Handlers enqueue; the bot's delivery workers send.

Enqueue inside the caller's transaction, so a message exists exactly when the change it reports does.
Job kinds and payloads (the contract with bot/ delivery):

- send.citizen    {openid, channel, text, case_code, case_state, audience}: customer-service message inside
                  the 48 h window, template message after it (worded for a citizen, or for a member who
                  bound the official account: audience "member")
- send.wecom_user {userid, text, markdown[, low_priority]}: WeCom app message to one user (staff or member);
                  low_priority (a citizen's follow-ups) lets the user's other messages go first
- send.triage     {markdown}: the triage group (robot webhook, or appchat when triage_chat_id is set)
- send.bot_reply  {response_url, text}: the smart bot's answer in the group, through response_url once;
                  when that is used up or expired, through the triage group push instead
- send.report_file {topic, userid}: a topic's draft report (DOCX), written by the job and uploaded to WeCom
                  as a file, sent to the triage group's appchat (userid None) or to the staff member who asked
"""

from __future__ import annotations

from handlers import payloads
from handlers.events import ChatEvent, CitizenEvent
from models.entities import Case, Citizen, Member
from models.hotline import HOTLINE_CHANNEL
from models.jobs import Job, JobStatus, enqueue
from models.timeutil import now

SEND_CITIZEN = "send.citizen"
# A send.citizen job's last_error while it waits, with wechat.out_of_window = "none", for the citizen to
# write again (their message opens the customer-service window: `wake_waiting_messages`).
WAITING_FOR_CITIZEN = "waiting for the citizen's next message (wechat.out_of_window = none)"
SEND_WECOM_USER = "send.wecom_user"
SEND_TRIAGE = "send.triage"
SEND_BOT_REPLY = "send.bot_reply"
SEND_REPORT_FILE = "send.report_file"
SEND_KINDS = (SEND_CITIZEN, SEND_WECOM_USER, SEND_TRIAGE, SEND_BOT_REPLY, SEND_REPORT_FILE)


async def send_to_citizen(
    citizen: Citizen,
    text: str,
    *,
    case: Case | None = None,
    key: str | None = None,
    audience: payloads.Audience = "citizen",
    purpose: payloads.Purpose | None = None,
) -> Job | None:
    """Send `text` to a WeChat user through the official account (`audience` "member": a member who
    bound it, so a template message outside the window is worded for the member), or, for a citizen
    of the mini-program, as a subscribe message when `purpose` is one (bot.outbound.miniprogram). Nothing for
    the 12345 hotline's callers: they are no WeChat users, the hotline calls them back."""
    if citizen.channel == HOTLINE_CHANNEL:
        return None
    return await enqueue(
        SEND_CITIZEN,
        payloads.send_citizen(
            citizen.openid,
            citizen.channel,
            text,
            case_code=case.code if case else None,
            case_state=case.state_zh if case else None,
            audience=audience,
            purpose=purpose,
        ),
        key=key,
        case_id=case.id if case else None,
    )


async def send_to_wecom_user(
    userid: str,
    text: str,
    *,
    markdown: bool = False,
    case: Case | None = None,
    key: str | None = None,
    low_priority: bool = False,
) -> Job | None:
    """`low_priority`: a citizen's follow-ups, which wait behind everything else to the same user."""
    return await enqueue(
        SEND_WECOM_USER,
        payloads.send_wecom_user(
            userid, text, markdown=markdown, case_code=case.code if case else None, low_priority=low_priority
        ),
        key=key,
        case_id=case.id if case else None,
    )


async def send_to_triage(markdown: str, *, case: Case | None = None, key: str | None = None) -> Job | None:
    return await enqueue(
        SEND_TRIAGE,
        payloads.send_triage(markdown, case_code=case.code if case else None),
        key=key,
        case_id=case.id if case else None,
    )


async def send_bot_reply(
    response_url: str | None, text: str, *, case: Case | None = None, key: str | None = None
) -> Job | None:
    return await enqueue(
        SEND_BOT_REPLY,
        payloads.send_bot_reply(response_url, text, case_code=case.code if case else None),
        key=key,
        case_id=case.id if case else None,
    )


async def send_to_member(
    member: Member, text: str, *, case: Case | None = None, key: str | None = None, low_priority: bool = False
) -> bool:
    """Reach a member in WeCom, or through the official account they bound. False if neither exists.
    `low_priority`: in WeCom, behind the member's other messages (see send_to_wecom_user)."""
    if member.wecom_userid:
        await send_to_wecom_user(member.wecom_userid, text, case=case, key=key, low_priority=low_priority)
        return True
    bound = await Citizen.filter(member=member).order_by("-id").first()
    if bound is None:
        return False
    await send_to_citizen(bound, text, case=case, key=key, audience="member")
    return True


async def send_reply(
    event: ChatEvent | CitizenEvent, text: str, *, case: Case | None = None, key: str | None = None
) -> None:
    """Deliver a reply that could not go back as a passive reply to whoever sent `event`."""
    if isinstance(event, CitizenEvent) or (isinstance(event, ChatEvent) and event.channel == "oa"):
        citizen, _ = await Citizen.get_or_create(openid=event.sender)
        await send_to_citizen(citizen, text, case=case, key=key)
    elif isinstance(event, ChatEvent) and event.channel == "wecom_bot":
        await send_bot_reply(event.response_url, text, case=case, key=key)
    elif isinstance(event, ChatEvent):  # a WeCom app text: the sender renders it plain (bot/outbound/wecom.py)
        await send_to_wecom_user(event.sender, text, case=case, key=key)
    else:  # pragma: no cover - every event type is listed above
        raise TypeError(f"cannot reply to {type(event).__name__}")


async def wake_waiting_messages(citizen: Citizen) -> int:
    """The citizen wrote: their messages that waited for a customer-service window go out now."""
    return await Job.filter(
        kind=SEND_CITIZEN, status=JobStatus.PENDING, last_error=WAITING_FOR_CITIZEN, case__citizen_id=citizen.id
    ).update(run_at=now(), last_error=None)  # no longer waiting: a younger message waits behind it again


async def send_report_file(topic: str, userid: str | None) -> Job | None:
    """A topic's draft report as a Word file: to the triage group's appchat, or (`userid`) to one user."""
    return await enqueue(SEND_REPORT_FILE, payloads.send_report_file(topic, userid), max_attempts=10)
