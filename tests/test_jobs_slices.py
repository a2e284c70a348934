"""Long jobs in short transactions: the set-based digest gives what the per-reader one gave,
erasure touches only the person's rows, the audit log is pruned, and every job runs in slices
with conversations answered in between."""

from __future__ import annotations

import asyncio
import json
import math
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import event, or_, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, col, select

import bot.scheduler
from bot.app import App
from bot.clock import FakeClock
from bot.config import Settings
from bot.jobs import (
    DIGEST_PERIOD,
    DigestRun,
    _user_tz,
    after_quiet_hours,
)
from bot.messages import Incoming
from bot.scheduler import Jobs
from db import migrate
from db.engine import make_engine, session_scope
from db.models import (
    AuditEntry,
    Event,
    ItemStatus,
    Offer,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionKind,
    User,
)
from db.outbox import enqueue
from db.privacy import RetentionPolicy, RetentionRun, erase_user, export_user
from db.roles import audit
from tests.conftest import (
    START,
    make_settings,
    pg_create_database,
    pg_database_url,
    pg_drop_database,
)
from tests.test_privacy import rows_naming

pytestmark = pytest.mark.both_databases

# 22:30 in Kaiserslautern (quiet), 06:30 in Tokyo (quiet), 16:30 in New York (not quiet), and a
# different calendar day in Tokyo: the digest's quiet hours and dedupe key depend on the zone.
NOW = datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
ZONES = (None, "America/New_York", "Asia/Tokyo", "Mars/Olympus_Mons")


# -- the digest as it was: three queries per reader (the reference) --------------------------


def digest_as_before(session: Session, *, now: datetime, settings: Settings) -> int:
    """The weekly digest as it was computed before it ran in slices, one reader at a time.

    The old query took "at most 20" in whatever order the database chose; this reference asks
    for the order the new code promises (the order of publication) and is otherwise unchanged.
    """
    readers = session.exec(
        select(User).where(
            User.alert_mode == "digest",
            col(User.active).is_(True),
            col(User.paused).is_(False),
            col(User.id).in_(select(Subscription.user_id)),
        )
    ).all()
    queued = 0
    for user in readers:
        since = user.digest_sent_at or now - DIGEST_PERIOD
        subscriptions = session.exec(
            select(Subscription).where(Subscription.user_id == user.id)
        ).all()
        offer_ids = _matching(session, Offer, subscriptions, since=since, now=now)
        event_ids = _matching(session, Event, subscriptions, since=since, now=now)
        user.digest_sent_at = now
        if not offer_ids and not event_ids:
            continue
        local_day = now.astimezone(_user_tz(user, settings)).date().isoformat()
        queued += enqueue(
            session,
            user=user,
            kind="digest",
            dedupe_key=f"digest:{user.id}:{local_day}",
            payload={"offers": offer_ids, "events": event_ids},
            now=now,
            not_before=after_quiet_hours(now, _user_tz(user, settings), settings.quiet),
        )
    return queued


def _matching(session, model, subscriptions, *, since, now) -> list[int]:
    by_kind = {
        SubscriptionKind.CATEGORY: model.category_id,
        SubscriptionKind.DISTRICT: model.district_id,
        SubscriptionKind.ORGANISATION: model.organisation_id,
    }
    targets = [col(by_kind[SubscriptionKind(s.kind)]) == s.target_id for s in subscriptions]
    if not targets:
        return []
    conditions = [
        model.status == ItemStatus.PUBLISHED,
        col(model.published_at) > since,
        col(model.published_at) <= now,
        or_(*targets),
    ]
    if model is Event:
        conditions.append(col(Event.starts_at) > now)
    query = select(model.id).where(*conditions)
    return list(session.exec(query.order_by(model.published_at, model.id).limit(20)).all())


# -- a city with a few hundred followers --------------------------------------------------------


def fill_followers(app: App, *, people: int = 300, seed: int = 7) -> None:
    """Followers of every kind and habit, and offers and events published over five weeks."""
    rng = random.Random(seed)
    with session_scope(app.engine) as session:
        for i in range(150):
            published = NOW - timedelta(hours=rng.randrange(-24, 5 * 7 * 24))
            status = ItemStatus.PUBLISHED if i % 9 else ItemStatus.DRAFT
            common = {
                "organisation_id": 1 + i % 3,
                "category_id": 1 + i % 4,
                "district_id": None if i % 5 == 0 else 1 + i % 3,
                "title": f"Neu {i}",
                "status": status,
                "created_at": published,
                "updated_at": published,
                "published_at": published,
            }
            if i % 3:
                session.add(Offer(**common))
            else:
                starts = NOW + timedelta(hours=rng.randrange(-48, 30 * 24))
                session.add(Event(**common, starts_at=starts))
        for i in range(people):
            sent = rng.choice([None, None, NOW - timedelta(days=2), NOW - timedelta(days=60)])
            user = User(
                transport="console",
                external_id=f"reader{i}",
                locale="en",
                timezone=ZONES[i % len(ZONES)],
                alert_mode="instant" if i % 11 == 0 else "digest",
                active=i % 13 != 0,
                paused=i % 17 == 0,
                digest_sent_at=sent,
                consent_at=NOW - timedelta(days=30),
                created_at=NOW - timedelta(days=30),
                last_seen_at=NOW - timedelta(days=1),
            )
            session.add(user)
            session.flush()
            follows = {
                (kind, rng.randrange(1, 5))
                for kind in rng.sample(list(SubscriptionKind), rng.randrange(0, 4))
            }
            if i % 23 == 0:  # a keen reader: everything of the busiest topic and district
                follows |= {(SubscriptionKind.CATEGORY, 1), (SubscriptionKind.DISTRICT, 1)}
            for kind, target in follows:
                session.add(
                    Subscription(user_id=user.id, kind=kind, target_id=target, created_at=NOW)
                )


def copy_db(source: Path, target: Path) -> Path:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def two_copies(app: App, request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """Copy the app's database twice: with SQLite's backup API, or as PostgreSQL templates."""
    url = make_url(app.settings.database_url)
    if url.get_backend_name() != "postgresql":
        source = Path(str(url.database))
        return [f"sqlite:///{copy_db(source, tmp_path / name)}" for name in ("a.db", "b.db")]
    admin = request.getfixturevalue("pg_admin")
    admin_url = request.getfixturevalue("pg_admin_url")
    app.engine.dispose()  # a template must have no open connections while it is copied
    names = [pg_create_database(admin, template=url.database) for _ in range(2)]
    request.addfinalizer(lambda: [pg_drop_database(admin, name) for name in names])
    return [pg_database_url(admin_url, name) for name in names]


def digest_outcome(app: App) -> tuple[set[tuple], dict[int, datetime | None]]:
    with session_scope(app.engine) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "digest")).all()
        queued = {
            (
                m.user_id,
                m.transport,
                m.dedupe_key,
                json.dumps(m.payload),
                m.status,
                m.next_attempt_at,
                m.created_at,
            )
            for m in rows
        }
        sent = {u.id: u.digest_sent_at for u in session.exec(select(User)).all()}
    return queued, sent


@pytest.mark.parametrize("limit", [7, 500])
def test_the_set_based_digest_queues_what_the_per_reader_digest_queued(
    app: App, request: pytest.FixtureRequest, tmp_path: Path, limit: int
) -> None:
    fill_followers(app)
    clock = FakeClock(NOW)
    first, second = two_copies(app, request, tmp_path)
    before = App(make_settings(first), clock=clock)
    after = App(make_settings(second), clock=clock)
    try:
        for week in range(2):  # the second week starts from the first one's digest_sent_at
            clock.set(NOW + timedelta(days=7 * week))
            with session_scope(before.engine) as session:
                expected = digest_as_before(session, now=clock.now(), settings=before.settings)
            run = DigestRun(now=clock.now(), settings=after.settings, limit=limit)
            while run.next_slice(after.engine):
                pass
            assert run.queued == expected
            assert digest_outcome(after) == digest_outcome(before)
        queued, sent = digest_outcome(after)
        payloads = [json.loads(row[3]) for row in queued]
        assert len(queued) > 150, "most readers got a digest"
        assert any(len(p["offers"]) == 20 for p in payloads), "some hit the limit of 20"
        assert any(p["events"] for p in payloads) and any(not p["events"] for p in payloads)
        assert {row[5] for row in queued} != {row[6] for row in queued}, "quiet hours held some"
        assert any(day is None for day in sent.values()), "instant, paused, gone: not readers"
    finally:
        before.close()
        after.close()


def test_the_digest_runs_one_transaction_per_slice_of_readers(app: App) -> None:
    fill_followers(app, people=100)
    with session_scope(app.engine) as session:
        readers = len(
            session.exec(
                select(User.id).where(
                    User.alert_mode == "digest",
                    col(User.active).is_(True),
                    col(User.paused).is_(False),
                    col(User.id).in_(select(Subscription.user_id)),
                )
            ).all()
        )
    run = DigestRun(now=NOW, settings=app.settings, limit=9)
    with counting_transactions(app.engine) as transactions:
        while run.next_slice(app.engine):
            pass
    assert readers > 40
    assert transactions.count == math.ceil(readers / 9)
    assert run.queued > 0


# -- erasure ----------------------------------------------------------------------------------


def make_user(session: Session, name: str, *, seen: datetime = START, active: bool = True) -> User:
    user = User(
        transport="console",
        external_id=name,
        locale="en",
        active=active,
        consent_at=seen,
        created_at=seen,
        last_seen_at=seen,
    )
    session.add(user)
    session.flush()
    return user


class StatementLog:
    """The SQL statements an engine ran, with their parameters."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[tuple[str, object]] = []

    def __enter__(self) -> StatementLog:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, parameters, _context, _many) -> None:
        self.statements.append((statement, parameters))


@pytest.mark.sqlite_only("reads SQLite's query plans (EXPLAIN QUERY PLAN)")
def test_erasure_finds_the_persons_audit_entries_by_index_and_leaves_the_others(
    app: App, clock: FakeClock
) -> None:
    with session_scope(app.engine) as session:
        anna, ben = make_user(session, "anna"), make_user(session, "ben")
        for i in range(300):
            actor = (anna, ben, None)[i % 3]
            audit(session, actor=actor, action="item_edited", detail={"id": i}, now=clock.now())
        for subject in (anna, ben):
            audit(
                session,
                actor=ben if subject is anna else anna,
                action="admin_added",
                detail={"user_id": subject.id},
                now=clock.now(),
            )
        anna_id, ben_id = anna.id, ben.id
    with session_scope(app.engine) as session:
        about = export_user(session, user=session.get(User, anna_id))[
            "audit_entries_about_the_user"
        ]
        assert [entry["action"] for entry in about] == ["admin_added"]
        entries_before = session.exec(select(AuditEntry)).all()
    naming_anna = {
        e.id for e in entries_before if e.actor_id == anna_id or e.detail.get("user_id") == anna_id
    }
    assert len(naming_anna) == 102, "what she did (100, and adding ben) and her being added"

    with StatementLog(app.engine) as log, session_scope(app.engine) as session:
        erase_user(session, user=session.get(User, anna_id))

    assert rows_naming(app, anna_id, "anna") == []
    with session_scope(app.engine) as session:
        left = session.exec(select(AuditEntry)).all()
    assert {e.id for e in left} == {e.id for e in entries_before} - naming_anna
    assert sum(e.actor_id == ben_id for e in left) == 100, "ben keeps all but adding anna"
    audit_sql = [(sql, params) for sql, params in log.statements if "audit_log" in sql]
    assert audit_sql, "the audit log was looked at"
    with app.engine.connect() as connection:
        for sql, params in audit_sql:
            plan = " ".join(
                str(row[-1])
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            assert "SCAN audit_log" not in plan, f"{sql} reads the whole audit log: {plan}"


def test_the_migration_names_the_subjects_of_entries_written_before_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine, "0006")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, transport, external_id, active, paused, alert_mode, "
                "created_at, last_seen_at) VALUES (5, 'console', 'x', 1, 0, 'digest', "
                "'2026-01-01', '2026-01-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO audit_log (actor_id, action, detail, created_at) VALUES "
                "(NULL, 'admin_added', '{\"user_id\": 5}', '2026-01-01'), "
                "(5, 'item_edited', '{\"id\": 5}', '2026-01-01'), "
                "(NULL, 'admin_added', '{\"user_id\": 99}', '2026-01-01')"
            )
        )
    migrate.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT actor_id, subject_id FROM audit_log ORDER BY id"))
        assert rows.all() == [(None, 5), (5, None), (None, None)]
    engine.dispose()


# -- retention --------------------------------------------------------------------------------


def test_retention_deletes_audit_entries_older_than_kept(
    database_url: str, clock: FakeClock
) -> None:
    app = App(make_settings(database_url, retention_audit_days=30), clock=clock)
    with session_scope(app.engine) as session:
        actor = make_user(session, "carla")
        for days in (400, 31, 30, 29, 1):
            audit(
                session,
                actor=actor,
                action="item_edited",
                detail={"days": days},
                now=clock.now() - timedelta(days=days, minutes=-1 if days == 30 else 0),
            )
    done = Jobs(conversation=app.conversation, settings=app.settings, clock=clock).retention()
    assert done["audit"] == 2
    with session_scope(app.engine) as session:
        kept = sorted(e.detail["days"] for e in session.exec(select(AuditEntry)).all())
    assert kept == [1, 29, 30]
    app.close()


class counting_transactions:
    """Count the transactions begun on an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0

    def _begin(self, _connection) -> None:
        self.count += 1

    def __enter__(self) -> counting_transactions:
        event.listen(self.engine, "begin", self._begin)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "begin", self._begin)


def fill_retention(app: App, *, messages: int, expired: int, to_warn: int, audit_rows: int):
    now = START + timedelta(days=400)
    with session_scope(app.engine) as session:
        reader = make_user(session, "reader", seen=now)
        for i in range(messages):
            enqueue(
                session,
                user=reader,
                kind="alert",
                dedupe_key=f"alert:old:{i}",
                payload={},
                now=now - timedelta(days=100),
                status=OutboxStatus.SENT,
            )
        enqueue(session, user=reader, kind="alert", dedupe_key="alert:new", payload={}, now=now)
        for i in range(expired):
            gone = make_user(session, f"gone{i}", seen=now - timedelta(days=60), active=False)
            audit(session, actor=gone, action="item_edited", detail={"id": i}, now=now)
        for i in range(to_warn):
            make_user(session, f"quiet{i}", seen=now - timedelta(days=360))
        for i in range(audit_rows):
            audit(
                session,
                actor=reader,
                action="item_edited",
                detail={"id": i},
                now=now - timedelta(days=366),
            )
    return now


@pytest.mark.parametrize(
    ("messages", "expired", "to_warn", "audit_rows", "limit"),
    [(12, 7, 4, 23, 5), (10, 5, 5, 10, 5), (3, 1, 0, 0, 50)],
)
def test_retention_runs_one_transaction_per_slice_of_each_kind(
    app: App, messages: int, expired: int, to_warn: int, audit_rows: int, limit: int
) -> None:
    now = fill_retention(
        app, messages=messages, expired=expired, to_warn=to_warn, audit_rows=audit_rows
    )
    run = RetentionRun(now=now, policy=RetentionPolicy.from_settings(app.settings), limit=limit)
    with counting_transactions(app.engine) as transactions:
        while run.next_slice(app.engine):
            pass
    slices = sum(max(1, math.ceil(n / limit)) for n in (messages, expired, to_warn, audit_rows))
    slices += 3  # no drafts, closed requests to help or saved searches: one slice each finds none
    assert transactions.count == slices
    assert run.done == {
        "messages": messages,
        "users": expired,
        "warned": to_warn,
        "audit": audit_rows,
        "drafts": 0,
        "help": 0,
        "searches": 0,
    }
    with session_scope(app.engine) as session:
        kinds = [(m.kind, m.dedupe_key) for m in session.exec(select(OutboxMessage)).all()]
        assert [key for kind, key in kinds if kind == "alert"] == ["alert:new"]
        assert sum(kind == "retention_notice" for kind, _ in kinds) == to_warn
        names = {u.external_id for u in session.exec(select(User)).all()}
        assert not any(name.startswith("gone") for name in names)
        assert "reader" in names and sum(name.startswith("quiet") for name in names) == to_warn
        assert session.exec(select(AuditEntry)).all() == []


async def test_conversations_are_answered_between_slices_of_the_jobs(
    app: App, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_followers(app, people=60)
    now = fill_retention(app, messages=20, expired=6, to_warn=3, audit_rows=20)
    clock.set(now)
    monkeypatch.setattr(bot.scheduler, "DigestRun", partial(DigestRun, limit=5))
    monkeypatch.setattr(bot.scheduler, "RetentionRun", partial(RetentionRun, limit=4))
    submitted = []
    run_db = app.conversation.run_db

    async def counting_run_db(function, /, *args):
        submitted.append(getattr(function, "__name__", "?"))
        return await run_db(function, *args)

    monkeypatch.setattr(app.conversation, "run_db", counting_run_db)
    jobs = Jobs(conversation=app.conversation, settings=app.settings, clock=clock)
    for job in (jobs.digest, jobs.clean_up):
        submitted.clear()
        task = asyncio.create_task(job())
        await asyncio.sleep(0)  # the job's first slice is on the database thread now
        replies = await app.conversation.handle_async(Incoming("console", "reader", text="/menu"))
        assert replies, "answered"
        assert not task.done(), "answered before the job's next slice, not after the whole job"
        await task
        assert len(submitted) > 3 and set(submitted) == {"next_slice"}


def test_an_expired_coordinators_many_audit_entries_go_a_slice_at_a_time(app: App) -> None:
    now = START + timedelta(days=400)
    with session_scope(app.engine) as session:
        busy = make_user(session, "busy", seen=now - timedelta(days=366))
        idle = make_user(session, "idle", seen=now - timedelta(days=366))
        session.add_all(
            AuditEntry(actor_id=busy.id, action="item_edited", detail={"id": i}, created_at=now)
            for i in range(1_200)
        )
    run = RetentionRun(now=now, policy=RetentionPolicy.from_settings(app.settings))
    with counting_transactions(app.engine) as transactions:
        while run.next_slice(app.engine):
            pass
    # 500, 500, then the last 200 with the two users; one each for the other kinds of data
    assert transactions.count == 3 + 6
    assert run.done["users"] == 2
    with session_scope(app.engine) as session:
        assert session.exec(select(AuditEntry)).all() == []
        assert session.get(User, idle.id) is None


@pytest.mark.sqlite_only("reads SQLite's query plans (EXPLAIN QUERY PLAN)")
def test_each_retention_slice_walks_the_primary_key_from_where_the_last_one_stopped(
    app: App,
) -> None:
    now = fill_retention(app, messages=30, expired=3, to_warn=3, audit_rows=30)
    run = RetentionRun(now=now, policy=RetentionPolicy.from_settings(app.settings), limit=10)
    with StatementLog(app.engine) as log:
        while run.next_slice(app.engine):
            pass
    walks = [
        (sql, params)
        for sql, params in log.statements
        if sql.startswith("SELECT") and ".id > ?" in sql and "actor_id IN" not in sql
    ]
    assert {sql.split("FROM ")[1].split()[0] for sql, _ in walks} == {
        "outbox",
        "users",
        "audit_log",
        "help_requests",
    }
    with app.engine.connect() as connection:
        for sql, params in walks:
            plan = [
                row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            ]
            assert plan[0].endswith("USING INTEGER PRIMARY KEY (rowid>?)"), (sql, plan)
            assert not any("TEMP B-TREE" in step for step in plan), (sql, plan)
