"""Long jobs and conversations on one database thread: does anyone wait while the jobs run?

Set-up:

- A migrated database with the demo city, plus (bulk-inserted with plain SQL): 20,000 people
  who read the weekly digest and follow a topic, and some also a district or an organisation
  (about 40,000 subscriptions); 1,000 who want instant news instead; 100 offers and events
  more, so that with the demo city's 26 about 120 were published in the last week; 50,000
  audit entries spread over two years, by 20 coordinators; 20,000 delivered messages, half of
  them older than the 90 days they are kept; and people due for retention: 25 who blocked the
  bot 60 days ago, 25 silent for 400 days (each with subscriptions, queued messages and audit
  entries that name them) and 50 to be told that they will be deleted in two weeks.
- A worker process (`python -m benchmarks.jobs_stall DB NOW --out FILE`) opens that database as
  the bot does, on an injected clock, and sends `/menu` from 200 of the people through
  `Conversation.handle_async` every 10 ms, without waiting for the answers. After half a second
  it starts the weekly digest (`Jobs.digest`) and the nightly retention (`Jobs.clean_up`) at the
  same time, exactly as the scheduler would, and keeps sending until both have finished.
- Figures: each job's time from start to end; the longest gap between two consecutive answers
  while the jobs ran (from the last answer before they started to the first after they ended);
  and the latency of the updates sent while they ran (sent to answered). Each run works on a
  fresh copy of the database.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import (
    LOCALES,
    copy_database,
    log,
    make_demo_database,
    median,
    percentile,
    run_worker,
    sql_time,
)

FOLLOWERS = 20_000
INSTANT = 1_000
NEW_ITEMS = 100
AUDIT_ROWS = 50_000
COORDINATORS = 20
DELIVERED = 20_000
BLOCKED = 25
SILENT = 25
TO_WARN = 50
ASKERS = 200
INTERVAL = 0.010
FIRST_CHAT = 7_000_001

# The same benchmark on the code before the jobs ran in slices (commit 5c429f0: one transaction
# per job, three queries per digest reader, the whole audit log read for every erased user), run
# once on the machine of the report (2 cores) with `--runs 1`; kept so the report shows both.
# Both jobs were started together; the retention waited for the digest's one transaction, so its
# figure includes that wait (its own work took about 227 s).
BEFORE: dict[str, Any] = {
    "commit": "5c429f0",
    "date": "2026-11-30",
    "digest_s": 151.4,
    "retention_s": 378.6,
    "max_gap_ms": 378_595.0,
    "p50_ms": 315_933.0,
    "p99_ms": 377_585.0,
    "max_ms": 378_975.0,
    "queued": 20_000,
    "audit_left": 42_815,
}


def build(database: Path, now: datetime) -> dict[str, Any]:
    """Fill a migrated demo database with followers, audit entries and people due for retention."""
    started = time.perf_counter()
    rng = random.Random(20261130)
    stamp = sql_time(now)
    with sqlite3.connect(database) as db:
        base = db.execute("SELECT coalesce(max(id), 0) FROM users").fetchone()[0]
        categories = [row[0] for row in db.execute("SELECT id FROM categories")]
        districts = [row[0] for row in db.execute("SELECT id FROM districts")]
        organisations = [row[0] for row in db.execute("SELECT id FROM organisations")]

        people: list[tuple[Any, ...]] = []
        subscriptions: list[tuple[Any, ...]] = []

        def person(
            *, mode: str = "digest", active: int = 1, seen: datetime = now, sent: str | None = None
        ) -> int:
            user_id = base + len(people) + 1
            created = sql_time(min(seen, now - timedelta(days=500)))
            people.append(
                (
                    user_id,
                    str(FIRST_CHAT + len(people)),
                    LOCALES[len(people) % len(LOCALES)],
                    active,
                    mode,
                    created,
                    created,
                    sent,
                    sql_time(seen),
                )
            )
            return user_id

        def follow(user_id: int, i: int) -> None:
            subscriptions.append((user_id, "category", categories[i % len(categories)], stamp))
            if i % 2 == 0:
                subscriptions.append((user_id, "district", districts[i % len(districts)], stamp))
            if i % 3 == 0:
                subscriptions.append(
                    (user_id, "organisation", organisations[i % len(organisations)], stamp)
                )

        week_ago = sql_time(now - timedelta(days=7, minutes=5))
        for i in range(FOLLOWERS):
            follow(person(sent=week_ago if i % 2 else None), i)
        for i in range(INSTANT):
            follow(person(mode="instant"), i)
        coordinators = [person() for _ in range(COORDINATORS)]
        expiring = [person(active=0, seen=now - timedelta(days=60)) for _ in range(BLOCKED)]
        expiring += [person(seen=now - timedelta(days=400)) for _ in range(SILENT)]
        for i, user_id in enumerate(expiring):
            follow(user_id, i)
        for _ in range(TO_WARN):
            person(seen=now - timedelta(days=355))
        db.executemany(
            "INSERT INTO users (id, transport, external_id, locale, active, paused, alert_mode, "
            "consent_at, created_at, digest_sent_at, last_seen_at) "
            "VALUES (?, 'telegram', ?, ?, ?, 0, ?, ?, ?, ?, ?)",
            people,
        )
        db.executemany(
            "INSERT INTO subscriptions (user_id, kind, target_id, created_at) VALUES (?, ?, ?, ?)",
            subscriptions,
        )

        # A week's news: the demo city's offers and events, and as many again and more.
        def published() -> str:
            return sql_time(now - timedelta(minutes=rng.randrange(6 * 24 * 60)))

        for table in ("offers", "events"):
            for (item_id,) in db.execute(f"SELECT id FROM {table}").fetchall():
                db.execute(
                    f"UPDATE {table} SET published_at = ? WHERE id = ?", (published(), item_id)
                )
        for i in range(NEW_ITEMS):
            values = (
                organisations[i % len(organisations)],
                categories[i % len(categories)],
                districts[i % len(districts)],
                f"Neues Angebot {i + 1}",
            )
            if i % 2:
                db.execute(
                    "INSERT INTO offers (organisation_id, category_id, district_id, locale, title, "
                    "summary, description, schedule, place_name, address, contact, status, "
                    "created_at, updated_at, published_at) VALUES (?, ?, ?, 'de', ?, '', '', '', "
                    "'', '', '', 'published', ?, ?, ?)",
                    (*values, stamp, stamp, published()),
                )
            else:
                starts = sql_time(now + timedelta(days=1 + i % 30, hours=i % 9))
                db.execute(
                    "INSERT INTO events (organisation_id, category_id, district_id, locale, title, "
                    "summary, description, starts_at, place_name, address, status, created_at, "
                    "updated_at, published_at) VALUES (?, ?, ?, 'de', ?, '', '', ?, '', '', "
                    "'published', ?, ?, ?)",
                    (*values, starts, stamp, stamp, published()),
                )

        # Two years of coordinators' work; now and then an admin adds someone (who is named).
        audit_columns = [row[1] for row in db.execute("PRAGMA table_info(audit_log)")]
        named = "subject_id" in audit_columns  # the column came with migration 0007
        audit = []
        for i in range(AUDIT_ROWS):
            created = sql_time(now - timedelta(days=730) * (1 - i / AUDIT_ROWS))
            if i % 1000 == 0:
                subject = expiring[(i // 1000) % len(expiring)]
                row = (None, "admin_added", json.dumps({"user_id": subject}), created, subject)
            else:
                detail = {"kind": "o", "id": 1 + i % 18, "field": "title"}
                actor = coordinators[i % COORDINATORS] if i % 7 else expiring[i % len(expiring)]
                row = (actor, "item_edited", json.dumps(detail), created, None)
            audit.append(row if named else row[:4])
        db.executemany(
            "INSERT INTO audit_log (actor_id, action, detail, created_at"
            + (", subject_id) VALUES (?, ?, ?, ?, ?)" if named else ") VALUES (?, ?, ?, ?)"),
            audit,
        )

        outbox_columns = [row[1] for row in db.execute("PRAGMA table_info(outbox)")]
        lane = ", lane, parts_sent" if "lane" in outbox_columns else ""
        delivered = []
        for i in range(DELIVERED):
            user_id = base + 1 + i % FOLLOWERS
            created = sql_time(now - timedelta(days=180) * (1 - i / DELIVERED))
            key = f"alert:{user_id}:o:{i}"
            delivered.append((user_id, key, created, created, created))
        for i, user_id in enumerate(expiring):
            delivered.append((user_id, f"alert:{user_id}:o:x{i}", stamp, stamp, stamp))
        db.executemany(
            "INSERT INTO outbox (user_id, transport, kind, dedupe_key, payload, status, attempts, "
            f"next_attempt_at, created_at, sent_at{lane}) VALUES (?, 'telegram', 'alert', ?, "
            f"'{{}}', 'sent', 1, ?, ?, ?{', 1, 1' if lane else ''})",
            delivered,
        )
    return {
        "followers": FOLLOWERS,
        "subscriptions": len(subscriptions),
        "new_items": NEW_ITEMS,
        "audit": AUDIT_ROWS,
        "delivered": DELIVERED,
        "expiring": len(expiring),
        "to_warn": TO_WARN,
        "build_seconds": time.perf_counter() - started,
    }


# -- the worker: one process, the bot's conversation core and its jobs -------------------------


async def measure(database: Path, now: datetime) -> dict[str, Any]:
    """Run the digest and retention while people write; time the answers and the jobs."""
    import sqlalchemy

    from benchmarks.common import settings_for
    from bot.app import App
    from bot.clock import FakeClock
    from bot.jobs import DIGEST_READERS_PER_SLICE
    from bot.messages import Incoming
    from bot.scheduler import Jobs
    from db.privacy import ROWS_PER_SLICE, USERS_PER_SLICE

    clock = FakeClock(now)
    app = App(settings_for(database, flood_burst=1000), clock=clock)
    jobs = Jobs(conversation=app.conversation, settings=app.settings, clock=clock)
    answered: list[float] = []
    latencies: list[tuple[float, float]] = []  # (sent, answered)
    stop = asyncio.Event()

    async def ask(n: int) -> None:
        incoming = Incoming("telegram", str(FIRST_CHAT + n % ASKERS), text="/menu")
        sent = time.perf_counter()
        replies = await app.conversation.handle_async(incoming)
        done = time.perf_counter()
        if replies:
            answered.append(done)
            latencies.append((sent, done))

    async def keep_asking() -> None:
        pending: set[asyncio.Task[None]] = set()
        n = 0
        while not stop.is_set():
            task = asyncio.create_task(ask(n))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
            await asyncio.sleep(INTERVAL)
        await asyncio.gather(*pending)

    times: dict[str, float] = {}
    # Full garbage collections stop every thread; they are timed to tell them from the jobs.
    collections: list[tuple[float, float]] = []
    collecting: list[float] = []

    def on_collection(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            collecting.append(time.perf_counter())
        elif collecting:
            collections.append((collecting.pop(), time.perf_counter()))

    async def timed(name: str, job: Any) -> None:
        began = time.perf_counter()
        await job
        times[name] = time.perf_counter() - began

    gc.callbacks.append(on_collection)
    try:
        asker = asyncio.create_task(keep_asking())
        await asyncio.sleep(0.5)
        began = time.perf_counter()
        await asyncio.gather(timed("digest", jobs.digest()), timed("retention", jobs.clean_up()))
        ended = time.perf_counter()
        await asyncio.sleep(0.2)
        stop.set()
        await asker
    finally:
        gc.callbacks.remove(on_collection)
        app.close()
    before = [t for t in answered if t <= began]
    after = [t for t in answered if t >= ended]
    window = sorted([*before[-1:], *(t for t in answered if began < t < ended), *after[:1]])
    gaps = [b - a for a, b in itertools.pairwise(window)]
    during = [(done - sent) * 1000 for sent, done in latencies if began <= sent <= ended]
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        queued = connection.execute(
            sqlalchemy.text("SELECT count(*) FROM outbox WHERE kind = 'digest'")
        ).scalar()
        audit_left = connection.execute(sqlalchemy.text("SELECT count(*) FROM audit_log")).scalar()
    engine.dispose()
    return {
        "digest_s": times["digest"],
        "retention_s": times["retention"],
        "both_s": ended - began,
        "max_gap_ms": max(gaps, default=0.0) * 1000,
        "answers_during": len(during),
        "p50_ms": percentile(during, 50),
        "p99_ms": percentile(during, 99),
        "max_ms": max(during, default=float("nan")),
        "queued": queued,
        "audit_left": audit_left,
        "gc_max_ms": max(
            ((end - start) * 1000 for start, end in collections if began <= start <= ended),
            default=0.0,
        ),
        "slices": {
            "readers": DIGEST_READERS_PER_SLICE,
            "rows": ROWS_PER_SLICE,
            "users": USERS_PER_SLICE,
        },
    }


async def run(workdir: Path | None = None, runs: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-jobs-", dir=workdir) as tmp:
        folder = Path(tmp)
        now = datetime.now(UTC).replace(microsecond=0)
        built_db = make_demo_database(folder / "built.db")
        log("jobs: building the database")
        built = build(built_db, now)
        log(
            f"jobs: {built['followers']:,} digest readers, {built['audit']:,} audit entries, "
            f"{built['expiring']} people to delete in {built['build_seconds']:.1f} s"
        )
        results = []
        for number in range(runs):
            database = copy_database(built_db, folder / f"run{number}.db")
            result = await run_worker(
                "benchmarks.jobs_stall",
                [str(database), now.isoformat()],
                database,
                folder,
                f"jobs-run{number}",
            )
            log(
                f"jobs: digest {result['digest_s']:.1f} s, retention "
                f"{result['retention_s']:.1f} s, longest gap between answers "
                f"{result['max_gap_ms']:.0f} ms"
            )
            results.append(result)
    figures = {key: median(r[key] for r in results) for key in results[0] if key != "slices"}
    return {
        "built": built,
        "runs": results,
        **figures,
        "slices": results[0]["slices"],
        "before": BEFORE,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.jobs_stall")
    parser.add_argument("database", type=Path)
    parser.add_argument("now", type=datetime.fromisoformat)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.database, args.now))
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
