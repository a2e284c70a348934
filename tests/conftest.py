"""Shared fixtures: settings on a temporary SQLite file, an injected clock, a migrated database.

A module marked `both_databases` runs each test on SQLite and, when TEST_DATABASE_URL names a
PostgreSQL server, once more on PostgreSQL: the `app`, `empty_app` and `database_url` fixtures
then give a database of the test's own on that server. A test about SQLite itself says so with
`@pytest.mark.sqlite_only("why")` and is skipped there.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from bot.app import App
from bot.clock import FakeClock
from bot.config import Settings, load_settings

# A Thursday morning in Kaiserslautern; demo events count their days from here.
START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def make_settings(database: Path | str, **overrides: object) -> Settings:
    """Test settings on a SQLite file, or on a database URL."""
    defaults: dict[str, object] = {"telegram_bot_token": None, "flood_burst": 1000}
    url = database if isinstance(database, str) and "://" in database else f"sqlite:///{database}"
    return load_settings(_env_file=None, database_url=url, **{**defaults, **overrides})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("both_databases") is None:
        return
    if not os.environ.get("TEST_DATABASE_URL", "").strip():
        return  # no server: SQLite only, and no skipped twin for every test
    metafunc.parametrize("database", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """Which database this test runs on: "sqlite", or "postgresql" (see `both_databases`)."""
    kind = getattr(request, "param", "sqlite")
    if kind == "postgresql":
        marker = request.node.get_closest_marker("sqlite_only")
        if marker is not None:
            pytest.skip(f"about SQLite itself: {marker.args[0] if marker.args else ''}".strip())
    return kind


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
def database_url(database: str, request: pytest.FixtureRequest) -> str:
    """The URL of this test's own copy of the migrated demo city (SQLite: the `db_path` file)."""
    if database == "postgresql":
        return str(request.getfixturevalue("pg_demo_url"))
    return f"sqlite:///{request.getfixturevalue('db_path')}"


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[App]:
    """An app over a copy of the migrated demo city."""
    application = App(make_settings(database_url), clock=clock)
    yield application
    application.close()


@pytest.fixture
def empty_app(
    database: str, tmp_path: Path, clock: FakeClock, request: pytest.FixtureRequest
) -> Iterator[App]:
    """An app over a migrated database with no city in it."""
    where: Path | str = tmp_path / "empty.db"
    if database == "postgresql":
        where = str(request.getfixturevalue("pg_url"))
    application = App(make_settings(where), clock=clock)
    application.migrate()
    yield application
    application.close()


# PostgreSQL: a real server named by TEST_DATABASE_URL (`bash .ci/postgres` starts one and prints
# its URL). Each test gets a database of its own, copied from a template that every test worker
# migrates once; without TEST_DATABASE_URL the tests that need one are skipped.


def pg_database_url(admin_url: str, name: str) -> str:
    """Return the URL of database `name` on the server of `admin_url`."""
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The URL of a PostgreSQL server's maintenance database, with the right to create others."""
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not url:
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL (`bash .ci/postgres` prints one)")
    if make_url(url).get_backend_name() != "postgresql":
        pytest.fail(f"TEST_DATABASE_URL must name a PostgreSQL server, not {url!r}")
    return url


@pytest.fixture(scope="session")
def pg_admin(pg_admin_url: str) -> Iterator[Engine]:
    """An engine on the maintenance database, outside transactions (for CREATE DATABASE)."""
    from db.engine import make_engine

    engine = make_engine(pg_admin_url).execution_options(isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def pg_create_database(admin: Engine, template: str | None = None) -> str:
    """Create a database with a new name (a copy of `template` if given); return its name."""
    name = f"test_{secrets.token_hex(6)}"
    copy = f" TEMPLATE {template}" if template else ""
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}{copy}"))
    return name


def pg_drop_database(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str, pg_admin: Engine) -> Iterator[str]:
    """A migrated database to copy, made once by each test worker (no worker waits for another)."""
    from db import migrate
    from db.engine import make_engine

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"test_template_{worker}_{secrets.token_hex(3)}"
    with pg_admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine = make_engine(pg_database_url(pg_admin_url, name))
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()  # no connection may stay open on a template while it is copied
    yield name
    pg_drop_database(pg_admin, name)


@pytest.fixture
def pg_url(pg_admin_url: str, pg_admin: Engine, pg_template: str) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database of this test's own, dropped after it."""
    name = pg_create_database(pg_admin, template=pg_template)
    yield pg_database_url(pg_admin_url, name)
    pg_drop_database(pg_admin, name)


@pytest.fixture(scope="session")
def pg_demo_template(pg_admin_url: str, pg_admin: Engine, pg_template: str) -> Iterator[str]:
    """A migrated database with the demo city in it, to copy (one per test worker)."""
    name = pg_create_database(pg_admin, template=pg_template)
    application = App(make_settings(pg_database_url(pg_admin_url, name)), clock=FakeClock(START))
    try:
        application.load_demo(only_if_empty=True)
    finally:
        application.close()  # no connection may stay open on a template while it is copied
    yield name
    pg_drop_database(pg_admin, name)


@pytest.fixture
def pg_demo_url(pg_admin_url: str, pg_admin: Engine, pg_demo_template: str) -> Iterator[str]:
    """The URL of a fresh PostgreSQL copy of the demo city of this test's own, dropped after it."""
    name = pg_create_database(pg_admin, template=pg_demo_template)
    yield pg_database_url(pg_admin_url, name)
    pg_drop_database(pg_admin, name)
