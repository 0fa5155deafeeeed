"""SLA clocks on business calendars. Pure: no I/O, no clock reads; every instant is an aware
datetime (UTC in, UTC out) and every duration is in seconds.

A `BusinessCalendar` is a time zone, working hours per weekday (minutes after local midnight;
an interval whose end is not after its start runs overnight into the next day), holidays and
extra working days (weekend make-up days). A shift belongs to the day it starts on: a holiday
removes the shifts that start on it, an overnight shift of the day before still runs.

An `SlaPolicy` has targets in minutes per priority and metric (first response, next response,
resolution), counted in business time (its calendar) or in calendar time (24/7).

`TicketClocks` holds a ticket's clocks; the functions below move them (Zendesk semantics):
first response is met by the first public agent reply and never pauses; next response starts
when the customer writes after an agent's reply and is met by the next public agent reply;
resolution pauses while the ticket is pending / on-hold (and stops when solved or closed) and
resumes with the time it had left when the ticket is open again (a reopen continues the clock).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from paydesk.domain.events import Event

Interval = tuple[int, int]  # minutes after local midnight; end <= start means overnight
DAY_MINUTES = 1440
MAX_SEARCH_DAYS = 3 * 366  # a calendar with no working time for 3 years is an error
DUE_SOON_SECONDS = 3600  # "due soon" / "at risk": a running clock due within the hour


class Metric(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class ClockState(StrEnum):
    NONE = "none"  # no target applies
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"


PAUSED_STATUSES = frozenset({"pending", "on-hold"})
STOPPED_STATUSES = frozenset({"solved", "closed"})
ESCALATION_LEVELS = (0, 1, 2, 3)  # none, supervisor, complaints manager, management/regulator


# --- calendars ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    timezone: str = "UTC"
    hours: tuple[tuple[Interval, ...], ...] = ((),) * 7  # Monday first
    holidays: frozenset[date] = frozenset()
    extra_days: frozenset[date] = frozenset()
    extra_day_hours: tuple[Interval, ...] = ()  # hours of an extra working day; () = Monday's
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        if len(self.hours) != 7:
            raise ValueError("weekly hours need 7 days, Monday first")
        for day in (*self.hours, self.extra_day_hours):
            for start, end in day:
                if not (0 <= start < DAY_MINUTES and 0 < end <= DAY_MINUTES) or start == end:
                    raise ValueError(f"invalid working interval {start}-{end}")
        if not any(self.hours) and not self.extra_days:
            raise ValueError("a business calendar needs some working hours")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_business_day(self, day: date) -> bool:
        return bool(self._spec(day))

    def _spec(self, day: date) -> tuple[Interval, ...]:
        if day in self.holidays:
            return ()
        if day in self.extra_days:
            return self.extra_day_hours or self.hours[0]
        return self.hours[day.weekday()]


def always_open() -> BusinessCalendar:
    """24/7 in UTC: business time equals calendar time."""
    return BusinessCalendar("UTC", (((0, DAY_MINUTES),),) * 7)


def _local(zone: ZoneInfo, day: date, minutes: int) -> datetime:
    if minutes >= DAY_MINUTES:
        day, minutes = day + timedelta(days=1), minutes - DAY_MINUTES
    local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=zone)
    return local.astimezone(UTC)


def day_intervals(cal: BusinessCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """The UTC intervals of the shifts that start on local `day` (sorted). Memoised on the
    calendar: intake computes due dates for every new ticket and the days ahead repeat."""
    known = cal._days.get(day)
    if known is not None:
        return known
    zone = cal.zone
    out = []
    for start, end in sorted(cal._spec(day)):
        s = _local(zone, day, start)
        e = _local(zone, day, end if end > start else end + DAY_MINUTES)
        if e > s:  # a shift inside a DST gap can collapse; skip it
            out.append((s, e))
    if len(cal._days) > 4096:
        cal._days.clear()
    cal._days[day] = found = tuple(out)
    return found


def _intervals_from(cal: BusinessCalendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """UTC working intervals that end after `start`, in order, never overlapping (an overnight
    shift that runs into the next day's hours is clipped)."""
    _aware(start)
    day = start.astimezone(cal.zone).date() - timedelta(days=1)  # an overnight shift of yesterday
    cursor = start
    for _ in range(MAX_SEARCH_DAYS):
        for s, e in day_intervals(cal, day):
            if e > cursor:
                yield max(s, cursor), e
                cursor = e
        day += timedelta(days=1)


def add_business_time(cal: BusinessCalendar, start: datetime, seconds: float) -> datetime:
    """The instant `seconds` of working time after `start` (start itself if seconds <= 0).

    A target that ends exactly at closing time is due at closing time, not next morning."""
    _aware(start)
    if seconds <= 0:
        return start
    left = float(seconds)
    for s, e in _intervals_from(cal, start):
        span = (e - s).total_seconds()
        if left <= span:
            return s + timedelta(seconds=left)
        left -= span
    raise ValueError("the calendar has no working time in the next three years")


def business_seconds_between(cal: BusinessCalendar, a: datetime, b: datetime) -> int:
    """Working seconds from `a` to `b`; negative when b is before a."""
    _aware(a)
    _aware(b)
    if b < a:
        return -business_seconds_between(cal, b, a)
    total = 0.0
    for s, e in _intervals_from(cal, a):
        if s >= b:
            break
        total += (min(e, b) - s).total_seconds()
    return round(total)


def add_business_days(cal: BusinessCalendar, start: datetime, days: int) -> datetime:
    """The end (next local midnight) of the `days`-th business day after the local day of
    `start`; the day of receipt itself does not count. Regulatory deadlines are days, so the
    whole day counts, not only its working hours."""
    _aware(start)
    if days < 0:
        raise ValueError("days must not be negative")
    day = start.astimezone(cal.zone).date()
    counted = 0
    for _ in range(MAX_SEARCH_DAYS):
        if counted == days:
            return _local(cal.zone, day, DAY_MINUTES)
        day += timedelta(days=1)
        if cal.is_business_day(day):
            counted += 1
    raise ValueError("the calendar has no business days in the next three years")


def _aware(value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError("naive datetime")


# --- policies -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    id: int
    name: str
    targets: Mapping[str, Mapping[str, int]]  # priority → metric → minutes
    business_hours: bool = True
    calendar_id: int | None = None
    queue_id: int | None = None  # conditions: None matches anything
    category: str | None = None
    priority: str | None = None
    position: int = 0

    def target_minutes(self, priority: str, metric: Metric) -> int | None:
        minutes = self.targets.get(priority, {}).get(metric.value)
        return minutes if minutes and minutes > 0 else None

    def matches(self, queue_id: int | None, category: str, priority: str) -> bool:
        return (
            (self.queue_id is None or self.queue_id == queue_id)
            and (self.category is None or self.category == category)
            and (self.priority is None or self.priority == priority)
        )

    @property
    def specificity(self) -> int:
        return sum(x is not None for x in (self.queue_id, self.category, self.priority))


def select_policy(
    policies: Sequence[SlaPolicy], queue_id: int | None, category: str, priority: str
) -> SlaPolicy | None:
    """The first matching policy by position; at equal position the more specific wins."""
    for p in sorted(policies, key=lambda p: (p.position, -p.specificity, p.id)):
        if p.matches(queue_id, category, priority):
            return p
    return None


def due_at(start: datetime, minutes: int, calendar: BusinessCalendar | None) -> datetime:
    """`minutes` after `start` in business time (calendar) or calendar time (None)."""
    if calendar is None:
        return start + timedelta(minutes=minutes)
    return add_business_time(calendar, start, minutes * 60)


def _remaining(cal: BusinessCalendar | None, now: datetime, due: datetime) -> int:
    if cal is None:
        return round((due - now).total_seconds())
    return business_seconds_between(cal, now, due)


def _resume(cal: BusinessCalendar | None, now: datetime, left: int) -> datetime:
    if left < 0 or cal is None:  # already breached: keep it in the past by the same amount
        return now + timedelta(seconds=left)
    return add_business_time(cal, now, left)


# --- a ticket's clocks --------------------------------------------------------------------


@dataclass(slots=True)
class TicketClocks:
    """The SLA columns of a ticket. `resolution_due_at` is None while the clock is paused or
    stopped; `resolution_left_seconds` is then what it had left (negative: breached)."""

    policy_id: int | None = None
    first_response_due_at: datetime | None = None
    first_response_at: datetime | None = None
    next_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    resolution_left_seconds: int | None = None
    due_at: datetime | None = field(default=None)  # the nearest running target

    def refresh_due(self) -> TicketClocks:
        running = [
            d
            for d in (
                None if self.first_response_at else self.first_response_due_at,
                self.next_response_due_at,
                self.resolution_due_at,
            )
            if d is not None
        ]
        self.due_at = min(running) if running else None
        return self


def start_clocks(
    policy: SlaPolicy | None,
    calendar: BusinessCalendar | None,
    priority: str,
    now: datetime,
    status: str = "new",
) -> TicketClocks:
    """The clocks of a ticket opened at `now` (calendar: the policy's, None for 24/7)."""
    if policy is None:
        return TicketClocks()
    cal = calendar if policy.business_hours else None
    fr = policy.target_minutes(priority, Metric.FIRST_RESPONSE)
    res = policy.target_minutes(priority, Metric.RESOLUTION)
    clocks = TicketClocks(
        policy_id=policy.id,
        first_response_due_at=due_at(now, fr, cal) if fr else None,
        resolution_due_at=due_at(now, res, cal) if res else None,
    )
    return on_status(clocks, status, cal, now).refresh_due()


def on_agent_reply(clocks: TicketClocks, now: datetime) -> TicketClocks:
    """A public agent reply: meets first response (if not met yet) and next response."""
    c = replace(clocks)
    if c.first_response_at is None:
        c.first_response_at = now
    c.next_response_due_at = None
    return c.refresh_due()


def on_customer_message(
    clocks: TicketClocks,
    policy: SlaPolicy | None,
    calendar: BusinessCalendar | None,
    priority: str,
    now: datetime,
) -> TicketClocks:
    """The customer wrote: after an agent's reply the next-response clock starts (unless one
    is running already: the oldest unanswered message counts)."""
    c = replace(clocks)
    if policy is not None and c.first_response_at is not None and c.next_response_due_at is None:
        minutes = policy.target_minutes(priority, Metric.NEXT_RESPONSE)
        if minutes:
            cal = calendar if policy.business_hours else None
            c.next_response_due_at = due_at(now, minutes, cal)
    return c.refresh_due()


def on_status(
    clocks: TicketClocks, status: str, calendar: BusinessCalendar | None, now: datetime
) -> TicketClocks:
    """Pause (pending, on-hold) or stop (solved, closed) the resolution clock, or resume it
    (new, open). `calendar` is the one the clock counts in (None: calendar time)."""
    c = replace(clocks)
    paused = status in PAUSED_STATUSES or status in STOPPED_STATUSES
    if paused and c.resolution_due_at is not None:
        c.resolution_left_seconds = _remaining(calendar, now, c.resolution_due_at)
        c.resolution_due_at = None
    elif not paused and c.resolution_due_at is None and c.resolution_left_seconds is not None:
        c.resolution_due_at = _resume(calendar, now, c.resolution_left_seconds)
        c.resolution_left_seconds = None
    if status in STOPPED_STATUSES:
        c.next_response_due_at = None
    return c.refresh_due()


def retarget(
    clocks: TicketClocks,
    policy: SlaPolicy | None,
    calendar: BusinessCalendar | None,
    priority: str,
    created_at: datetime,
    status: str,
    now: datetime,
    consumed_seconds: int | None = None,
) -> TicketClocks:
    """Targets after a priority/queue/category change. An unmet first response is due the new
    target after creation. Resolution keeps the time it has used (`consumed_seconds`, counted
    by the caller with the old policy; None: measure from creation) against the new target,
    and stays paused or running as the status says."""
    if policy is None:
        return TicketClocks(first_response_at=clocks.first_response_at)
    fresh = start_clocks(policy, calendar, priority, created_at, "new")
    c = replace(clocks, policy_id=policy.id)
    if c.first_response_at is None:
        c.first_response_due_at = fresh.first_response_due_at
    target = policy.target_minutes(priority, Metric.RESOLUTION)
    cal = calendar if policy.business_hours else None
    if target is None:
        c.resolution_due_at = c.resolution_left_seconds = None
    elif consumed_seconds is None:
        c.resolution_due_at, c.resolution_left_seconds = fresh.resolution_due_at, None
    else:  # as if paused with what is left of the new target; on_status resumes it if open
        c.resolution_due_at, c.resolution_left_seconds = None, target * 60 - consumed_seconds
    if status not in STOPPED_STATUSES or consumed_seconds is None:
        c = on_status(c, status, cal, now)
    return c.refresh_due()


def consumed_seconds(
    clocks: TicketClocks,
    policy: SlaPolicy | None,
    calendar: BusinessCalendar | None,
    priority: str,
    now: datetime,
) -> int | None:
    """Resolution time used so far under `policy`/`priority` (None: no such clock)."""
    target = policy.target_minutes(priority, Metric.RESOLUTION) if policy else None
    if target is None or policy is None:
        return None
    if clocks.resolution_left_seconds is not None and clocks.resolution_due_at is None:
        return target * 60 - clocks.resolution_left_seconds
    if clocks.resolution_due_at is None:
        return None
    cal = calendar if policy.business_hours else None
    return target * 60 - _remaining(cal, now, clocks.resolution_due_at)


def clock_state(
    due: datetime | None,
    met_at: datetime | None,
    left_seconds: int | None,
    now: datetime,
) -> ClockState:
    if met_at is not None:
        return ClockState.MET if due is None or met_at <= due else ClockState.BREACHED
    if due is None:
        if left_seconds is None:
            return ClockState.NONE
        return ClockState.PAUSED if left_seconds >= 0 else ClockState.BREACHED
    return ClockState.RUNNING if now <= due else ClockState.BREACHED


def is_due_soon(due: datetime | None, now: datetime, soon: int = DUE_SOON_SECONDS) -> bool:
    return due is not None and now <= due <= now + timedelta(seconds=soon)


# --- complaints ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComplaintRule:
    """The regulatory clock of a jurisdiction: business days to a final answer, and the
    longer bound after a holding reply."""

    final_answer_days: int = 15
    extended_days: int = 35

    def __post_init__(self) -> None:
        if not 1 <= self.final_answer_days <= self.extended_days <= 365:
            raise ValueError("need 1 <= final answer days <= extended days <= 365")


def complaint_due(
    cal: BusinessCalendar, received_at: datetime, rule: ComplaintRule, *, extended: bool = False
) -> datetime:
    days = rule.extended_days if extended else rule.final_answer_days
    return add_business_days(cal, received_at, days)


@dataclass(frozen=True, slots=True)
class SlaBreached(Event):
    """A ticket's nearest running target passed (published so consoles refresh at that moment)."""

    ticket_id: int
    due_at: str  # ISO 8601, UTC
