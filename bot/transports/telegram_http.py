"""The Bot API over aiohttp: python-telegram-bot's request interface with a lighter HTTP client.

python-telegram-bot sends through httpx by default. In a burst, httpx and httpcore took the
largest share of the process's time (benchmarks/RESULTS.md, "Profile"): they look through every
pooled connection and build several objects per request. aiohttp (already a dependency, of
matrix-nio) does the same requests for a fraction of that. python-telegram-bot allows this by
design: any `telegram.request.BaseRequest` may be passed to its bot, and only
`do_request` (one HTTP request, returning the status and the body) is ours to write; parsing
the answer, errors and retries stay python-telegram-bot's.

`PreparedRequest` carries a call whose form body was encoded once by its caller (text messages,
edits and answers to presses in `telegram_render`, and `fetch_updates`): `do_request` posts
those bytes as they are.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class PreparedRequest(RequestData):
    """A Bot API call without files whose parameters are already JSON-encoded strings (as
    `RequestData.json_parameters` gives them), form-encoded once here."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__()
        self.fields = fields
        self.body = urlencode(fields).encode()

    @property
    def json_parameters(self) -> dict[str, str]:
        return self.fields


class AiohttpRequest(BaseRequest):
    """Requests to the Bot API through one aiohttp session with a bounded connection pool."""

    def __init__(
        self,
        *,
        connections: int = 16,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data is not None else None
        read = _chosen(read_timeout, self._read_timeout)
        connect = _chosen(connect_timeout, self._connect_timeout)
        pool = _chosen(pool_timeout, self._pool_timeout)
        # aiohttp's `connect` covers waiting for a pooled connection and opening one; `read`
        # bounds each wait for the answer, as with httpx (aiohttp has no write timeout).
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        data: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] | None = None
        if isinstance(request_data, PreparedRequest):
            data, headers = request_data.body, _FORM
        elif request_data is not None:
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, part in files.items():
                    if isinstance(part, tuple):
                        filename, content, *rest = part
                        form.add_field(
                            name,
                            content,
                            filename=filename,
                            content_type=rest[0] if rest else None,
                        )
                    else:
                        form.add_field(name, part)
                data = form
            else:
                # Form-encoded, as httpx sent it; encoded here because aiohttp would build a
                # multipart writer (and a random boundary) for a dict before urlencoding it.
                data = urlencode(request_data.json_parameters).encode()
                headers = _FORM
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=timeout,
                proxy=self._proxy_for(url),
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc

    def _proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for this URL's host (HTTPS_PROXY, NO_PROXY...).

        As httpx did; looked up once per host, since aiohttp's own `trust_env` reads ~/.netrc
        again for every request (3% of the process's time in a burst).
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host not in self._proxies:
            proxies = getproxies()
            proxy = proxies.get(parts.scheme) or proxies.get("all")
            self._proxies[host] = None if proxy is None or proxy_bypass(host) else proxy
        return self._proxies[host]


def _chosen(given: ODVInput[float], default: float | None) -> float | None:
    """The timeout a call asked for, or this request object's default where it asked for none."""
    return default if isinstance(given, DefaultValue) else given


async def fetch_updates(
    request: BaseRequest,
    base_url: str,
    *,
    offset: int | None,
    timeout: int,
    allowed_updates: list[str],
) -> list[dict[str, Any]]:
    """Long-poll getUpdates; return the updates as the JSON the Bot API sent.

    The same request `Bot.get_updates` makes (its read timeout is the poll's plus the request
    object's own), through python-telegram-bot's `BaseRequest.post`, which raises its errors.
    The JSON is what the inbox keeps: parsed into `Update`s and serialised back, it cost 5% of
    the process's time in a burst (benchmarks/RESULTS.md, "Profile").
    """
    values = {"offset": offset, "timeout": timeout, "allowed_updates": allowed_updates}
    fields = {name: json.dumps(value) for name, value in values.items() if value is not None}
    result = await request.post(
        f"{base_url}/getUpdates",
        request_data=PreparedRequest(fields),
        read_timeout=timeout + (request.read_timeout or 0),
    )
    return result if isinstance(result, list) else []
