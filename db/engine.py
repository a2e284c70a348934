"""Engine and session set-up: SQLite in WAL mode with foreign keys and a busy timeout;
PostgreSQL with lock and statement timeouts and a pre-ping of pooled connections."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

# An execution option for work that only reads: on SQLite it begins a deferred transaction,
# which reads beside a writer instead of waiting for the write lock (see `reading`).
READ_ONLY = "engagebot_read_only"

# PostgreSQL's read_only_sql_transaction: the database was switched read-only
# (default_transaction_read_only) or the server is a hot standby after a failover.
READ_ONLY_SQLSTATE = "25006"


def reading(engine: Engine) -> Engine:
    """Return the engine for transactions that only read (they never wait for writers)."""
    return engine.execution_options(**{READ_ONLY: True})


class DatabaseLocationError(Exception):
    """The database file cannot be created or written where the URL points."""


def sqlite_path(url: str) -> Path | None:
    """Return the file a SQLite URL names, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check_sqlite_location(url: str) -> None:
    """Create the database's folder if needed and make sure it can be written, or say why not."""
    path = sqlite_path(url)
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseLocationError(
            f"cannot create the database folder {folder}: {exc.strerror}"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DatabaseLocationError(f"the database folder {folder} is not writable")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise DatabaseLocationError(f"the database file {path} is not writable")


def make_engine(
    url: str,
    *,
    busy_timeout_ms: int = 5000,
    lock_timeout_ms: int = 5000,
    statement_timeout_ms: int = 30_000,
    pool_size: int = 5,
    max_overflow: int = 10,
) -> Engine:
    """Create the engine; on SQLite turn on WAL, foreign keys and the busy timeout.

    On PostgreSQL every connection waits at most `lock_timeout_ms` for a lock and runs a
    statement for at most `statement_timeout_ms` (0: no limit), so a table locked elsewhere
    ends in an OperationalError (the user hears "try again") instead of stalling the database
    thread; a pooled connection is pinged before use, so one the server dropped is replaced.
    The pool keeps `pool_size` connections and opens up to `max_overflow` more when busy.
    """
    check_sqlite_location(url)
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    is_postgresql = make_url(url).get_backend_name() == "postgresql"
    kwargs: dict[str, Any] = {}
    if is_sqlite:
        # The async transports hand database work to worker threads.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
    if is_postgresql:
        kwargs.update(pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)
    target = make_url(url)
    if target.drivername == "postgresql":
        # SQLAlchemy's default for postgresql:// is psycopg2; the postgresql extra installs psycopg.
        target = target.set(drivername="postgresql+psycopg")
    try:
        # Bound parameters are people's ids and what they typed: never in an error or a log.
        engine = create_engine(target, hide_parameters=True, **kwargs)
    except ImportError as exc:
        if target.get_backend_name() != "postgresql":
            raise
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DatabaseLocationError(
            f"DATABASE_URL names PostgreSQL, but its driver cannot be loaded ({reason}); "
            "install it with: pip install -e '.[postgresql]'"
        ) from None
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if sqlite_path(url) is not None:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            # The sqlite3 module's own transaction handling begins transactions only before
            # INSERT/UPDATE/DELETE and commits on its own around SAVEPOINTs, so a row written
            # inside a savepoint could survive a rollback of the whole update. SQLAlchemy's
            # documented remedy for pysqlite: turn the driver's handling off, begin ourselves.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # IMMEDIATE: take the write lock at the start, waiting up to the busy timeout. A
            # deferred transaction that reads, then writes after another connection (a second
            # thread or process) wrote, fails at once with "database is locked" in WAL mode,
            # without waiting; transactions here are short, so serialising them costs little.
            read_only = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    if is_postgresql:
        settings = (
            ("lock_timeout", int(lock_timeout_ms)),
            ("statement_timeout", int(statement_timeout_ms)),
        )

        @event.listens_for(engine, "connect")
        def _on_pg_connect(dbapi_connection: Any, _record: Any) -> None:
            # Set once per new connection, outside a transaction, so no rollback undoes them.
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            try:
                with dbapi_connection.cursor() as cursor:
                    for name, value in settings:
                        cursor.execute(f"SET {name} = {value}")
            finally:
                dbapi_connection.autocommit = autocommit

        @event.listens_for(engine, "handle_error")
        def _without_detail(context: Any) -> None:
            # PostgreSQL's DETAIL repeats the values of a violated key ("Key (external_id)=(…)
            # already exists"): people's ids and what they typed. Keep only the primary message.
            error, wrapped = context.original_exception, context.sqlalchemy_exception
            if scrub_error_detail(error) and wrapped is not None:
                # SQLAlchemy composed its message from the driver's before this hook ran.
                kind = type(error)
                wrapped.args = (f"({kind.__module__}.{kind.__name__}) {error}", *wrapped.args[1:])
            if getattr(error, "sqlstate", None) == READ_ONLY_SQLSTATE:
                # psycopg reports it as an InternalError (SQLSTATE class 25), but for the bot a
                # read-only database is one that is away, like SQLite's `query_only`: the person
                # hears "try again", a message to send stays queued. SQLAlchemy documents raising
                # another exception from this hook as the way to replace its own.
                raise OperationalError(
                    context.statement, context.parameters, error, hide_parameters=True
                ) from error

    return engine


# SQLSTATE class 57 "operator intervention", 57014: the statement ran past statement_timeout.
_QUERY_CANCELED = "57014"


def affects_everyone(error: OperationalError) -> bool:
    """Return whether a database error would fail any transaction now, not just the one it hit.

    A lock held elsewhere, a database that is away or read-only: every transaction would wait
    and fail the same way. A statement cancelled for running too long (PostgreSQL's
    statement_timeout) is that statement's own: others may well succeed.
    """
    return getattr(error.orig, "sqlstate", None) != _QUERY_CANCELED


def scrub_error_detail(error: BaseException) -> bool:
    """Drop a PostgreSQL error's DETAIL, which carries row values; return whether it had one."""
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not (primary and getattr(diag, "message_detail", None)):
        return False
    error.args = (primary,)
    return True


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on any error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
