"""Shared parts of the benchmarks: the machine, statistics, processes and an instrumented fake.

Every benchmark talks to the fake Bot API of the tests (tests/fake_bot_api.py), started here in
the benchmark's own process on 127.0.0.1. The bot under test always runs as a separate process,
so the fake's work and the bot's work do not share one interpreter lock, and the numbers are the
bot's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fake_bot_api import FakeBotApi

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# The `engagebot` console script of the same environment (made by `make install`).
ENGAGEBOT = str(Path(sys.executable).with_name("engagebot"))
TOKEN = "123:ABC"
LOCALES = ("de", "en", "uk", "ru", "ar", "fa", "tr")


# -- the machine ------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_total_mb() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024
    return None


def machine() -> dict[str, Any]:
    """Describe where the numbers come from."""
    import sqlalchemy
    import telegram

    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_mb": memory_total_mb(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "ptb": telegram.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "load": load,
    }


# -- statistics -------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- processes --------------------------------------------------------------------------------


def memory_of(pid: int) -> dict[str, float]:
    """Return the resident set size now (rss) and at its peak (hwm) of a process, in MiB."""
    found: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key[2:].lower()] = int(value.split()[0]) / 1024
    return found


def bot_env(database: Path, fake: FakeBotApi | None, **extra: str) -> dict[str, str]:
    """The environment of a bot process: this database, this fake, nothing from the caller."""
    env = {
        key: value
        for key, value in os.environ.items()
        # Only the basics of the caller's environment; no settings of a developer's own bot.
        if key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"sqlite:///{database}",
            "LOG_LEVEL": "WARNING",
        }
    )
    if fake is not None:
        env["TELEGRAM_BOT_TOKEN"] = fake.token
        env["TELEGRAM_API_BASE_URL"] = fake.base_url
    env.update(extra)
    return env


class BotProcess:
    """A bot under test, started as its own process in an empty working folder (no `.env`)."""

    def __init__(self, args: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        self.args = list(args)
        self.env = env
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self.stderr = b""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.started_at = time.monotonic()
        self.process = await asyncio.create_subprocess_exec(
            *self.args,
            env=self.env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._stderr_task = asyncio.create_task(self._collect_stderr())

    async def _collect_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        self.stderr = await self.process.stderr.read()

    def memory(self) -> dict[str, float]:
        return memory_of(self.pid)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self, timeout: float = 20.0) -> int | None:
        """Stop the bot as systemd would (SIGTERM), killing it if it does not stop in time."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._stderr_task, 5)
        return self.process.returncode

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.stderr.decode(errors="replace").splitlines()[-lines:])


# -- the fake Bot API, instrumented -----------------------------------------------------------


async def run_worker(
    module: str, args: Sequence[str], database: Path, folder: Path, what: str
) -> dict[str, Any]:
    """Run `python -m MODULE ARGS --out FILE` as a process of its own; return its JSON figures."""
    output = folder / f"{what}.json"
    process = BotProcess(
        [PYTHON, "-m", module, *args, "--out", str(output)],
        bot_env(database, None),
        folder / what,
    )
    await process.start()
    assert process.process is not None
    await process.process.wait()
    await process.stop()
    if not output.exists():
        raise RuntimeError(f"the {what} worker failed:\n{process.tail(30)}")
    return json.loads(output.read_text())


class BenchFake(FakeBotApi):
    """The tests' fake Bot API, remembering when each update was queued and waking waiters
    after every call instead of having them poll the whole call log."""

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__(token)
        self.queued_at: dict[int, float] = {}
        self._progress = asyncio.Event()

    def queue(self, *updates: dict[str, Any]) -> list[int]:
        now = self.clock()  # what the calls' `at` are measured on
        ids = super().queue(*updates)
        for update_id in ids:
            self.queued_at[update_id] = now
        return ids

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            return await super()._handle(request)
        finally:
            self._progress.set()

    async def until(self, predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
        """Wait until `predicate` (checked after each API call) is truthy; raise on timeout."""
        deadline = self._now() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - self._now()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(remaining, 0.5))

    def first_call(self, method: str, since: int = 0) -> float | None:
        for call in self.calls[since:]:
            if call.method == method:
                return call.at
        return None

    def forget(self) -> None:
        """Drop the log of calls and old messages between runs, to keep the fake's memory flat."""
        self.calls.clear()
        self.queued_at.clear()


# -- databases --------------------------------------------------------------------------------


def settings_for(database: Path, **overrides: Any):  # noqa: ANN201
    from bot.config import load_settings

    return load_settings(_env_file=None, database_url=f"sqlite:///{database}", **overrides)


def make_demo_database(path: Path) -> Path:
    """Migrate a new database and load the demo city into it (events count from now)."""
    from bot.app import App

    app = App(settings_for(path))
    try:
        app.migrate()
        app.load_demo(only_if_empty=True)
    finally:
        app.close()
    return path


def copy_database(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{target}{suffix}").unlink()
    shutil.copy(source, target)
    return target


def sql_time(moment: dt.datetime) -> str:
    """Format an aware datetime as the models store it in SQLite (naive UTC text)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# -- formatting -------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
