"""The scheduler at city scale: one reminder tick over 100,000 users, and the process's memory.

Set-up:

- A migrated database with the demo city, plus (bulk-inserted with plain SQL): 100,000 users in
  seven languages, 1,000 events (200 past, 50 starting in 24 hours, 750 in the next two months),
  100 people going to each (100,000 attendances), 300,000 subscriptions (a topic, a district and
  an organisation each) and 100,000 delivered messages of past reminders and announcements.
- A worker process (`python -m benchmarks.scheduler_worker`) imports everything the bot imports,
  opens that database as the bot does and times `Jobs.queue_due` (what the 30-second tick runs:
  renew the delivery lease, re-queue stale claims, queue due reminders and new-item alerts,
  close finished announcements) on an injected clock: with nothing due, and with 5,000
  reminders due (the 50 events 24 hours ahead). For comparison it also times the tick on the
  bare demo city. It reports its resident set size.
- Then `engagebot run` itself starts on the city database against the fake Bot API, answers a
  few people, and its resident set size (now and at its peak) is read from /proc.
"""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ENGAGEBOT,
    LOCALES,
    BenchFake,
    BotProcess,
    bot_env,
    copy_database,
    log,
    make_demo_database,
    run_worker,
    settings_for,
    sql_time,
)

USERS = 100_000
EVENTS = 1_000
PAST_EVENTS = 200
DUE_EVENTS = 50
GOING_PER_EVENT = 100
HISTORY = 100_000
FIRST_CHAT = 9_000_001


def build_city(database: Path, now: datetime) -> dict[str, Any]:
    """Fill a migrated demo database with a city's worth of people; return what was written."""
    started = time.perf_counter()
    rng = random.Random(20261126)
    stamp = sql_time(now)
    month_ago = sql_time(now - timedelta(days=30))
    with sqlite3.connect(database) as db:
        user_base = db.execute("SELECT coalesce(max(id), 0) FROM users").fetchone()[0]
        event_base = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        categories = [row[0] for row in db.execute("SELECT id FROM categories")]
        districts = [row[0] for row in db.execute("SELECT id FROM districts")]
        organisations = [row[0] for row in db.execute("SELECT id FROM organisations")]
        db.executemany(
            "INSERT INTO users (id, transport, external_id, locale, active, paused, created_at, "
            "last_seen_at, alert_mode, consent_at) VALUES (?, 'telegram', ?, ?, ?, 0, ?, ?, ?, ?)",
            (
                (
                    user_base + 1 + i,
                    str(FIRST_CHAT + i),
                    LOCALES[i % len(LOCALES)],
                    0 if i % 50 == 49 else 1,
                    month_ago,
                    stamp,
                    "instant" if i % 10 == 0 else "digest",
                    month_ago,
                )
                for i in range(USERS)
            ),
        )
        starts: list[datetime] = []
        for i in range(EVENTS):
            if i < PAST_EVENTS:
                starts.append(now - timedelta(days=1 + i % 60, hours=i % 7))
            elif i < PAST_EVENTS + DUE_EVENTS:
                starts.append(now + timedelta(hours=24) - timedelta(seconds=10))
            else:
                starts.append(now + timedelta(days=2, minutes=rng.randrange(58 * 24 * 60)))
        db.executemany(
            "INSERT INTO events (id, organisation_id, category_id, district_id, locale, title, "
            "summary, description, starts_at, ends_at, place_name, address, latitude, longitude, "
            "status, created_at, updated_at, published_at) VALUES (?, ?, ?, ?, 'de', ?, ?, ?, ?, "
            "?, ?, ?, ?, ?, 'published', ?, ?, ?)",
            (
                (
                    event_base + 1 + i,
                    organisations[i % len(organisations)],
                    categories[i % len(categories)],
                    districts[i % len(districts)],
                    f"Nachbarschaftstreffen Nr. {i + 1}",
                    "Ein Abend für alle, die mithelfen möchten.",
                    "Wir lernen uns kennen und planen die nächsten Aktionen im Viertel.",
                    sql_time(start),
                    sql_time(start + timedelta(hours=2)),
                    "Stadtteilbüro",
                    f"Königstraße {1 + i % 120}, 67655 Kaiserslautern",
                    49.44 + (i % 100) / 10_000,
                    7.76 + (i % 100) / 10_000,
                    month_ago,
                    month_ago,
                    month_ago,
                )
                for i, start in enumerate(starts)
            ),
        )
        db.executemany(
            "INSERT INTO attendances (user_id, event_id, status, created_at) "
            "VALUES (?, ?, 'going', ?)",
            (
                (user_base + 1 + (e * GOING_PER_EVENT + k) % USERS, event_base + 1 + e, month_ago)
                for e in range(EVENTS)
                for k in range(GOING_PER_EVENT)
            ),
        )
        db.executemany(
            "INSERT INTO subscriptions (user_id, kind, target_id, created_at) VALUES (?, ?, ?, ?)",
            (
                row
                for i in range(USERS)
                for row in (
                    (user_base + 1 + i, "category", categories[i % len(categories)], month_ago),
                    (user_base + 1 + i, "district", districts[i % len(districts)], month_ago),
                    (
                        user_base + 1 + i,
                        "organisation",
                        organisations[i % len(organisations)],
                        month_ago,
                    ),
                )
            ),
        )
        history = []
        for n in range(HISTORY):
            user = user_base + 1 + n % USERS
            if n < PAST_EVENTS * GOING_PER_EVENT * 2:
                event = event_base + 1 + (n // 2) // GOING_PER_EVENT
                minutes = 1440 if n % 2 == 0 else 120
                key = f"reminder:{user}:{event}:{minutes}:{n}"
                row = (
                    user,
                    "reminder",
                    event,
                    None,
                    key,
                    json.dumps({"event_id": event, "lead_minutes": minutes}),
                )
            else:
                key = f"broadcast:{n // USERS + 1}:{user}:{n}"
                row = (user, "broadcast", None, None, key, json.dumps({"broadcast_id": 0}))
            history.append((*row, month_ago, month_ago, month_ago))
        db.executemany(
            "INSERT INTO outbox (user_id, transport, kind, event_id, broadcast_id, dedupe_key, "
            "payload, status, lane, attempts, parts_sent, next_attempt_at, created_at, sent_at) "
            "VALUES (?, 'telegram', ?, ?, ?, ?, ?, 'sent', 0, 1, 1, ?, ?, ?)",
            history,
        )
    # Offers and events written with bulk SQL are indexed for search by hand (see db/search).
    from bot.app import App
    from db.engine import session_scope
    from db.search import reindex_all

    app = App(settings_for(database))
    try:
        with session_scope(app.engine) as session:
            reindex_all(session)
    finally:
        app.close()
    return {
        "users": USERS,
        "events": EVENTS,
        "attendances": EVENTS * GOING_PER_EVENT,
        "subscriptions": USERS * 3,
        "outbox_history": HISTORY,
        "due": DUE_EVENTS * GOING_PER_EVENT,
        "build_seconds": time.perf_counter() - started,
        "size_mb": database.stat().st_size / 2**20,
    }


async def bot_memory(folder: Path, database: Path) -> dict[str, Any]:
    """Start `engagebot run` on the city database, let it answer a few people, read its RSS."""
    fake = BenchFake()
    await fake.start()
    process = BotProcess([ENGAGEBOT, "run"], bot_env(database, fake), folder / "cwd")
    try:
        await process.start()
        await fake.until(
            lambda: fake.first_call("getUpdates") or not process.running,
            timeout=120,
            what="the bot to poll",
        )
        if not process.running:
            raise RuntimeError(f"the bot stopped:\n{process.tail()}")
        after_start = process.memory()
        people = [FIRST_CHAT + i for i in range(20)]
        for text in ("/start", "/events", "/offers", "Nachbarschaftstreffen", "/menu"):
            before = len(fake.calls)
            fake.queue(*(fake.private_text(chat, text) for chat in people))
            await fake.until(
                lambda before=before: (
                    sum(1 for call in fake.calls[before:] if call.method == "sendMessage")
                    >= len(people)
                ),
                timeout=60,
                what=f"answers to {text}",
            )
        memory = process.memory()
    finally:
        await process.stop()
        await fake.stop()
    return {"after_start": after_start, "after_answers": memory}


async def run(workdir: Path | None = None, ticks: int = 10, runs: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-", dir=workdir) as tmp:
        folder = Path(tmp)
        now = datetime.now(UTC).replace(microsecond=0)
        demo = make_demo_database(folder / "demo.db")
        city = copy_database(demo, folder / "city.db")
        log("scheduler: building the city database")
        built = build_city(city, now)
        log(
            f"scheduler: {built['users']:,} users, {built['subscriptions']:,} subscriptions, "
            f"{built['attendances']:,} attendances in {built['build_seconds']:.1f} s"
        )
        worker = await run_worker(
            "benchmarks.scheduler_worker",
            [
                *(str(city), now.isoformat(), "--small", str(demo)),
                *("--ticks", str(ticks), "--runs", str(runs)),
            ],
            city,
            folder,
            "scheduler",
        )
        log(
            f"scheduler: tick with nothing due {worker['idle_ms']:.1f} ms, with "
            f"{worker['due_queued']} due {worker['due_ms']:.0f} ms"
        )
        bot = await bot_memory(folder / "bot", city)
    return {"city": built, "worker": worker, "bot": bot}
