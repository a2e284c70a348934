"""Owner locks (db/locks.py): one holder at a time, and a holder that dies lets go at once.

Each test runs on a SQLite file and on PostgreSQL (the latter only with TEST_DATABASE_URL). A
"second process" is a real one: a Python subprocess that takes the lock and sleeps until it is
killed with SIGKILL, which gives it no chance to clean up.
"""

from __future__ import annotations

import concurrent.futures
import os
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from db.engine import make_engine
from db.locks import AdvisoryLock, FileLock, LocalLock, advisory_key, owner_lock

ROOT = Path(__file__).resolve().parent.parent
# Names the bot uses; PostgreSQL advisory keys of both signs (the sign once broke `held`).
NAMES = ["delivery-telegram", "delivery-console"]
assert advisory_key(NAMES[0]) > 0 > advisory_key(NAMES[1])

HOLDER = """
import sys, time
from db.engine import make_engine
from db.locks import owner_lock

lock = owner_lock(make_engine(sys.argv[1]), sys.argv[2])
print("held" if lock.try_acquire() else "busy", flush=True)
time.sleep(600)
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


def start_holder(url: str, name: str) -> subprocess.Popen[str]:
    """Start a process that takes the lock `name` and then sleeps; return once it holds it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, name],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 60)
    if not ready:
        process.kill()
        process.wait()
        pytest.fail("the holder process said nothing for 60 s")
    answer = process.stdout.readline().strip()
    if answer != "held":
        process.kill()
        process.wait()
        pytest.fail(f"the holder process could not take the lock: {answer or 'it died'}")
    return process


def kill_9(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def test_each_database_gets_the_lock_its_platform_offers(tmp_path: Path) -> None:
    file_engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    lock = owner_lock(file_engine, "scheduler")
    assert isinstance(lock, FileLock)
    assert lock.path == tmp_path / "bot.db.scheduler.lock"
    assert isinstance(owner_lock(make_engine("sqlite://"), "scheduler"), LocalLock)
    # Creating the engine does not connect, so this needs no server.
    assert isinstance(
        owner_lock(make_engine("postgresql+psycopg://x@127.0.0.1:1/x"), "s"), AdvisoryLock
    )


@pytest.mark.parametrize("name", NAMES)
def test_one_holder_at_a_time(engine: Engine, name: str) -> None:
    first, second = owner_lock(engine, name), owner_lock(engine, name)
    assert first.try_acquire()
    assert first.held() and first.held(), "held() asks again and again gets yes"
    assert first.try_acquire(), "taking a lock one holds already is a yes"
    assert not second.try_acquire()
    assert not second.held()
    assert first.held()
    first.release()
    second.release()


@pytest.mark.parametrize("name", NAMES)
def test_release_lets_another_take_it(engine: Engine, name: str) -> None:
    first, second = owner_lock(engine, name), owner_lock(engine, name)
    assert first.try_acquire()
    first.release()
    assert not first.held()
    assert second.try_acquire() and second.held()
    assert not first.try_acquire()
    second.release()
    first.release()  # releasing a lock one does not hold changes nothing
    assert first.try_acquire()
    first.release()


def test_different_names_do_not_conflict(engine: Engine) -> None:
    locks = [owner_lock(engine, name) for name in [*NAMES, "scheduler"]]
    assert all(lock.try_acquire() for lock in locks)
    assert all(lock.held() for lock in locks)
    for lock in locks:
        lock.release()


@pytest.mark.parametrize("name", NAMES)
def test_a_holder_killed_with_sigkill_lets_go_at_once(url: str, engine: Engine, name: str) -> None:
    ours = owner_lock(engine, name)
    holder = start_holder(url, name)
    try:
        assert not ours.try_acquire(), "another process holds it"
        assert not ours.held()
        if isinstance(ours, FileLock):
            assert ours.path.read_text() == f"{holder.pid}\n", "the file names its holder"
        other = owner_lock(engine, "scheduler")
        assert other.try_acquire(), "the holder holds only its own name"
        other.release()
    finally:
        kill_9(holder)
    # A file lock goes with the process's last file descriptor. An advisory lock goes when the
    # server sees the session's connection close, which the kernel does as the process dies:
    # a matter of milliseconds, but not synchronous with our wait() for the process.
    deadline = time.monotonic() + (0 if isinstance(ours, FileLock) else 2)
    while not ours.try_acquire():
        assert time.monotonic() < deadline, "the lock outlived its holder"
        time.sleep(0.01)
    assert ours.held()
    ours.release()


def backend_holding(admin: Engine, key: int) -> int | None:
    """Return the server process that holds the advisory lock `key` (read independently of
    db/locks.py: pg_locks shows a bigint key as its two unsigned 32-bit halves)."""
    with admin.connect() as connection:
        return connection.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1"
            ),
            {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
        ).scalar()


@pytest.mark.parametrize("name", NAMES)
def test_held_turns_false_when_the_session_holding_it_is_terminated(pg_url: str, name: str) -> None:
    engine = make_engine(pg_url)
    try:
        ours, theirs = owner_lock(engine, name), owner_lock(engine, name)
        assert ours.try_acquire()
        pid = backend_holding(engine, advisory_key(name))
        assert pid is not None
        with engine.connect() as connection:
            # Wait (up to 5 s) until the session is gone, not only signalled.
            assert connection.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        assert not ours.held()
        assert backend_holding(engine, advisory_key(name)) is None
        assert theirs.try_acquire()
        assert not ours.try_acquire()
        theirs.release()
        assert ours.try_acquire()
        ours.release()
    finally:
        engine.dispose()


def test_in_memory_databases_lock_within_the_process() -> None:
    engine = make_engine("sqlite://")
    first, second = owner_lock(engine, "scheduler"), owner_lock(engine, "scheduler")
    assert first.try_acquire() and first.held()
    assert not second.try_acquire() and not second.held()
    other = owner_lock(engine, "delivery-console")
    assert other.try_acquire()
    other.release()
    first.release()
    assert second.try_acquire() and second.held()
    second.release()


def test_release_waits_for_a_check_still_running_in_another_thread(pg_url: str) -> None:
    # A duty cancelled while `held` runs in a worker thread releases the lock from another
    # thread: the two must not use the lock's one connection at the same time.
    engine = make_engine(pg_url)
    checking = threading.Event()

    @event.listens_for(engine, "before_cursor_execute")
    def slow_check(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "pg_locks" in statement:
            checking.set()
            time.sleep(0.3)

    try:
        ours, theirs = owner_lock(engine, NAMES[0]), owner_lock(engine, NAMES[0])
        assert ours.try_acquire()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check = concurrent.futures.ThreadPoolExecutor(1).submit(ours.held)
            assert checking.wait(5)
            ours.release()
            assert check.result(5) is True  # it finished its check before the release began
        assert not ours.held()
        assert theirs.try_acquire(), "the release reached the server"
        theirs.release()
    finally:
        engine.dispose()
