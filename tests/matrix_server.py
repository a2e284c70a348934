"""A real Synapse homeserver on 127.0.0.1 for the Matrix tests, and residents as real clients.

Synapse comes from PyPI into a virtualenv of its own (`make synapse`: .venv-synapse), since its
pinned dependencies are not the bot's; SYNAPSE_PYTHON names another interpreter that has it.
One server per test session, on SQLite in a temporary folder, without federation. Users are
registered through the shared-secret admin API (Synapse's docs, "Shared-Secret Registration":
an HMAC-SHA1 of nonce, user, password and admin flag, NUL-separated).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomMessage,
    RoomMessageNotice,
    RoomMessageText,
    RoomVisibility,
)
from nio.store import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
SERVER_NAME = "localhost"
SHARED_SECRET = "engagebot-tests-" + secrets.token_hex(8)
# Rate limits every test account meets, unless a test lifts them for one account (admin API,
# "override_ratelimit"): strict enough that the rate-limit test meets them quickly.
MESSAGES_PER_SECOND = 1
MESSAGE_BURST = 3


def synapse_python() -> str | None:
    """Return an interpreter that can run Synapse, or None."""
    named = os.environ.get("SYNAPSE_PYTHON")
    candidates = [named] if named else [str(ROOT / ".venv-synapse" / "bin" / "python")]
    for python in candidates:
        if python and Path(python).exists():
            check = subprocess.run(
                [python, "-c", "import synapse.app.homeserver"], capture_output=True, timeout=60
            )
            if check.returncode == 0:
                return python
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Synapse:
    """One Synapse process; `url` is its client-server API."""

    def __init__(self, python: str, folder: Path, *, access_log: bool = False) -> None:
        self.python = python
        self.folder = folder
        # With `access_log`, homeserver.log has a line for every request and its status code
        # (the "synapse.access" loggers, at INFO), so a test can count the 429s it answered.
        self.access_log = access_log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.admin_token: str | None = None

    def start(self) -> None:
        folder = self.folder
        generated = folder / "generated.yaml"
        subprocess.run(
            [
                self.python,
                "-m",
                "synapse.app.homeserver",
                "--server-name",
                SERVER_NAME,
                "--config-path",
                str(generated),
                "--generate-config",
                "--report-stats=no",
                "--data-directory",
                str(folder),
            ],
            check=True,
            capture_output=True,
            cwd=folder,
            timeout=120,
        )
        overrides = {
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(folder / "homeserver.db")}},
            "registration_shared_secret": SHARED_SECRET,
            "enable_registration": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "report_stats": False,
            "log_config": str(self._log_config()),
            "media_store_path": str(folder / "media"),
            "presence": {"enabled": False},
            # Quick password hashing: every test registers and logs in several accounts.
            "bcrypt_rounds": 4,
            "url_preview_enabled": False,
            "rc_message": {"per_second": MESSAGES_PER_SECOND, "burst_count": MESSAGE_BURST},
            "rc_login": {
                "address": {"per_second": 1000, "burst_count": 1000},
                "account": {"per_second": 1000, "burst_count": 1000},
                "failed_attempts": {"per_second": 1000, "burst_count": 1000},
            },
            "rc_registration": {"per_second": 1000, "burst_count": 1000},
            "rc_joins": {
                "local": {"per_second": 1000, "burst_count": 1000},
                "remote": {"per_second": 1000, "burst_count": 1000},
            },
            "rc_joins_per_room": {"per_second": 1000, "burst_count": 1000},
            "rc_invites": {
                "per_room": {"per_second": 1000, "burst_count": 1000},
                "per_user": {"per_second": 1000, "burst_count": 1000},
                "per_issuer": {"per_second": 1000, "burst_count": 1000},
            },
            "rc_key_requests": {"per_second": 1000, "burst_count": 1000},
            "rc_3pid_validation": {"per_second": 1000, "burst_count": 1000},
            "rc_media_create": {"per_second": 1000, "burst_count": 1000},
            "rc_room_creation": {"per_second": 1000, "burst_count": 1000},
            "rc_delayed_event_mgmt": {"per_second": 1000, "burst_count": 1000},
        }
        config = folder / "tests.yaml"
        config.write_text(json.dumps(overrides))  # YAML is a superset of JSON
        log = (folder / "synapse.out").open("wb")
        self.process = subprocess.Popen(
            [self.python, "-m", "synapse.app.homeserver", "-c", str(generated), "-c", str(config)],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Synapse ended: {(folder / 'synapse.out').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        else:
            raise RuntimeError("Synapse did not start within 120 s")
        self.admin_token = self.register("admin", admin=True)[1]

    def _log_config(self) -> Path:
        path = self.folder / "log.yaml"
        path.write_text(
            json.dumps(
                {
                    "version": 1,
                    "formatters": {"plain": {"format": "%(asctime)s %(name)s %(message)s"}},
                    "handlers": {
                        "file": {
                            "class": "logging.FileHandler",
                            "formatter": "plain",
                            "filename": str(self.folder / "homeserver.log"),
                        }
                    },
                    "root": {"level": "WARNING", "handlers": ["file"]},
                    "loggers": {"synapse.access": {"level": "INFO"}} if self.access_log else {},
                    "disable_existing_loggers": False,
                }
            )
        )
        return path

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    # -- admin API -------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {token}"} if token else {}),
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")

    def register(self, localpart: str, *, admin: bool = False) -> tuple[str, str, str]:
        """Register a user; return (user id, access token, password)."""
        password = secrets.token_hex(12)
        nonce = self._request("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode()]))
        mac.update(b"\x00admin" if admin else b"\x00notadmin")
        answer = self._request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        return answer["user_id"], answer["access_token"], password

    def lift_rate_limit(self, user_id: str) -> None:
        """Let one account send as fast as it likes (admin API, "Override ratelimiting")."""
        self.set_rate_limit(user_id, per_second=0, burst=0)

    def set_rate_limit(self, user_id: str, *, per_second: float, burst: int) -> None:
        """Give one account a message limit of its own; 0 and 0 lift it (admin API,
        "Override ratelimiting": rc_message for this user)."""
        self._request(
            "POST",
            f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id)}/override_ratelimit",
            {"messages_per_second": per_second, "burst_count": burst},
            token=self.admin_token,
        )


# -- residents -----------------------------------------------------------------------------------


class Resident:
    """A person on Matrix with an encrypting client (matrix-nio), writing to the bot."""

    def __init__(self, server: Synapse, localpart: str, folder: Path) -> None:
        self.server = server
        self.user_id, _token, self.password = server.register(localpart)
        server.lift_rate_limit(self.user_id)
        store = folder / localpart
        store.mkdir(parents=True)
        self.client = AsyncClient(
            server.url,
            self.user_id,
            store_path=str(store),
            config=AsyncClientConfig(store=SqliteStore, encryption_enabled=True),
        )
        self.room_id: str | None = None
        self.heard: list[Any] = []  # the bot's messages, decrypted, in order
        self._seen: set[str] = set()

    async def start(self) -> None:
        answer = await self.client.login(self.password, device_name="phone")
        assert isinstance(answer, LoginResponse), answer
        await self.client.sync(timeout=0, full_state=True)
        await self._keys()

    async def close(self) -> None:
        await self.client.close()

    async def _keys(self) -> None:
        client = self.client
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    async def open_direct_chat(
        self, bot: str, *, encrypted: bool = True, others: tuple = ()
    ) -> str:
        """Create a room with the bot (as Element does a direct chat) and wait for it to join."""
        state = (
            [
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ]
            if encrypted
            else []
        )
        answer = await self.client.room_create(
            visibility=RoomVisibility.private,
            is_direct=not others,
            invite=[bot, *others],
            initial_state=state,
        )
        assert isinstance(answer, RoomCreateResponse), answer
        self.room_id = answer.room_id
        if not others:
            await self.wait_for(lambda: self.joined(bot), what="the bot to join")
        return answer.room_id

    def joined(self, user: str) -> bool:
        """Return whether `user` is a joined member of this resident's room."""
        room = self.client.rooms.get(self.room_id or "")
        return room is not None and user in room.users and user not in room.invited_users

    async def sync(self, timeout_ms: int = 500) -> None:
        # A long timeline: a sync that cuts it short ("limited") would hide some of the bot's
        # messages from the test.
        response = await self.client.sync(
            timeout=timeout_ms, sync_filter={"room": {"timeline": {"limit": 1000}}}
        )
        await self._keys()
        rooms = getattr(getattr(response, "rooms", None), "join", {}) or {}
        for room_id, info in rooms.items():
            for event in info.timeline.events:
                if event.sender == self.user_id or event.event_id in self._seen:
                    continue
                if not isinstance(event, RoomMessage | MegolmEvent):
                    continue  # membership and other state
                self._seen.add(event.event_id)
                if room_id == self.room_id:
                    self.heard.append(event)

    async def wait_for(self, condition: Any, *, what: str, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await self.sync()

    def texts(self) -> list[str]:
        return [
            event.body
            for event in self.heard
            if isinstance(event, RoomMessageText | RoomMessageNotice)
        ]

    async def say(self, text: str, *, timeout: float = 30.0) -> str:
        """Send a message; return the bot's one answer to it (every text it sent after it)."""
        before = len(self.heard)
        await self.send(text)
        await self.wait_for(lambda: len(self.heard) > before, what=f"answer to {text!r}")
        # The answer and its files come one after another: collect what follows closely.
        with contextlib.suppress(AssertionError):
            await self.wait_for(lambda: False, what="more", timeout=0.3)
        answer = [
            event.body
            for event in self.heard[before:]
            if isinstance(event, RoomMessageText | RoomMessageNotice)
        ]
        return "\n\n".join(answer)

    async def send(self, text: str) -> None:
        assert self.room_id is not None
        answer = await self.client.room_send(
            self.room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": text},
            ignore_unverified_devices=True,
        )
        assert type(answer).__name__ == "RoomSendResponse", answer

    async def send_raw(self, event_type: str, content: dict[str, Any]) -> None:
        """Send an event as it is, past the client's own encryption."""
        assert self.room_id is not None
        room = urllib.parse.quote(self.room_id)
        path = f"/_matrix/client/v3/rooms/{room}/send/{event_type}/{secrets.token_hex(8)}"
        await asyncio.to_thread(
            self.server._request, "PUT", path, content, self.client.access_token
        )


def start_server(folder: Path, *, access_log: bool = False) -> Synapse:
    python = synapse_python()
    if python is None:
        raise LookupError(
            "Synapse is not installed: `make synapse` installs it into .venv-synapse "
            "(or set SYNAPSE_PYTHON to an interpreter that has matrix-synapse)"
        )
    server = Synapse(python, folder, access_log=access_log)
    server.start()
    return server


if __name__ == "__main__":  # a quick look by hand: python -m tests.matrix_server
    import tempfile

    with tempfile.TemporaryDirectory() as where:
        synapse = start_server(Path(where))
        print(synapse.url, synapse.register("someone"), file=sys.stderr)
        synapse.stop()
