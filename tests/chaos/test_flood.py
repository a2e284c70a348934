"""A person flooding the bot does not stall anyone else.

One account sends 300 messages as fast as it can; right after them another person sends
/help. The other person's answer must arrive within 2 seconds: each person's messages are
answered in order, but one person's pacing (Telegram allows a burst, then about one message a
second per chat) or flood control must never hold up another's.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.chaos.harness import add_people, until

pytestmark = pytest.mark.chaos

FLOODER, OTHER = 9_000_001, 9_000_002
FLOOD = 300
LIMIT = 2.0  # seconds for the other person's answer
WAIT = 10.0  # how long the test waits, to report how late a late answer was


async def test_a_flooding_person_does_not_stall_others(telegram, bots, seed, figures) -> None:
    telegram.enforce_limits(overall_rate=30, overall_burst=30, chat_rate=1.0, chat_burst=4)
    bot = bots(telegram=telegram)
    await bot.prepare()
    await bot.db(
        lambda s: add_people(s, transport="telegram", keys=[str(FLOODER), str(OTHER)], locale="en")
    )
    await bot.start()
    words = ("/help", "lesepate", "1", "hallo", "/start")
    telegram.queue(*(telegram.private_text(FLOODER, words[n % len(words)]) for n in range(FLOOD)))
    await asyncio.sleep(0.01)  # the flood is on its way; now someone else asks
    [update_id] = telegram.queue(telegram.private_text(OTHER, "/help"))
    asked = telegram.queued_at[update_id]
    await until(lambda: telegram.texts_to(OTHER), timeout=WAIT)
    answers = telegram.texts_to(OTHER)
    latency = answers[0].at - asked if answers else None
    await asyncio.sleep(1.0)
    await bot.stop()

    figures.update(
        seed=seed,
        flood_messages=FLOOD,
        other_answer_s=latency,
        limit_s=LIMIT,
        flooder_answers=len(telegram.texts_to(FLOODER)),
        too_many_requests=telegram.limits_hit,
    )
    summary = figures.publish()
    context = f"\n{summary}\n{bot.tails()}"
    assert latency is not None, f"the other person got no answer within {WAIT:.0f} s{context}"
    assert latency <= LIMIT, (
        f"the other person's /help was answered after {latency:.2f} s, behind the flood "
        f"(limit {LIMIT:.0f} s){context}"
    )
    assert len(answers) == 1, f"the other person got {len(answers)} answers to one /help{context}"
    assert "I help you find volunteer work" in answers[0].text, f"{answers[0].text!r}{context}"
