"""Where the time goes: py-spy samples the real `engagebot run` process during the update burst.
Run on its own: `python -m benchmarks.profile_burst [--out FILE] [--raw FILE] [--top 25]`.

Set-up:

- The throughput benchmark's engagebot (`python -m benchmarks.botproc engage --unthrottled`,
  the demo city, 300 onboarded users in seven languages) against its fake Bot API.
- py-spy (`pip install py-spy`) attaches to the bot's process by its id and samples every
  thread 200 times a second, idle waits left out, while one mixed burst of 3,000 updates is
  answered. Nothing in the bot is changed for it.
- Figures: the share of samples in which a function is on the stack ("inclusive"), and in
  which it is the innermost frame ("self"), for the functions of the bot and of the libraries.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import throughput
from benchmarks.common import (
    PYTHON,
    BenchFake,
    BotProcess,
    bot_env,
    copy_database,
    log,
    make_demo_database,
)

PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
SPY_OPTIONS = ("--rate", "200", "--format", "raw", "--nonblocking")


def top_entries(raw: Path, top: int) -> dict[str, Any]:
    """Summarise py-spy's raw (collapsed stacks) output: inclusive and self shares."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")[1:]  # the first entry names the thread
        if not frames:
            continue
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    boring = ("asyncio/", "runpy", "threading.py", "benchmarks/botproc", "bot/cli.py", "<module>")

    def shares(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        found = [
            (frame, n / total)
            for frame, n in counter.most_common()
            if not any(word in frame for word in boring)
        ]
        return found[:top]

    return {"samples": total, "inclusive": shares(inclusive), "self": shares(own)}


async def profile(folder: Path, raw: Path) -> dict[str, Any]:
    template = make_demo_database(folder / "template.db")
    ids = throughput._demo_ids(template)
    database = copy_database(template, folder / "engage" / "bot.db")
    bot = throughput.BotUnderTest(
        "engagebot",
        BenchFake(),
        BotProcess(
            [PYTHON, "-m", "benchmarks.botproc", "engage", "--unthrottled"],
            bot_env(database, None),
            folder / "engage",
        ),
    )
    try:
        await throughput._start(bot)
        menus = await throughput._onboard(bot)
        spy = subprocess.Popen(
            [PY_SPY, "record", "--pid", str(bot.process.pid), "--output", str(raw), *SPY_OPTIONS],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        await asyncio.sleep(1.0)  # py-spy attaches
        updates = throughput._mix(bot.fake, ids, echo=False, menus=menus)
        burst = await throughput._burst(bot.fake, updates, timeout=300)
        spy.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
        _, error = await asyncio.to_thread(spy.communicate, timeout=60)
        if not raw.exists():
            raise RuntimeError(f"py-spy wrote nothing: {error.decode(errors='replace')}")
    finally:
        await bot.process.stop()
        await bot.fake.stop()
    log(f"profile: burst at {burst.rate:,.0f} updates/s while sampled")
    return {"rate": burst.rate, "unanswered": burst.unanswered}


async def run(top: int = 25) -> dict[str, Any]:
    """Profile one burst; return the rate while sampled and the top entries."""
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        raw = Path(tmp) / "stacks.txt"
        figures = await profile(Path(tmp), raw)
        return figures | top_entries(raw, top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_burst")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument("--raw", type=Path, default=None, help="keep py-spy's collapsed stacks")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        raw = args.raw or Path(tmp) / "stacks.txt"
        figures = asyncio.run(profile(Path(tmp), raw))
        figures |= top_entries(raw, args.top)
    if args.out is not None:
        args.out.write_text(json.dumps(figures, indent=1))
    for kind in ("inclusive", "self"):
        print(f"-- {kind}")
        for frame, share in figures[kind]:
            print(f"{share * 100:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
