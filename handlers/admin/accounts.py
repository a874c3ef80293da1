"""Console accounts of roster staff: argon2 password hashes, disabling, and checking a login.

A password is set with `mashang staff set-password <key>`; `mashang staff disable <key>` clears the hash
and stamps `console_disabled_at`, which ends every live session at its next request (a session carries
a fingerprint of the hash it was opened with, so a new password ends the old sessions too). The roster
import never touches either column. argon2 is slow on purpose: it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.transactions import in_transaction

from handlers.texts import console as texts
from models.entities import Staff, StaffRole
from models.stats import StaffToken
from models.timeutil import now

PASSWORD_MIN = 8
PASSWORD_MAX = 128  # argon2 takes any length; a bound keeps a stranger's login from hashing megabytes


class AccountError(ValueError):
    """Shown to the operator as is (Chinese)."""


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile


def check_new_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountError(texts.password_too_short(PASSWORD_MIN))
    if len(password) > PASSWORD_MAX:
        raise AccountError(texts.password_too_long(PASSWORD_MAX))
    if password != password.strip() or not password.isprintable():
        raise AccountError(texts.PASSWORD_BLANKS)


async def staff_by_key(key: str) -> Staff:
    staff = await Staff.get_or_none(key=key)
    if staff is None:
        raise AccountError(texts.no_such_staff(key))
    return staff


async def set_password(key: str, password: str) -> Staff:
    check_new_password(password)
    staff = await staff_by_key(key)
    if not staff.active:
        raise AccountError(texts.staff_inactive(key))
    staff.password_hash = await asyncio.to_thread(_hasher().hash, password)
    staff.console_disabled_at = None
    await staff.save(update_fields=["password_hash", "console_disabled_at"])
    return staff


async def disable(key: str) -> Staff:
    staff = await staff_by_key(key)
    staff.password_hash = None
    moment = now()
    staff.console_disabled_at = moment
    async with in_transaction():
        await staff.save(update_fields=["password_hash", "console_disabled_at"])
        # Their read-only statistics token goes too: a disabled account reads nothing.
        await StaffToken.filter(staff_id=staff.id, revoked_at__isnull=True).update(revoked_at=moment)
    return staff


def fingerprint(password_hash: str) -> str:
    """What a session keeps of the hash it was opened with (never the hash itself)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def may_log_in(staff: Staff | None) -> bool:
    return staff is not None and staff.active and staff.password_hash is not None


async def check_login(key: str, password: str) -> Staff | None:
    """The staff member whose key and password these are, or None. An unknown key costs a hash too, so
    the time taken does not tell which keys exist."""
    staff = await Staff.get_or_none(key=key[:40]) if key else None
    stored = staff.password_hash if staff is not None and may_log_in(staff) else None
    candidate = password[:PASSWORD_MAX]
    if stored is None:
        await asyncio.to_thread(_hasher().hash, candidate)
        return None

    def verify() -> bool:
        try:
            return _hasher().verify(stored, candidate)
        except (VerificationError, InvalidHashError):
            return False

    return staff if await asyncio.to_thread(verify) else None


def can_act(staff: Staff) -> bool:
    """Whether this staff member may change cases (a viewer reads only)."""
    return StaffRole(staff.role) != StaffRole.VIEWER
