"""The crash suite's harness: the real `engagebot run` as a process, killed and restarted at will.

A `BotProcess` prepares a migrated SQLite database (`engagebot db upgrade`, and the demo city
with `engagebot demo-data`), or works on a PostgreSQL database given by URL (several processes
can share one), lets a test seed people, events and announcements through the
project's own models and command line, starts `engagebot run` with its log in a file, kills it
with SIGKILL and starts it again at once on the same database, and waits until it is ready (the
fake Bot API sees getUpdates or setWebhook, or the fake signal-cli daemon a connection).

A `ChatProcess` is `engagebot chat --user NAME` on the same database, typed into and read
through pipes.

The fakes are the tests' own (tests/fake_bot_api.py, tests/fake_signal_cli.py), running in the
test's event loop, with a little more bookkeeping: what each chat received and when, and which
connection (so which process) handed each Signal message over.

CHAOS_SCALE=short (the default, part of every `pytest` run) or full (`make chaos`) sets the
sizes; CHAOS_SEED repeats a run's random choices.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import random
import re
import shutil
import signal
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from benchmarks.common import ENGAGEBOT, TOKEN, BenchFake, bot_env, copy_database
from db.engine import make_engine, session_scope
from db.models import Attendance, AttendanceStatus, Event, ItemStatus, Organisation, User
from tests.fake_signal_cli import FakeSignalCli

T = TypeVar("T")

SCALE = os.environ.get("CHAOS_SCALE", "short").strip().lower() or "short"
if SCALE not in ("short", "full"):
    raise RuntimeError(f"CHAOS_SCALE must be short or full, not {SCALE!r}")


def scaled(short: T, full: T) -> T:
    """Return the size for this run's scale."""
    return full if SCALE == "full" else short


def seed_from_environment() -> int:
    """CHAOS_SEED when given (to repeat a run), else a new random seed."""
    given = os.environ.get("CHAOS_SEED", "").strip()
    return int(given) if given else random.SystemRandom().randrange(1, 2**31)


def now_utc() -> datetime:
    return datetime.now(UTC)


def wall(monotonic: float) -> float:
    """Turn a time.monotonic() reading of this machine into seconds since the epoch."""
    return monotonic + (time.time() - time.monotonic())


def delivery_window(rate: float) -> tuple[int, str]:
    """How many outbox rows one delivery worker holds claimed at a time, and where that says so.

    A worker with several messages in flight (`window`) has at most that many sent and not yet
    recorded, whatever it holds claimed.

    A kill can only catch messages that are claimed and not yet recorded as sent, so this is the
    most one kill can make arrive twice. The worker decides it (from its rate, or a default);
    a worker built here without a database tells.
    """
    from types import SimpleNamespace

    from bot import runner
    from bot.delivery import DeliveryWorker

    extra = {}
    if hasattr(runner, "delivery_window"):  # the window `engagebot run` gives Telegram's worker
        extra["window"] = runner.delivery_window(SimpleNamespace(name="telegram"), rate)  # type: ignore[arg-type]
    try:
        worker = DeliveryWorker(
            conversation=None,  # type: ignore[arg-type]
            transport=None,  # type: ignore[arg-type]
            clock=None,  # type: ignore[arg-type]
            rate=rate,
            max_attempts=1,
            **extra,
        )
    except Exception:  # a constructor that needs more than it is given here
        worker = None
    for name in ("window", "batch"):
        value = getattr(worker, name, None)
        if isinstance(value, int) and value > 0:
            return value, f"DeliveryWorker(rate={rate:g}).{name}"
    return 50, "the claimed batch of 50 of the first delivery worker"


# -- the fakes, with bookkeeping --------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One message a chat received: when (monotonic and epoch seconds), what, through what."""

    at: float
    wall: float
    text: str
    method: str


@dataclass
class Tally:
    """Who received a message containing a marker, and how many such messages went out."""

    chats: set[int | str] = field(default_factory=set)
    messages: int = 0


class TelegramFake(BenchFake):
    """The fake Bot API, remembering every message each chat received, as it happens."""

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__(token)
        self.received: dict[int, list[Sent]] = defaultdict(list)
        self.tallies: dict[str, Tally] = {}

    def watch(self, marker: str) -> Tally:
        """Count, as they go out, the messages that contain `marker` (cheap to ask often)."""
        return self.tallies.setdefault(marker, Tally())

    async def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        result = await super()._api_sendmessage(params)  # raises on 429 and other refusals
        at = self.clock()
        chat_id, text = result["chat"]["id"], str(params.get("text") or "")
        self.received[chat_id].append(Sent(at, wall(at), text, "sendMessage"))
        for marker, tally in self.tallies.items():
            if marker in text:
                tally.chats.add(chat_id)
                tally.messages += 1
        return result

    def getupdates_since(self, mark: int) -> bool:
        """Whether a bot asked for updates since call `mark`: polled, or set its webhook."""
        return any(
            call.method.lower() in ("getupdates", "setwebhook") for call in self.calls[mark:]
        )

    def texts_to(self, chat_id: int, containing: str = "") -> list[Sent]:
        return [sent for sent in self.received.get(chat_id, ()) if containing in sent.text]


class SignalFake(FakeSignalCli):
    """The fake signal-cli daemon, remembering which connection handed over each message.

    Connections are numbered 1, 2, ... in the order accepted, so a test that starts one process,
    waits for its connection, then starts another, knows whose each message was.
    """

    def __init__(self) -> None:
        super().__init__()
        self.via: list[int] = []  # parallel to `deliveries`: the connection that sent it
        self.received: dict[str, list[Sent]] = defaultdict(list)
        self._connection_of: dict[int, int] = {}
        self._current = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The parent counts the connection before its first await: this number is that count.
        self._connection_of[id(writer)] = self.connections + 1
        try:
            await super()._serve(reader, writer)
        finally:
            self._connection_of.pop(id(writer), None)

    async def _handle(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        self._current = self._connection_of.get(id(writer), 0)
        return await super()._handle(request, writer)

    def _send(self, params: dict[str, Any]) -> tuple[Any, Any]:
        before = len(self.deliveries)
        answer = super()._send(params)
        for delivery in self.deliveries[before:]:
            self.via.append(self._current)
            self.received[delivery.to].append(
                Sent(delivery.at, wall(delivery.at), delivery.text, "send")
            )
        return answer

    def texts_to(self, recipient: str, containing: str = "") -> list[Sent]:
        return [sent for sent in self.received.get(recipient, ()) if containing in sent.text]

    def sent_via(self, connections: set[int]) -> int:
        return sum(1 for connection in self.via if connection in connections)


def signal_uuid(number: int) -> str:
    """A stable, valid-looking ACI for the n-th seeded Signal person."""
    return f"{number:08x}-0000-4000-8000-{number:012x}"


async def until(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.01
) -> float | None:
    """Wait until `predicate()` is truthy; return the seconds it took, or None on timeout."""
    began = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            return None
        await asyncio.sleep(interval)


# -- databases --------------------------------------------------------------------------------

# Migrated (and demo) databases made once per test process, copied for each test.
_TEMPLATES: dict[bool, Path] = {}
_TEMPLATE_FOLDER: Path | None = None


def _template_folder() -> Path:
    global _TEMPLATE_FOLDER
    if _TEMPLATE_FOLDER is None:
        _TEMPLATE_FOLDER = Path(tempfile.mkdtemp(prefix="engagebot-chaos-"))
        atexit.register(shutil.rmtree, _TEMPLATE_FOLDER, True)
    return _TEMPLATE_FOLDER


async def engagebot(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """Run an `engagebot` command to its end; return what it printed, or fail with it."""
    process = await asyncio.create_subprocess_exec(
        ENGAGEBOT,
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"engagebot {' '.join(args)} exited {process.returncode}:\n{text}")
    return text


_OUTBOX_COUNTS = "SELECT kind, status, count(*) FROM outbox GROUP BY kind, status"
_CLAIMED = "SELECT count(*) FROM outbox WHERE status = 'sending'"


def _read(database: Path | str, query: str) -> list[tuple[Any, ...]]:
    """Run one query on a SQLite file (straight, with sqlite3) or a database URL."""
    if isinstance(database, Path):
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
            return [tuple(row) for row in connection.execute(query).fetchall()]
    engine = make_engine(database)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query)).all()]
    finally:
        engine.dispose()


def outbox_counts(database: Path | str) -> dict[str, int]:
    """Count the outbox rows by kind and status ("broadcast/sent": 290, ...), read straight."""
    return {f"{kind}/{status}": count for kind, status, count in _read(database, _OUTBOX_COUNTS)}


def claimed_rows(database: Path | str) -> int:
    """Count the outbox rows claimed by a sender and not yet recorded as done."""
    return int(_read(database, _CLAIMED)[0][0])


# -- the bot as a process ---------------------------------------------------------------------


@dataclass
class Run:
    """One start of the bot: its process, its log, and how long it took to get ready."""

    number: int
    process: asyncio.subprocess.Process
    log: Path
    started: float  # time.monotonic()
    ready_after: float | None = None
    killed_at: float | None = None  # time.monotonic() of the SIGKILL

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@dataclass
class BotProcess:
    """`engagebot run` against the local fakes, on a database of its own (or another's)."""

    workdir: Path
    telegram: TelegramFake | None = None
    signal: SignalFake | None = None
    name: str = "bot"
    database: Path | None = None
    # A PostgreSQL database (migrated, as the `pg_url` fixture gives it) instead of the SQLite file.
    database_url: str | None = None
    settings: dict[str, object] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.database is None:
            self.database = self.workdir / "bot.db"
        # An empty working folder: no `.env` of a developer's own bot is read.
        self.cwd = self.workdir / f"{self.name}-cwd"
        self.cwd.mkdir(exist_ok=True)
        extra = {"LOG_LEVEL": "INFO", "QUIET_HOURS": ""}
        if self.signal is not None:
            extra["SIGNAL_ACCOUNT"] = self.signal.account
            extra["SIGNAL_CLI_ENDPOINT"] = f"tcp://127.0.0.1:{self.signal.port}"
        if self.database_url is not None:
            extra["DATABASE_URL"] = self.database_url
        extra.update({key.upper(): str(value) for key, value in self.settings.items()})
        self.env = bot_env(self.path, self.telegram, **extra)

    @property
    def path(self) -> Path:
        assert self.database is not None
        return self.database

    @property
    def url(self) -> str:
        """The URL of the database this bot works on."""
        return self.database_url or f"sqlite:///{self.path}"

    @property
    def _target(self) -> Path | str:
        return self.database_url or self.path

    # -- the database -------------------------------------------------------------------------

    async def prepare(self, *, demo: bool = True) -> None:
        """Give the bot a migrated database, with the demo city when `demo`."""
        if self.database_url is not None:
            await self.cli("db", "upgrade")
            if demo:
                await self.cli("demo-data", "--if-empty")
            return
        template = _TEMPLATES.get(demo)
        if template is None or not template.exists():
            template = _template_folder() / ("demo.db" if demo else "empty.db")
            env = bot_env(template, None, LOG_LEVEL="WARNING")
            await engagebot(["db", "upgrade"], env, _template_folder())
            if demo:
                await engagebot(["demo-data"], env, _template_folder())
            _TEMPLATES[demo] = template
        copy_database(template, self.path)

    async def cli(self, *args: str) -> str:
        """Run another `engagebot` command on this bot's database (such as `broadcast`)."""
        return await engagebot(args, self.env, self.cwd)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        engine = make_engine(self.url, busy_timeout_ms=30_000)
        try:
            with session_scope(engine) as session:
                yield session
        finally:
            engine.dispose()

    async def db(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` in one transaction, off the event loop the fakes run in."""

        def run() -> T:
            # A transaction that read before the running bot wrote cannot write any more
            # (SQLite answers "database is locked" at once, busy timeout or not): start again.
            deadline = time.monotonic() + 30
            while True:
                try:
                    with self.session() as session:
                        return work(session)
                except OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                time.sleep(0.05)

        return await asyncio.to_thread(run)

    async def outbox(self) -> dict[str, int]:
        return await asyncio.to_thread(outbox_counts, self._target)

    async def claimed(self) -> int:
        return await asyncio.to_thread(claimed_rows, self._target)

    # -- the process ----------------------------------------------------------------------------

    @property
    def current(self) -> Run:
        if not self.runs:
            raise RuntimeError(f"{self.name} was never started")
        return self.runs[-1]

    @property
    def pid(self) -> int:
        return self.current.pid

    async def start(
        self, *, ready: bool = True, timeout: float = 30.0, terminal: bool = False
    ) -> Run:
        """Start `engagebot run`; with `ready`, return once it polls or has connected.

        With `terminal`, its input is a pipe kept open (`Run.process.stdin`) instead of nothing:
        with no messenger configured, that is the terminal its console chat reads.
        """
        number = len(self.runs) + 1
        log = self.workdir / f"{self.name}-{number}.log"
        telegram_mark = len(self.telegram.calls) if self.telegram is not None else 0
        signal_mark = self.signal.connections if self.signal is not None else 0
        with log.open("wb") as handle:
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                ENGAGEBOT,
                "run",
                env=self.env,
                cwd=self.cwd,
                stdin=asyncio.subprocess.PIPE if terminal else asyncio.subprocess.DEVNULL,
                stdout=handle,
                stderr=asyncio.subprocess.STDOUT,
            )
        run = Run(number, process, log, started)
        self.runs.append(run)
        if ready:
            await self._wait_ready(run, telegram_mark, signal_mark, timeout)
        return run

    async def _wait_ready(
        self, run: Run, telegram_mark: int, signal_mark: int, timeout: float
    ) -> None:
        def is_ready() -> bool:
            if not run.running:
                raise RuntimeError(
                    f"{self.name} run {run.number} exited with {run.process.returncode} before "
                    f"it was ready; its log:\n{self.tail(run)}"
                )
            polled = self.telegram is None or self.telegram.getupdates_since(telegram_mark)
            connected = self.signal is None or self.signal.connections > signal_mark
            return polled and connected

        took = await until(is_ready, timeout=timeout)
        if took is None:
            raise RuntimeError(
                f"{self.name} run {run.number} was not ready after {timeout:.0f} s; its log:\n"
                f"{self.tail(run)}"
            )
        run.ready_after = time.monotonic() - run.started

    async def kill(self) -> None:
        """kill -9 the running process and wait until it is gone."""
        run = self.current
        if run.running:
            run.killed_at = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                os.kill(run.pid, signal.SIGKILL)
        await run.process.wait()

    async def restart(self, *, ready: bool = True, timeout: float = 30.0) -> Run:
        """kill -9, then start again at once on the same database."""
        await self.kill()
        return await self.start(ready=ready, timeout=timeout)

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop as systemd does (SIGTERM), with SIGKILL if that takes too long."""
        if not self.runs:
            return
        run = self.current
        if run.running:
            with contextlib.suppress(ProcessLookupError):
                run.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(run.process.wait(), timeout)
            except TimeoutError:
                await self.kill()

    async def close(self) -> None:
        """Kill whatever is still running (a test's teardown)."""
        for run in self.runs:
            if run.running:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(run.pid, signal.SIGKILL)
                await run.process.wait()

    # -- logs -------------------------------------------------------------------------------------

    def tail(self, run: Run | None = None, lines: int = 25) -> str:
        run = run or self.current
        shown = run.text().splitlines()[-lines:]
        return f"--- {run.log} (pid {run.pid}) ---\n" + "\n".join(shown)

    def tails(self, lines: int = 12) -> str:
        """The end of every run's log, for an assertion message."""
        return "\n".join(self.tail(run, lines) for run in self.runs)

    def log_lines(self, run: Run, pattern: str, *, since: float | None = None) -> list[str]:
        """The lines of a run's log that match `pattern`, logged at or after `since` (epoch s)."""
        regex = re.compile(pattern, re.IGNORECASE)
        found = []
        for line in run.text().splitlines():
            if not regex.search(line):
                continue
            if since is not None:
                stamp = _LOG_TIME.match(line)
                if stamp is None:
                    continue
                logged = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                if logged < since - 0.01:
                    continue
            found.append(line)
        return found


class ChatProcess:
    """`engagebot chat --user NAME` on a bot's database, its input and output on pipes.

    What it prints is collected as it comes; `expect` waits for a text to appear after a mark,
    `type` sends a line as if typed. No pseudo-terminal: the console reads lines and writes
    text, which pipes carry as they are.
    """

    def __init__(self, bot: BotProcess, user: str, *, lang: str | None = "en") -> None:
        self.bot = bot
        self.user = user
        self.lang = lang
        self.process: asyncio.subprocess.Process | None = None
        self._output = bytearray()
        self._reader: asyncio.Task[None] | None = None

    @property
    def text(self) -> str:
        """Everything the session printed so far."""
        return self._output.decode(errors="replace")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def mark(self) -> int:
        """Where the output ends now; `expect(..., after=mark)` looks only past it."""
        return len(self.text)

    async def start(self, *, timeout: float = 30.0) -> None:
        """Start the session; return once it greeted and shows its prompt."""
        args = ["chat", "--user", self.user, *(["--lang", self.lang] if self.lang else [])]
        self.process = await asyncio.create_subprocess_exec(
            ENGAGEBOT,
            *args,
            env=self.bot.env,
            cwd=self.bot.cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())
        await self.expect("\n> ", timeout=timeout)

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while chunk := await self.process.stdout.read(65536):
            self._output.extend(chunk)

    async def expect(self, wanted: str, *, after: int = 0, timeout: float = 20.0) -> int:
        """Wait until `wanted` is printed past `after`; return where it ends in `text`."""
        found = -1

        def seen() -> bool:
            nonlocal found
            found = self.text.find(wanted, after)
            if found < 0 and not self.running:
                raise RuntimeError(f"chat as {self.user} ended; it printed:\n{self.text}")
            return found >= 0

        if await until(seen, timeout=timeout, interval=0.02) is None:
            raise AssertionError(
                f"chat as {self.user} did not print {wanted!r} within {timeout:.0f} s; "
                f"after the mark it printed:\n{self.text[after:]}"
            )
        return found + len(wanted)

    async def type(self, line: str) -> int:
        """Type a line and Enter; return the mark before its answer."""
        assert self.process is not None and self.process.stdin is not None
        mark = self.mark()
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()
        return mark

    async def close(self, timeout: float = 15.0) -> int | None:
        """End the session as Ctrl-D does; kill it if it does not end in time."""
        if self.process is None:
            return None
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
        return self.process.returncode

    async def kill(self) -> None:
        """kill -9 the session."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()


# logging's default asctime, as `engagebot` logs it (local time, milliseconds).
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


# -- seeding through the project's own models -------------------------------------------------


def add_people(
    session: Session,
    *,
    transport: str,
    keys: Sequence[str],
    locale: str = "en",
    now: datetime | None = None,
) -> dict[str, int]:
    """Add people who agreed to the privacy notice (`consent_at`); return their ids by key."""
    now = now or now_utc()
    rows = [
        {
            "transport": transport,
            "external_id": key,
            "locale": locale,
            "language_hint": locale,
            "active": True,
            "paused": False,
            "alert_mode": "digest",
            "consent_at": now,
            "created_at": now,
            "last_seen_at": now,
        }
        for key in keys
    ]
    for start in range(0, len(rows), 2000):
        session.execute(insert(User), rows[start : start + 2000])
    wanted = set(keys)
    return {
        external_id: user_id
        for user_id, external_id in session.exec(
            select(User.id, User.external_id).where(User.transport == transport)
        ).all()
        if external_id in wanted and user_id is not None
    }


def add_event(
    session: Session,
    *,
    title: str,
    starts_at: datetime,
    with_map_pin: bool = True,
    now: datetime | None = None,
) -> int:
    """Add a published event of the first organisation; return its id."""
    now = now or now_utc()
    organisation = session.exec(select(Organisation).order_by(Organisation.id)).first()
    if organisation is None:
        organisation = Organisation(slug="chaos", name="Chaos e.V.")
        session.add(organisation)
        session.flush()
    assert organisation.id is not None
    event = Event(
        organisation_id=organisation.id,
        title=title,
        summary="Ein Treffen im Stadtteil.",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
        place_name="Stadtteilbüro Innenstadt-West",
        address="Königstraße 1, 67655 Kaiserslautern",
        latitude=49.4447 if with_map_pin else None,
        longitude=7.7590 if with_map_pin else None,
        status=ItemStatus.PUBLISHED,
        created_at=now - timedelta(days=1),
        updated_at=now - timedelta(days=1),
        # Published well before the bot's first tick: no "new event" news for anyone.
        published_at=now - timedelta(days=1),
    )
    session.add(event)
    session.flush()
    assert event.id is not None
    return event.id


def add_going(
    session: Session, *, event_id: int, user_ids: Sequence[int], now: datetime | None = None
) -> None:
    """Sign these people up as going to the event."""
    now = now or now_utc()
    session.add_all(
        Attendance(
            user_id=user_id, event_id=event_id, status=AttendanceStatus.GOING, created_at=now
        )
        for user_id in user_ids
    )


# -- figures ------------------------------------------------------------------------------------


def describe(figures: dict[str, Any]) -> str:
    """One line per figure, for the terminal and for assertion messages."""
    width = max((len(key) for key in figures), default=0)
    return "\n".join(f"  {key.ljust(width)}  {_shown(value)}" for key, value in figures.items())


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list) and value and all(isinstance(v, float | None) for v in value):
        return "[" + ", ".join("—" if v is None else f"{v:.2f}" for v in value) + "]"
    return str(value)
