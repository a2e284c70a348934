"""Assembly: settings, database, clock, translations and the conversation core in one place."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.i18n import Translations
from db import migrate
from db.demo import DEMO_FILE, LoadReport, load_city
from db.engine import make_engine, session_scope
from db.queries import is_empty
from db.search import ensure_index
from handlers.conversation import Conversation

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    engine: Engine = field(init=False)
    translations: Translations = field(init=False)
    conversation: Conversation = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(
            self.settings.database_url,
            busy_timeout_ms=self.settings.sqlite_busy_timeout_ms,
            lock_timeout_ms=self.settings.database_lock_timeout_ms,
            statement_timeout_ms=self.settings.database_statement_timeout_ms,
            pool_size=self.settings.database_pool_size,
            max_overflow=self.settings.database_max_overflow,
        )
        self.translations = Translations(self.settings.tz, self.settings.default_locale)
        self.conversation = Conversation(
            engine=self.engine,
            settings=self.settings,
            clock=self.clock,
            translations=self.translations,
        )

    def migrate(self) -> None:
        migrate.upgrade(self.engine)
        with session_scope(self.engine) as session:
            ensure_index(session)  # a database migrated from before the search index

    def load_demo(self, *, only_if_empty: bool, path: Path = DEMO_FILE) -> LoadReport | None:
        """Load the demo city; with `only_if_empty`, only into a database with no city yet."""
        with session_scope(self.engine) as session:
            if only_if_empty and not is_empty(session):
                return None
            return load_city(session, path=path, now=self.clock.now(), tz=self.settings.tz)

    def close(self) -> None:
        self.conversation.close()
        self.engine.dispose()
