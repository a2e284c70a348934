"""The rush after an announcement: 2,000 people answer it within a minute, three taps each.

Set-up:

- A copy of the demo city with 2,000 people on Telegram (seven languages, all agreed, each
  with a conversation state) and, in each of their chats at the fake Bot API, the
  announcement they just got: the message they tap on.
- engagebot is `python -m benchmarks.botproc engage --unthrottled`, as in the throughput
  benchmark: `engagebot run` with python-telegram-bot's overall limit lifted (the fake
  enforces none), its per-person pacing on.
- Each person starts at a moment drawn uniformly from the first 54 seconds (a fixed seed)
  and taps three buttons 3 seconds apart, without waiting for the answers: the events
  (an edit of the message), one event in detail (an edit and a map pin), "I'm going" (an edit
  with the confirmation in it). 6,000 updates in 60 seconds, 100 a second, queued at the fake
  at their moments by the benchmark.
- Latency of a tap: from the moment it was queued at the fake to the first answer to it
  (editMessageText or sendMessage) arriving there. One person's answers come in order, so
  the k-th answer of a chat answers its k-th tap.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
from datetime import UTC, datetime
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
    percentile,
    sql_time,
)
from benchmarks.throughput import _is_answer

PEOPLE = 2000
TAPS = 3
WITHIN = 60.0
GAP = 3.0
FIRST_CHAT = 8_000_001
SEED = 17


def prepare(template: Path, database: Path, people: int) -> int:
    """Add `people` agreed Telegram users with states to a copy; return an upcoming event id."""
    copy_database(template, database)
    stamp = sql_time(datetime.now(UTC))
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO users (transport, external_id, locale, active, paused, created_at, "
            "last_seen_at, alert_mode, consent_at) VALUES ('telegram', ?, ?, 1, 0, ?, ?, "
            "'digest', ?)",
            [
                (str(FIRST_CHAT + i), LOCALES[i % len(LOCALES)], stamp, stamp, stamp)
                for i in range(people)
            ],
        )
        db.execute(
            "INSERT INTO conversation_states (user_id, data, menu, updated_at) "
            "SELECT id, '{}', '[]', ? FROM users "
            "WHERE id NOT IN (SELECT user_id FROM conversation_states)",
            (stamp,),
        )
        # An event with room for everyone: "I'm going" is then a place for each.
        (event,) = db.execute(
            "SELECT id FROM events WHERE status = 'published' AND starts_at > ? "
            "AND capacity IS NULL ORDER BY starts_at LIMIT 1",
            (stamp,),
        ).fetchone()
    return int(event)


async def run(people: int = PEOPLE, workdir: Path | None = None) -> dict[str, Any]:
    """Run the rush once; return the latencies' percentiles and what was left unanswered."""
    with tempfile.TemporaryDirectory(prefix="bench-rush-", dir=workdir) as tmp:
        folder = Path(tmp)
        template = make_demo_database(folder / "template.db")
        database = folder / "rush" / "bot.db"
        event = prepare(template, database, people)
        fake = BenchFake()
        await fake.start()
        announcement: dict[int, int] = {}
        for index in range(people):
            chat = FIRST_CHAT + index
            fake.add_chat(chat)
            sent = fake._outgoing(chat, {"text": "📣 Das Demokratie-Café öffnet am Samstag."})
            announcement[chat] = sent["message_id"]
        process = BotProcess(
            [PYTHON, "-m", "benchmarks.botproc", "engage", "--unthrottled"],
            bot_env(database, fake),
            folder / "rush",
        )
        rng = random.Random(SEED)
        taps: list[tuple[float, int, str]] = []
        for index in range(people):
            chat = FIRST_CHAT + index
            start = rng.uniform(0, WITHIN - GAP * (TAPS - 1))
            for number, data in enumerate(("events", f"e:{event}", f"go:{event}")):
                taps.append((start + number * GAP, chat, data))
        taps.sort()
        queued: dict[int, list[float]] = {}
        try:
            await process.start()
            await fake.until(
                lambda: fake.first_call("getUpdates") or not process.running,
                timeout=60,
                what="engagebot to poll",
            )
            begin = fake.clock()
            log(f"rush: {len(taps):,} taps by {people:,} people within {WITHIN:.0f} s")
            for moment, chat, data in taps:
                delay = begin + moment - fake.clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                language = LOCALES[(chat - FIRST_CHAT) % len(LOCALES)]
                update = fake.callback_query(
                    chat, data, message_id=announcement[chat], language_code=language
                )
                (update_id,) = fake.queue(update)
                queued.setdefault(chat, []).append(fake.queued_at[update_id])

            counts: dict[int, int] = {}
            seen = done = 0

            def answered() -> bool:
                # Checked after every call the fake answers, in the process that serves the
                # fake: only the calls since the last check are looked at, or the check itself
                # would slow the fake down as the calls pile up.
                nonlocal seen, done
                calls = fake.calls
                for call in calls[seen:]:
                    chat = call.params.get("chat_id")
                    if chat in queued and _is_answer(call):
                        counts[chat] = counts.get(chat, 0) + 1
                        done += counts[chat] == TAPS
                seen = len(calls)
                return done == len(queued)

            try:
                await fake.until(answered, timeout=600, what="the rush's answers")
            except TimeoutError as exc:
                log(f"  {exc}")
            await asyncio.sleep(0.5)
            memory = process.memory()
        finally:
            await process.stop()
            await fake.stop()
    answers: dict[int, list[float]] = {}
    for call in fake.calls:
        chat = call.params.get("chat_id")
        if chat in queued and _is_answer(call):
            answers.setdefault(chat, []).append(call.at)
    latencies: list[float] = []
    unanswered = 0
    for chat, moments in queued.items():
        got = answers.get(chat, [])
        for k, at in enumerate(moments):
            if k < len(got):
                latencies.append(got[k] - at)
            else:
                unanswered += 1
    last = max((max(v) for v in answers.values()), default=begin)
    return {
        "people": people,
        "taps": len(taps),
        "within_s": WITHIN,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "unanswered": unanswered,
        "last_answer_s": last - begin,
        "rss_mib": memory.get("rss"),
    }
