"""One owner per duty: a process without the lock waits, and takes over when the holder stops."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.ownership import hold
from bot.transports.chats import ChatQueues
from db.locks import FileLock


class Recorder:
    """A duty that records when it runs and stops."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[str] = []
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.events.append("run")
        self.running.set()
        await asyncio.Event().wait()

    async def stop(self, *, still_owner: bool) -> None:
        self.events.append(f"stop owner={still_owner}")
        self.running.clear()


async def test_the_second_process_takes_over_when_the_first_stops(tmp_path: Path) -> None:
    path = tmp_path / "bot.db.delivery-telegram.lock"
    first, second = Recorder("first"), Recorder("second")
    holding_first = asyncio.create_task(hold(FileLock(path, "d"), first, retry_seconds=0.05))
    await asyncio.wait_for(first.running.wait(), 2)
    holding_second = asyncio.create_task(hold(FileLock(path, "d"), second, retry_seconds=0.05))
    await asyncio.sleep(0.3)
    assert second.events == [], "only one process does a duty at a time"
    holding_first.cancel()
    await asyncio.gather(holding_first, return_exceptions=True)
    assert first.events == ["run", "stop owner=True"]
    await asyncio.wait_for(second.running.wait(), 2)
    holding_second.cancel()
    await asyncio.gather(holding_second, return_exceptions=True)


class Lost(FileLock):
    """A lock the holder loses after a while (a PostgreSQL session that dropped)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "lost")
        self.checks = 0

    def held(self) -> bool:
        self.checks += 1
        return self.checks < 3


async def test_a_holder_that_loses_its_lock_stops_without_cleaning_up(tmp_path: Path) -> None:
    duty = Recorder("delivery")
    task = asyncio.create_task(hold(Lost(tmp_path / "x.lock"), duty, retry_seconds=0.02))
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert duty.events[:2] == ["run", "stop owner=False"]


async def test_chats_are_answered_concurrently_and_each_in_order() -> None:
    seen: list[tuple[str, int]] = []
    slow = asyncio.Event()

    async def handle(item: tuple[str, int]) -> None:
        if item[0] == "flood":
            await slow.wait()  # this chat's answers wait (for its pacing, say)
        seen.append(item)

    queues: ChatQueues[tuple[str, int]] = ChatQueues(handle, bound=10)
    for number in range(5):
        queues.put("flood", ("flood", number))
    queues.put("other", ("other", 0))
    await asyncio.sleep(0.05)
    assert seen == [("other", 0)], "another chat is not held up"
    slow.set()
    assert await queues.drain(1.0) == 0
    assert [n for chat, n in seen if chat == "flood"] == [0, 1, 2, 3, 4]


async def test_a_full_backlog_pauses_fetching_and_a_stop_cuts_short_after_its_limit() -> None:
    forever = asyncio.Event()

    async def handle(item: int) -> None:
        await forever.wait()

    queues: ChatQueues[int] = ChatQueues(handle, bound=3)
    for number in range(3):
        queues.put(str(number), number)
    room = asyncio.create_task(queues.room())
    await asyncio.sleep(0.05)
    assert not room.done(), "no room while three are in hand"
    assert await queues.drain(0.1) == 3
    room.cancel()


class Failing(Recorder):
    """A duty that fails at once, every time (the database is away, say)."""

    async def run(self) -> None:
        self.events.append("run")
        raise RuntimeError("database away")


async def test_a_duty_that_keeps_failing_is_tried_again_after_a_pause(tmp_path: Path) -> None:
    duty = Failing("scheduler")
    task = asyncio.create_task(hold(FileLock(tmp_path / "s.lock", "s"), duty, retry_seconds=0.1))
    await asyncio.sleep(0.35)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    runs = duty.events.count("run")
    assert 2 <= runs <= 5, f"{runs} attempts in 0.35 s: it must neither give up nor spin"
