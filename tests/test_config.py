from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine

from bot.cli import main
from bot.config import SettingsError, load_settings


def test_defaults_are_usable() -> None:
    settings = load_settings(_env_file=None)
    assert settings.default_locale == "de"
    assert settings.timezone == "Europe/Berlin"
    assert settings.database_url.startswith("sqlite:///data/")
    assert settings.telegram_rate == 30  # Telegram's limit for a bot in bulk


def test_the_telegram_transport_keeps_to_telegram_rate() -> None:
    from bot.transports.telegram import TelegramTransport

    settings = load_settings(_env_file=None, telegram_bot_token="123:ABC", telegram_rate="12.5")
    # Nothing is asked of the conversation but where its database is (for the inbox).
    conversation = SimpleNamespace(engine=create_engine("sqlite://"))
    transport = TelegramTransport(conversation, settings)  # type: ignore[arg-type]
    assert transport.overall_rate == 12.5


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("timezone", "Mars/Olympus", "TIMEZONE"),
        ("default_locale", "xx", "DEFAULT_LOCALE"),
        ("admin_ids", "12345", "ADMIN_IDS"),
        ("database_url", "not a url", "DATABASE_URL"),
        ("sqlite_busy_timeout_ms", "-1", "SQLITE_BUSY_TIMEOUT_MS"),
        ("database_pool_size", "0", "DATABASE_POOL_SIZE"),
        ("database_max_overflow", "-1", "DATABASE_MAX_OVERFLOW"),
        ("telegram_rate", "0", "TELEGRAM_RATE"),
        ("telegram_rate", "5000", "TELEGRAM_RATE"),
    ],
)
def test_a_bad_value_names_the_setting(field: str, value: str, name: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **{field: value})
    message = str(caught.value)
    assert message.startswith(f"invalid setting {name}:")
    assert "\n" not in message


ACI = "1B2C3D4E-5F60-4718-9A2B-3C4D5E6F7A8B"


def test_admin_ids_are_pairs() -> None:
    settings = load_settings(_env_file=None, admin_ids=f"telegram:42, signal:{ACI}, console:x")
    assert settings.admins == {("telegram", "42"), ("signal", ACI.lower()), ("console", "x")}


@pytest.mark.parametrize(
    ("admin_ids", "says"),
    [
        ("signal:+4917612345678", "keyed by their account id"),
        ("telegram:abc", "positive number"),
        ("whatsapp:123", "telegram:<user id"),
    ],
)
def test_admin_ids_that_can_never_match_stop_start_up(admin_ids: str, says: str) -> None:
    with pytest.raises(SettingsError, match="ADMIN_IDS") as caught:
        load_settings(_env_file=None, admin_ids=admin_ids)
    assert says in str(caught.value)


def test_bad_setting_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIMEZONE", "Nowhere/Nothing")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and "TIMEZONE" in err[0]
