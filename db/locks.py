"""Locks that make one process the owner of a job, and that die with the process that holds them.

A row in a table cannot do this: after a kill -9 it stays "held" until it expires, and a process
restarted at once (systemd's `Restart=always`) finds it taken. So ownership comes from what the
database's own platform offers for exactly this:

- SQLite (a file): an exclusive `flock(2)` on a file beside the database. The kernel releases it
  when the holder's file descriptor closes, which a dying process always does.
- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`), held on a connection of its
  own. The server releases it when that session ends, also when the process is killed.
- Anything else (in-memory SQLite in tests): a lock within this process only.

`try_acquire` never waits; a process that does not own a job asks again every few seconds.
`held` checks that the lock is still ours (a PostgreSQL connection can drop).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from db.engine import sqlite_path

log = logging.getLogger(__name__)


class OwnerLock(Protocol):
    name: str

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; return whether this process holds it now."""
        ...

    def held(self) -> bool:
        """Return whether this process still holds the lock."""
        ...

    def release(self) -> None:
        """Give the lock up (also done by the operating system or the server on death)."""
        ...


class FileLock:
    """An exclusive flock on `path`, held for as long as this object keeps the file open."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        # Who holds it, for an operator who looks (`cat bot.db.delivery-telegram.lock`).
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def advisory_key(name: str) -> int:
    """Return a stable signed 64-bit key for a lock name (the same in every process)."""
    digest = hashlib.sha256(f"engagebot:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock, on a connection kept for it alone."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.key = advisory_key(name)
        self._connection: Connection | None = None
        # One connection is not for two threads at once: a caller cancelled while `held` runs
        # in a worker thread may call `release` from another before that thread is done.
        self._guard = threading.RLock()

    def try_acquire(self) -> bool:
        with self._guard:
            return self._try_acquire()

    def held(self) -> bool:
        with self._guard:
            return self._held()

    def release(self) -> None:
        with self._guard:
            self._release()

    def _try_acquire(self) -> bool:
        if self._connection is not None:
            return self._held()
        connection = self.engine.connect()
        try:
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            ).scalar()
            # Leave no transaction open on the connection that holds the lock.
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def _held(self) -> bool:
        connection = self._connection
        if connection is None:
            return False
        try:
            # The lock lives exactly as long as this session; ask the server it is still there.
            # pg_locks splits a bigint key into two unsigned 32-bit halves (objsubid 1 marks the
            # bigint form); joined again they make the same signed bigint, so compare with the
            # signed key (half of all names have a negative one).
            held = connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": self.key},
            ).scalar()
            connection.commit()
        except Exception:
            log.warning("lost the connection that held the %s lock", self.name)
            self._drop()
            return False
        if not held:
            self._drop()
            return False
        return True

    def _release(self) -> None:
        connection = self._connection
        if connection is None:
            return
        with contextlib.suppress(Exception):
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            connection.commit()
        self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.invalidate()  # never hand a session that held a lock back to the pool
            with contextlib.suppress(Exception):
                connection.close()


class AdvisoryClaims:
    """Many PostgreSQL advisory locks held by one process, such as one per update in hand.

    Like `AdvisoryLock`, they live on a connection of their own and die with the process, so
    whatever a killed process had in hand can be taken by another at once, and nothing a live
    process has in hand is taken from it. `take` never waits.
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.held: set[int] = set()
        self._connection: Connection | None = None
        self._guard = threading.RLock()

    def take(self, keys: list[int]) -> set[int]:
        """Take the locks of `keys` nobody holds; return those this process holds now."""
        with self._guard:
            wanted = sorted(set(keys) - self.held)
            if wanted:
                got = self._run(
                    "SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k "
                    "WHERE pg_try_advisory_lock(k)",
                    wanted,
                )
                self.held |= {int(key) for key in got}
            return self.held & set(keys)

    def release(self, keys: list[int]) -> None:
        """Give up the locks of `keys` (those this process holds)."""
        with self._guard:
            ours = sorted(set(keys) & self.held)
            if not ours:
                return
            self.held -= set(ours)
            self._run(
                "SELECT pg_advisory_unlock(k) FROM unnest(CAST(:keys AS bigint[])) AS k", ours
            )

    def close(self) -> None:
        with self._guard:
            self.held.clear()
            self._drop()

    def _run(self, query: str, keys: list[int]) -> list[object]:
        if self._connection is None:
            self._connection = self.engine.connect()
        try:
            rows = list(self._connection.execute(text(query), {"keys": keys}).scalars())
            self._connection.commit()  # no transaction left open beside the locks
        except Exception:
            # The session, and every lock on it, may be gone: hold nothing rather than too much.
            log.warning("lost the connection that held the %s locks", self.name)
            self.held.clear()
            self._drop()
            raise
        return rows

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.invalidate()
            with contextlib.suppress(Exception):
                connection.close()


def shared_claims(engine: Engine, name: str) -> AdvisoryClaims | None:
    """Return per-item locks for a database several processes share (PostgreSQL), else None."""
    if engine.url.get_backend_name() == "postgresql":
        return AdvisoryClaims(engine, name)
    return None


_LOCAL_HOLDERS: dict[tuple[str, str], int] = {}
_LOCAL_GUARD = threading.Lock()


class LocalLock:
    """A lock among the objects of one process, for databases no other process can open."""

    def __init__(self, scope: str, name: str) -> None:
        self.key = (scope, name)
        self.name = name

    def try_acquire(self) -> bool:
        with _LOCAL_GUARD:
            holder = _LOCAL_HOLDERS.setdefault(self.key, id(self))
            return holder == id(self)

    def held(self) -> bool:
        with _LOCAL_GUARD:
            return _LOCAL_HOLDERS.get(self.key) == id(self)

    def release(self) -> None:
        with _LOCAL_GUARD:
            if _LOCAL_HOLDERS.get(self.key) == id(self):
                del _LOCAL_HOLDERS[self.key]


def owner_lock(engine: Engine, name: str) -> OwnerLock:
    """Return the lock that makes one process the owner of `name` for this database."""
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        return AdvisoryLock(engine, name)
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if backend == "sqlite" and path is not None:
        return FileLock(path.with_name(f"{path.name}.{name}.lock"), name)
    return LocalLock(engine.url.render_as_string(hide_password=True), name)
