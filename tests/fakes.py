"""Small fakes: a transport that records what it is asked to send and fails when told to."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from bot.messages import Reply
from bot.transports.base import Progress


@dataclass
class RecordingTransport:
    """Records proactive sends; `fail_next[user_key]` lists exceptions to raise, in order."""

    name: str = "console"
    sent: list[tuple[str, list[Reply]]] = field(default_factory=list)
    fail_next: dict[str, list[Exception]] = field(default_factory=lambda: defaultdict(list))

    async def run(self) -> None:
        return None

    async def send(
        self, user_key: str, replies: list[Reply], progress: Progress | None = None
    ) -> None:
        if self.fail_next.get(user_key):
            raise self.fail_next[user_key].pop(0)
        self.sent.append((user_key, replies))
        if progress is not None:
            progress.sent += 1

    def texts_for(self, user_key: str) -> list[str]:
        return ["\n".join(r.text for r in replies) for key, replies in self.sent if key == user_key]


class NoWaitPacer:
    """A pacer that never sleeps, for tests that check order and outcome, not speed."""

    interval = 0.0
    paused = False

    async def wait(self, *, through_pause: bool = False) -> None:
        return None

    def pause(self, seconds: float) -> None:
        return None

    def pause_left(self) -> float:
        return 0.0
