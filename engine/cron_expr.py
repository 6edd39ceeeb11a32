"""Cron expressions as pure time math: ``parse(expr)`` and ``next_fire(expr, after)``.

Theory of operation
-------------------
No clock, no I/O, no sleeping: every function takes the reference time as a parameter and
answers in timezone-aware UTC, so the cron module owns the clock and these functions are tested
from tables. :func:`parse` normalises every accepted form to seven fields,
``second minute hour day-of-month month day-of-week year``, and validates them once; the
arithmetic is delegated to ``croniter`` (seconds-first mode), which is never exposed.

Accepted forms
    * iii's 6 fields, seconds first: ``sec min hour dom mon dow`` (year = ``*``);
    * iii's 7 fields: ``sec min hour dom mon dow year`` (year 1970-2099);
    * classic 5 fields: ``min hour dom mon dow`` (second = 0);
    * aliases ``@yearly @annually @monthly @weekly @daily @midnight @hourly`` (second = 0).

Semantics (those of classic cron and of iii's documented examples): times are UTC; day of week is
0-7 (0 and 7 = Sunday) or ``SUN``-``SAT``, month 1-12 or ``JAN``-``DEC``; ``*``, ``a-b``,
``*/n``, ``a-b/n``, lists and ``?`` (= ``*`` in day fields) work in every field, plus croniter's
``L``, ``W`` and ``#`` extensions; when both day-of-month and day-of-week are restricted, a day
matching *either* fires (Vixie cron's OR rule). An expression that can never fire (``0 0 0 30 2 *``)
is refused by :func:`parse`, except when a year field is given: a 7-field expression whose years
are all past is valid and simply has no next fire (:func:`next_fire` returns None), which lets a
stored one-shot job outlive its date.

Missed-fire policy (implemented by the cron module, computed here)
    When the scheduler wakes at ``now`` and ``next_fire(expr, last_scheduled) <= now``, the slots
    in ``(last_scheduled, now]`` were missed (engine down, event loop blocked, lock held
    elsewhere). The cron module fires **once** for the whole missed window, with
    ``scheduled_time = last_fire(expr, now)`` (the latest missed slot), logs how many slots were
    skipped (``len(fires_between(expr, last_scheduled, now, limit=…))``), then waits for
    ``next_fire(expr, now)``. It never replays every missed slot: a cron trigger means "bring
    this up to date", not "a unit of work per slot"; use a queue for the latter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from croniter import CroniterBadDateError, CroniterError, croniter

from engine.errors import EngineError

__all__ = ["ALIASES", "CronError", "CronSchedule", "fires_between", "last_fire", "next_fire",
           "parse"]

#: Alias → the equivalent classic 5-field expression.
ALIASES: Final[dict[str, str]] = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS: Final = ("second", "minute", "hour", "day-of-month", "month", "day-of-week", "year")
_RANGES: Final = ("0-59", "0-59", "0-23", "1-31", "1-12 or JAN-DEC", "0-7 or SUN-SAT",
                  "1970-2099")
# croniter gives up after this many years without a match; 200 spans its whole year range.
_MAX_YEARS: Final = 200
_NEVER_PROBE: Final = datetime(2000, 1, 1, tzinfo=UTC)


class CronError(EngineError, ValueError):
    """An invalid cron expression, or a naive datetime given to the cron math."""


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A validated expression; build it with :func:`parse`.

    Attributes:
        expression: the expression as written (stripped), for messages and payloads.
        fields: the seven normalised fields ``sec min hour dom mon dow year``.
    """

    expression: str
    fields: tuple[str, str, str, str, str, str, str]

    @property
    def has_year(self) -> bool:
        """True when the year field restricts the schedule (it may then run out of fires)."""
        return self.fields[6] != "*"

    def __str__(self) -> str:
        return self.expression


def parse(expr: str) -> CronSchedule:
    """Validate a cron expression and normalise it to seven fields.

    Call it when a cron trigger is registered, so a bad expression is refused there and then.

    Args:
        expr: a 5-, 6- or 7-field expression or an ``@alias`` (see the module docstring).

    Returns:
        The schedule, to pass to :func:`next_fire` and friends.

    Raises:
        CronError: naming the expression and what is wrong with it (field count, a field out
            of range or unparsable, an unknown alias, or a schedule that can never fire).
    """
    if not isinstance(expr, str):
        raise CronError(f"cron expression must be a string, got {type(expr).__name__}")
    text = expr.strip()
    if not text:
        raise CronError("cron expression is empty: expected e.g. '0 */5 * * * *' (every 5 min)")
    if text.startswith("@"):
        classic = ALIASES.get(text.lower())
        if classic is None:
            raise CronError(f"invalid cron expression {expr!r}: unknown alias, expected one of "
                            f"{', '.join(ALIASES)}")
        parts = ["0", *classic.split()]
    else:
        parts = text.split()
        if len(parts) == 5:
            parts = ["0", *parts]
        elif len(parts) not in (6, 7):
            raise CronError(f"invalid cron expression {expr!r}: expected 6 or 7 fields "
                            "(sec min hour dom mon dow [year]) or 5 (min hour dom mon dow), "
                            f"got {len(parts)}")
    if len(parts) == 6:
        parts.append("*")
    fields = (parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6])
    _check(expr, fields)
    schedule = CronSchedule(text, fields)
    if not schedule.has_year and next_fire(schedule, _NEVER_PROBE) is None:
        raise CronError(f"invalid cron expression {expr!r}: it can never fire "
                        "(no date matches its day and month fields)")
    return schedule


def next_fire(expr: str | CronSchedule, after: datetime) -> datetime | None:
    """Return the first fire time strictly after ``after``.

    Args:
        expr: an expression (parsed on each call) or a :class:`CronSchedule`.
        after: a timezone-aware datetime; sub-second parts are honoured (every-second after
            ``12:00:00.5`` is ``12:00:01``).

    Returns:
        An aware UTC datetime, or None when the schedule has no further fire (its year field
        only names past years).

    Raises:
        CronError: the expression is invalid or ``after`` is naive.
    """
    schedule = _schedule(expr)
    it = _iterator(schedule, _utc(after, "after"))
    try:
        fire: datetime = it.get_next(datetime)
    except CroniterBadDateError:
        return None
    return fire.astimezone(UTC)


def last_fire(expr: str | CronSchedule, at_or_before: datetime) -> datetime | None:
    """Return the latest fire time at or before ``at_or_before``.

    This is the ``scheduled_time`` the cron module reports for a missed window.

    Args:
        expr: an expression or a :class:`CronSchedule`.
        at_or_before: a timezone-aware datetime.

    Returns:
        An aware UTC datetime, or None when the schedule never fired before that time.

    Raises:
        CronError: the expression is invalid or ``at_or_before`` is naive.
    """
    schedule = _schedule(expr)
    moment = _utc(at_or_before, "at_or_before")
    # Fires fall on whole seconds: "< floor(moment) + 1 s" is the same as "<= moment".
    bound = moment.replace(microsecond=0) + timedelta(seconds=1)
    try:
        fire: datetime = _iterator(schedule, bound).get_prev(datetime)
    except CroniterBadDateError:
        return None
    return fire.astimezone(UTC)


def fires_between(expr: str | CronSchedule, start: datetime, end: datetime, *,
                  limit: int = 1000) -> list[datetime]:
    """Return the fire times in ``(start, end]``, oldest first, at most ``limit`` of them.

    Use ``len()`` of the result to count (and log) the slots a missed window skipped; the
    count is capped at ``limit`` so a long outage on an every-second schedule stays cheap.

    Args:
        expr: an expression or a :class:`CronSchedule`.
        start: exclusive lower bound, timezone-aware.
        end: inclusive upper bound, timezone-aware.
        limit: the most fire times to return (>= 1).

    Returns:
        Aware UTC datetimes; empty when ``end <= start`` or nothing fires in between.

    Raises:
        CronError: the expression is invalid or a bound is naive.
        ValueError: ``limit`` is below 1.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    schedule = _schedule(expr)
    lower, upper = _utc(start, "start"), _utc(end, "end")
    it = _iterator(schedule, lower)
    fires: list[datetime] = []
    while len(fires) < limit:
        try:
            fire: datetime = it.get_next(datetime)
        except CroniterBadDateError:
            break
        if fire > upper:
            break
        fires.append(fire.astimezone(UTC))
    return fires


def _schedule(expr: str | CronSchedule) -> CronSchedule:
    return expr if isinstance(expr, CronSchedule) else parse(expr)


def _iterator(schedule: CronSchedule, start: datetime) -> croniter:
    return croniter(" ".join(schedule.fields), start, second_at_beginning=True,
                    max_years_between_matches=_MAX_YEARS)


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise CronError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CronError(f"{name} must be timezone-aware (e.g. datetime.now(UTC)), "
                        f"got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _check(expr: str, fields: tuple[str, ...]) -> None:
    """Raise CronError naming the first bad field, or croniter's complaint about the whole."""
    if _problem(fields) is None:
        return
    for index, value in enumerate(fields):
        alone = ["*"] * len(fields)
        alone[index] = value
        if _problem(tuple(alone)) is not None:
            raise CronError(f"invalid cron expression {expr!r}: {_FIELDS[index]} field "
                            f"{value!r} is not valid (allowed {_RANGES[index]}, with * , - /)")
    raise CronError(f"invalid cron expression {expr!r}: {_problem(fields)}")


def _problem(fields: tuple[str, ...]) -> str | None:
    try:
        croniter(" ".join(fields), _NEVER_PROBE, second_at_beginning=True)
    except (CroniterError, ValueError, KeyError, IndexError, TypeError) as exc:
        return str(exc) or type(exc).__name__
    return None
