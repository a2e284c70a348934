"""The bot's Matrix device: one login, kept across restarts, with its keys in a store of its own.

The bot is an ordinary account. With MATRIX_PASSWORD it logs in once and keeps the device id and
access token it got (client-server API, "Login": `POST /login` makes a new device each time,
so logging in at every start would leave a trail of devices whose keys everybody's clients keep
asking about). With MATRIX_ACCESS_TOKEN, the device is the token's (`GET /account/whoami`
names it). The device's end-to-end keys live in matrix-nio's SQLite store in the same folder:
losing that folder means a new device that nobody's earlier messages were encrypted for.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from nio import AsyncClient, AsyncClientConfig, LoginResponse, WhoamiResponse
from nio.store import SqliteStore

from bot.config import Settings, SettingsError

log = logging.getLogger(__name__)

CREDENTIALS_FILE = "credentials.json"
DEVICE_NAME = "engagebot"


@dataclass(frozen=True)
class Login:
    user_id: str
    device_id: str
    access_token: str


def client_config() -> AsyncClientConfig:
    """Return matrix-nio's settings for the bot's client.

    No retries on 429 inside nio (`max_limit_exceeded=0`): the outbox waits a limit out and
    tries again without counting it as a failure, and answers wait it out in the transport.
    Sync tokens are ours to keep (in the database, after a batch was kept), not nio's.
    """
    return AsyncClientConfig(
        max_limit_exceeded=0,
        max_timeouts=2,
        store=SqliteStore,
        store_sync_tokens=False,
        encryption_enabled=True,
        request_timeout=60,
    )


def read_login(store: Path, user_id: str) -> Login | None:
    """Return the login kept from an earlier start, if it is for this account."""
    path = store / CREDENTIALS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot read the Matrix login in {path}: {exc}") from None
    if data.get("user_id") != user_id:
        raise SettingsError(
            f"{path} holds the login of {data.get('user_id')}, not MATRIX_USER_ID {user_id}; "
            "move that folder away (it holds the other account's keys) or set MATRIX_STORE_DIR"
        )
    return Login(data["user_id"], data["device_id"], data["access_token"])


def write_login(store: Path, login: Login) -> None:
    """Keep a login for the next start, readable by the bot's user only."""
    path = store / CREDENTIALS_FILE
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(login.__dict__, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


async def open_client(settings: Settings) -> AsyncClient:
    """Return a client logged in as the bot's one device, its key store loaded."""
    homeserver, user_id = settings.matrix_homeserver, settings.matrix_user_id
    if not homeserver or not user_id:
        raise SettingsError("MATRIX_HOMESERVER and MATRIX_USER_ID must both be set")
    store = settings.matrix_store
    store.mkdir(parents=True, exist_ok=True, mode=0o700)
    client = AsyncClient(homeserver, user_id, store_path=str(store), config=client_config())
    try:
        login = read_login(store, user_id)
        if login is None or (
            settings.matrix_access_token and login.access_token != settings.matrix_access_token
        ):
            login = await _first_login(client, settings)
            write_login(store, login)
        client.restore_login(login.user_id, login.device_id, login.access_token)
    except BaseException:
        await client.close()
        raise
    log.info("matrix: %s is device %s", user_id, client.device_id)
    return client


async def _first_login(client: AsyncClient, settings: Settings) -> Login:
    user_id = settings.matrix_user_id or ""
    if settings.matrix_access_token:
        client.access_token = settings.matrix_access_token
        answer = await client.whoami()
        if not isinstance(answer, WhoamiResponse) or not answer.device_id:
            raise SettingsError(
                f"invalid setting MATRIX_ACCESS_TOKEN: the homeserver does not accept it ({answer})"
            )
        if answer.user_id != user_id:
            raise SettingsError(
                f"invalid setting MATRIX_ACCESS_TOKEN: it belongs to {answer.user_id}, "
                f"not MATRIX_USER_ID {user_id}"
            )
        return Login(user_id, answer.device_id, settings.matrix_access_token)
    answer = await client.login(settings.matrix_password or "", device_name=DEVICE_NAME)
    if not isinstance(answer, LoginResponse):
        raise SettingsError(
            f"invalid setting MATRIX_PASSWORD: the homeserver refused it ({answer})"
        )
    log.info("matrix: logged in once as new device %s; kept for later starts", answer.device_id)
    return Login(answer.user_id, answer.device_id, answer.access_token)
