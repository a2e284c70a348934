"""The bots under test, each started by the benchmarks as a process of its own.

    python -m benchmarks.botproc engage [--unthrottled] [--no-pacer] [--stats FILE]
    python -m benchmarks.botproc echo [--stats FILE]
    python -m benchmarks.botproc sends --count N --first-chat CHAT

`engage` is exactly `engagebot run` (settings from the environment: the database, the token, the
fake's URL), with two optional changes for measuring capacity rather than politeness:

- `--unthrottled` lifts python-telegram-bot's overall limit (30 requests/s to chats) and group
  limit inside the transport's rate limiter. The transport's own per-person pacing (a burst of 4,
  then 1 message/s per chat) stays on; how often it made anyone wait is written to --stats.
- `--no-pacer` lifts the delivery worker's pacing (BROADCAST_RATE), to see what the outbox and
  the transport can push when nothing holds them back.

`echo` is the bare python-telegram-bot echo bot: an Application with one MessageHandler that
answers every text with the same text, polling exactly like the transport (same timeout, same
allowed updates, one update at a time) and without any rate limiter.

`sends` is python-telegram-bot alone sending N messages one after another: the ceiling for a
sender that has one message in hand at a time, as the delivery worker does.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

STATS: dict[str, Any] = {"chat_pacer_waits": 0, "chat_pacer_wait_s": 0.0}


def _write_stats(path: Path) -> None:
    from benchmarks.common import memory_of

    STATS.update(memory_of(os.getpid()))
    path.write_text(json.dumps(STATS))


def _unthrottle() -> None:
    """Lift PTB's overall and group limits in the transport; keep the per-chat pacer."""
    from bot.transports import telegram

    class UnthrottledLimiter(telegram.PacedRateLimiter):
        def __init__(self, pacer: telegram.ChatPacer, **kwargs: Any) -> None:
            # 0 switches a limit of PTB's AIORateLimiter off.
            kwargs.update(overall_max_rate=0, group_max_rate=0)
            super().__init__(pacer, **kwargs)

    telegram.PacedRateLimiter = UnthrottledLimiter  # looked up when the application is built


def _count_pacer_waits() -> None:
    from bot.transports.telegram import ChatPacer

    original = ChatPacer.wait

    async def wait(self: ChatPacer, chat_id: int) -> None:
        started = time.monotonic()
        await original(self, chat_id)
        waited = time.monotonic() - started
        if waited > 0.002:
            STATS["chat_pacer_waits"] += 1
            STATS["chat_pacer_wait_s"] += waited

    ChatPacer.wait = wait  # type: ignore[method-assign]


def _no_delivery_pacing() -> None:
    from bot import runner

    runner.delivery_rate = lambda app, transport: float("inf")  # Pacer: 0 s between messages


def engage(args: argparse.Namespace) -> int:
    from bot import cli

    _count_pacer_waits()
    if args.unthrottled:
        _unthrottle()
    if args.no_pacer:
        _no_delivery_pacing()
    return cli.main(["run"])


async def _echo() -> None:
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.text:
            await message.reply_text(message.text)

    application = (
        Application.builder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(os.environ["TELEGRAM_API_BASE_URL"])
        .concurrent_updates(False)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, reply))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(
        timeout=timedelta(seconds=30),
        allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY],
        drop_pending_updates=False,
    )
    await stop.wait()
    await application.updater.stop()
    await application.stop()
    await application.shutdown()


async def _sends(count: int, first_chat: int) -> None:
    """Send `count` messages one after another with a bare python-telegram-bot Bot."""
    from telegram import Bot

    bot = Bot(os.environ["TELEGRAM_BOT_TOKEN"], base_url=os.environ["TELEGRAM_API_BASE_URL"])
    async with bot:
        for number in range(count):
            await bot.send_message(first_chat + number, "📣 Announcement from the benchmark.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.botproc")
    parser.add_argument("mode", choices=("engage", "echo", "sends"))
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--first-chat", type=int, default=1)
    parser.add_argument("--unthrottled", action="store_true")
    parser.add_argument("--no-pacer", action="store_true")
    parser.add_argument("--stats", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.stats is not None:
        atexit.register(_write_stats, args.stats)
    if args.mode == "engage":
        return engage(args)
    if args.mode == "sends":
        asyncio.run(_sends(args.count, args.first_chat))
        return 0
    asyncio.run(_echo())
    return 0


if __name__ == "__main__":
    sys.exit(main())
