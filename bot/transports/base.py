"""What every messenger transport offers the rest of the process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.i18n import FSI, PDI, RLM
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


def numbered_text(reply: Reply, *, numbered: bool, links: Sequence[str] = ()) -> str:
    """Render a reply as plain text for a messenger without buttons.

    The message, its place, the place's `links` (a map link, say), the captions of the
    attachments that have content, then the buttons: numbered when `numbered` (a typed number
    presses one), else bullets. In a right-to-left reply every line but a link starts with a
    right-to-left mark; links stand alone on their lines, without marks, so apps recognise them.
    """
    mark = RLM if reply.rtl else ""
    lines = [reply.text]
    if reply.place is not None:
        where = ", ".join(filter(None, [reply.place.name, reply.place.address]))
        if reply.rtl:
            where = f"{FSI}{where}{PDI}"  # a German address must not scramble an Arabic line
        lines.append(f"{mark}📍 {where}")
        lines.extend(links)
    lines.extend(f"{mark}📎 {a.caption}" for a in reply.attachments if a.content and a.caption)
    if numbered:
        lines.extend(mark + line for line in numbered_menu(reply))
    else:
        lines.extend(f"{mark}• {button.label}" for button in reply.flat_buttons())
    return "\n".join(line for line in lines if line)


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
