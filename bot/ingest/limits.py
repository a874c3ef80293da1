"""What the inbox can store and handle: every arrival is checked here before it joins a group INSERT.

A value the database refuses (a sender longer than the column, a lone surrogate, NaN in JSON) would fail
the INSERT of every callback stored with it, and, stored, would fail its handling every time. The limits
are the columns' own, so they cannot drift from the models.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import asyncpg
from tortoise.exceptions import ValidationError

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


# Errors the same input raises every time: data the database refuses, or a bug. Anything else (a lost
# connection, a timeout, a lock, Redis away) is an outage and worth trying again.
_DETERMINISTIC = (
    ValueError,  # also UnicodeError, JSON errors and asyncpg's own refusal of an argument
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
    ValidationError,
    sqlite3.DataError,
    sqlite3.ProgrammingError,
    asyncpg.exceptions.DataError,  # PostgreSQL's class 22: too long, invalid text or JSON, out of range
)


def deterministic(error: BaseException) -> bool:
    """Whether `error` (or what it wraps: Tortoise re-raises the driver's errors as its own) would come
    again on another try of the same input."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):  # connections, timeouts
            return False
        if isinstance(current, _DETERMINISTIC):
            return True
        wrapped = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = current.__cause__ or wrapped or current.__context__
    return False
