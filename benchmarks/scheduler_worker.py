"""Time the scheduler's tick on a database, in a process that has imported the whole bot.

    python -m benchmarks.scheduler_worker CITY_DB NOW [--small DEMO_DB] [--ticks 10] [--runs 3]
        --out RESULT.json

NOW is the moment the city's data counts from (50 events start 24 hours after it, minus 10 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

TICK = timedelta(seconds=30)


def _jobs(database: Path, start: datetime):  # noqa: ANN202
    # Everything `engagebot run` imports, so the memory figure is the bot's.
    import bot.cli
    import bot.runner
    import bot.transports.telegram  # noqa: F401
    from benchmarks.common import settings_for
    from bot.app import App
    from bot.clock import FakeClock
    from bot.scheduler import Jobs

    clock = FakeClock(start)
    app = App(settings_for(database), clock=clock)
    app.migrate()
    jobs = Jobs(conversation=app.conversation, settings=app.settings, clock=clock)
    return app, clock, jobs


def _set_marks(app: Any, moment: datetime) -> None:
    from bot.jobs import ALERT_MARK, REMINDER_MARK
    from db.engine import session_scope
    from db.outbox import set_mark

    with session_scope(app.engine) as session:
        set_mark(session, name=REMINDER_MARK, moment=moment)
        set_mark(session, name=ALERT_MARK, moment=moment)


def idle_ticks(database: Path, start: datetime, ticks: int) -> list[float]:
    """Tick `ticks` times, 30 s apart, with nothing due; return the times in milliseconds."""
    app, clock, jobs = _jobs(database, start)
    try:
        _set_marks(app, start)
        jobs.queue_due()  # the first tick warms the caches, as it has in a running bot
        times = []
        for _ in range(ticks):
            clock.advance(TICK)
            began = time.perf_counter()
            queued = jobs.queue_due()
            times.append((time.perf_counter() - began) * 1000)
            assert queued == 0, f"{queued} queued on an idle tick"
        return times
    finally:
        app.close()


def due_ticks(database: Path, now: datetime, runs: int) -> tuple[list[float], list[int]]:
    """Tick at `now` with the reminders of the 50 events 24 hours ahead due; undo; repeat."""
    from sqlalchemy import text

    from db.engine import session_scope

    app, clock, jobs = _jobs(database, now - TICK)
    try:
        with session_scope(app.engine) as session:
            last = session.execute(text("SELECT coalesce(max(id), 0) FROM outbox")).scalar_one()
        times, queued = [], []
        for _ in range(runs):
            clock.set(now - TICK)
            _set_marks(app, now - TICK)
            clock.set(now)
            began = time.perf_counter()
            queued.append(jobs.queue_due())
            times.append((time.perf_counter() - began) * 1000)
            with session_scope(app.engine) as session:
                session.execute(text("DELETE FROM outbox WHERE id > :last"), {"last": last})
        return times, queued
    finally:
        app.close()


def main(argv: list[str] | None = None) -> int:
    from benchmarks.common import memory_of

    parser = argparse.ArgumentParser(prog="python -m benchmarks.scheduler_worker")
    parser.add_argument("database", type=Path)
    parser.add_argument("now")
    parser.add_argument("--small", type=Path, default=None)
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    now = datetime.fromisoformat(args.now)
    result: dict[str, Any] = {}
    # An hour before NOW nothing is due: the next reminders are 24 h after NOW.
    idle = idle_ticks(args.database, now - timedelta(hours=1), args.ticks)
    result.update(idle=idle, idle_ms=statistics.median(idle), idle_max_ms=max(idle))
    result["memory_idle"] = memory_of(os.getpid())
    due, queued = due_ticks(args.database, now, args.runs)
    result.update(due=due, due_ms=statistics.median(due), due_queued=statistics.median(queued))
    result["memory"] = memory_of(os.getpid())
    if args.small is not None:
        small = idle_ticks(args.small, now - timedelta(hours=1), args.ticks)
        result.update(small_idle=small, small_idle_ms=statistics.median(small))
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
