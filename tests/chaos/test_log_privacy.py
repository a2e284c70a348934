"""Logs carry no ids and no texts: the real `engagebot run` at LOG_LEVEL=DEBUG.

Residents writing in German, Ukrainian, Arabic and Farsi are answered while the log is at
DEBUG; nothing they wrote and none of their ids reaches the log, not from our code and not from
python-telegram-bot, httpx or httpcore, unless the operator turns on LOG_WIRE. A database
locked past its busy timeout logs the failure, and still neither ids nor texts.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tests.chaos.harness import BotProcess, TelegramFake, add_people, until

pytestmark = pytest.mark.chaos

# Words of no demo item and no catalog, so they reach the log only if a text is logged.
PEOPLE = {
    8_123_456_701: ("de", "Zwetschgenkuchenrezept"),
    8_123_456_702: ("uk", "вишиванкамайстер"),
    8_123_456_703: ("ar", "قطةالجيرانالبيضاء"),
    8_123_456_704: ("fa", "گربههمسایهسفید"),
}


async def _talk(bot: BotProcess, telegram: TelegramFake) -> None:
    """Let everyone write their word and wait until each is answered."""
    for chat in PEOPLE:
        telegram.add_chat(chat)
    for locale in {locale for locale, _ in PEOPLE.values()}:
        keys = [str(chat) for chat, (lang, _) in PEOPLE.items() if lang == locale]
        await bot.db(
            lambda s, keys=keys, locale=locale: add_people(
                s, transport="telegram", keys=keys, locale=locale
            )
        )
    await bot.start()
    for chat, (locale, word) in PEOPLE.items():
        telegram.queue(telegram.private_text(chat, word, language_code=locale))
    answered = await until(lambda: all(telegram.texts_to(c) for c in PEOPLE), timeout=20)
    assert answered is not None, bot.tails()


def _leaks(log: str) -> list[str]:
    found = [str(chat) for chat in PEOPLE if str(chat) in log]
    return found + [word for _, word in PEOPLE.values() if word in log]


async def test_debug_logs_carry_no_text_and_no_id(telegram, bots) -> None:
    bot = bots(telegram=telegram, settings={"log_level": "DEBUG"})
    await bot.prepare()
    await _talk(bot, telegram)
    await asyncio.sleep(0.5)
    await bot.stop()
    log = bot.current.text()
    assert " DEBUG " in log or " INFO " in log, log[-2000:]
    assert _leaks(log) == [], log[-4000:]
    assert not [line for line in log.splitlines() if " telegram." in line and " DEBUG " in line]


async def test_wire_logging_is_there_when_asked_for(telegram, bots) -> None:
    # The same as above with LOG_WIRE=true: python-telegram-bot logs the updates, so the test
    # above would see a leak if wire logging were not kept out.
    bot = bots(telegram=telegram, settings={"log_level": "DEBUG", "log_wire": "true"})
    await bot.prepare()
    await _talk(bot, telegram)
    await asyncio.sleep(0.5)
    await bot.stop()
    log = bot.current.text()
    assert _leaks(log), log[-4000:]
    assert telegram.token not in log, "the token stays redacted"


async def test_a_locked_database_logs_no_id_and_no_text(telegram, bots) -> None:
    bot = bots(telegram=telegram, settings={"log_level": "DEBUG", "sqlite_busy_timeout_ms": 500})
    await bot.prepare()
    for chat in PEOPLE:
        telegram.add_chat(chat)
    await bot.db(
        lambda s: add_people(s, transport="telegram", keys=[str(c) for c in PEOPLE], locale="de")
    )
    await bot.start()
    lock = sqlite3.connect(bot.path, timeout=5, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        for chat, (locale, word) in PEOPLE.items():
            telegram.queue(telegram.private_text(chat, word, language_code=locale))
        answered = await until(lambda: all(telegram.texts_to(c) for c in PEOPLE), timeout=20)
    finally:
        lock.execute("COMMIT")
        lock.close()
    assert answered is not None, bot.tails()
    await asyncio.sleep(0.5)
    await bot.stop()
    log = bot.current.text()
    assert "database unavailable while answering" in log, log[-4000:]
    assert "locked" in log, "the failure itself is logged"
    assert _leaks(log) == [], log[-4000:]
