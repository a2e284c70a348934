"""Dialog tests: a recording user who types and taps, and tables of input -> expected reply."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.messages import Incoming, Reply
from handlers.conversation import Conversation


@dataclass
class Dialog:
    """One user talking to the conversation core, remembering what the bot last said."""

    conversation: Conversation
    user: str = "alice"
    transport: str = "console"
    locale_hint: str | None = None
    # Presses come from a message that can be edited in place (as on Telegram).
    can_edit: bool = False
    last: list[Reply] = field(default_factory=list)
    history: list[tuple[str, list[Reply]]] = field(default_factory=list)

    def say(self, text: str) -> list[Reply]:
        return self._send(
            Incoming(self.transport, self.user, text=text, locale_hint=self.locale_hint), text
        )

    def press(self, action: str) -> list[Reply]:
        return self._send(
            Incoming(
                self.transport,
                self.user,
                action=action,
                locale_hint=self.locale_hint,
                can_edit=self.can_edit,
            ),
            f"[{action}]",
        )

    def onboard(self, locale: str) -> list[Reply]:
        """Say /start, pick a language and agree to the privacy notice, as a new user does."""
        self.say("/start")
        self.press(f"lang_set:{locale}")
        return self.press("agree")

    def tap(self, label_part: str) -> list[Reply]:
        """Press the button of the last answer whose label contains `label_part`."""
        return self.press(self.button(label_part))

    def button(self, label_part: str) -> str:
        matches = [b.action for r in self.last for b in r.flat_buttons() if label_part in b.label]
        if len(matches) != 1:
            labels = [b.label for r in self.last for b in r.flat_buttons()]
            raise AssertionError(f"{len(matches)} buttons match {label_part!r} among {labels}")
        return matches[0]

    @property
    def text(self) -> str:
        return "\n---\n".join(reply.text for reply in self.last)

    @property
    def labels(self) -> list[str]:
        return [b.label for r in self.last for b in r.flat_buttons()]

    def _send(self, incoming: Incoming, shown: str) -> list[Reply]:
        self.last = self.conversation.handle(incoming)
        self.history.append((shown, self.last))
        return self.last


Step = tuple[str, Iterable[str]] | tuple[str, Iterable[str], int]


def run_table(dialog: Dialog, table: list[Step]) -> None:
    """Play a dialog table: each input ('/cmd', text, a number, '[action]', or '@label'), the
    substrings its answer must contain, and optionally how many messages the answer has
    (one unless said otherwise). The bot must answer every input, and not more than asked."""
    for row in table:
        said, expected = row[0], row[1]
        count = row[2] if len(row) > 2 else 1
        if said.startswith("[") and said.endswith("]"):
            replies = dialog.press(said[1:-1])
        elif said.startswith("@"):
            replies = dialog.tap(said[1:])
        else:
            replies = dialog.say(said)
        assert len(replies) == count, (
            f"{said!r}: expected {count} messages, got {[r.text for r in replies]}"
        )
        everything = dialog.text + "\n" + "\n".join(dialog.labels)
        for part in expected:
            assert part in everything, f"{said!r}: {part!r} not in answer:\n{everything}"
