from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

import db.models  # noqa: F401
from db import migrate
from db.engine import make_engine
from db.search import include_name


def test_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_name}
        )
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_upgrade_twice_is_harmless(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        version = connection.execute(text("select version_num from alembic_version")).scalar()
    assert version is not None


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}", busy_timeout_ms=1234)
    with engine.connect() as connection:
        assert connection.execute(text("pragma journal_mode")).scalar() == "wal"
        assert connection.execute(text("pragma foreign_keys")).scalar() == 1
        assert connection.execute(text("pragma busy_timeout")).scalar() == 1234


def test_0020_moves_bulk_rows_to_the_third_lane_and_back(tmp_path: Path) -> None:
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine, "0019")
    with engine.begin() as connection:
        connection.execute(
            text(
                "insert into users (id, transport, external_id, active, paused, alert_mode, "
                "created_at, last_seen_at) values (1, 'telegram', '7', 1, 0, 'digest', "
                "'2026-12-03 10:00:00', '2026-12-03 10:00:00')"
            )
        )
        for n, (kind, lane) in enumerate([("reminder", 0), ("broadcast", 1)]):
            connection.execute(
                text(
                    "insert into outbox (user_id, transport, kind, dedupe_key, payload, status, "
                    "lane, attempts, parts_sent, next_attempt_at, created_at) values (1, "
                    f"'telegram', '{kind}', 'k{n}', '{{}}', 'pending', {lane}, 0, 0, "
                    "'2026-12-03 10:00:00', '2026-12-03 10:00:00')"
                )
            )

    def lanes() -> list[tuple[str, int]]:
        with engine.connect() as connection:
            return [
                tuple(row)
                for row in connection.execute(text("select kind, lane from outbox order by kind"))
            ]

    migrate.upgrade(engine, "0020")
    assert lanes() == [("broadcast", 2), ("reminder", 0)]
    command.downgrade(migrate.alembic_config(engine), "0019")
    assert lanes() == [("broadcast", 1), ("reminder", 0)]
