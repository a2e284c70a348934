import io

import pytest

from bot.app import App
from bot.transports.console import ConsoleTransport

pytestmark = pytest.mark.both_databases


async def test_console_chat_numbers_press_buttons(app: App) -> None:
    stdin = io.StringIO("2\n1\n2\n/quit\n")
    stdout = io.StringIO()
    await ConsoleTransport(app.conversation, stdin=stdin, stdout=stdout, locale_hint="en").run()
    out = stdout.getvalue()
    assert "1) Deutsch" in out and "2) English" in out
    assert "I will write to you in English." in out
    assert "upcoming events." in out


async def test_console_chat_ends_at_end_of_input(app: App) -> None:
    stdout = io.StringIO()
    await ConsoleTransport(app.conversation, stdin=io.StringIO(""), stdout=stdout).run()
    assert "1) Deutsch" in stdout.getvalue()
