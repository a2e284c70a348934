"""Broadcast: an announcement to every user, through the outbox, the delivery worker and the
real Telegram transport, against a fake that enforces Telegram's limits.

Set-up:

- A copy of the demo city gets N users (seven languages, all agreed) and one announcement to
  "all", queued by the real `db.broadcasts.queue_broadcast` (its time is reported: it runs on
  the conversation's database thread when a coordinator presses "send").
- Paced case: the bot is `engagebot run`, exactly as shipped (BROADCAST_RATE at its default,
  python-telegram-bot's 30/s limiter in the transport). The fake answers 429 beyond 30
  messages/s overall (a token bucket with a burst of 30) and beyond 1 message/s per chat
  (burst 4). Achieved rate: (messages - 1) / (last arrival - first arrival) at the fake.
- Raw case: every limit lifted (the fake enforces none, the transport's overall limit and the
  worker's pacing are off: `python -m benchmarks.botproc engage --unthrottled --no-pacer`), to
  see what the outbox and the transport can push.
- Lost: recipients who got nothing; duplicated: recipients who got the announcement more than
  once. 429s: answers of the fake that said "too many requests".
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ENGAGEBOT,
    LOCALES,
    PYTHON,
    BenchFake,
    BotProcess,
    bot_env,
    copy_database,
    log,
    make_demo_database,
    median,
    settings_for,
    sql_time,
)

FIRST_CHAT = 5_000_001
LIMIT = 30.0  # messages a second the fake allows overall


@dataclass
class Delivery:
    recipients: int
    delivered: int
    lost: int
    duplicated: int
    too_many_requests: int
    first_to_last: float
    start_to_last: float
    queue_seconds: float

    @property
    def rate(self) -> float:
        if self.delivered < 2 or self.first_to_last <= 0:
            return float("nan")
        return (self.delivered - 1) / self.first_to_last


def prepare(template: Path, database: Path, recipients: int) -> float:
    """Put `recipients` users and one queued announcement to all into a copy of the demo city;
    return how long queueing the announcement took."""
    from bot.app import App
    from db.broadcasts import queue_broadcast
    from db.engine import session_scope
    from db.models import Broadcast, BroadcastStatus

    copy_database(template, database)
    now = datetime.now(UTC)
    stamp = sql_time(now)
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO users (transport, external_id, locale, active, paused, created_at, "
            "last_seen_at, alert_mode, consent_at) VALUES ('telegram', ?, ?, 1, 0, ?, ?, "
            "'digest', ?)",
            [
                (str(FIRST_CHAT + i), LOCALES[i % len(LOCALES)], stamp, stamp, stamp)
                for i in range(recipients)
            ],
        )
        # Everyone who agreed has talked to the bot, so has a conversation state.
        db.execute(
            "INSERT INTO conversation_states (user_id, data, menu, updated_at) "
            "SELECT id, '{}', '[]', ? FROM users "
            "WHERE id NOT IN (SELECT user_id FROM conversation_states)",
            (stamp,),
        )
    app = App(settings_for(database))
    try:
        with session_scope(app.engine) as session:
            broadcast = Broadcast(
                organisation_id=1,
                audience="all",
                texts={
                    "de": "Das Demokratie-Café öffnet am Samstag um 15 Uhr in der Königstraße.",
                    "en": "The Democracy Café opens on Saturday at 3 pm in Königstraße.",
                    "uk": "Кафе демократії відкривається в суботу о 15:00 на Königstraße.",
                },
                status=BroadcastStatus.SCHEDULED,
                send_at=now,
                created_at=now,
            )
            session.add(broadcast)
            session.flush()
            started = time.perf_counter()
            queued = queue_broadcast(session, broadcast=broadcast, now=now)
            session.commit()
            seconds = time.perf_counter() - started
    finally:
        app.close()
    assert queued == recipients, (queued, recipients)
    return seconds


async def deliver(
    folder: Path, template: Path, recipients: int, *, limited: bool, timeout: float
) -> Delivery:
    database = folder / "bot.db"
    queue_seconds = prepare(template, database, recipients)
    fake = BenchFake()
    await fake.start()
    chats = range(FIRST_CHAT, FIRST_CHAT + recipients)
    for chat in chats:
        fake.add_chat(chat)
    if limited:
        fake.enforce_limits(
            overall_rate=LIMIT, overall_burst=int(LIMIT), chat_rate=1.0, chat_burst=4
        )
        args = [ENGAGEBOT, "run"]
    else:
        args = [PYTHON, "-m", "benchmarks.botproc", "engage", "--unthrottled", "--no-pacer"]
    process = BotProcess(args, bot_env(database, fake), folder / "cwd")
    delivered: Counter[int] = Counter()
    seen = 0

    def progress() -> bool:
        nonlocal seen
        for call in fake.calls[seen:]:
            if call.method == "sendMessage" and call.ok:
                delivered[call.params["chat_id"]] += 1
        seen = len(fake.calls)
        return len(delivered) >= recipients or not process.running

    try:
        await process.start()
        try:
            await fake.until(progress, timeout=timeout, what="the announcement to arrive")
        except TimeoutError as exc:
            log(f"  {exc}")
        if not process.running:
            log(f"  the bot stopped:\n{process.tail()}")
        # Anything sent twice would show up shortly after the last first delivery.
        await asyncio.sleep(1.0)
    finally:
        await process.stop()
        await fake.stop()
    progress()
    times = [call.at for call in fake.calls if call.method == "sendMessage" and call.ok]
    sends = [call for call in fake.calls if call.method == "sendMessage"]
    return Delivery(
        recipients=recipients,
        delivered=sum(1 for chat in chats if delivered[chat]),
        lost=sum(1 for chat in chats if not delivered[chat]),
        duplicated=sum(1 for chat in chats if delivered[chat] > 1),
        too_many_requests=sum(1 for call in sends if call.status == 429),
        first_to_last=(max(times) - min(times)) if times else 0.0,
        start_to_last=(max(times) - process.started_at) if times else 0.0,
        queue_seconds=queue_seconds,
    )


async def ptb_ceiling(folder: Path, count: int) -> float:
    """Messages/s python-telegram-bot alone sends one after another to the same fake."""
    fake = BenchFake()
    await fake.start()
    for chat in range(FIRST_CHAT, FIRST_CHAT + count):
        fake.add_chat(chat)
    args = [
        PYTHON,
        "-m",
        "benchmarks.botproc",
        "sends",
        "--count",
        str(count),
        "--first-chat",
        str(FIRST_CHAT),
    ]
    process = BotProcess(args, bot_env(folder / "unused.db", fake), folder / "cwd")
    try:
        await process.start()
        assert process.process is not None
        await process.process.wait()
    finally:
        await process.stop()
        await fake.stop()
    times = [call.at for call in fake.calls if call.method == "sendMessage" and call.ok]
    if len(times) < 2:
        raise RuntimeError(f"the sender failed:\n{process.tail()}")
    return (len(times) - 1) / (max(times) - min(times))


async def run(
    runs: int = 3,
    paced_recipients: int = 2000,
    raw_recipients: int = 10_000,
    workdir: Path | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-", dir=workdir) as tmp:
        folder = Path(tmp)
        template = make_demo_database(folder / "template.db")
        paced: list[Delivery] = []
        raw: list[Delivery] = []
        for number in range(runs):
            result = await deliver(
                folder / f"paced{number}",
                template,
                paced_recipients,
                limited=True,
                timeout=paced_recipients / 20 + 60,
            )
            paced.append(result)
            log(
                f"broadcast run {number + 1}/{runs}: {result.delivered}/{paced_recipients} at "
                f"{result.rate:.2f}/s, {result.too_many_requests} x 429, {result.lost} lost, "
                f"{result.duplicated} duplicated"
            )
        for number in range(runs):
            result = await deliver(
                folder / f"raw{number}",
                template,
                raw_recipients,
                limited=False,
                timeout=raw_recipients / 50 + 60,
            )
            raw.append(result)
            log(
                f"broadcast raw run {number + 1}/{runs}: {result.delivered}/{raw_recipients} "
                f"at {result.rate:,.0f}/s (queueing took {result.queue_seconds:.1f} s)"
            )
        ceiling = [await ptb_ceiling(folder / f"ptb{n}", 3000) for n in range(runs)]
        log(f"broadcast: python-telegram-bot alone, one at a time: {median(ceiling):,.0f}/s")
    return {
        "runs": runs,
        "limit": LIMIT,
        "ptb_sequential": median(ceiling),
        "broadcast_rate": settings_for(Path("unused.db")).broadcast_rate,
        "paced": _summary(paced),
        "raw": _summary(raw),
    }


def _summary(results: list[Delivery]) -> dict[str, Any]:
    return {
        "recipients": results[0].recipients if results else 0,
        "rates": [r.rate for r in results],
        "rate": median(r.rate for r in results),
        "ratio": median(r.rate for r in results) / LIMIT,
        "too_many_requests": sum(r.too_many_requests for r in results),
        "lost": sum(r.lost for r in results),
        "duplicated": sum(r.duplicated for r in results),
        "seconds": median(r.start_to_last for r in results),
        "queue_seconds": median(r.queue_seconds for r in results),
    }
