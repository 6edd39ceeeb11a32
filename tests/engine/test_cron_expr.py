"""engine/cron_expr.py: next-fire tables, invalid expressions, missed-fire helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cron_expr import CronError, CronSchedule, fires_between, last_fire, next_fire, parse
from engine.errors import EngineError


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


NEXT_FIRE_TABLE = [
    # every second / every 5 seconds (seconds-first 6 fields)
    ("* * * * * *", at(2025, 1, 1, 12, 0, 0), at(2025, 1, 1, 12, 0, 1)),
    ("* * * * * *", datetime(2025, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC), at(2025, 1, 1, 12, 0, 1)),
    ("*/5 * * * * *", at(2025, 1, 1, 12, 0, 3), at(2025, 1, 1, 12, 0, 5)),
    ("*/5 * * * * *", at(2025, 1, 1, 12, 0, 5), at(2025, 1, 1, 12, 0, 10)),  # strictly after
    ("*/5 * * * * *", at(2025, 1, 1, 12, 0, 57), at(2025, 1, 1, 12, 1, 0)),
    ("0 */5 * * * *", at(2025, 1, 1, 12, 0, 0), at(2025, 1, 1, 12, 5, 0)),
    # classic 5 fields: seconds = 0
    ("30 9 * * *", at(2025, 3, 10, 10, 0, 0), at(2025, 3, 11, 9, 30, 0)),
    ("30 9 * * *", at(2025, 3, 10, 9, 29, 59), at(2025, 3, 10, 9, 30, 0)),
    ("*/15 * * * *", at(2025, 3, 10, 9, 14, 59), at(2025, 3, 10, 9, 15, 0)),
    # last second of a minute / hour / day / year rolls over
    ("59 * * * * *", at(2025, 1, 1, 12, 0, 59), at(2025, 1, 1, 12, 1, 59)),
    ("* * * * * *", at(2025, 1, 1, 12, 59, 59), at(2025, 1, 1, 13, 0, 0)),
    ("* * * * * *", at(2025, 12, 31, 23, 59, 59), at(2026, 1, 1, 0, 0, 0)),
    ("59 59 23 31 12 *", at(2025, 12, 31, 23, 59, 59), at(2026, 12, 31, 23, 59, 59)),
    # month and year boundaries
    ("0 0 0 1 * *", at(2025, 1, 31, 12, 0, 0), at(2025, 2, 1, 0, 0, 0)),
    ("0 0 0 31 * *", at(2025, 1, 31, 0, 0, 0), at(2025, 3, 31, 0, 0, 0)),  # skips February
    ("0 0 0 29 2 *", at(2025, 3, 1, 0, 0, 0), at(2028, 2, 29, 0, 0, 0)),  # next leap day
    ("0 0 0 1 1 *", at(2025, 6, 1, 0, 0, 0), at(2026, 1, 1, 0, 0, 0)),
    ("0 0 0 L * *", at(2025, 2, 1, 0, 0, 0), at(2025, 2, 28, 0, 0, 0)),
    # day of week (2025-01-01 is a Wednesday); 0 and 7 are Sunday
    ("0 0 9 * * 1", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 6, 9, 0, 0)),
    ("0 0 0 * * 0", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 5, 0, 0, 0)),
    ("0 0 0 * * 7", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 5, 0, 0, 0)),
    ("0 0 0 * * SAT", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 4, 0, 0, 0)),
    ("0 0 9-17 * * 1-5", at(2025, 1, 3, 17, 0, 0), at(2025, 1, 6, 9, 0, 0)),  # Fri → Mon
    ("0 0 0 13 * 5", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 3, 0, 0, 0)),  # dom OR dow
    ("0 0 0 ? * MON", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 6, 0, 0, 0)),
    # 7 fields, with a year
    ("0 0 0 * * 0 *", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 5, 0, 0, 0)),
    ("0 0 0 1 1 * 2030", at(2025, 1, 1, 0, 0, 0), at(2030, 1, 1, 0, 0, 0)),
    ("0 0 0 1 1 * 2030,2099", at(2030, 1, 1, 0, 0, 0), at(2099, 1, 1, 0, 0, 0)),
    ("0 0 0 1 1 * 2020", at(2025, 1, 1, 0, 0, 0), None),  # only past years: no more fires
    ("0 30 12 * * * 2025", at(2025, 12, 31, 13, 0, 0), None),
    # aliases (second = 0)
    ("@hourly", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 1, 1, 0, 0)),
    ("@daily", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 2, 0, 0, 0)),
    ("@weekly", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 5, 0, 0, 0)),
    ("@monthly", at(2025, 1, 1, 0, 0, 0), at(2025, 2, 1, 0, 0, 0)),
    ("@yearly", at(2025, 1, 1, 0, 0, 0), at(2026, 1, 1, 0, 0, 0)),
]


@pytest.mark.parametrize(("expr", "after", "expected"), NEXT_FIRE_TABLE)
def test_next_fire(expr: str, after: datetime, expected: datetime | None) -> None:
    assert next_fire(expr, after) == expected
    assert next_fire(parse(expr), after) == expected


def test_next_fire_converts_other_zones_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    fire = next_fire("0 0 * * * *", datetime(2025, 1, 1, 5, 30, tzinfo=plus_two))
    assert fire == at(2025, 1, 1, 4, 0, 0) and fire is not None and fire.tzinfo == UTC


@pytest.mark.parametrize(("expr", "message"), [
    ("", "cron expression is empty"),
    ("   ", "cron expression is empty"),
    ("* * * *", "'* * * *': expected 6 or 7 fields"),
    ("* * * * * * * *", "expected 6 or 7 fields (sec min hour dom mon dow [year]) or 5"),
    ("60 * * * * *", "'60 * * * * *': second field '60' is not valid (allowed 0-59"),
    ("0 60 * * * *", "minute field '60' is not valid"),
    ("0 0 24 * * *", "hour field '24' is not valid (allowed 0-23"),
    ("0 0 0 0 * *", "day-of-month field '0' is not valid (allowed 1-31"),
    ("0 0 0 * 13 *", "month field '13' is not valid"),
    ("0 0 0 * * 8", "day-of-week field '8' is not valid (allowed 0-7 or SUN-SAT"),
    ("0 0 0 1 1 * 1969", "year field '1969' is not valid (allowed 1970-2099"),
    ("0 0 0 1 1 * 2100", "year field '2100' is not valid"),
    ("a b c d e f", "second field 'a' is not valid"),
    ("*/0 * * * * *", "second field '*/0' is not valid"),
    ("0 1-2-3 * * * *", "minute field '1-2-3' is not valid"),
    ("0 0 0 * * MON-FOO", "day-of-week field 'MON-FOO' is not valid"),
    ("0 0 0 30 2 *", "'0 0 0 30 2 *': it can never fire"),
    ("@reboot", "'@reboot': unknown alias, expected one of @yearly"),
])
def test_invalid_expressions(expr: str, message: str) -> None:
    with pytest.raises(CronError) as info:
        parse(expr)
    assert message in str(info.value)
    with pytest.raises(CronError):
        next_fire(expr, at(2025, 1, 1))


def test_non_string_expression_is_refused() -> None:
    with pytest.raises(CronError, match="must be a string, got int"):
        parse(5)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2025, 1, 1)
    with pytest.raises(CronError, match="after must be timezone-aware"):
        next_fire("* * * * * *", naive)
    with pytest.raises(CronError, match="at_or_before must be timezone-aware"):
        last_fire("* * * * * *", naive)
    with pytest.raises(CronError, match="end must be timezone-aware"):
        fires_between("* * * * * *", at(2025, 1, 1), naive)


def test_cron_error_is_an_engine_error_and_a_value_error() -> None:
    assert issubclass(CronError, EngineError) and issubclass(CronError, ValueError)


def test_parse_normalises_to_seven_fields() -> None:
    assert parse(" */5 * * * * ").fields == ("0", "*/5", "*", "*", "*", "*", "*")
    assert parse("1 2 3 4 5 6").fields == ("1", "2", "3", "4", "5", "6", "*")
    assert parse("@DAILY").fields == ("0", "0", "0", "*", "*", "*", "*")
    schedule = parse("0 0 0 1 1 * 2030")
    assert schedule == CronSchedule("0 0 0 1 1 * 2030", ("0", "0", "0", "1", "1", "*", "2030"))
    assert schedule.has_year and not parse("* * * * * *").has_year
    assert str(schedule) == "0 0 0 1 1 * 2030"


# ---- missed fires -----------------------------------------------------------------------------


def test_fires_between_is_exclusive_start_inclusive_end() -> None:
    fires = fires_between("*/5 * * * * *", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 1, 0, 0, 20))
    assert fires == [at(2025, 1, 1, 0, 0, s) for s in (5, 10, 15, 20)]


def test_fires_between_caps_at_limit_and_handles_empty_windows() -> None:
    start = at(2025, 1, 1)
    assert len(fires_between("* * * * * *", start, start + timedelta(days=1), limit=100)) == 100
    assert len(fires_between("* * * * * *", start, start + timedelta(hours=1))) == 1000
    assert fires_between("* * * * * *", start, start) == []
    assert fires_between("* * * * * *", start, start - timedelta(hours=1)) == []
    assert fires_between("0 0 0 1 1 * 2026", start, at(2040, 1, 1)) == [at(2026, 1, 1)]
    with pytest.raises(ValueError, match="limit must be >= 1"):
        fires_between("* * * * * *", start, start, limit=0)


def test_last_fire_is_at_or_before() -> None:
    assert last_fire("0 0 12 * * *", at(2025, 1, 1, 12, 0, 0)) == at(2025, 1, 1, 12, 0, 0)
    assert last_fire("0 0 12 * * *", at(2025, 1, 1, 11, 59, 59)) == at(2024, 12, 31, 12, 0, 0)
    late = datetime(2025, 1, 1, 12, 0, 0, 999_999, tzinfo=UTC)
    assert last_fire("0 0 12 * * *", late) == at(2025, 1, 1, 12, 0, 0)
    assert last_fire("0 0 0 1 1 * 2030", at(2029, 1, 1)) is None


def test_missed_window_fires_once_at_the_latest_slot() -> None:
    """The documented policy, computed: one catch-up fire for the latest missed slot."""
    last_scheduled, now = at(2025, 1, 1, 0, 0, 0), at(2025, 1, 1, 0, 3, 30)
    expr = parse("0 * * * * *")
    missed = fires_between(expr, last_scheduled, now)
    assert len(missed) == 3
    assert last_fire(expr, now) == missed[-1] == at(2025, 1, 1, 0, 3, 0)
    assert next_fire(expr, now) == at(2025, 1, 1, 0, 4, 0)


EXPRESSIONS = st.sampled_from([
    "* * * * * *", "*/7 * * * * *", "0 */5 * * * *", "30 9 * * 1-5", "0 0 0 29 2 *",
    "15 30 3 1,15 * *", "0 0 0 * * SUN", "@hourly", "@weekly", "0 0 12 L * *",
])
MOMENTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2080, 1, 1),
                       timezones=st.just(UTC))


@settings(max_examples=200, deadline=None)
@given(EXPRESSIONS, MOMENTS)
def test_next_fire_is_the_first_fire_after(expr: str, moment: datetime) -> None:
    fire = next_fire(expr, moment)
    assert fire is not None and fire > moment and fire.microsecond == 0
    assert last_fire(expr, fire) == fire
    assert fires_between(expr, moment, fire - timedelta(seconds=1)) == []
    assert fires_between(expr, moment, fire) == [fire]
