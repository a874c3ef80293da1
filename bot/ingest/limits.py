"""What the inbox can store and handle: every arrival is checked here before it joins a group INSERT.

A value the database refuses (a sender longer than the column, a lone surrogate, NaN in JSON) would fail
the INSERT of every callback stored with it, and, stored, would fail its handling every time. The limits
are the columns' own, so they cannot drift from the models.
"""

from __future__ import annotations

import json
from typing import Any

from handlers.events import InboundEvent
from models.entities import CaseMessage, Citizen, InboundMessage

# WeChat's and WeCom's MsgIds are 64-bit numbers (up to 20 digits); the smart bot's are short strings.
MSG_ID_MAX = 64


def _max_length(model: Any, name: str) -> int:
    return int(model._meta.fields_map[name].max_length)


SENDER_MAX = min(_max_length(InboundMessage, "sender"), _max_length(Citizen, "openid"))
MEDIA_ID_MAX = _max_length(CaseMessage, "media_id")
MSG_TYPE_MAX = _max_length(CaseMessage, "msg_type")
DEDUPE_KEY_MAX = min(_max_length(InboundMessage, "dedupe_key"), _max_length(CaseMessage, "inbound_key"))


class RefusedEvent(ValueError):
    """An arrival the inbox cannot store or handle as it is; the message says why (the transport answers
    400 with it, and nothing is stored)."""


def check_storable(event: InboundEvent, payload: dict[str, Any]) -> None:
    """RefusedEvent when `event` (and `payload`, its stored form) holds what the database cannot take."""
    if not event.sender or len(event.sender) > SENDER_MAX:
        raise RefusedEvent(f"sender must be 1-{SENDER_MAX} characters")
    if event.msg_id is not None and len(event.msg_id) > MSG_ID_MAX:
        raise RefusedEvent(f"message id longer than {MSG_ID_MAX} characters")
    media_id = getattr(event, "media_id", None)
    if media_id is not None and len(media_id) > MEDIA_ID_MAX:
        raise RefusedEvent(f"media id longer than {MEDIA_ID_MAX} characters")
    if len(getattr(event, "msg_type", "")) > MSG_TYPE_MAX:
        raise RefusedEvent(f"message type longer than {MSG_TYPE_MAX} characters")
    if len(event.dedupe_key) > DEDUPE_KEY_MAX:  # pragma: no cover - the bounds above keep it shorter
        raise RefusedEvent("message key too long")
    try:
        # Strict JSON (PostgreSQL's json refuses NaN and Infinity) in UTF-8 (which has no lone surrogates).
        json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RefusedEvent("text is not valid Unicode (a lone surrogate)") from None
    except (ValueError, TypeError):
        raise RefusedEvent("a value is not JSON (NaN or infinity)") from None
