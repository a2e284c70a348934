"""What a handler gets for one incoming message: the user, their state, their translator, time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.config import Settings
from bot.i18n import Translations, Translator
from bot.messages import Incoming
from db.models import ConversationState, User


@dataclass
class Context:
    session: Session
    user: User
    state: ConversationState
    t: Translator
    now: datetime
    settings: Settings
    translations: Translations
    incoming: Incoming
    # Set when the user erased themselves during this update: nothing of them is written back.
    user_deleted: bool = False

    def switch_locale(self, locale: str) -> None:
        """Make `locale` the user's language, for this reply and every later one."""
        self.user.locale = locale
        self.t = self.translations.get(locale)

    def start_flow(self, flow: str, step: str | None = None, **data: object) -> None:
        self.state.flow = flow
        self.state.step = step
        self.state.data = {**self.state.data, "flow": dict(data)}

    @property
    def flow_data(self) -> dict[str, Any]:
        """What the current multi-step flow has gathered so far."""
        return self.state.data.get("flow", {})

    def save_flow(self, data: dict[str, Any], step: str | None) -> None:
        """Store what the flow gathered and the step it waits at."""
        self.state.data = {**self.state.data, "flow": data}
        self.state.step = step

    def end_flow(self) -> None:
        self.state.flow = None
        self.state.step = None
        self.state.data = {k: v for k, v in self.state.data.items() if k != "flow"}
