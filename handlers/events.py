"""Plain events handed from the transports to the handlers. No wire format in here."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class CitizenEvent:
    """Something a WeChat user did: sent a message, scanned a code, followed, unfollowed.

    kind: message | scan | subscribe | unsubscribe | template_outcome | other
    (template_outcome: extra = {key: the template message's msgid, status: WeChat's Status})
    msg_type (messages): text | image | voice | video | location | link
    text: the text, the voice recognition, a link's title, a location's label.
    """

    channel: str  # oa (official account) | wxa (mini-program)
    sender: str  # openid
    kind: str
    created_at: datetime
    msg_type: str = ""
    text: str = ""
    msg_id: str | None = None
    media_id: str | None = None
    contact_point_key: str | None = None  # scans: the scene's contact point
    new_follower: bool = False
    event_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        """WeChat retries carry the same MsgId; events are identified by sender + CreateTime. A MsgId is
        taken with its sender: another openid's message under the same id is another message (else it
        would get the first sender's reply and tracking code)."""
        if self.msg_id:
            return f"{self.channel}:msg:{self.sender}:{self.msg_id}"
        stamp = int(self.created_at.timestamp())
        # A retry repeats the whole event; the scene tells two scans within one second apart.
        scene = self.extra.get("scene") or self.extra.get("key") or ""
        return f"{self.channel}:evt:{self.sender}:{stamp}:{self.event_name or self.kind}:{scene}"[:160]

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self, "citizen")


@dataclass(frozen=True)
class ChatEvent:
    """Staff or a member writing to us in WeCom: single chat with the app, or @bot in the triage group.

    channel: wecom_app | wecom_bot | oa (a member without WeCom who bound the official account)
    """

    channel: str
    sender: str  # WeCom userid (or openid for channel oa)
    text: str
    created_at: datetime
    msg_id: str | None = None
    chat_id: str | None = None  # the group the bot was @-mentioned in
    response_url: str | None = None  # smart bot: one answer within 1 h
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        if self.msg_id:
            return f"{self.channel}:msg:{self.sender}:{self.msg_id}"  # with the sender, as CitizenEvent's
        stamp = int(self.created_at.timestamp())
        return f"{self.channel}:evt:{self.sender}:{stamp}:{hash(self.text) & 0xFFFFFFFF:x}"[:160]

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self, "chat")


InboundEvent = CitizenEvent | ChatEvent
_EVENT_TYPES: dict[str, type[CitizenEvent] | type[ChatEvent]] = {"citizen": CitizenEvent, "chat": ChatEvent}


def _to_dict(event: CitizenEvent | ChatEvent, event_type: str) -> dict[str, Any]:
    # Shallow on purpose: events are frozen and `extra` holds JSON values only; asdict's deep copy
    # was a measurable share of each callback's cost.
    data = {item.name: getattr(event, item.name) for item in fields(event)}
    if isinstance(data.get("extra"), dict):
        data["extra"] = dict(data["extra"])
    data["created_at"] = event.created_at.isoformat()
    data["event_type"] = event_type
    return data


def event_from_dict(data: dict[str, Any]) -> InboundEvent:
    """Rebuild a stored event (the inbox keeps them as JSON)."""
    values = dict(data)
    event_class = _EVENT_TYPES[values.pop("event_type", "citizen")]
    created = datetime.fromisoformat(values.pop("created_at"))
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return event_class(created_at=created, **values)


@dataclass(frozen=True)
class Reply:
    """A text answer to show the sender right away (a passive reply where the transport can).

    `case_id` links it to a case, so that when it has to go through the outbox instead, the case
    timeline records it.
    """

    text: str
    case_id: int | None = None
