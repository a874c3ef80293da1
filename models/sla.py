"""Service levels for cases: deadlines for assignment, reply, reminders and return visits.

CPPCC committees promise to assign a citizen's case within 2 days and to reply within 1 week. The
allowed times come from the configuration as plain seconds (see `SlaPolicy.from_values`); how those
seconds are counted is up to a `BusinessCalendar`:

* `NaturalCalendar`: every second counts.
* `WorkdayCalendar`: only time on Chinese working days counts (official holidays are skipped,
  adjusted working weekends 调休 count), so "2d" means two whole working days.

All datetimes going in must be timezone-aware; all datetimes coming out are aware UTC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

import chinese_calendar

from models.timeutil import parse_duration

log = logging.getLogger(__name__)

LOCAL_TZ = "Asia/Shanghai"

CALENDAR_NAMES = ("natural", "workdays")


def _require_aware(dt: datetime, name: str = "datetime") -> datetime:
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError(f"{name} must be timezone-aware: {dt!r}")
    return dt.astimezone(UTC)


def _require_non_negative(seconds: float) -> float:
    if seconds < 0:
        raise ValueError(f"duration must not be negative: {seconds!r}")
    return float(seconds)


class BusinessCalendar(Protocol):
    """Decides which time counts towards a service level."""

    def add(self, start: datetime, seconds: float) -> datetime:
        """The earliest moment at which `seconds` of countable time have passed after `start`."""
        ...

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Countable seconds between `start` and `end` (negative when `end` is before `start`)."""
        ...


@dataclass(frozen=True)
class NaturalCalendar:
    """Plain time: every second counts."""

    def add(self, start: datetime, seconds: float) -> datetime:
        start = _require_aware(start, "start")
        return start + timedelta(seconds=_require_non_negative(seconds))

    def elapsed(self, start: datetime, end: datetime) -> float:
        return (_require_aware(end, "end") - _require_aware(start, "start")).total_seconds()


_warned_years: set[int] = set()


@lru_cache(maxsize=4096)
def is_chinese_workday(day: date) -> bool:
    """Whether `day` is a working day in mainland China.

    Uses the official holiday table of the `chinesecalendar` package: official holidays are not
    working days, adjusted working weekends (调休) are. For years the table does not cover, falls
    back to Monday–Friday and logs a warning once per year (update `chinesecalendar` then).
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning(
                "chinesecalendar has no holiday data for %d; counting Monday-Friday as working days",
                day.year,
            )
        return day.weekday() < 5


@dataclass(frozen=True)
class WorkdayCalendar:
    """Counts only time on Chinese working days, by local dates in `tz` (default Asia/Shanghai).

    A working day counts whole, from local 00:00 to the next local 00:00, so "2d" means two
    working days: a case received on Friday 15:00 with 2d is due on Tuesday 15:00 (when Monday and
    Tuesday are working days), and a case received on a Saturday or a holiday starts counting at
    00:00 of the next working day. Official holidays are skipped and adjusted working weekends
    (调休) count, per the `chinesecalendar` package.

    Outside the years `chinesecalendar` covers (currently 2004 to 2026), Monday to Friday are
    taken as working days instead, without holidays; this never raises.

    `add` returns the earliest moment at which the time has passed: a duration that ends exactly
    at the end of a working day yields the following local 00:00, even if that day is not a
    working day. Counting starts at the first countable moment, so `add(start, 0)` on a
    non-working day is 00:00 of the next working day (the case's clock has not started yet).
    """

    tz: str = LOCAL_TZ
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", ZoneInfo(self.tz))

    def is_workday(self, day: date) -> bool:
        return is_chinese_workday(day)

    def _day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """Local day `day` as a [start, end) interval in UTC."""
        begin = datetime.combine(day, time(), tzinfo=self._zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=self._zone).astimezone(UTC)
        return begin, end

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self._zone).date()

    def add(self, start: datetime, seconds: float) -> datetime:
        cursor = _require_aware(start, "start")
        remaining = _require_non_negative(seconds)
        day = self._local_date(cursor)
        while True:
            _, day_end = self._day_bounds(day)
            if self.is_workday(day):
                available = (day_end - cursor).total_seconds()
                if remaining < available or (remaining == available and remaining > 0):
                    return cursor + timedelta(seconds=remaining)
                remaining -= available
            cursor = day_end
            day += timedelta(days=1)

    def elapsed(self, start: datetime, end: datetime) -> float:
        start = _require_aware(start, "start")
        end = _require_aware(end, "end")
        if end < start:
            return -self.elapsed(end, start)
        total = 0.0
        day = self._local_date(start)
        last = self._local_date(end)
        while day <= last:
            if self.is_workday(day):
                day_begin, day_end = self._day_bounds(day)
                overlap = (min(end, day_end) - max(start, day_begin)).total_seconds()
                if overlap > 0:
                    total += overlap
            day += timedelta(days=1)
        return total


def calendar_for(name: str) -> BusinessCalendar:
    """The calendar named in the configuration: "natural" or "workdays"."""
    if name == "natural":
        return NaturalCalendar()
    if name == "workdays":
        return WorkdayCalendar()
    raise ValueError(f"unknown SLA calendar {name!r}; use one of {', '.join(CALENDAR_NAMES)}")


def format_deadline_zh(dt: datetime, tz: str = LOCAL_TZ) -> str:
    """Local time for messages to citizens and staff, e.g. "11月25日 15:00"."""
    local = _require_aware(dt, "dt").astimezone(ZoneInfo(tz))
    return f"{local.month}月{local.day}日 {local:%H:%M}"


@dataclass(frozen=True)
class SlaPolicy:
    """Deadlines of a case. Durations are in seconds of countable time on `calendar`.

    - assign_within: from receipt until the case must be assigned to a handler.
    - reply_within: from assignment until the citizen must have a reply.
    - urgent_factor: urgent cases get `urgent_factor` times the allowed time (e.g. 0.5: half).
    - remind_at: fraction (0..1) of the countable time to a deadline after which to remind.
    - return_visit_after: from the reply until the return visit (satisfaction question) is sent.
    - return_visit_timeout: how long the citizen has to answer the return visit.

    Return visits concern the citizen, not staff, so they use natural time whatever the calendar.
    """

    assign_within: float
    reply_within: float
    urgent_factor: float
    remind_at: float
    return_visit_after: float
    return_visit_timeout: float
    calendar: BusinessCalendar = field(default_factory=NaturalCalendar)

    def __post_init__(self) -> None:
        for name in ("assign_within", "reply_within", "return_visit_after", "return_visit_timeout"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"{name} must not be negative: {value!r}")
        if not self.urgent_factor > 0:
            raise ValueError(f"urgent_factor must be positive: {self.urgent_factor!r}")
        if not 0 <= self.remind_at <= 1:
            raise ValueError(f"remind_at must be between 0 and 1: {self.remind_at!r}")

    @classmethod
    def from_values(
        cls,
        *,
        assign_within: float | str,
        reply_within: float | str,
        urgent_factor: float,
        remind_at: float,
        return_visit_after: float | str,
        return_visit_timeout: float | str,
        calendar: str | BusinessCalendar = "natural",
    ) -> SlaPolicy:
        """Build from configuration values (seconds, or durations like "2d"; a calendar name).

        With a `SlaConfig` from bot.config: `SlaPolicy.from_values(**dataclasses.asdict(cfg))`.
        """
        return cls(
            assign_within=parse_duration(assign_within),
            reply_within=parse_duration(reply_within),
            urgent_factor=float(urgent_factor),
            remind_at=float(remind_at),
            return_visit_after=parse_duration(return_visit_after),
            return_visit_timeout=parse_duration(return_visit_timeout),
            calendar=calendar_for(calendar) if isinstance(calendar, str) else calendar,
        )

    def _allowed(self, seconds: float, urgent: bool) -> float:
        return seconds * self.urgent_factor if urgent else seconds

    def assign_deadline(self, received_at: datetime, urgent: bool = False) -> datetime:
        """When a case received at `received_at` must have been assigned."""
        return self.calendar.add(received_at, self._allowed(self.assign_within, urgent))

    def reply_deadline(self, assigned_at: datetime, urgent: bool = False) -> datetime:
        """When a case assigned at `assigned_at` must have been replied to."""
        return self.calendar.add(assigned_at, self._allowed(self.reply_within, urgent))

    def reminder_at(self, start: datetime, deadline: datetime) -> datetime:
        """When `remind_at` of the countable time from `start` to `deadline` has passed.

        A deadline at or before `start` gives `start` (remind at once).
        """
        countable = self.calendar.elapsed(start, deadline)
        return self.calendar.add(start, max(0.0, countable * self.remind_at))

    def return_visit_due(self, replied_at: datetime) -> datetime:
        """When to send the return visit: `return_visit_after` in natural time after the reply."""
        return _require_aware(replied_at, "replied_at") + timedelta(seconds=self.return_visit_after)

    def return_visit_deadline(self, sent_at: datetime) -> datetime:
        """Until when the citizen may answer: `return_visit_timeout` in natural time after sending."""
        return _require_aware(sent_at, "sent_at") + timedelta(seconds=self.return_visit_timeout)

    @staticmethod
    def format_deadline_zh(dt: datetime) -> str:
        """Same as the module-level `format_deadline_zh` (Asia/Shanghai)."""
        return format_deadline_zh(dt)
