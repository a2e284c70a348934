"""Shared fixtures: settings on a temporary SQLite file, an injected clock, a migrated database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.config import Settings, load_settings

# A Thursday morning in Kaiserslautern; demo events count their days from here.
START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def make_settings(db_path: Path, **overrides: object) -> Settings:
    defaults: dict[str, object] = {"telegram_bot_token": None, "flood_burst": 1000}
    return load_settings(
        _env_file=None, database_url=f"sqlite:///{db_path}", **{**defaults, **overrides}
    )


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once and load the demo city once per test worker; tests copy the file."""
    path = tmp_path_factory.mktemp("template") / "demo.db"
    app = App(make_settings(path), clock=FakeClock(START))
    app.migrate()
    app.load_demo(only_if_empty=True)
    app.close()
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def db_path(tmp_path: Path, demo_template: Path) -> Path:
    path = tmp_path / "bot.db"
    shutil.copy(demo_template, path)
    return path


@pytest.fixture
def app(db_path: Path, clock: FakeClock) -> Iterator[App]:
    """An app over a copy of the migrated demo city."""
    application = App(make_settings(db_path), clock=clock)
    yield application
    application.close()


@pytest.fixture
def empty_app(tmp_path: Path, clock: FakeClock) -> Iterator[App]:
    """An app over a migrated database with no city in it."""
    application = App(make_settings(tmp_path / "empty.db"), clock=clock)
    application.migrate()
    yield application
    application.close()
