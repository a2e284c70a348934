"""Update throughput: a burst of updates through the real Telegram transport, and an echo bot.

Set-up:

- Two fake Bot API servers run in the benchmark's process; engagebot (`engagebot run` with the
  demo city, as `python -m benchmarks.botproc engage --unthrottled`) polls one, the bare echo
  bot polls the other. Both bots are processes of their own and stay up for the whole
  benchmark; their runs alternate, so a change in the machine's load hits both alike.
- 300 users go through the onboarding first (/start, pick a language, agree), in seven
  languages. Then each run queues a burst of 3,000 updates at once, ten per user, interleaved
  across users: /start, menu presses (events, offers, topics, districts, main menu), list paging
  (events page 2, a topic's offers), an event in detail (text and map pin), and two searches.
  The echo bot gets the same 3,000 updates as texts (a pressed button's data as its text).
- Rate: updates / (last answer - the moment the burst was queued). Latency of an update: from
  the moment it was queued at the fake (available to getUpdates) to its answer (the sendMessage
  or editMessageText that carries the reply) arriving at the fake. Answers to one chat come in
  order, so the k-th answer to a chat belongs to that chat's k-th update.
- Rate limits: the fake enforces none. The echo bot has no limiter. engagebot's transport runs
  with python-telegram-bot's overall limit (30 requests/s to chats, Telegram's bulk limit) lifted,
  or both bots would be measured as "30 per second"; its per-chat pacing stays on, and how often
  it made anyone wait is reported (the burst spreads each user's ten updates over the whole run).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import (
    LOCALES,
    PYTHON,
    BenchFake,
    BotProcess,
    bot_env,
    copy_database,
    log,
    make_demo_database,
    median,
    percentile,
)

USERS = 300
PER_USER = 10
FIRST_USER = 7_000_001
SEARCHES = ("Lesepaten", "Senioren Handy", "homework", "Deutsch lernen", "Garten", "Konigstrasse")
SINGLE = 60  # updates sent one at a time, for the latency without a queue


@dataclass
class Burst:
    updates: int
    seconds: float
    latencies: list[float]
    unanswered: int = 0

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else float("nan")


@dataclass
class BotUnderTest:
    name: str
    fake: BenchFake
    process: BotProcess
    bursts: list[Burst] = field(default_factory=list)
    text_bursts: list[Burst] = field(default_factory=list)
    single: list[float] = field(default_factory=list)
    onboarding: list[Burst] = field(default_factory=list)


def _is_answer(call: Any) -> bool:
    """A text sent or edited; an edit that failed is followed by the same text sent anew."""
    if call.method == "sendMessage":
        return True
    if call.method != "editMessageText":
        return False
    return call.ok or "not modified" in str(call.response.get("description", ""))


def _answers(fake: BenchFake, start: int) -> dict[int, list[float]]:
    """Arrival times of the answers per chat, from call `start` on."""
    found: dict[int, list[float]] = {}
    for call in fake.calls[start:]:
        chat = call.params.get("chat_id")
        if isinstance(chat, int) and _is_answer(call):
            found.setdefault(chat, []).append(call.at)
    return found


def _last_message(fake: BenchFake, chat: int) -> int:
    """The id of the bot's latest message in a chat (where the next button is pressed)."""
    ours = [
        message_id
        for (chat_id, message_id), message in fake.messages.items()
        if chat_id == chat and message.get("from", {}).get("id") == fake.bot_user["id"]
    ]
    return max(ours)


async def _burst(
    fake: BenchFake,
    updates: list[tuple[int, dict[str, Any]]],
    *,
    timeout: float,
    settle: float = 0.2,
) -> Burst:
    """Queue `updates` (chat, update) at once; wait for every answer; measure."""
    start = len(fake.calls)
    expected: dict[int, int] = {}
    for chat, _update in updates:
        expected[chat] = expected.get(chat, 0) + 1
    counts: dict[int, int] = dict.fromkeys(expected, 0)
    seen = start

    def done() -> bool:
        nonlocal seen
        for call in fake.calls[seen:]:
            chat = call.params.get("chat_id")
            if chat in counts and _is_answer(call):
                counts[chat] += 1
        seen = len(fake.calls)
        return all(counts[chat] >= n for chat, n in expected.items())

    ids = fake.queue(*(update for _chat, update in updates))
    queued = fake.queued_at[ids[0]]
    unanswered = 0
    try:
        await fake.until(done, timeout=timeout, what="the answers to a burst")
    except TimeoutError:
        unanswered = sum(max(0, n - counts[chat]) for chat, n in expected.items())
        log(f"  {unanswered} updates unanswered after {timeout:.0f} s")
    await asyncio.sleep(settle)  # trailing calls (a map pin after an event's text)
    answers = _answers(fake, start)
    latencies: list[float] = []
    last = queued
    for chat, n in expected.items():
        times = answers.get(chat, [])[:n]
        latencies.extend(at - queued for at in times)
        if times:
            last = max(last, max(times))
    return Burst(len(updates), last - queued, latencies, unanswered)


def _demo_ids(database: Path) -> dict[str, list[int]]:
    with sqlite3.connect(database) as db:
        events = [
            row[0]
            for row in db.execute(
                "SELECT id FROM events WHERE status = 'published' ORDER BY starts_at"
            )
        ]
        categories = [
            row[0]
            for row in db.execute(
                "SELECT category_id FROM offers WHERE status = 'published' "
                "GROUP BY category_id ORDER BY category_id"
            )
        ]
    return {"events": events, "categories": categories}


def _step(index: int, user_index: int, ids: dict[str, list[int]]) -> tuple[str, str]:
    """The `index`-th of a user's ten updates: ("text", text) or ("press", callback data)."""
    event = ids["events"][user_index % len(ids["events"])]
    category = ids["categories"][user_index % len(ids["categories"])]
    search = SEARCHES[(user_index + index) % len(SEARCHES)]
    mix = (
        ("text", "/start"),
        ("press", "events"),
        ("press", "evs:1"),
        ("press", f"e:{event}"),
        ("press", "offers"),
        ("press", "ocats"),
        ("press", f"oc:{category}:0"),
        ("text", search),
        ("press", "odists"),
        ("press", "menu"),
    )
    return mix[index % len(mix)]


def _text_step(index: int, user_index: int) -> tuple[str, str]:
    """The `index`-th of a user's ten typed messages (commands and searches; one answer each)."""
    search = SEARCHES[(user_index + index) % len(SEARCHES)]
    mix = (
        "/start",
        "/events",
        search,
        "/offers",
        "/help",
        search,
        "/menu",
        "/events",
        search,
        "/start",
    )
    return "text", mix[index % len(mix)]


def _mix(
    fake: BenchFake,
    ids: dict[str, list[int]],
    *,
    echo: bool,
    menus: dict[int, int],
    texts_only: bool = False,
) -> list[tuple[int, dict[str, Any]]]:
    """3,000 updates, ten per user, interleaved so that consecutive updates are other users'."""
    updates = []
    for round_ in range(PER_USER):
        for index in range(USERS):
            chat = FIRST_USER + index
            language = LOCALES[index % len(LOCALES)]
            if texts_only:
                kind, value = _text_step(round_ + index, index)
            else:
                kind, value = _step(round_ + index, index, ids)
            if kind == "text" or echo:
                update = fake.private_text(chat, value, language_code=language)
            else:
                update = fake.callback_query(
                    chat, value, message_id=menus[chat], language_code=language
                )
            updates.append((chat, update))
    return updates


async def _onboard(bot: BotUnderTest) -> dict[int, int]:
    """Take every user through /start, language and consent; return their menu message ids."""
    fake = bot.fake
    chats = [FIRST_USER + index for index in range(USERS)]
    language = {chat: LOCALES[index % len(LOCALES)] for index, chat in enumerate(chats)}
    first = [
        (chat, fake.private_text(chat, "/start", language_code=language[chat])) for chat in chats
    ]
    bot.onboarding.append(await _burst(fake, first, timeout=120))
    for data in ("lang_set:{}", "agree"):
        wave = [
            (
                chat,
                fake.callback_query(
                    chat,
                    data.format(language[chat]),
                    message_id=_last_message(fake, chat),
                    language_code=language[chat],
                ),
            )
            for chat in chats
        ]
        bot.onboarding.append(await _burst(fake, wave, timeout=120))
    return {chat: _last_message(fake, chat) for chat in chats}


async def _single(bot: BotUnderTest, ids: dict[str, list[int]], menus: dict[int, int]) -> None:
    """Send updates one at a time, each after the previous one's answer."""
    fake = bot.fake
    for number in range(SINGLE):
        index = number * 7 % USERS
        chat = FIRST_USER + index
        kind, value = _step(number, index, ids)
        language = LOCALES[index % len(LOCALES)]
        if kind == "text" or bot.name == "echo":
            update = fake.private_text(chat, value, language_code=language)
        else:
            update = fake.callback_query(
                chat, value, message_id=menus[chat], language_code=language
            )
        result = await _burst(fake, [(chat, update)], timeout=30, settle=0.02)
        bot.single.extend(result.latencies)


async def _start(bot: BotUnderTest) -> None:
    await bot.fake.start()
    bot.process.env = {**bot.process.env, **bot_env_for(bot)}
    await bot.process.start()
    await bot.fake.until(
        lambda: bot.fake.first_call("getUpdates") or not bot.process.running,
        timeout=60,
        what=f"{bot.name} to poll",
    )
    if not bot.process.running:
        raise RuntimeError(f"{bot.name} stopped:\n{bot.process.tail()}")


def bot_env_for(bot: BotUnderTest) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": bot.fake.token,
        "TELEGRAM_API_BASE_URL": bot.fake.base_url,
    }


async def run(runs: int = 3, workdir: Path | None = None) -> dict[str, Any]:
    """Measure both bots; return the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-throughput-", dir=workdir) as tmp:
        folder = Path(tmp)
        template = make_demo_database(folder / "template.db")
        ids = _demo_ids(template)
        database = copy_database(template, folder / "engage" / "bot.db")
        stats_file = folder / "engage-stats.json"
        engage = BotUnderTest(
            "engagebot",
            BenchFake(),
            BotProcess(
                [
                    PYTHON,
                    "-m",
                    "benchmarks.botproc",
                    "engage",
                    "--unthrottled",
                    "--stats",
                    str(stats_file),
                ],
                bot_env(database, None),
                folder / "engage",
            ),
        )
        echo = BotUnderTest(
            "echo",
            BenchFake(),
            BotProcess(
                [PYTHON, "-m", "benchmarks.botproc", "echo"],
                bot_env(folder / "unused.db", None),
                folder / "echo",
            ),
        )
        try:
            for bot in (engage, echo):
                await _start(bot)
            log("throughput: onboarding 300 users in engagebot, warming up the echo bot")
            menus = await _onboard(engage)
            await _burst(
                echo.fake,
                [
                    (FIRST_USER + i, echo.fake.private_text(FIRST_USER + i, "hello"))
                    for i in range(USERS)
                ],
                timeout=60,
            )
            for bot in (engage, echo):
                await _single(bot, ids, menus)
            for number in range(runs):
                plan = ((engage, False), (echo, False), (engage, True))
                for bot, texts_only in plan:
                    updates = _mix(
                        bot.fake, ids, echo=bot is echo, menus=menus, texts_only=texts_only
                    )
                    result = await _burst(bot.fake, updates, timeout=300)
                    (bot.text_bursts if texts_only else bot.bursts).append(result)
                    log(
                        f"throughput run {number + 1}/{runs}: {bot.name}"
                        f"{' (texts only)' if texts_only else ''} {result.rate:,.0f} "
                        f"updates/s, p50 {percentile(result.latencies, 50) * 1000:,.0f} ms, "
                        f"p99 {percentile(result.latencies, 99) * 1000:,.0f} ms"
                    )
                    bot.fake.forget()
            memory = engage.process.memory()
            echo_memory = echo.process.memory()
        finally:
            for bot in (engage, echo):
                await bot.process.stop()
                await bot.fake.stop()
        stats: dict[str, Any] = {}
        if stats_file.exists():
            stats = json.loads(stats_file.read_text())
    return {
        "runs": runs,
        "users": USERS,
        "updates": USERS * PER_USER,
        "engage": _summary(engage),
        "echo": _summary(echo),
        "ratio": median(e.rate / o.rate for e, o in zip(engage.bursts, echo.bursts, strict=True)),
        "text_ratio": median(
            e.rate / o.rate for e, o in zip(engage.text_bursts, echo.bursts, strict=True)
        ),
        "engage_memory": memory,
        "echo_memory": echo_memory,
        "engage_stats": stats,
    }


def _summary(bot: BotUnderTest) -> dict[str, Any]:
    return {
        "rates": [b.rate for b in bot.bursts],
        "rate": median(b.rate for b in bot.bursts),
        "p50_ms": median(percentile(b.latencies, 50) * 1000 for b in bot.bursts),
        "p99_ms": median(percentile(b.latencies, 99) * 1000 for b in bot.bursts),
        "single_p50_ms": percentile(bot.single, 50) * 1000,
        "single_p99_ms": percentile(bot.single, 99) * 1000,
        "unanswered": sum(b.unanswered for b in [*bot.bursts, *bot.text_bursts]),
        "text_rate": median(b.rate for b in bot.text_bursts) if bot.text_bursts else None,
        "text_rates": [b.rate for b in bot.text_bursts],
        "text_p50_ms": median(percentile(b.latencies, 50) * 1000 for b in bot.text_bursts)
        if bot.text_bursts
        else None,
        "onboarding_rate": median(b.rate for b in bot.onboarding) if bot.onboarding else None,
    }
