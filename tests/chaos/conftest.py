"""Fixtures of the crash suite, and the figures it shows at the end of a run."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.common import ROOT, machine
from tests.chaos.harness import (
    SCALE,
    BotProcess,
    SignalFake,
    TelegramFake,
    describe,
    seed_from_environment,
)

RESULTS = ROOT / "benchmarks" / "chaos-results.json"


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramFake]:
    async with TelegramFake() as fake:
        yield fake


@pytest.fixture
async def signal_cli() -> AsyncIterator[SignalFake]:
    fake = SignalFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def bots(tmp_path: Path) -> AsyncIterator[Callable[..., BotProcess]]:
    """Make bot processes in this test's folder; whatever still runs is killed afterwards."""
    made: list[BotProcess] = []

    def make(**kwargs: Any) -> BotProcess:
        bot = BotProcess(tmp_path, **kwargs)
        made.append(bot)
        return bot

    try:
        yield make
    finally:
        for bot in made:
            await bot.close()


@pytest.fixture
def chaos_database_url(database: str, request: pytest.FixtureRequest) -> str | None:
    """The PostgreSQL database a `both_databases` crash test runs on, or None for SQLite files.

    Without TEST_DATABASE_URL such a test runs on SQLite only.
    """
    if database == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return None


@pytest.fixture
def seed(record_property: Callable[[str, object], None]) -> int:
    value = seed_from_environment()
    print(f"CHAOS_SEED={value} CHAOS_SCALE={SCALE}")
    record_property("chaos_seed", value)
    return value


@pytest.fixture
def rng(seed: int) -> random.Random:
    return random.Random(seed)


class Figures(dict[str, Any]):
    """What a crash test measured; shown after the run (and with a failure), kept in full mode."""

    def __init__(self, record: Callable[[str, object], None], name: str) -> None:
        super().__init__()
        self._record = record
        self.name = name

    def publish(self) -> str:
        """Hand the figures to the run's summary; call before asserting, so failures have them."""
        self._record("chaos", {"test": self.name, "scale": SCALE, **self})
        text = f"{self.name} ({SCALE}):\n{describe(self)}"
        print(text)
        return text


@pytest.fixture
def figures(
    request: pytest.FixtureRequest, record_property: Callable[[str, object], None]
) -> Iterator[Figures]:
    yield Figures(record_property, request.node.name)


def _chaos_reports(terminalreporter: Any) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", None) != "call":
                continue
            for key, value in getattr(report, "user_properties", []):
                if key == "chaos" and isinstance(value, dict):
                    found.append((outcome, value))
    return found


def pytest_terminal_summary(terminalreporter: Any) -> None:
    reports = _chaos_reports(terminalreporter)
    if not reports:
        return
    terminalreporter.section("crash suite figures")
    for outcome, values in reports:
        shown = {k: v for k, v in values.items() if k not in ("test", "scale")}
        terminalreporter.write_line(f"{values['test']} [{outcome}, {values['scale']}]")
        terminalreporter.write_line(describe(shown))
    if SCALE == "full":
        results = {
            "machine": machine(),
            "scale": SCALE,
            "tests": [{"outcome": outcome, **values} for outcome, values in reports],
        }
        RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
        terminalreporter.write_line(f"written to {RESULTS.relative_to(ROOT)}")
