"""Start-up: from starting `engagebot run` to its first getUpdates, and its memory when idle.

Set-up: a migrated database with the demo city; `engagebot run` (the console script of this
environment) is started as a subprocess with TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE_URL
pointing at the fake Bot API, in an empty working folder. The clock starts just before the
process is created and stops when the fake receives the first getUpdates call (by then the bot
has migrated, connected (getMe), published its command menu in eight languages and started
polling). The idle resident set size is read from /proc three seconds later, when the first
scheduler tick has run and nothing else happens.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ENGAGEBOT,
    BenchFake,
    BotProcess,
    bot_env,
    copy_database,
    log,
    make_demo_database,
    median,
)

IDLE_AFTER = 3.0


async def once(folder: Path, template: Path) -> dict[str, float]:
    database = copy_database(template, folder / "bot.db")
    fake = BenchFake()
    await fake.start()
    process = BotProcess([ENGAGEBOT, "run"], bot_env(database, fake), folder / "cwd")
    try:
        await process.start()
        polled = await fake.until(
            lambda: fake.first_call("getUpdates") or (not process.running and -1.0),
            timeout=60,
            what="the first getUpdates",
        )
        if polled < 0:
            raise RuntimeError(f"the bot stopped:\n{process.tail()}")
        seconds = polled - process.started_at
        await asyncio.sleep(IDLE_AFTER)
        memory = process.memory()
    finally:
        await process.stop()
        await fake.stop()
    return {"seconds": seconds, **memory}


async def run(runs: int = 5, workdir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-startup-", dir=workdir) as tmp:
        folder = Path(tmp)
        template = make_demo_database(folder / "template.db")
        results = []
        for number in range(runs):
            result = await once(folder / f"run{number}", template)
            results.append(result)
            log(
                f"start-up run {number + 1}/{runs}: first getUpdates after "
                f"{result['seconds']:.2f} s, idle RSS {result.get('rss', 0):.0f} MiB"
            )
    return {
        "runs": runs,
        "all_seconds": [r["seconds"] for r in results],
        "seconds": median(r["seconds"] for r in results),
        "rss": median(r.get("rss", 0.0) for r in results),
        "hwm": median(r.get("hwm", 0.0) for r in results),
    }
