"""What every messenger transport offers the rest of the process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.messages import Reply


@dataclass
class Progress:
    """How many of a notice's messenger messages (texts, map pins, files) went out.

    A transport skips the first `sent` of them and counts up as it sends, so when a later one
    fails, a retry sends only the rest: nobody gets the same text again and again while its
    map pin keeps meeting a rate limit.
    """

    sent: int = 0
    # A name for this notice that stays the same across attempts and restarts (the outbox
    # row's), for messengers that de-duplicate a resend by it (Matrix's transaction ids).
    key: str | None = None


class Transport(Protocol):
    name: str

    async def run(self) -> None:
        """Receive and answer messages until stopped or cancelled."""
        ...

    async def send(
        self, user_key: str, replies: list[Reply], progress: Progress | None = None
    ) -> None:
        """Send messages the user did not ask for just now (reminders, broadcasts)."""
        ...


def numbered_menu(reply: Reply) -> list[str]:
    """Render a reply's buttons as numbered lines; a typed number presses that button."""
    return [f"{number}) {button.label}" for number, button in enumerate(reply.flat_buttons(), 1)]


class DeliveryError(Exception):
    """Sending to one user failed; the subclass says what the sender should do next."""


class RecipientGone(DeliveryError):
    """The user blocked the bot or no longer exists: stop sending to them."""


class RetryLater(DeliveryError):
    """The messenger asked us to slow down: try again after `retry_after` seconds."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TemporaryFailure(DeliveryError):
    """A network fault or a server error: try again later, with back-off."""
