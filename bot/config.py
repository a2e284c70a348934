"""Settings read from the environment and `.env`."""

from __future__ import annotations

import re
import zoneinfo
from datetime import time, timedelta
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.accounts import parse_user_id

SUPPORTED_LOCALES: tuple[str, ...] = ("de", "en", "uk", "ru", "ar", "fa", "tr")
RTL_LOCALES: frozenset[str] = frozenset({"ar", "fa"})
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# What Telegram accepts as a webhook's secret token, at a length nobody guesses.
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
# A Matrix user id (spec, "Appendices: User Identifiers"): @localpart:server, server with port.
MATRIX_USER_ID = re.compile(r"@[^\s:]+:[^\s:]+(:[0-9]{1,5})?")


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """Return the host and port of a `tcp://host:port` endpoint."""
    parts = urlsplit(endpoint.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme in {"http", "https"}:
        raise ValueError("the daemon's --http mode is not supported; start it with --tcp HOST:PORT")
    if parts.scheme != "tcp" or not parts.hostname or port is None:
        raise ValueError("must look like tcp://127.0.0.1:7583 (signal-cli daemon --tcp)")
    return parts.hostname, port


class Settings(BaseSettings):
    """Everything an operator can configure; each field is one environment variable."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = Field(default="sqlite:///data/engagebot.db")
    default_locale: str = "de"
    timezone: str = "Europe/Berlin"
    telegram_bot_token: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    # Telegram's overall limit, in messages a second for everything the bot sends (answers
    # and the outbox together): about 30 for a bot (Bot API FAQ, "broadcasting to users").
    telegram_rate: float = Field(default=30, gt=0, le=1000)
    # The bot's owner enabled paid broadcasts and holds Telegram Stars: admins may then send an
    # announcement as urgent, with `allow_paid_broadcast` (Bot API, sendMessage: "up to 1000
    # messages per second, ignoring broadcasting limits for a fee of 0.1 Telegram Stars per
    # message"), at TELEGRAM_PAID_RATE messages a second instead of BROADCAST_RATE.
    telegram_paid_broadcasts: bool = False
    telegram_paid_rate: float = Field(default=1000, ge=1, le=1000)
    # The bot's Telegram username (without @), for links that open an offer or event in the bot
    # from calendar files and posters; without it they tell people to send "/start e_7".
    telegram_bot_username: str | None = None
    # A domain of yours; calendar files name each event "event-7@<domain>" so that calendars
    # recognise it when it is added again.
    calendar_domain: str = "engagebot.example.org"
    # Webhook mode (instead of polling) when set: the public https URL Telegram posts updates to.
    webhook_url: str | None = None
    # Telegram sends it with every webhook request; requests without it are refused.
    webhook_secret: str | None = Field(default=None, validate_default=True)
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    admin_ids: str = ""
    operator_name: str = "Engagierte Stadt (demo operator)"
    privacy_contact: str = "privacy@example.org"
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    # PostgreSQL: how long a statement waits for a lock, and runs at all (0: no limit).
    database_lock_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    database_statement_timeout_ms: int = Field(default=30_000, ge=0, le=3_600_000)
    # PostgreSQL: connections each process keeps open, and how many more it may open when busy.
    database_pool_size: int = Field(default=5, ge=1, le=100)
    database_max_overflow: int = Field(default=10, ge=0, le=100)
    log_level: str = "INFO"
    # python-telegram-bot's, httpx's and SQLAlchemy's own logging of updates, requests and
    # texts (bot/logs.py): off unless asked for.
    log_wire: bool = False
    # Signal through signal-cli's JSON-RPC daemon; enabled when SIGNAL_ACCOUNT is set.
    signal_account: str | None = None
    signal_cli_endpoint: str = "tcp://127.0.0.1:7583"
    signal_rate: float = 1.0  # messages per second, for everything the account sends
    # The daemon's --receive-mode: "manual" lets the bot say when signal-cli takes messages.
    signal_receive_mode: str = "on-connection"
    # Matrix: an ordinary account on a homeserver; enabled when MATRIX_HOMESERVER is set.
    matrix_homeserver: str | None = None
    matrix_user_id: str | None = Field(default=None, validate_default=True)
    # Either an access token of the bot's device, or the password it logs in with once.
    matrix_access_token: str | None = None
    matrix_password: str | None = Field(default=None, validate_default=True)
    # Where the bot keeps its device's keys and login; default: "matrix" beside a SQLite file,
    # else ./data/matrix. Back it up with the database.
    matrix_store_dir: str | None = None
    matrix_rate: float = Field(default=10, gt=0, le=1000)  # proactive messages a second

    # Reminders, alerts and the outbox.
    scheduler_tick_seconds: float = Field(default=30, gt=0, le=3600)
    reminder_leads: str = "24h,2h"
    quiet_hours: str = "21:00-08:00"
    digest_weekday: str = "mon"
    digest_time: str = "09:00"
    # Messages a second the delivery worker sends on Telegram. Telegram allows about 30 in bulk,
    # and the transport's limiter caps everything the bot sends (answers too) at 30 a second, so
    # 29 leaves a little room without wasting a sixth of it, as 25 did (benchmarks/RESULTS.md:
    # 2,000 recipients at 29.0/s against a 30/s limit, no 429).
    broadcast_rate: float = Field(default=29, gt=0, le=1000)
    delivery_max_attempts: int = Field(default=8, ge=1, le=100)

    # Privacy: how long data is kept (days), and the key that turns user ids into log hashes.
    retention_messages_days: int = Field(default=90, ge=1)
    retention_blocked_days: int = Field(default=30, ge=1)
    retention_inactive_days: int = Field(default=365, ge=30)
    retention_notice_days: int = Field(default=14, ge=1)
    retention_audit_days: int = Field(default=365, ge=1)
    # Requests to help, with their messages, this long after they were closed.
    retention_help_days: int = Field(default=30, ge=1)
    log_hash_key: str = ""
    # Per-user flood control: a burst of this many messages, then one per second.
    flood_burst: int = Field(default=12, ge=1, le=1000)
    # Optional machine translation for coordinators' draft translations (README, "Translations").
    deepl_api_key: str | None = None
    deepl_server_url: str | None = None  # default: DeepL's own, chosen by the key
    libretranslate_url: str | None = None
    libretranslate_api_key: str | None = None

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in SUPPORTED_LOCALES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("is not a known IANA time zone such as Europe/Berlin") from exc
        return value

    @field_validator("admin_ids")
    @classmethod
    def _admin_ids_shape(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            parse_user_id(item)  # a BadUserId (a ValueError) says which forms are valid
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _api_base_url_shape(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")) or not urlsplit(value).netloc:
            raise ValueError("must be a URL such as https://api.telegram.org/bot")
        return value

    @field_validator("deepl_server_url", "libretranslate_url")
    @classmethod
    def _service_url_shape(cls, value: str | None) -> str | None:
        value = (value or "").strip() or None
        if value and (not value.startswith(("http://", "https://")) or not urlsplit(value).netloc):
            raise ValueError("must be a URL such as https://translate.example.org")
        return value

    @field_validator("deepl_api_key", "libretranslate_api_key")
    @classmethod
    def _empty_key_is_none(cls, value: str | None) -> str | None:
        return (value or "").strip() or None

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url_shape(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        # Telegram only posts to https; TLS may end at a reverse proxy in front of the bot.
        if not value.startswith("https://") or not urlsplit(value).netloc:
            raise ValueError("must be an https:// URL such as https://bot.example.org/telegram")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        if value is None:
            if info.data.get("webhook_url"):
                raise ValueError("is required when WEBHOOK_URL is set")
            return None
        if not _WEBHOOK_SECRET.match(value):
            raise ValueError("must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("must be a URL such as sqlite:///data/engagebot.db")
        return value

    @field_validator("signal_account")
    @classmethod
    def _signal_account_shape(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        # A phone number, or the ACI (a UUID) of an account that has none.
        number = r"\+[1-9][0-9]{6,14}"
        aci = r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
        if not re.fullmatch(f"{number}|{aci}", value):
            raise ValueError(
                "must be the bot's Signal number with country code, such as +4915112345678"
            )
        return value

    @field_validator("signal_cli_endpoint")
    @classmethod
    def _signal_endpoint_shape(cls, value: str) -> str:
        parse_endpoint(value)  # the transport reads it the same way
        return value.strip()

    @field_validator("signal_rate")
    @classmethod
    def _signal_rate_range(cls, value: float) -> float:
        if not 0 < value <= 1000:
            raise ValueError("must be messages per second above 0, such as 1 or 0.5")
        return value

    @field_validator("signal_receive_mode")
    @classmethod
    def _signal_receive_mode_choice(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"on-connection", "manual"}:
            raise ValueError("must be on-connection or manual, as given to signal-cli daemon")
        return value

    @field_validator("matrix_homeserver")
    @classmethod
    def _matrix_homeserver_shape(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/")
        if not value:
            return None
        if not value.startswith(("http://", "https://")) or not urlsplit(value).netloc:
            raise ValueError("must be the homeserver's URL such as https://matrix.example.org")
        return value

    @field_validator("matrix_user_id")
    @classmethod
    def _matrix_user_id_shape(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        if value is None:
            if info.data.get("matrix_homeserver"):
                raise ValueError("is required when MATRIX_HOMESERVER is set")
            return None
        if not MATRIX_USER_ID.fullmatch(value):
            raise ValueError("must be the bot's full Matrix id such as @engagebot:example.org")
        return value

    @field_validator("matrix_access_token", "matrix_password", "matrix_store_dir")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return (value or "").strip() or None

    @field_validator("matrix_password")
    @classmethod
    def _matrix_login(cls, value: str | None, info: ValidationInfo) -> str | None:
        token = info.data.get("matrix_access_token")
        if info.data.get("matrix_homeserver") and not (value or token):
            raise ValueError("or MATRIX_ACCESS_TOKEN is required when MATRIX_HOMESERVER is set")
        return value

    @cached_property
    def matrix_store(self) -> Path:
        """Return the folder of the Matrix device's keys and login."""
        if self.matrix_store_dir:
            return Path(self.matrix_store_dir)
        if self.database_url.startswith("sqlite:///") and ":memory:" not in self.database_url:
            database = Path(self.database_url.removeprefix("sqlite:///").split("?")[0])
            return database.parent / f"{database.stem}-matrix"
        return Path("data/matrix")

    @field_validator("telegram_bot_username")
    @classmethod
    def _bot_username_shape(cls, value: str | None) -> str | None:
        value = (value or "").strip().removeprefix("@")
        if not value:
            return None
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{4,31}", value):
            raise ValueError("must be the bot's username such as EngagebotKLBot, without @")
        return value

    @field_validator("calendar_domain")
    @classmethod
    def _calendar_domain_shape(cls, value: str) -> str:
        value = value.strip().lower()
        label = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
        if not re.fullmatch(rf"{label}(?:\.{label})+", value):
            raise ValueError("must be a domain name such as bot.example.org")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator("reminder_leads")
    @classmethod
    def _leads_shape(cls, value: str) -> str:
        parse_leads(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours_shape(cls, value: str) -> str:
        if value.strip():
            start, sep, end = value.partition("-")
            if not sep:
                raise ValueError("must look like 21:00-08:00, or be empty for none")
            parse_clock_time(start), parse_clock_time(end)
        return value

    @field_validator("digest_weekday")
    @classmethod
    def _weekday_shape(cls, value: str) -> str:
        value = value.strip().lower()[:3]
        if value not in WEEKDAYS:
            raise ValueError("must be a weekday such as mon")
        return value

    @field_validator("digest_time")
    @classmethod
    def _digest_time_shape(cls, value: str) -> str:
        parse_clock_time(value)
        return value

    @cached_property
    def leads(self) -> tuple[timedelta, ...]:
        return parse_leads(self.reminder_leads)

    @cached_property
    def quiet(self) -> tuple[time, time] | None:
        if not self.quiet_hours.strip():
            return None
        start, _, end = self.quiet_hours.partition("-")
        return parse_clock_time(start), parse_clock_time(end)

    @cached_property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @cached_property
    def admins(self) -> frozenset[tuple[str, str]]:
        items = filter(None, (part.strip() for part in self.admin_ids.split(",")))
        return frozenset(parse_user_id(item) for item in items)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LEAD = re.compile(r"^\s*([1-9][0-9]{0,3})\s*([mhd])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_leads(value: str) -> tuple[timedelta, ...]:
    """Parse reminder lead times such as "24h,2h,30m" into timedeltas, longest first."""
    leads = set()
    for part in value.split(","):
        match = _LEAD.match(part)
        if not match:
            raise ValueError("must be lead times such as 24h,2h or 30m, separated by commas")
        leads.add(timedelta(**{_UNITS[match.group(2)]: int(match.group(1))}))
    return tuple(sorted(leads, reverse=True))


def parse_clock_time(value: str) -> time:
    """Parse "HH:MM" (24-hour clock)."""
    try:
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{value.strip()!r} is not a time such as 08:00") from None


class SettingsError(Exception):
    """A setting has a value the bot cannot use; the message names it in one line."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation error into one line that names the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"invalid setting {name}: {message}") from None
