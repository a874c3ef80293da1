"""Read-only tokens for the statistics API (`/api/v1/stats/...`): made by `mashang staff token <key>`,
kept as their SHA-256 only (models/stats.py). A new token for a staff member revokes the one before;
a token works while its staff member is active in the roster. Tokens of the mini-program's citizens
(`POST /api/v1/session`) are another kind: neither opens the other's routes."""

from __future__ import annotations

import hashlib
import re
import secrets

from tortoise.transactions import in_transaction

from models.entities import Staff
from models.stats import StaffToken
from models.timeutil import now

PREFIX = "mst_"  # told apart from a citizen's token (43 characters, no prefix) at a glance
TOKEN = re.compile(r"mst_[A-Za-z0-9_-]{43}")


class TokenError(ValueError):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


async def make_token(staff_key: str) -> tuple[Staff, str]:
    """A new token for the staff member (the previous one revoked); raises TokenError."""
    from handlers.texts import stats as texts

    staff = await Staff.get_or_none(key=staff_key)
    if staff is None:
        raise TokenError(texts.no_such_staff(staff_key))
    if not staff.active:
        raise TokenError(texts.staff_inactive(staff_key))
    token = PREFIX + secrets.token_urlsafe(32)
    moment = now()
    async with in_transaction():
        await StaffToken.filter(staff=staff, revoked_at__isnull=True).update(revoked_at=moment)
        await StaffToken.create(staff=staff, token_hash=token_hash(token), created_at=moment)
    return staff, token


async def staff_of(token: str) -> Staff | None:
    """The staff member whose live token this is (active or not: the caller tells them apart)."""
    if not TOKEN.fullmatch(token):
        return None
    row = await StaffToken.get_or_none(token_hash=token_hash(token), revoked_at__isnull=True).prefetch_related("staff")
    return row.staff if row is not None else None
