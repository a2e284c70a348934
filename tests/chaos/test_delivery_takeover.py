"""Delivery ownership: one process sends, and a new one takes over at once when it dies.

1. kill -9 and an immediate restart (systemd's Restart=always): the new process must deliver. A
   reminder that falls due after the restart arrives.
2. A second process started beside a running one sends nothing while the first lives, and takes
   over within seconds when the first is killed; each says in its log that it delivers.
"""

from __future__ import annotations

import asyncio
import re
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
    wall,
)

pytestmark = [pytest.mark.chaos, pytest.mark.both_databases]

LEAD = timedelta(minutes=1)
EVENT_TITLE = "Chaos-Café im Stadtteilbüro"
# When the reminder falls due after the restart: full mode waits the minute the brief names,
# well inside the old process's two-minute delivery lease; short mode the same property sooner.
DUE_AFTER_RESTART = scaled(3.0, 60.0)
REMINDER_LIMIT = 15.0  # seconds after it fell due
CHAT = 9_100_001


async def test_an_immediate_restart_takes_delivery_over(
    telegram, bots, chaos_database_url, seed, figures
) -> None:
    bot = bots(
        telegram=telegram,
        database_url=chaos_database_url,
        settings={"reminder_leads": "1m", "scheduler_tick_seconds": 1},
    )
    await bot.prepare()
    ids = await bot.db(lambda s: add_people(s, transport="telegram", keys=[str(CHAT)]))
    telegram.add_chat(CHAT)
    await bot.start()
    await asyncio.sleep(1.0)  # ticking and delivering (nothing due yet)
    await bot.restart()
    starts_at = now_utc() + LEAD + timedelta(seconds=DUE_AFTER_RESTART)

    def seed_event(session) -> None:
        event_id = add_event(session, title=EVENT_TITLE, starts_at=starts_at)
        add_going(session, event_id=event_id, user_ids=[ids[str(CHAT)]])

    await bot.db(seed_event)
    due = (starts_at - LEAD).timestamp()
    await until(
        lambda: telegram.texts_to(CHAT, EVENT_TITLE),
        timeout=DUE_AFTER_RESTART + REMINDER_LIMIT,
    )
    await bot.stop()
    arrived = telegram.texts_to(CHAT, EVENT_TITLE)
    after_due = arrived[0].wall - due if arrived else None
    figures.update(
        seed=seed,
        due_after_restart_s=DUE_AFTER_RESTART,
        reminder_after_due_s=after_due,
        reminders=len(arrived),
        ready_after_s=[run.ready_after for run in bot.runs],
    )
    summary = figures.publish()
    context = f"\n{summary}\noutbox: {await bot.outbox()}\n{bot.tails()}"
    assert arrived, (
        f"the reminder due {DUE_AFTER_RESTART:.0f} s after an immediate restart never arrived "
        f"(waited {REMINDER_LIMIT:.0f} s past due){context}"
    )
    assert after_due is not None and after_due <= REMINDER_LIMIT, (
        f"the reminder came {after_due:.1f} s after it was due{context}"
    )
    assert len(arrived) == 1, f"the reminder arrived {len(arrived)} times{context}"


PEOPLE = 300
RATE = 30.0  # SIGNAL_RATE, so the announcement lasts about 10 s
TAKEOVER_LIMIT = 10.0  # "within seconds"
MARKER = "Gelterswoog"


def delivers_line(bot, run, since: float | None = None) -> list[str]:
    """The log lines that name this process (by its pid) as the one delivering."""
    pid = re.compile(rf"\b{run.pid}\b")
    return [line for line in bot.log_lines(run, r"deliver", since=since) if pid.search(line)]


async def test_a_second_process_waits_and_takes_over_when_the_first_is_killed(
    signal_cli, bots, chaos_database_url, seed, figures
) -> None:
    first = bots(
        signal=signal_cli,
        name="first",
        database_url=chaos_database_url,
        settings={"signal_rate": RATE},
    )
    await first.prepare()
    people = [signal_uuid(50_000 + n) for n in range(PEOPLE)]
    await first.db(lambda s: add_people(s, transport="signal", keys=people, locale="de"))
    await first.cli(
        "broadcast", "--audience", "all",
        "--text", "Am Samstag putzen wir gemeinsam den Gelterswoog. Handschuhe gibt es vor Ort.",
    )  # fmt: skip
    await first.start()
    first_connections = set(range(1, signal_cli.connections + 1))
    started = await until(lambda: len(signal_cli.deliveries) >= 20, timeout=20)
    assert started is not None, f"the first process sent nothing\n{first.tails()}"

    second = bots(
        signal=signal_cli,
        name="second",
        database=first.database,
        database_url=first.database_url,
        settings={"signal_rate": RATE},
    )
    await second.start()
    second_connections = set(range(max(first_connections) + 1, signal_cli.connections + 1))
    await asyncio.sleep(3.0)  # both run: only the first may send
    sent_by_second_while_first_ran = signal_cli.sent_via(second_connections)
    sent_by_first = signal_cli.sent_via(first_connections)

    await first.kill()
    in_flight = await first.claimed()
    killed = first.runs[0].killed_at
    assert killed is not None
    took = await until(
        lambda: signal_cli.sent_via(second_connections) > sent_by_second_while_first_ran,
        timeout=TAKEOVER_LIMIT + 20,
    )
    takeover = time.monotonic() - killed if took is not None else None

    def got_it() -> int:
        return sum(1 for person in people if signal_cli.texts_to(person, MARKER))

    await until(lambda: got_it() == PEOPLE, timeout=PEOPLE / RATE * 1.5 + 15)
    await asyncio.sleep(1.0)
    await second.stop()

    counts = [len(signal_cli.texts_to(person, MARKER)) for person in people]
    lost = sum(1 for n in counts if n == 0)
    duplicates = sum(n - 1 for n in counts if n > 1)
    first_says = delivers_line(first, first.runs[0])
    second_says = delivers_line(second, second.runs[0], since=wall(killed))
    figures.update(
        seed=seed,
        people=PEOPLE,
        sent_by_first=sent_by_first,
        sent_by_second_beside_first=sent_by_second_while_first_ran,
        takeover_s=takeover,
        in_flight_at_kill=in_flight,
        lost=lost,
        duplicates=duplicates,
        first_log=first_says[:1],
        second_log=second_says[:1],
    )
    summary = figures.publish()
    context = f"\n{summary}\noutbox: {await first.outbox()}\n{first.tails()}\n{second.tails()}"
    assert sent_by_second_while_first_ran == 0, (
        f"the second process sent {sent_by_second_while_first_ran} messages while the first "
        f"was delivering{context}"
    )
    assert takeover is not None, (
        f"the second process did not send anything within {TAKEOVER_LIMIT + 20:.0f} s of the "
        f"first one's kill{context}"
    )
    assert takeover <= TAKEOVER_LIMIT, (
        f"the second process took {takeover:.1f} s to take over (limit {TAKEOVER_LIMIT:.0f} s)"
        f"{context}"
    )
    assert lost == 0, f"{lost} of {PEOPLE} people never got the announcement{context}"
    assert duplicates <= in_flight, (
        f"{duplicates} arrived twice, more than the {in_flight} in flight at the kill{context}"
    )
    assert first_says, (
        f"no line of the first process's log says that it (pid {first.runs[0].pid}) delivers"
        f"{context}"
    )
    assert second_says, (
        f"no line of the second process's log says that it (pid {second.runs[0].pid}) "
        f"delivers, logged after the first one was killed{context}"
    )
