"""An urgent announcement to a few thousand people on Telegram, through paid broadcasts.

The real `engagebot run`, with TELEGRAM_PAID_BROADCASTS=true, sends an announcement queued with
`engagebot broadcast --urgent` against the fake Bot API enforcing Telegram's limits: 30
messages a second overall, 1,000 a second for messages sent with `allow_paid_broadcast` (Bot
API, sendMessage: "up to 1000 messages per second, ignoring broadcasting limits for a fee of
0.1 Telegram Stars per message"), a burst of 4 and then 1 a second per chat.

What is asserted (correctness, not speed):
- everyone gets it exactly once (0 lost, 0 twice);
- every one of its messages carried `allow_paid_broadcast`;
- Telegram never answered 429;
- the fake accepted paid messages that the overall budget of 30 a second would have refused:
  they went on a budget of their own.

And killed with SIGKILL at random moments while it goes out at that pace, with up to the
delivery worker's largest window in flight (bot/runner.py, `delivery_window`): nobody is left
out, and what arrives twice is at most what was claimed at the kills, and at most the window per
kill.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.chaos.harness import add_people, delivery_window, scaled, until

pytestmark = pytest.mark.chaos

PEOPLE = scaled(2000, 5000)
KILLS = scaled(3, 10)
PAID_RATE = 1000.0  # TELEGRAM_PAID_RATE's default
FIRST_CHAT = 7_500_000
MARKER_BOTH = "Kaiserslautern"  # in the German text and its English translation
TEXT = "Unwetterwarnung für Kaiserslautern: bitte bleibt heute Abend zu Hause."
TRANSLATION = "Severe weather warning for Kaiserslautern: please stay at home tonight."


async def _urgent_announcement_queued(telegram, bots):  # type: ignore[no-untyped-def]
    """Telegram's limits at the fake, PEOPLE people, and an urgent announcement queued for all
    with `engagebot broadcast --urgent`; return the bot (not started) and their chats."""
    telegram.enforce_limits(overall_rate=30, overall_burst=30, chat_rate=1.0, chat_burst=4)
    bot = bots(telegram=telegram, settings={"telegram_paid_broadcasts": "true"})
    await bot.prepare()
    chats = [FIRST_CHAT + n for n in range(PEOPLE)]
    for chat in chats:
        telegram.add_chat(chat)
    await bot.db(
        lambda s: add_people(s, transport="telegram", keys=[str(c) for c in chats], locale="en")
    )
    printed = await bot.cli(
        "broadcast", "--audience", "all", "--text", TEXT, "--translation", f"en={TRANSLATION}",
        "--urgent",
    )  # fmt: skip
    assert "urgent: at most" in printed, printed
    return bot, chats


async def test_an_urgent_announcement_goes_out_as_paid_broadcasts_without_429(
    telegram, bots, seed, figures
) -> None:
    bot, chats = await _urgent_announcement_queued(telegram, bots)
    tally = telegram.watch(MARKER_BOTH)
    began = time.monotonic()
    await bot.start()
    # Were they paced at the ordinary 29 a second, this is still time enough: no speed asserted.
    await until(lambda: len(tally.chats) >= PEOPLE, timeout=PEOPLE / 29 * 1.5 + 30)
    took = time.monotonic() - began
    await asyncio.sleep(1.0)  # copies would come now
    await bot.stop()

    calls = [
        call
        for call in telegram.calls_to("sendMessage", ok=True)
        if MARKER_BOTH in str(call.params.get("text"))
    ]
    counts: dict[int, int] = {}
    for call in calls:
        counts[call.chat_id] = counts.get(call.chat_id, 0) + 1  # type: ignore[index]
    lost = [chat for chat in chats if chat not in counts]
    twice = [chat for chat, n in counts.items() if n > 1]
    unpaid = [call for call in calls if call.params.get("allow_paid_broadcast") is not True]
    figures.update(
        seed=seed,
        people=PEOPLE,
        sent=len(calls),
        lost=len(lost),
        twice=len(twice),
        unpaid=len(unpaid),
        too_many_requests=telegram.limits_hit,
        paid_accepted=telegram.paid_accepted,
        paid_beyond_30_per_s=telegram.paid_beyond_overall,
        duration_s=took,
        messages_per_s=len(calls) / took if took else None,
    )
    summary = figures.publish()
    context = f"\n{summary}\noutbox: {await bot.outbox()}\n{bot.tails()}"

    assert not lost, f"{len(lost)} of {PEOPLE} never got the announcement{context}"
    assert not twice, f"{len(twice)} got it more than once{context}"
    assert not unpaid, f"{len(unpaid)} messages went without allow_paid_broadcast{context}"
    assert telegram.limits_hit == 0, f"Telegram answered 429 {telegram.limits_hit} times{context}"
    assert telegram.paid_beyond_overall > 0, (
        f"no paid message went beyond the overall budget of 30 a second{context}"
    )


async def test_kill_9_while_an_urgent_announcement_goes_out_repeats_at_most_the_window(
    telegram, bots, rng, seed, figures
) -> None:
    bot, chats = await _urgent_announcement_queued(telegram, bots)
    tally = telegram.watch(MARKER_BOTH)
    await bot.start()
    targets = sorted(rng.randint(PEOPLE // 20, PEOPLE * 9 // 10) for _ in range(KILLS))
    kills, in_flight = 0, []
    for target in targets:
        reached = await until(lambda t=target: len(tally.chats) >= t, timeout=PEOPLE / 29 + 30)
        if reached is None:
            break
        await asyncio.sleep(rng.uniform(0.0, 0.05))
        await bot.kill()
        kills += 1
        in_flight.append(await bot.claimed())
        await bot.start()
    await until(lambda: len(tally.chats) >= PEOPLE, timeout=PEOPLE / 29 * 1.5 + 30)
    await asyncio.sleep(1.0)  # copies would come now
    await bot.stop()

    window, window_source = delivery_window(PAID_RATE)
    counts = {chat: len(telegram.texts_to(chat, MARKER_BOTH)) for chat in chats}
    lost = [chat for chat, n in counts.items() if n == 0]
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    thrice = sum(1 for n in counts.values() if n > 2)
    figures.update(
        seed=seed,
        people=PEOPLE,
        kills=kills,
        lost=len(lost),
        duplicates=duplicates,
        in_flight_at_kills=in_flight,
        window=f"{window} ({window_source})",
        too_many_requests=telegram.limits_hit,
    )
    summary = figures.publish()
    context = f"\n{summary}\noutbox: {await bot.outbox()}\n{bot.tails()}"

    assert kills == KILLS, f"only {kills} of {KILLS} kills happened{context}"
    assert not lost, f"{len(lost)} of {PEOPLE} never got the announcement{context}"
    assert thrice == 0, f"{thrice} people got it three times or more{context}"
    assert duplicates <= sum(in_flight), (
        f"{duplicates} arrived twice, more than the {sum(in_flight)} claimed at the kills{context}"
    )
    assert duplicates <= kills * window, (
        f"{duplicates} arrived twice, more than {kills} kills x the window of {window}{context}"
    )
    assert telegram.limits_hit == 0, f"Telegram answered 429 {telegram.limits_hit} times{context}"
