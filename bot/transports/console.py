"""A chat in the terminal over the same conversation core: the demo, and a way to try flows."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from bot.messages import Incoming, Reply
from bot.transports.base import Progress, numbered_menu
from handlers.conversation import Conversation


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
    ) -> None:
        self.conversation = conversation
        self.user_key = user_key
        self.locale_hint = locale_hint
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.files_dir = files_dir

    async def run(self) -> None:
        """Chat until the input ends (Ctrl-D) or the user types /quit."""
        self._print("engagebot console chat. Type a number to press a button, /quit to leave.\n")
        await self._answer("/start")
        loop = asyncio.get_running_loop()
        while True:
            self.stdout.write("> ")
            self.stdout.flush()
            line = await loop.run_in_executor(None, self.stdin.readline)
            if not line:
                break
            if line.strip() == "/quit":
                break
            await self._answer(line.rstrip("\n"))

    async def send(
        self, user_key: str, replies: list[Reply], progress: Progress | None = None
    ) -> None:
        """Print a reminder or announcement; one for another console user says whom it is for."""
        progress = progress or Progress()
        if progress.sent:
            return  # printed whole already
        text = self.render(replies)
        if user_key != self.user_key:
            text = f"[to {user_key}]\n{text}"
        self._print(text)
        progress.sent = 1

    async def _answer(self, text: str) -> None:
        incoming = Incoming(self.name, self.user_key, text=text, locale_hint=self.locale_hint)
        replies = await self.conversation.handle_async(incoming)
        self._print(self.render(replies))

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

    def _print(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()
