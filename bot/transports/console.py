"""A chat in the terminal over the same conversation core: the demo, and a messenger of its own.

A console session is one person's chat (`engagebot chat --user NAME`, or the terminal of
`engagebot run` when no messenger is configured). Like a phone with a messenger app, it shows
that person's proactive messages (reminders, announcements, answers, event changes) as they
are delivered, between the answers to what they type, and their buttons are pressed by typing
the number. Which session delivers whose messages is decided in bot/runner.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from pathlib import Path
from typing import TextIO

from bot.messages import Incoming, Reply
from bot.transports.base import Progress, TemporaryFailure, numbered_menu
from handlers.conversation import Conversation

PROMPT = "> "


class ConsoleTransport:
    """Reads lines from a terminal and prints the bot's answers with numbered menus."""

    name = "console"

    def __init__(
        self,
        conversation: Conversation,
        *,
        user_key: str = "console",
        locale_hint: str | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        files_dir: Path = Path("data/console-files"),
        open_elsewhere: bool = False,
    ) -> None:
        self.conversation = conversation
        self.user_key = user_key
        self.locale_hint = locale_hint
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.files_dir = files_dir
        # Another session of this person was open when this one started (bot/cli.py).
        self.open_elsewhere = open_elsewhere
        # One writer at a time: a notice never lands inside an answer, and waits for the
        # answer being worked out (the greeting too), so the numbers on screen are the last
        # ones printed, and they are what a typed number presses.
        self._output = asyncio.Lock()
        self._at_prompt = False
        self._lines: asyncio.Queue[str] | None = None

    async def run(self) -> None:
        """Chat until the input ends (Ctrl-D) or the user types /quit."""
        # The greeting holds the terminal from the first step: messages that waited for this
        # session come after its menu, whose numbers would otherwise replace theirs.
        async with self._output:
            await self._greet()
        typed = self._lines = self._read_lines()
        while True:
            async with self._output:
                self._print(PROMPT)
                self._at_prompt = True
            line = await typed.get()
            self._at_prompt = False
            if not line or line.strip() == "/quit":
                break
            await self._answer(line.rstrip("\n"))

    async def _greet(self) -> None:
        t = await self.conversation.run_db(
            self.conversation.translator_for, self.name, self.user_key, self.locale_hint
        )
        name = t.isolate(self.user_key)
        lines = [
            t._(
                "Console chat as %(name)s. Type a number to press a button, or /quit to leave. "
                "Messages for you appear here while this chat is open.",
                name=name,
            )
        ]
        if self.open_elsewhere:
            lines.append(
                t._(
                    "Another terminal has %(name)s open: your messages appear there, and here "
                    "once it is closed.",
                    name=name,
                )
            )
        self._print(t.directed("\n".join(lines)) + "\n")
        await self._handle("/start")

    async def send(
        self, user_key: str, replies: list[Reply], progress: Progress | None = None
    ) -> None:
        """Show a reminder or announcement for this terminal's user as it arrives."""
        if user_key != self.user_key:
            # Each session delivers its own user's messages only (bot/runner.py).
            raise TemporaryFailure("not the user of this terminal")
        progress = progress or Progress()
        if progress.sent:
            return  # printed whole already
        async with self._output:
            text = self.render(replies)
            typed = self._lines is not None and not self._lines.empty()
            if self._at_prompt and not typed:
                # Under the prompt on its own lines, and the prompt again after it. (A line
                # typed and not yet answered ended the prompt's line already; its answer and
                # the next prompt follow.)
                text = f"\n{text}{PROMPT}"
            try:
                self._write(text)
            except (OSError, ValueError) as exc:  # the terminal is gone: not shown, not sent
                raise TemporaryFailure(f"the terminal is gone: {type(exc).__name__}") from exc
        progress.sent = 1

    async def _answer(self, text: str) -> None:
        async with self._output:
            await self._handle(text)

    async def _handle(self, text: str) -> None:
        """Answer what was typed (the caller holds the terminal)."""
        incoming = Incoming(self.name, self.user_key, text=text, locale_hint=self.locale_hint)
        replies = await self.conversation.handle_async(incoming)
        self._print(self.render(replies))

    def _read_lines(self) -> asyncio.Queue[str]:
        """Read the input on a thread of its own; an empty string marks its end.

        A daemon thread, not the loop's executor: a read that blocks on a terminal must not
        keep the process from stopping (Ctrl-C, SIGTERM) until someone presses Enter.
        """
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str] = asyncio.Queue()

        def read() -> None:
            while True:
                try:
                    line = self.stdin.readline()
                except (OSError, ValueError):  # closed under us
                    line = ""
                try:
                    loop.call_soon_threadsafe(lines.put_nowait, line)
                except RuntimeError:  # the loop is gone: the process is stopping
                    return
                if not line:
                    return

        threading.Thread(target=read, name="console-input", daemon=True).start()
        return lines

    def render(self, replies: list[Reply]) -> str:
        """Turn replies into terminal text: the message, its place, files, numbered buttons."""
        blocks = []
        for reply in replies:
            lines = [reply.text]
            if reply.place is not None:
                where = ", ".join(filter(None, [reply.place.name, reply.place.address]))
                lines.append(
                    f"📍 {where}" + (f"  {reply.place.map_url}" if reply.place.map_url else "")
                )
            for attachment in reply.attachments:
                lines.append(f"📎 {self._save(attachment.filename, attachment.content)}")
            lines.extend(f"   {line}" for line in numbered_menu(reply))
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + "\n"

    def _save(self, filename: str, content: bytes) -> Path:
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.files_dir / Path(filename).name
        path.write_bytes(content)
        return path

    def _write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def _print(self, text: str) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._write(text)
