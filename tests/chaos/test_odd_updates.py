"""Updates that are not what the Bot API documents never stop the real process from answering.

The transport reads each update from its JSON (bot/transports/telegram_updates.py). Among
ordinary messages, the fake Bot API hands out updates with the wrong shape (a message that is a
string, a press without an id, a chat without a type, an update of a kind the bot never asked
for) and odd but valid ones (an edit, a channel post, a message from another bot). The real
`engagebot run` answers every person who wrote, keeps polling, confirms the odd updates so
Telegram does not send them again, and after a kill -9 and an immediate restart takes none of
them up.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.chaos.harness import add_people, until

pytestmark = pytest.mark.chaos

PEOPLE = [9_300_001 + n for n in range(6)]


def _odd(telegram) -> list[dict[str, object]]:
    someone = telegram.user(9_399_999)
    from_a_bot = telegram.private_message(9_399_998, text="beep")
    from_a_bot["message"]["from"]["is_bot"] = True
    return [
        {"message": "not an object"},
        {"callback_query": {"from": someone, "data": "events"}},  # no id to answer it by
        {"message": {"message_id": 1, "date": 1, "chat": {"id": 5}, "from": someone, "text": "x"}},
        {"message": {"message_id": 2, "date": 1, "chat": None, "text": "no chat"}},
        {"poll": {"id": "p1", "question": "?", "options": []}},
        telegram.edited_text(PEOPLE[0], 1, "edited"),
        telegram.channel_post(-1_009_000, "a post"),
        from_a_bot,
    ]


async def test_odd_updates_among_messages_are_passed_over_and_people_answered(
    telegram, bots
) -> None:
    bot = bots(telegram=telegram)
    await bot.prepare()
    await bot.db(
        lambda s: add_people(s, transport="telegram", keys=[str(c) for c in PEOPLE], locale="en")
    )
    await bot.start()
    odd = _odd(telegram)
    for round_number in range(2):
        updates: list[dict[str, object]] = []
        for chat, update in zip(PEOPLE, odd, strict=False):
            updates += [update, telegram.private_text(chat, "/help")]
        telegram.queue(*updates, *odd[len(PEOPLE) :])

        def answered(count: int = round_number + 1) -> bool:
            return all(len(telegram.texts_to(chat)) >= count for chat in PEOPLE)

        await until(answered, timeout=30)
        if round_number == 0:
            await asyncio.sleep(0.5)  # every answer is recorded as sent by now
            await bot.kill()
            restarted = await bot.restart()
    await until(lambda: not telegram.pending_updates, timeout=30)
    await bot.stop()

    context = f"\n{bot.tails()}"
    for chat in PEOPLE:
        texts = [sent.text for sent in telegram.texts_to(chat)]
        assert len(texts) == 2, (chat, texts, context)
        assert all("I help you find volunteer work" in text for text in texts), context
    # Nobody behind an odd update was answered, and nothing was taken up after the kill.
    assert not telegram.texts_to(9_399_998) and not telegram.texts_to(9_399_999), context
    assert "taking up" not in restarted.text(), context
    assert "Traceback" not in bot.tails(400), context
