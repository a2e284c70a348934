"""Settings read from the environment and `.env`."""

from __future__ import annotations

import zoneinfo
from functools import cached_property
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SUPPORTED_LOCALES: tuple[str, ...] = ("de", "en", "uk", "ru", "ar", "fa", "tr")
RTL_LOCALES: frozenset[str] = frozenset({"ar", "fa"})
PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    admin_ids: str = ""
    operator_name: str = "Engagierte Stadt (demo operator)"
    privacy_contact: str = "privacy@example.org"
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    log_level: str = "INFO"

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
            transport, sep, user = item.partition(":")
            if not sep or not transport or not user:
                raise ValueError("must be a comma-separated list of transport:user_id")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("must be a URL such as sqlite:///data/engagebot.db")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @cached_property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @cached_property
    def admins(self) -> frozenset[tuple[str, str]]:
        pairs = (item.strip().partition(":") for item in self.admin_ids.split(","))
        return frozenset((t, u) for t, _, u in pairs if t and u)


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
