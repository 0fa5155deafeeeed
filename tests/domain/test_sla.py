"""Business calendars and SLA clocks (pure domain, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from paydesk.domain import sla
from paydesk.domain.sla import (
    BusinessCalendar,
    ClockState,
    ComplaintRule,
    Metric,
    SlaPolicy,
    TicketClocks,
)

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
NINE_SIX = ((540, 1080),)
WEEKDAYS = (NINE_SIX,) * 5 + ((), ())


def cal(tz: str = "Asia/Shanghai", **kw: object) -> BusinessCalendar:
    return BusinessCalendar(tz, WEEKDAYS, **kw)  # type: ignore[arg-type]


def at(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)  # type: ignore[misc]


# 2026-11-23 is a Monday
def test_inside_hours_same_day() -> None:
    start = at(SH, 2026, 11, 23, 10, 0)
    assert sla.add_business_time(cal(), start, 2 * 3600) == at(SH, 2026, 11, 23, 12, 0)


def test_exactly_at_closing_time_is_due_at_closing() -> None:
    start = at(SH, 2026, 11, 23, 17, 0)
    assert sla.add_business_time(cal(), start, 3600) == at(SH, 2026, 11, 23, 18, 0)


def test_rolls_into_next_morning() -> None:
    start = at(SH, 2026, 11, 23, 17, 0)
    assert sla.add_business_time(cal(), start, 2 * 3600) == at(SH, 2026, 11, 24, 10, 0)


def test_before_opening_starts_at_opening() -> None:
    start = at(SH, 2026, 11, 23, 6, 30)
    assert sla.add_business_time(cal(), start, 1800) == at(SH, 2026, 11, 23, 9, 30)


def test_friday_evening_skips_the_weekend() -> None:
    start = at(SH, 2026, 11, 27, 17, 30)  # Friday
    assert sla.add_business_time(cal(), start, 3600) == at(SH, 2026, 11, 30, 9, 30)
    saturday = at(SH, 2026, 11, 28, 12, 0)
    assert sla.add_business_time(cal(), saturday, 60) == at(SH, 2026, 11, 30, 9, 1)


def test_holidays_are_skipped_and_extra_days_work() -> None:
    c = cal(holidays=frozenset({date(2026, 11, 24)}), extra_days=frozenset({date(2026, 11, 28)}))
    start = at(SH, 2026, 11, 23, 17, 0)
    assert sla.add_business_time(c, start, 2 * 3600) == at(SH, 2026, 11, 25, 10, 0)
    # Friday evening → the make-up Saturday counts (with Monday's hours)
    assert sla.add_business_time(c, at(SH, 2026, 11, 27, 18, 0), 3600) == at(
        SH, 2026, 11, 28, 10, 0
    )
    assert c.is_business_day(date(2026, 11, 28))
    assert not c.is_business_day(date(2026, 11, 24))


def test_overnight_shift() -> None:
    night = ((1320, 360),)  # 22:00 → 06:00
    c = BusinessCalendar("Asia/Shanghai", (night,) * 7)
    start = at(SH, 2026, 11, 23, 23, 0)
    assert sla.add_business_time(c, start, 6 * 3600) == at(SH, 2026, 11, 24, 5, 0)
    # starting in the morning part of yesterday's shift
    assert sla.add_business_time(c, at(SH, 2026, 11, 24, 5, 0), 2 * 3600) == at(
        SH, 2026, 11, 24, 23, 0
    )
    # daytime: waits for 22:00
    assert sla.add_business_time(c, at(SH, 2026, 11, 24, 12, 0), 60) == at(SH, 2026, 11, 24, 22, 1)
    assert (
        sla.business_seconds_between(c, at(SH, 2026, 11, 23, 0), at(SH, 2026, 11, 24, 0))
        == (6 + 2) * 3600
    )


def test_overnight_shift_overlapping_next_day_is_not_counted_twice() -> None:
    c = BusinessCalendar("UTC", (((1200, 120), (60, 300)),) * 7)  # 20:00–02:00 and 01:00–05:00
    a = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    b = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    assert sla.business_seconds_between(c, a, b) == 9 * 3600


def test_dst_spring_forward_new_york() -> None:
    # 2026-03-08: clocks jump 02:00 → 03:00 in New York; a 24/7 local calendar has 23h that day
    c = BusinessCalendar("America/New_York", (((0, 1440),),) * 7)
    a = at(NY, 2026, 3, 8, 0, 0)
    b = at(NY, 2026, 3, 9, 0, 0)
    assert sla.business_seconds_between(c, a, b) == 23 * 3600
    # 9-to-5 over the change: a 1-hour target from Friday 16:30 is due Monday 09:30 local
    office = BusinessCalendar("America/New_York", (((540, 1020),),) * 5 + ((), ()))
    due = sla.add_business_time(office, at(NY, 2026, 3, 6, 16, 30), 3600)
    assert due == at(NY, 2026, 3, 9, 9, 30)
    assert due.astimezone(NY).hour == 9


def test_dst_fall_back_night_shift_is_longer() -> None:
    # 2026-11-01: 02:00 → 01:00; the 22:00–06:00 shift of Oct 31 lasts 9 real hours
    c = BusinessCalendar("America/New_York", (((1320, 360),),) * 7)
    a = at(NY, 2026, 10, 31, 22, 0)
    assert sla.business_seconds_between(c, a, a + timedelta(hours=9)) == 9 * 3600
    assert sla.add_business_time(c, a, 9 * 3600) == datetime(2026, 11, 1, 11, 0, tzinfo=UTC)


def test_between_is_signed_and_consistent_with_add() -> None:
    c = cal()
    a = at(SH, 2026, 11, 23, 10, 0)
    for seconds in (1, 3600, 8 * 3600, 9 * 3600, 40 * 3600, 100 * 3600):
        b = sla.add_business_time(c, a, seconds)
        assert sla.business_seconds_between(c, a, b) == seconds
        assert sla.business_seconds_between(c, b, a) == -seconds


def test_add_business_days_counts_from_the_next_day() -> None:
    c = cal(holidays=frozenset({date(2026, 12, 25)}))
    received = at(SH, 2026, 11, 23, 15, 0)  # Monday
    # 15 business days: 3 full weeks → end of Monday 2026-12-14 (local midnight)
    assert sla.add_business_days(c, received, 15) == at(SH, 2026, 12, 15, 0, 0)
    # a received-on-Saturday complaint: counting starts Monday
    assert sla.add_business_days(c, at(SH, 2026, 11, 28, 9, 0), 1) == at(SH, 2026, 12, 1, 0, 0)
    # the Christmas holiday is skipped
    assert sla.add_business_days(c, at(SH, 2026, 12, 24, 9, 0), 1) == at(SH, 2026, 12, 29, 0, 0)


def test_complaint_rule() -> None:
    c = cal()
    received = at(SH, 2026, 11, 23, 15, 0)
    rule = ComplaintRule()
    base = sla.complaint_due(c, received, rule)
    ext = sla.complaint_due(c, received, rule, extended=True)
    assert base == at(SH, 2026, 12, 15, 0, 0)
    assert ext == at(SH, 2027, 1, 12, 0, 0)  # 35 business days = 7 weeks
    with pytest.raises(ValueError):
        ComplaintRule(20, 10)


def test_invalid_calendars_are_refused() -> None:
    with pytest.raises(ValueError):
        BusinessCalendar("Mars/Olympus", WEEKDAYS)
    with pytest.raises(ValueError):
        BusinessCalendar("UTC", WEEKDAYS[:5])
    with pytest.raises(ValueError):
        BusinessCalendar("UTC", ((),) * 7)
    with pytest.raises(ValueError):
        BusinessCalendar("UTC", (((600, 600),),) * 7)
    with pytest.raises(ValueError):
        sla.add_business_time(cal(), datetime(2026, 1, 1), 60)  # noqa: DTZ001


def test_calendar_with_only_holidays_fails_loudly() -> None:
    only_monday = BusinessCalendar("UTC", (NINE_SIX,) + ((),) * 6)
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=w) for w in range(200))
    c = BusinessCalendar("UTC", only_monday.hours, holidays=mondays)
    with pytest.raises(ValueError):
        sla.add_business_time(c, datetime(2026, 1, 1, tzinfo=UTC), 60)


TARGETS = {
    "urgent": {"first_response": 30, "next_response": 60, "resolution": 240},
    "normal": {"first_response": 240, "next_response": 480, "resolution": 1440},
}


def policy(**kw: object) -> SlaPolicy:
    base: dict[str, object] = {"id": 1, "name": "Standard", "targets": TARGETS}
    return SlaPolicy(**{**base, **kw})  # type: ignore[arg-type]


def test_policy_selection_by_position_then_specificity() -> None:
    general = policy(id=1)
    complaints = policy(id=2, category="complaint")
    vip_queue = policy(id=3, queue_id=7, position=-1)
    assert sla.select_policy([general, complaints], 1, "complaint", "normal") is complaints
    assert sla.select_policy([general, complaints], 1, "account", "normal") is general
    assert sla.select_policy([general, complaints, vip_queue], 7, "complaint", "low") is vip_queue
    assert sla.select_policy([complaints], 1, "account", "normal") is None
    assert general.target_minutes("low", Metric.FIRST_RESPONSE) is None


def test_clocks_zendesk_semantics_business_time() -> None:
    c = cal()
    p = policy()
    t0 = at(SH, 2026, 11, 23, 17, 0)  # Monday 17:00, normal: FR 4h, resolution 24h business
    clocks = sla.start_clocks(p, c, "normal", t0)
    assert clocks.first_response_due_at == at(SH, 2026, 11, 24, 12, 0)
    assert clocks.resolution_due_at == at(SH, 2026, 11, 26, 14, 0)  # 1h + 9h + 9h + 5h
    assert clocks.due_at == clocks.first_response_due_at
    # agent replies Tuesday 10:00 → first response met; the reply makes it pending: paused
    t1 = at(SH, 2026, 11, 24, 10, 0)
    clocks = sla.on_agent_reply(clocks, t1)
    clocks = sla.on_status(clocks, "pending", c, t1)
    assert clocks.resolution_due_at is None
    assert clocks.resolution_left_seconds == (8 + 9 + 5) * 3600
    assert clocks.due_at is None
    assert sla.clock_state(None, None, clocks.resolution_left_seconds, t1) is ClockState.PAUSED
    # customer answers Friday 11:00 → open again: resumes with 22h left, next response starts
    t2 = at(SH, 2026, 11, 27, 11, 0)
    clocks = sla.on_status(clocks, "open", c, t2)
    clocks = sla.on_customer_message(clocks, p, c, "normal", t2)
    assert clocks.resolution_due_at == sla.add_business_time(c, t2, 22 * 3600)
    assert clocks.next_response_due_at == at(SH, 2026, 11, 30, 10, 0)  # 8h: Fri 7h + Mon 1h
    assert clocks.due_at == clocks.next_response_due_at
    # a second customer message does not move the running next-response target
    again = sla.on_customer_message(clocks, p, c, "normal", t2 + timedelta(hours=1))
    assert again.next_response_due_at == clocks.next_response_due_at
    # solved: stops, met
    t3 = at(SH, 2026, 11, 30, 9, 30)
    clocks = sla.on_status(sla.on_agent_reply(clocks, t3), "solved", c, t3)
    assert clocks.next_response_due_at is None and clocks.resolution_due_at is None
    assert clocks.resolution_left_seconds is not None and clocks.resolution_left_seconds > 0
    # reopened: continues with what was left
    t4 = t3 + timedelta(days=3)
    reopened = sla.on_status(clocks, "open", c, t4)
    assert reopened.resolution_due_at == sla.add_business_time(
        c, t4, clocks.resolution_left_seconds
    )


def test_breached_while_paused_stays_breached() -> None:
    p = policy(business_hours=False)
    t0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    clocks = sla.start_clocks(p, None, "urgent", t0)
    assert clocks.resolution_due_at == t0 + timedelta(hours=4)
    late = t0 + timedelta(hours=5)
    assert sla.clock_state(clocks.resolution_due_at, None, None, late) is ClockState.BREACHED
    paused = sla.on_status(clocks, "on-hold", None, late)
    assert paused.resolution_left_seconds == -3600
    assert sla.clock_state(None, None, -3600, late) is ClockState.BREACHED
    resumed = sla.on_status(paused, "open", None, late + timedelta(days=1))
    assert resumed.resolution_due_at == late + timedelta(days=1) - timedelta(hours=1)


def test_clock_states_and_due_soon() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    due = now + timedelta(minutes=30)
    assert sla.clock_state(due, None, None, now) is ClockState.RUNNING
    assert sla.is_due_soon(due, now)
    assert not sla.is_due_soon(now + timedelta(hours=2), now)
    assert not sla.is_due_soon(now - timedelta(minutes=1), now)
    assert sla.clock_state(due, now, None, now) is ClockState.MET
    assert sla.clock_state(due, due + timedelta(seconds=1), None, now) is ClockState.BREACHED
    assert sla.clock_state(None, None, None, now) is ClockState.NONE


def test_no_policy_means_no_clocks_and_retarget() -> None:
    assert sla.start_clocks(None, None, "normal", datetime.now(UTC)) == TicketClocks()
    t0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    p = policy(business_hours=False)
    clocks = sla.start_clocks(p, None, "normal", t0)
    # raised to urgent an hour later: targets recomputed from creation
    t1 = t0 + timedelta(hours=1)
    used = sla.consumed_seconds(clocks, p, None, "normal", t1)
    assert used == 3600
    urgent = sla.retarget(clocks, p, None, "urgent", t0, "open", t1, used)
    assert urgent.first_response_due_at == t0 + timedelta(minutes=30)
    assert urgent.resolution_due_at == t0 + timedelta(hours=4)
    # paused: keeps paused with the new target's remainder
    paused = sla.on_status(clocks, "pending", None, t1)
    assert sla.consumed_seconds(paused, p, None, "normal", t1 + timedelta(days=2)) == 3600
    low = sla.retarget(paused, p, None, "urgent", t0, "pending", t1, 3600)
    assert low.resolution_due_at is None and low.resolution_left_seconds == 3 * 3600
    fresh = sla.retarget(TicketClocks(), p, None, "urgent", t0, "open", t1)
    assert fresh.resolution_due_at == t0 + timedelta(hours=4)
    gone = sla.retarget(clocks, None, None, "urgent", t0, "open", t0)
    assert gone.due_at is None and gone.policy_id is None
