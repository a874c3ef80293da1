"""Refusals of the mini-program's requests: a code the API maps to a status, a message for the citizen."""

from __future__ import annotations

from enum import StrEnum


class Why(StrEnum):
    """What kind of refusal (the API answers 404, 409 or 422 for them, bot/api/errors.py)."""

    NOT_FOUND = "not_found"
    BAD_CHECK_DIGIT = "bad_check_digit"
    CONFLICT = "conflict"  # the case is not in a state that allows it
    INVALID = "invalid"  # a field's value (named by `field`)


class Refused(Exception):
    def __init__(self, why: Why, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.why = why
        self.code = code
        self.message = message
        self.field = field


def invalid(field: str, message: str, code: str = "invalid") -> Refused:
    return Refused(Why.INVALID, code, message, field)
