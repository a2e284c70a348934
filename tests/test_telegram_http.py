"""The Bot API's HTTP client: python-telegram-bot's request interface over aiohttp."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.transports.telegram_http import AiohttpRequest
from tests.fake_bot_api import FakeBotApi

TOKEN = "123:http-test"


async def test_messages_and_files_go_through_and_errors_keep_their_meaning() -> None:
    async with FakeBotApi(TOKEN) as fake:
        fake.add_chat(42)
        bot = Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest(connections=2))
        async with bot:
            sent = await bot.send_message(42, "Hallo, ein Text mit Umlauten: äöü")
            await bot.send_document(42, b"BEGIN:VCALENDAR", filename="event.ics")
            with pytest.raises(Exception) as refused:
                await bot.send_message(404, "nobody there")
        assert sent.text == "Hallo, ein Text mit Umlauten: äöü"
        document = fake.calls_to("sendDocument")[0].params["document"]
        assert document.filename == "event.ics"
        assert document.content == b"BEGIN:VCALENDAR"
        # The Bot API's own error, parsed by python-telegram-bot as with any client.
        assert "chat not found" in str(refused.value).lower()


async def test_a_slow_answer_is_a_timeout_and_a_closed_port_a_network_error() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/{path:.*}", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    request = AiohttpRequest(read_timeout=0.2)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        with pytest.raises(NetworkError):
            await request.post(f"http://127.0.0.1:{closed}/bot{TOKEN}/getMe")
    finally:
        await request.shutdown()
        await runner.cleanup()


def test_the_proxy_of_the_environment_applies_except_where_no_proxy_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    request = AiohttpRequest()
    assert request._proxy_for("https://api.telegram.org/bot1:x/getMe") == (
        "http://proxy.example:3128"
    )
    assert request._proxy_for("http://127.0.0.1:8081/bot1:x/getMe") is None
