"""The HTTP server Telegram posts updates to in webhook mode: it answers once an update is kept.

Bot API, setWebhook: Telegram posts each update as JSON and "in case of an unsuccessful request
(a request with response HTTP status code different from 2XY), we will repeat the request". So a
request is answered 200 only after `keep` has stored its update: a kill -9 loses nothing, an
update not yet stored gets no 2xx and comes again. An error while storing answers 500.

Bot API, "Making requests when getting updates": the answer to Telegram's request may itself
carry one Bot API call, as JSON with the method's name in `method`; Telegram performs it, and
nobody learns its result. `keep` returns that call (answering a button press, so its clock
stops without a request of its own) or None for an empty 200.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

# Bot API, setWebhook: "the request will contain a header 'X-Telegram-Bot-Api-Secret-Token'
# with the secret token as content".
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# How long a stop waits for requests in hand; what is cut off gets no 2xx and is posted again.
STOP_GRACE_SECONDS = 5.0

Keep = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


class WebhookServer:
    """Serve one webhook path: check the secret, keep each update, then answer the request."""

    def __init__(self, *, listen: str, port: int, path: str, secret: str, keep: Keep) -> None:
        self.listen = listen
        self.port = port
        self.path = "/" + path.lstrip("/")
        self._secret = secret.encode()
        self._keep = keep
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen for Telegram's requests (through the proxy in front)."""
        app = web.Application()
        app.router.add_post(self.path, self._on_post)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=STOP_GRACE_SECONDS)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.listen, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening; requests in hand get a short while to finish."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _on_post(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return web.Response(status=403, text="wrong or missing secret token")
        try:
            update = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="not JSON")
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(status=400, text="not an update")
        try:
            call = await self._keep(update)
        except Exception:
            log.exception(
                "telegram: could not keep update %s; Telegram posts it again", update["update_id"]
            )
            return web.Response(status=500, text="not kept")
        if call is None:
            return web.Response(status=200)
        return web.json_response(call)
