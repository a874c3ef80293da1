"""Durations and the business clock.

All business code asks `now()` for the time so that the month simulation can run the real service
in accelerated time (see `ScaledClock`) and tests can step it by hand (see `ManualClock`). Edge checks
on WeChat timestamps use real time instead.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | int | float) -> float:
    """Parse '90s', '15m', '2h', '2d' (or a bare number of seconds) into seconds."""
    if isinstance(text, bool):
        raise ValueError(f"不是时长：{text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"时长不能是负数：{text!r}")
        return float(text)
    match = _DURATION_RE.match(text)
    if not match:
        raise ValueError(f"不是时长（写秒数，或带 s、m、h、d 的数，如 '2d'）：{text!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class Clock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def to_real_seconds(self, business_seconds: float) -> float:
        return business_seconds

    def to_business_seconds(self, real_seconds: float) -> float:
        return real_seconds


class ScaledClock(Clock):
    """Business time that runs `speed` times faster than real time from `start` on."""

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.start = start or datetime.now(UTC)
        self._real_start = time.monotonic()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._real_start) * self.speed
        return self.start + timedelta(seconds=elapsed)

    def to_real_seconds(self, business_seconds: float) -> float:
        return business_seconds / self.speed

    def to_business_seconds(self, real_seconds: float) -> float:
        return real_seconds * self.speed


class ManualClock(Clock):
    """Business time that stands still until `advance` moves it (tests: a deadline passes at once).

    Conversions are one to one: a wait of real time (a lease, a rate limit's slot) counts as that
    many business seconds, so a test moves past it with `advance` as it would past a deadline. What
    Redis times (key TTLs, the rate limiter's windows) keeps Redis' real clock.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("time does not go back")
        self._now += timedelta(seconds=seconds)
        return self._now


_clock: Clock = Clock()


def now() -> datetime:
    return _clock.now()


def get_clock() -> Clock:
    return _clock


def set_clock(clock: Clock) -> None:
    global _clock
    _clock = clock
