"""Two `engagebot run` processes on one PostgreSQL database: every queued message goes out once.

1. Telegram in one process, Signal in the other: each sends its own messenger's outbox, so an
   announcement to everyone and the reminders of an event arrive once each, on both messengers.
2. Both messengers in both processes, one of them killed with kill -9 in the middle of an
   announcement (the one that delivers, or the other): the survivor carries on. Everyone gets
   the announcement, only messages in flight at the kill may arrive twice (outbox rows `sending`
   right after the kill, as in test_kill_during_announcement.py), and a reminder that falls due
   after the kill arrives exactly once.

These need TEST_DATABASE_URL (`bash .ci/postgres`) and are skipped without it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

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

LEAD = timedelta(minutes=1)  # REMINDER_LEADS=1m
FIRST_CHAT = 8_200_000
ANNOUNCEMENT = "Am Samstag putzen wir gemeinsam den Gelterswoog. Handschuhe gibt es vor Ort."
MARKER = "Gelterswoog"
EARLY_EVENT = "Chaos-Café im Stadtteilbüro"
LATE_EVENT = "Reparaturcafé am Rathaus"
SETTINGS = {"reminder_leads": "1m", "scheduler_tick_seconds": 1, "signal_rate": 30}


def count_each(fake, recipients, marker: str) -> list[int]:
    return [len(fake.texts_to(recipient, marker)) for recipient in recipients]


async def seed_people(bot, telegram, people: int, first_signal: int):
    chats = [FIRST_CHAT + n for n in range(people)]
    for chat in chats:
        telegram.add_chat(chat)
    signal_people = [signal_uuid(first_signal + n) for n in range(people)]

    def add(session):
        ids = add_people(session, transport="telegram", keys=[str(c) for c in chats], locale="de")
        ids.update(add_people(session, transport="signal", keys=signal_people, locale="de"))
        return ids

    return chats, signal_people, await bot.db(add)


async def seed_event(bot, ids: dict[str, int], keys: list[str], *, title: str, due_in: float):
    """An event whose one-minute reminder falls due in `due_in` seconds, with `keys` going."""
    starts_at = now_utc() + LEAD + timedelta(seconds=due_in)

    def add(session) -> None:
        event_id = add_event(session, title=title, starts_at=starts_at)
        add_going(session, event_id=event_id, user_ids=[ids[key] for key in keys])

    await bot.db(add)


async def test_telegram_in_one_process_and_signal_in_another_send_everything_once(
    telegram, signal_cli, bots, pg_url, seed, figures
) -> None:
    people = scaled(60, 600)
    going = people // 3
    on_telegram = bots(telegram=telegram, name="telegram", database_url=pg_url, settings=SETTINGS)
    await on_telegram.prepare()
    chats, signal_people, ids = await seed_people(on_telegram, telegram, people, 60_000)
    await on_telegram.cli("broadcast", "--audience", "all", "--text", ANNOUNCEMENT)
    going_keys = [str(c) for c in chats[:going]] + signal_people[:going]
    await seed_event(on_telegram, ids, going_keys, title=EARLY_EVENT, due_in=2.0)

    on_signal = bots(signal=signal_cli, name="signal", database_url=pg_url, settings=SETTINGS)
    await asyncio.gather(on_telegram.start(), on_signal.start())

    def everything_arrived() -> bool:
        return (
            all(count_each(telegram, chats, MARKER))
            and all(count_each(signal_cli, signal_people, MARKER))
            and all(count_each(telegram, chats[:going], EARLY_EVENT))
            and all(count_each(signal_cli, signal_people[:going], EARLY_EVENT))
        )

    took = await until(everything_arrived, timeout=people / 29 + 30)
    await asyncio.sleep(1.5)  # anything sent twice would be on its way by now
    await asyncio.gather(on_telegram.stop(), on_signal.stop())

    announcements = count_each(telegram, chats, MARKER) + count_each(
        signal_cli, signal_people, MARKER
    )
    reminders = count_each(telegram, chats[:going], EARLY_EVENT) + count_each(
        signal_cli, signal_people[:going], EARLY_EVENT
    )
    figures.update(
        seed=seed,
        people_per_messenger=people,
        all_arrived_after_s=took,
        announcements_lost=announcements.count(0),
        announcements_twice=sum(n - 1 for n in announcements if n > 1),
        reminders_lost=reminders.count(0),
        reminders_twice=sum(n - 1 for n in reminders if n > 1),
    )
    summary = figures.publish()
    context = (
        f"\n{summary}\noutbox: {await on_telegram.outbox()}\n"
        f"{on_telegram.tails()}\n{on_signal.tails()}"
    )
    # Nobody was killed: nothing was in flight at a crash, so everything arrives exactly once.
    assert set(announcements) == {1}, f"the announcement did not arrive once each{context}"
    assert set(reminders) == {1}, f"the reminders did not arrive once each{context}"
    assert on_signal.log_lines(on_signal.current, r"signal delivery: this process"), (
        f"the Signal process never took Signal's delivery{context}"
    )


@pytest.mark.parametrize("victim", ["delivering", "idle"])
async def test_both_messengers_in_both_processes_and_one_killed(
    telegram, signal_cli, bots, pg_url, victim, seed, figures
) -> None:
    people = scaled(150, 1500)
    going = 10
    first = bots(
        telegram=telegram, signal=signal_cli, name="first", database_url=pg_url, settings=SETTINGS
    )
    await first.prepare()
    chats, signal_people, ids = await seed_people(first, telegram, people, 70_000)
    await first.cli("broadcast", "--audience", "all", "--text", ANNOUNCEMENT)
    going_keys = [str(c) for c in chats[:going]] + signal_people[:going]

    await first.start()
    first_connections = set(range(1, signal_cli.connections + 1))
    started = await until(
        lambda: len(signal_cli.deliveries) >= 20 and sum(count_each(telegram, chats, MARKER)) >= 20,
        timeout=20,
    )
    assert started is not None, f"the first process sent nothing\n{first.tails()}"
    second = bots(
        telegram=telegram, signal=signal_cli, name="second", database_url=pg_url, settings=SETTINGS
    )
    await second.start()
    second_connections = set(range(max(first_connections) + 1, signal_cli.connections + 1))
    await asyncio.sleep(2.0)
    by_second_beside_first = signal_cli.sent_via(second_connections)

    killed, survivor = (first, second) if victim == "delivering" else (second, first)
    await killed.kill()
    in_flight = await killed.claimed()
    killed_at = time.monotonic()
    # A reminder that falls due after the kill: the survivor's scheduler queues it, once.
    await seed_event(first, ids, going_keys, title=LATE_EVENT, due_in=3.0)

    def everything_arrived() -> bool:
        return (
            all(count_each(telegram, chats, MARKER))
            and all(count_each(signal_cli, signal_people, MARKER))
            and all(count_each(telegram, chats[:going], LATE_EVENT))
            and all(count_each(signal_cli, signal_people[:going], LATE_EVENT))
        )

    took = await until(everything_arrived, timeout=people / 29 + 40)
    await asyncio.sleep(1.5)
    await survivor.stop()

    announcements = count_each(telegram, chats, MARKER) + count_each(
        signal_cli, signal_people, MARKER
    )
    reminders = count_each(telegram, chats[:going], LATE_EVENT) + count_each(
        signal_cli, signal_people[:going], LATE_EVENT
    )
    duplicates = sum(n - 1 for n in announcements if n > 1)
    figures.update(
        seed=seed,
        victim=victim,
        people_per_messenger=people,
        signal_by_second_beside_first=by_second_beside_first,
        in_flight_at_kill=in_flight,
        all_arrived_after_kill_s=(time.monotonic() - killed_at) if took is not None else None,
        announcements_lost=announcements.count(0),
        announcements_twice=duplicates,
        late_reminders=reminders,
    )
    summary = figures.publish()
    context = f"\n{summary}\noutbox: {await survivor.outbox()}\n{first.tails()}\n{second.tails()}"
    assert by_second_beside_first == 0, (
        f"the second process sent {by_second_beside_first} Signal messages while the first "
        f"was delivering{context}"
    )
    assert announcements.count(0) == 0, (
        f"{announcements.count(0)} people never got the announcement{context}"
    )
    assert max(announcements) <= 2, (
        f"someone got the announcement {max(announcements)} times; one kill repeats a message "
        f"once at most{context}"
    )
    assert duplicates <= in_flight, (
        f"{duplicates} arrived twice, more than the {in_flight} in flight at the kill{context}"
    )
    if victim == "idle":
        assert duplicates == 0, f"killing the idle process made {duplicates} repeat{context}"
    assert set(reminders) == {1}, (
        f"a reminder due after the kill did not arrive exactly once: {reminders}{context}"
    )
