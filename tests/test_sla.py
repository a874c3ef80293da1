"""Service-level deadlines. Expected values are worked out by hand from the calendar in comments."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import SlaConfig
from models.sla import (
    NaturalCalendar,
    SlaPolicy,
    WorkdayCalendar,
    calendar_for,
    format_deadline_zh,
    is_chinese_workday,
)

SH = ZoneInfo("Asia/Shanghai")
H = 3600.0
D = 86400.0


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An Asia/Shanghai wall-clock time as aware UTC (Shanghai is UTC+8 all year)."""
    return datetime(year, month, day, hour, minute, tzinfo=SH).astimezone(UTC)


def policy(calendar: str = "natural") -> SlaPolicy:
    return SlaPolicy.from_values(
        assign_within="2d",
        reply_within="7d",
        urgent_factor=0.5,
        remind_at=0.75,
        return_visit_after="1d",
        return_visit_timeout="3d",
        calendar=calendar,
    )


# --- premises taken from the official calendar, checked so that the hand computations hold ---


def test_premises_national_day_2025() -> None:
    assert date(2025, 9, 27).weekday() == 5  # Saturday, a normal weekend day
    assert not chinese_calendar.is_workday(date(2025, 9, 27))
    assert date(2025, 9, 28).weekday() == 6  # Sunday, adjusted working day
    assert chinese_calendar.is_workday(date(2025, 9, 28))
    for day in range(1, 9):
        assert chinese_calendar.is_holiday(date(2025, 10, day))
    assert chinese_calendar.is_workday(date(2025, 10, 9))  # Thursday
    assert chinese_calendar.is_workday(date(2025, 10, 10))  # Friday
    assert date(2025, 10, 11).weekday() == 5  # Saturday, adjusted working day
    assert chinese_calendar.is_workday(date(2025, 10, 11))
    assert not chinese_calendar.is_workday(date(2025, 10, 12))  # Sunday


def test_premises_late_november_2025() -> None:
    # 2025-11-21 is a Friday; no holidays in late November.
    assert date(2025, 11, 21).weekday() == 4
    for day in (21, 24, 25, 26):
        assert chinese_calendar.is_workday(date(2025, 11, day))
    for day in (22, 23):
        assert not chinese_calendar.is_workday(date(2025, 11, day))


# --- natural time ---


def test_natural_deadlines() -> None:
    p = policy()
    received = sh(2025, 11, 20, 15)
    assert p.assign_deadline(received, urgent=False) == sh(2025, 11, 22, 15)
    assert p.reply_deadline(received, urgent=False) == sh(2025, 11, 27, 15)
    result = p.assign_deadline(received, urgent=False)
    assert result.tzinfo is UTC
    assert result == datetime(2025, 11, 22, 7, tzinfo=UTC)


def test_natural_urgent_factor() -> None:
    p = policy()
    received = sh(2025, 11, 20, 15)
    assert p.assign_deadline(received, urgent=True) == sh(2025, 11, 21, 15)  # 2d * 0.5
    assert p.reply_deadline(received, urgent=True) == sh(2025, 11, 24, 3)  # 7d * 0.5 = 3.5d


def test_natural_reminder_fraction() -> None:
    p = policy()
    start = datetime(2025, 11, 20, tzinfo=UTC)
    deadline = datetime(2025, 11, 22, tzinfo=UTC)
    # 0.75 of 48 h = 36 h
    assert p.reminder_at(start, deadline) == datetime(2025, 11, 21, 12, tzinfo=UTC)
    # a deadline already passed: remind at once
    assert p.reminder_at(deadline, start) == deadline


def test_natural_across_weekend_counts_weekend() -> None:
    p = policy()
    assert p.assign_deadline(sh(2025, 11, 21, 15)) == sh(2025, 11, 23, 15)


def test_non_utc_input_gives_utc_output() -> None:
    p = policy()
    received = datetime(2025, 11, 20, 15, tzinfo=SH)
    result = p.assign_deadline(received)
    assert result.utcoffset() == timedelta(0)
    assert result == datetime(2025, 11, 22, 7, tzinfo=UTC)


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        policy().assign_deadline(datetime(2025, 11, 20, 15))
    with pytest.raises(ValueError, match="timezone-aware"):
        policy("workdays").assign_deadline(datetime(2025, 11, 20, 15))


# --- working days ---


def test_workdays_friday_to_tuesday() -> None:
    p = policy("workdays")
    # Fri 15:00 -> 9 h on Friday, Sat/Sun skipped, 24 h Monday, 15 h Tuesday = 48 h
    assert p.assign_deadline(sh(2025, 11, 21, 15)) == sh(2025, 11, 25, 15)
    # urgent: 24 h = 9 h Friday + 15 h Monday
    assert p.assign_deadline(sh(2025, 11, 21, 15), urgent=True) == sh(2025, 11, 24, 15)


def test_workdays_reminder_counts_only_working_time() -> None:
    p = policy("workdays")
    start, deadline = sh(2025, 11, 21, 15), sh(2025, 11, 25, 15)
    # 0.75 of 48 h = 36 h: 9 h Friday + 24 h Monday + 3 h Tuesday
    assert p.reminder_at(start, deadline) == sh(2025, 11, 25, 3)


def test_workdays_received_on_saturday_starts_monday() -> None:
    cal = WorkdayCalendar()
    # Sat 11:00: counting starts Mon 00:00; 48 h ends with Tuesday, i.e. Wed 00:00
    assert cal.add(sh(2025, 11, 22, 11), 2 * D) == sh(2025, 11, 26)
    assert cal.add(sh(2025, 11, 22, 11), 1.5 * D) == sh(2025, 11, 25, 12)
    assert cal.add(sh(2025, 11, 22, 11), 5 * 60) == sh(2025, 11, 24, 0, 5)
    assert cal.elapsed(sh(2025, 11, 22, 11), sh(2025, 11, 24, 10)) == 10 * H


def test_workdays_across_national_day_assign() -> None:
    p = policy("workdays")
    # Tue 09-30 10:00: 14 h Tuesday, 10-01..10-08 holidays, 24 h Thu 10-09, 10 h Fri 10-10 = 48 h
    assert p.assign_deadline(sh(2025, 9, 30, 10)) == sh(2025, 10, 10, 10)


def test_workdays_across_national_day_reply_counts_adjusted_weekends() -> None:
    p = policy("workdays")
    # Fri 09-26 09:00, 168 h:
    #   Fri 26: 15 h (15), Sat 27: holiday, Sun 28: adjusted working day 24 h (39),
    #   Mon 29: 63, Tue 30: 87, 10-01..10-08 holidays, Thu 09: 111, Fri 10: 135,
    #   Sat 11: adjusted working day 159, Sun 12: weekend, Mon 13: 9 h -> 09:00.
    assert p.reply_deadline(sh(2025, 9, 26, 9)) == sh(2025, 10, 13, 9)
    assert WorkdayCalendar().elapsed(sh(2025, 9, 26, 9), sh(2025, 10, 13, 9)) == 7 * D


def test_workdays_received_on_holiday() -> None:
    cal = WorkdayCalendar()
    received = sh(2025, 10, 3, 14)  # during the National Day holiday
    # counting starts Thu 10-09 00:00: 24 h Thursday + 12 h Friday
    assert cal.add(received, 36 * H) == sh(2025, 10, 10, 12)
    assert cal.elapsed(received, sh(2025, 10, 9, 6)) == 6 * H
    assert cal.elapsed(received, sh(2025, 10, 8, 23, 59)) == 0.0
    p = policy("workdays")
    # urgent assign (24 h): the whole of Thursday, due at Fri 10-10 00:00
    assert p.assign_deadline(received, urgent=True) == sh(2025, 10, 10)


def test_workdays_elapsed_is_signed() -> None:
    cal = WorkdayCalendar()
    a, b = sh(2025, 11, 21, 15), sh(2025, 11, 25, 15)
    assert cal.elapsed(a, b) == 48 * H
    assert cal.elapsed(b, a) == -48 * H
    assert cal.elapsed(a, a) == 0.0


def test_workdays_zero_duration() -> None:
    cal = WorkdayCalendar()
    assert cal.add(sh(2025, 11, 21, 11), 0) == sh(2025, 11, 21, 11)  # Friday: counting already
    assert cal.add(sh(2025, 11, 22, 11), 0) == sh(2025, 11, 24)  # Saturday: clock starts Monday


def test_negative_duration_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        WorkdayCalendar().add(sh(2025, 11, 21), -1)
    with pytest.raises(ValueError, match="negative"):
        NaturalCalendar().add(sh(2025, 11, 21), -1)


# --- outside the range chinese_calendar covers ---


@pytest.mark.parametrize("year", [2100, 1999])
def test_unsupported_years_are_really_unsupported(year: int) -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(year, 3, 1))


def test_fallback_weekdays_after_supported_range() -> None:
    # 2100-01-01 is a Friday. No holiday data: Mon-Fri count, New Year's Day included.
    assert date(2100, 1, 1).weekday() == 4
    assert is_chinese_workday(date(2100, 1, 1))
    assert not is_chinese_workday(date(2100, 1, 2))
    p = policy("workdays")
    # Fri 15:00 + 48 h: 9 h Friday, weekend skipped, 24 h Monday 01-04, 15 h Tuesday 01-05
    assert p.assign_deadline(sh(2100, 1, 1, 15)) == sh(2100, 1, 5, 15)
    # received on Saturday: starts Monday 00:00
    assert p.assign_deadline(sh(2100, 1, 2, 9), urgent=True) == sh(2100, 1, 5)


def test_fallback_weekdays_before_supported_range() -> None:
    # 1999-10-01 is a Friday (a holiday in reality, unknown to the table: counted as a weekday).
    assert date(1999, 10, 1).weekday() == 4
    cal = WorkdayCalendar()
    assert cal.add(sh(1999, 10, 1, 12), D) == sh(1999, 10, 4, 12)
    assert cal.elapsed(sh(1999, 10, 1, 12), sh(1999, 10, 4, 12)) == D


def test_crossing_into_supported_range() -> None:
    # 2003-12-31 (Wed, no data: weekday) -> 2004-01-01 (New Year's Day holiday) -> Fri 01-02
    assert date(2003, 12, 31).weekday() == 2
    assert chinese_calendar.is_holiday(date(2004, 1, 1))
    assert chinese_calendar.is_workday(date(2004, 1, 2))
    cal = WorkdayCalendar()
    # 12 h on Wed 12-31, Thu 01-01 skipped, 12 h on Fri 01-02
    assert cal.add(sh(2003, 12, 31, 12), D) == sh(2004, 1, 2, 12)


# --- add and elapsed agree ---

_starts = st.datetimes(min_value=datetime(2003, 6, 1), max_value=datetime(2027, 6, 1), timezones=st.just(UTC))
_seconds = st.floats(min_value=0, max_value=40 * D, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(start=_starts, seconds=_seconds)
def test_workdays_elapsed_inverts_add(start: datetime, seconds: float) -> None:
    cal = WorkdayCalendar()
    end = cal.add(start, seconds)
    assert end >= start
    assert cal.elapsed(start, end) == pytest.approx(seconds, abs=1e-5)
    again = cal.add(start, cal.elapsed(start, end))
    assert abs((again - end).total_seconds()) < 1e-5


@settings(max_examples=200, deadline=None)
@given(start=_starts, a=_seconds, b=_seconds)
def test_workdays_elapsed_is_additive(start: datetime, a: float, b: float) -> None:
    cal = WorkdayCalendar()
    middle = start + timedelta(seconds=a)
    end = middle + timedelta(seconds=b)
    assert cal.elapsed(start, end) == pytest.approx(cal.elapsed(start, middle) + cal.elapsed(middle, end), abs=1e-5)
    assert 0 <= cal.elapsed(start, end) <= (end - start).total_seconds() + 1e-6


@settings(max_examples=100, deadline=None)
@given(start=_starts, seconds=_seconds)
def test_natural_elapsed_inverts_add(start: datetime, seconds: float) -> None:
    cal = NaturalCalendar()
    end = cal.add(start, seconds)
    assert cal.elapsed(start, end) == pytest.approx(seconds, abs=1e-5)


# --- return visits, formatting, construction ---


def test_return_visits_use_natural_time() -> None:
    p = policy("workdays")
    replied = sh(2025, 11, 21, 15)  # Friday
    assert p.return_visit_due(replied) == sh(2025, 11, 22, 15)  # Saturday, 24 h later
    assert p.return_visit_deadline(sh(2025, 11, 22, 15)) == sh(2025, 11, 25, 15)


def test_format_deadline_zh() -> None:
    assert format_deadline_zh(datetime(2025, 11, 25, 7, tzinfo=UTC)) == "11月25日 15:00"
    assert format_deadline_zh(datetime(2025, 10, 9, 16, 30, tzinfo=UTC)) == "10月10日 00:30"
    assert format_deadline_zh(datetime(2025, 3, 4, 23, 5, tzinfo=UTC)) == "3月5日 07:05"
    assert SlaPolicy.format_deadline_zh(datetime(2025, 11, 25, 7, tzinfo=UTC)) == "11月25日 15:00"


def test_calendar_for() -> None:
    assert isinstance(calendar_for("natural"), NaturalCalendar)
    assert isinstance(calendar_for("workdays"), WorkdayCalendar)
    with pytest.raises(ValueError, match="unknown SLA calendar"):
        calendar_for("lunar")


def test_from_values_with_config_defaults() -> None:
    p = SlaPolicy.from_values(**dataclasses.asdict(SlaConfig()))
    assert p.assign_within == 2 * D
    assert p.reply_within == 7 * D
    assert isinstance(p.calendar, NaturalCalendar)
    config = dataclasses.replace(SlaConfig(), calendar="workdays")
    assert isinstance(SlaPolicy.from_values(**dataclasses.asdict(config)).calendar, WorkdayCalendar)


def test_from_values_parses_durations() -> None:
    p = policy()
    assert (p.assign_within, p.reply_within) == (2 * D, 7 * D)
    assert (p.return_visit_after, p.return_visit_timeout) == (D, 3 * D)
    assert p.urgent_factor == 0.5
    assert p.remind_at == 0.75


@pytest.mark.parametrize(
    ("field", "value"),
    [("urgent_factor", 0.0), ("remind_at", 1.5), ("remind_at", -0.1), ("assign_within", -1.0)],
)
def test_invalid_policy_values(field: str, value: float) -> None:
    values = dataclasses.asdict(SlaConfig()) | {field: value, "calendar": NaturalCalendar()}
    with pytest.raises(ValueError, match=field):
        SlaPolicy(**values)
