"""A database locked past its busy timeout: people are told to try again, nothing is lost.

The real `engagebot run` serves people and sends an announcement while another process holds
SQLite's write lock for longer than SQLITE_BUSY_TIMEOUT_MS. Everyone who writes meanwhile gets
an answer in their language (the "try again" sentence); the announcement waits and, once the
lock is gone, reaches everyone exactly once; later messages are answered normally.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tests.chaos.harness import add_people, delivery_window, until

pytestmark = pytest.mark.chaos

PEOPLE = [9_100_001 + n for n in range(40)]
ASKERS = PEOPLE[:5]
LOCKED_SECONDS = 4.0
MARKER = "Schloss-Probe"


async def test_a_locked_database_answers_try_again_and_loses_nothing(telegram, bots) -> None:
    bot = bots(telegram=telegram, settings={"sqlite_busy_timeout_ms": 1000, "broadcast_rate": 20})
    await bot.prepare()
    for chat in PEOPLE:
        telegram.add_chat(chat)
    await bot.db(
        lambda s: add_people(s, transport="telegram", keys=[str(c) for c in PEOPLE], locale="en")
    )
    await bot.cli("broadcast", "--audience", "all", "--text", f"{MARKER}: Hallo")
    tally = telegram.watch(MARKER)

    def answers(chat: int) -> list[str]:
        """What a person was answered (the announcement left out)."""
        return [sent.text for sent in telegram.texts_to(chat) if MARKER not in sent.text]

    await bot.start()
    await until(lambda: len(tally.chats) >= 5, timeout=30)
    # Another process takes the write lock in the middle of the announcement and keeps it,
    # past the bot's busy timeout.
    lock = sqlite3.connect(bot.path, timeout=5, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    at_lock = len(tally.chats)
    for chat in ASKERS:
        telegram.queue(telegram.private_text(chat, "/help"))
    await until(lambda: all(answers(c) for c in ASKERS), timeout=15)
    sorry = [answers(c)[0] for c in ASKERS]
    await asyncio.sleep(LOCKED_SECONDS)
    # The messages in hand at the lock (at most the delivery window, rendered before it) may go
    # out; nothing after them until the lock is gone.
    sent_while_locked = len(tally.chats) - at_lock
    window, window_source = delivery_window(20)
    lock.execute("COMMIT")
    lock.close()
    await until(lambda: len(tally.chats) == len(PEOPLE), timeout=30)
    for chat in ASKERS:
        before = len(answers(chat))
        telegram.queue(telegram.private_text(chat, "/help"))
        await until(lambda chat=chat, before=before: len(answers(chat)) > before, timeout=15)
    await asyncio.sleep(1.0)
    await bot.stop()

    context = f"\n{bot.tails()}"
    for text in sorry:
        assert "try again" in text.lower(), f"not the try-again answer: {text!r}{context}"
    assert sent_while_locked <= window, (
        f"{sent_while_locked} sent while locked, more than the window of {window} "
        f"({window_source}){context}"
    )
    counts = [len(telegram.texts_to(c, MARKER)) for c in PEOPLE]
    assert counts == [1] * len(PEOPLE), f"announcement counts per person: {counts}{context}"
    for chat in ASKERS:
        assert "I help you find volunteer work" in answers(chat)[-1], context
