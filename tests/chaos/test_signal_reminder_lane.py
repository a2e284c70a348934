"""A big announcement on Signal's pace does not delay a reminder.

Signal is slow on purpose (SIGNAL_RATE messages a second for everything the account sends), so
an announcement to 10,000 people takes hours at 1 a second. A reminder queued while it goes out
must not wait behind it: conversation-bound notices go before bulk ones. The reminder must be
sent within 5 seconds of being queued.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from db.models import OutboxMessage
from tests.chaos.harness import (
    add_event,
    add_going,
    add_people,
    now_utc,
    scaled,
    signal_uuid,
    until,
)

pytestmark = pytest.mark.chaos

PEOPLE = scaled(1000, 10_000)
RATE = scaled(20.0, 1.0)  # SIGNAL_RATE; full runs at the setting's default
GOING = scaled(3, 2)
STARTED = scaled(40, 5)  # announcements sent before the reminder is queued
LIMIT = 5.0  # seconds from queued to sent
LEAD = timedelta(minutes=1)
DUE_IN = 2.0  # the reminder falls due this long after its event is added
MARKER = "Gelterswoog"
EVENT_TITLE = "Chaos-Café im Stadtteilbüro"


async def test_a_reminder_is_not_queued_behind_a_big_signal_announcement(
    signal_cli, bots, rng, seed, figures
) -> None:
    bot = bots(
        signal=signal_cli,
        settings={"signal_rate": RATE, "reminder_leads": "1m", "scheduler_tick_seconds": 1},
    )
    await bot.prepare()
    people = [signal_uuid(n + 1) for n in range(PEOPLE)]
    ids = await bot.db(lambda s: add_people(s, transport="signal", keys=people, locale="de"))
    await bot.cli(
        "broadcast", "--audience", "all",
        "--text", "Am Samstag putzen wir gemeinsam den Gelterswoog. Handschuhe gibt es vor Ort.",
    )  # fmt: skip
    # Every row, whatever its status: a running bot may have claimed some already.
    queued = sum(n for k, n in (await bot.outbox()).items() if k.startswith("broadcast/"))
    assert queued == PEOPLE, f"the announcement was queued for {queued}, not {PEOPLE}"
    await bot.start()

    sent = await until(
        lambda: len(signal_cli.deliveries) >= STARTED, timeout=STARTED / RATE * 3 + 20
    )
    assert sent is not None, f"the announcement did not start going out\n{bot.tails()}"
    going = rng.sample(people, GOING)
    starts_at = now_utc() + LEAD + timedelta(seconds=DUE_IN)

    def seed_event(session) -> int:
        event_id = add_event(session, title=EVENT_TITLE, starts_at=starts_at, with_map_pin=False)
        add_going(session, event_id=event_id, user_ids=[ids[p] for p in going])
        return event_id

    event_id = await bot.db(seed_event)
    due = (starts_at - LEAD).timestamp()
    await until(
        lambda: all(signal_cli.texts_to(p, EVENT_TITLE) for p in going), timeout=DUE_IN + 30
    )
    announced_meanwhile = len(signal_cli.deliveries)
    await bot.stop()

    def queued_at(session) -> dict[str, float]:
        rows = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.kind == "reminder", OutboxMessage.event_id == event_id
            )
        ).all()
        by_user = {user_id: key for key, user_id in ids.items()}
        return {by_user[row.user_id]: row.created_at.timestamp() for row in rows}

    queued_times = await bot.db(queued_at)
    delays = {}
    for person in going:
        arrived = signal_cli.texts_to(person, EVENT_TITLE)
        if person in queued_times:
            delays[person] = (arrived[0].wall - queued_times[person]) if arrived else None
    worst = max((d for d in delays.values() if d is not None), default=None)
    figures.update(
        seed=seed,
        people=PEOPLE,
        signal_rate=RATE,
        reminders=GOING,
        reminders_queued=len(queued_times),
        queued_after_due_s=[queued_times[p] - due for p in going if p in queued_times],
        sent_after_queued_s=list(delays.values()),
        announcements_sent=announced_meanwhile,
    )
    summary = figures.publish()
    context = f"\n{summary}\noutbox: {await bot.outbox()}\n{bot.tails()}"
    assert len(queued_times) == GOING, (
        f"the scheduler queued {len(queued_times)} reminders{context}"
    )
    missing = [p for p, d in delays.items() if d is None]
    assert not missing, (
        f"{len(missing)} of {GOING} reminders were not sent within {DUE_IN + 30:.0f} s while "
        f"the announcement went out{context}"
    )
    assert worst is not None and worst <= LIMIT, (
        f"a reminder went out {worst:.1f} s after it was queued, behind the announcement "
        f"(limit {LIMIT:.0f} s){context}"
    )
