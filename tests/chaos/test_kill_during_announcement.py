"""kill -9 during a big announcement with reminders due: nothing lost, few twice, no reminder late.

The real `engagebot run` sends an announcement to everyone and reminders of an event to some,
against the fake Bot API enforcing Telegram's limits (30 messages a second overall, a burst of 4
and then 1 a second per chat). It is killed with SIGKILL at random moments of the announcement
and started again at once on the same database.

What is asserted:
- everyone gets the announcement, and everyone going the reminder (0 lost);
- no message arrives more than twice;
- the messages that arrive twice are at most those in flight at the kills. A message can only
  arrive twice if it was handed to Telegram and the kill came before its outcome was recorded,
  so it was claimed (outbox status `sending`) at the kill. The test counts those rows right after
  each kill, and asserts duplicates <= that count, and <= kills x the delivery worker's claim
  window (the most rows one worker holds claimed at a time);
- every reminder arrives before its event starts.
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
    delivery_window,
    now_utc,
    scaled,
    until,
)

pytestmark = [pytest.mark.chaos, pytest.mark.both_databases]

PEOPLE = scaled(300, 2000)
KILLS = scaled(3, 20)
GOING = scaled(20, 100)
FIRST_CHAT = 7_000_000
RATE = 29  # BROADCAST_RATE: Telegram allows about 30 a second
LEAD = timedelta(minutes=1)  # REMINDER_LEADS=1m, the shortest lead the setting takes
# The reminder falls due this long after the bot is started: while the announcement goes out.
REMINDER_DUE_AFTER = scaled(5.0, 30.0)
MARKER_DE = "Gelterswoog"
ANNOUNCEMENT_DE = "Am Samstag putzen wir gemeinsam den Gelterswoog. Handschuhe gibt es vor Ort."
ANNOUNCEMENT_EN = "On Saturday we clean up the Gelterswoog together. Gloves are provided."
EVENT_TITLE = "Chaos-Café im Stadtteilbüro"
# How long a restarted bot may take to send again before the test calls it stalled.
RECOVERY_LIMIT = 20.0


async def test_kill_9_during_a_big_announcement_with_reminders_due(
    telegram, bots, chaos_database_url, rng, seed, figures
) -> None:
    telegram.enforce_limits(overall_rate=30, overall_burst=30, chat_rate=1.0, chat_burst=4)
    bot = bots(
        telegram=telegram,
        database_url=chaos_database_url,
        settings={
            "broadcast_rate": RATE,
            "reminder_leads": "1m",
            "scheduler_tick_seconds": 1,
        },
    )
    await bot.prepare()
    chats = [FIRST_CHAT + n for n in range(PEOPLE)]
    for chat in chats:
        telegram.add_chat(chat)
    ids = await bot.db(
        lambda s: add_people(s, transport="telegram", keys=[str(c) for c in chats], locale="en")
    )
    going = sorted(rng.sample(chats, GOING))
    printed = await bot.cli(
        "broadcast", "--audience", "all", "--text", ANNOUNCEMENT_DE,
        "--translation", f"en={ANNOUNCEMENT_EN}",
    )  # fmt: skip
    # Every row, whatever its status: a running bot may have claimed some already.
    queued = sum(n for k, n in (await bot.outbox()).items() if k.startswith("broadcast/"))
    assert queued == PEOPLE, f"the announcement was queued for {queued}, not {PEOPLE}: {printed}"

    starts_at = now_utc() + LEAD + timedelta(seconds=REMINDER_DUE_AFTER)

    def seed_event(session):
        event_id = add_event(session, title=EVENT_TITLE, starts_at=starts_at)
        add_going(session, event_id=event_id, user_ids=[ids[str(c)] for c in going])

    await bot.db(seed_event)
    tally = telegram.watch(MARKER_DE)
    began = time.monotonic()
    await bot.start()

    def announced() -> int:
        return len(tally.chats)

    def announcements_sent() -> int:
        return tally.messages

    # Kill when the announcement has reached these many people (and a few ms after that).
    targets = sorted(rng.randint(PEOPLE // 20, PEOPLE * 9 // 10) for _ in range(KILLS))
    kills, in_flight, recoveries, stalled = 0, [], [], None
    for target in targets:
        reached = await until(lambda t=target: announced() >= t, timeout=target / RATE * 3 + 30)
        if reached is None:
            stalled = f"the announcement stopped at {announced()} of {PEOPLE} people"
            break
        await asyncio.sleep(rng.uniform(0.0, 0.3))
        await bot.kill()
        kills += 1
        in_flight.append(await bot.claimed())
        sent_before = announcements_sent()
        restarted = time.monotonic()
        await bot.start()
        took = await until(lambda s=sent_before: announcements_sent() > s, timeout=RECOVERY_LIMIT)
        if took is None:
            recoveries.append(None)
            if announced() < PEOPLE:
                stalled = (
                    f"after kill {kills} the restarted bot sent no announcement for "
                    f"{RECOVERY_LIMIT:.0f} s"
                )
                break
        else:
            recoveries.append(time.monotonic() - restarted)

    def reminded() -> list[int]:
        return [chat for chat in going if telegram.texts_to(chat, EVENT_TITLE)]

    if stalled is None:
        # Time for the rest at the paced rate, and for the reminders until their event starts.
        rest = (PEOPLE - announced()) / RATE * 1.5 + 20
        await until(lambda: announced() == PEOPLE, timeout=rest)
        until_start = (starts_at - now_utc()).total_seconds()
        await until(lambda: len(reminded()) == GOING, timeout=max(until_start, 0.0))
        await asyncio.sleep(2.0)  # late copies would come now
    await bot.stop()

    window, window_source = delivery_window(RATE)
    announcement_counts = {chat: len(telegram.texts_to(chat, MARKER_DE)) for chat in chats}
    reminder_counts = {chat: len(telegram.texts_to(chat, EVENT_TITLE)) for chat in going}
    lost = [chat for chat, n in announcement_counts.items() if n == 0]
    not_reminded = [chat for chat, n in reminder_counts.items() if n == 0]
    late = [
        chat
        for chat in going
        if telegram.texts_to(chat, EVENT_TITLE)
        and telegram.texts_to(chat, EVENT_TITLE)[0].wall >= starts_at.timestamp()
    ]
    counts = [*announcement_counts.values(), *reminder_counts.values()]
    duplicates = sum(n - 1 for n in counts if n > 1)
    thrice = sum(1 for n in counts if n > 2)
    figures.update(
        seed=seed,
        people=PEOPLE,
        messages=PEOPLE + GOING,
        kills=kills,
        sent=sum(counts),
        lost_announcements=len(lost),
        lost_reminders=len(not_reminded),
        late_reminders=len(late),
        duplicates=duplicates,
        in_flight_at_kills=in_flight,
        window=f"{window} ({window_source})",
        recovery_s=recoveries,
        ready_after_s=[run.ready_after for run in bot.runs],
        too_many_requests=telegram.limits_hit,
        duration_s=time.monotonic() - began,
    )
    summary = figures.publish()
    context = f"\n{summary}\noutbox: {await bot.outbox()}\n{bot.tails()}"

    assert stalled is None, f"{stalled}{context}"
    assert kills == KILLS, f"only {kills} of {KILLS} kills happened{context}"
    assert not lost, (
        f"{len(lost)} of {PEOPLE} people never got the announcement (chats {lost[:5]}...){context}"
    )
    assert not not_reminded, (
        f"{len(not_reminded)} of {GOING} people going never got the reminder{context}"
    )
    assert not late, f"{len(late)} reminders arrived after the event started{context}"
    assert thrice == 0, f"{thrice} messages arrived three times or more{context}"
    assert duplicates <= sum(in_flight), (
        f"{duplicates} messages arrived twice, more than the {sum(in_flight)} in flight "
        f"(claimed, status 'sending') at the {kills} kills{context}"
    )
    assert duplicates <= kills * window, (
        f"{duplicates} messages arrived twice, more than {kills} kills x {window} claimed{context}"
    )
