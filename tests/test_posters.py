"""Posters: an A4 PNG with the item's facts and a QR code that opens it in the bot."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno
from PIL import Image

from bot.app import App
from bot.cli import main
from bot.clock import FakeClock
from bot.posters import HEIGHT, WIDTH, Poster, PosterError, build_poster, render_poster
from db.engine import session_scope
from tests.conftest import make_settings

pytestmark = pytest.mark.both_databases


def poster_app(database_url: str, clock: FakeClock, **settings: object) -> App:
    return App(make_settings(database_url, **settings), clock=clock)


def drawn_modules(poster: Poster) -> list[list[bool]]:
    """Read the QR modules back from the pixels, sampling the middle of each module."""
    image = Image.open(io.BytesIO(poster.png)).convert("L")
    size = len(segno.make(poster.qr_payload, error="m", micro=False).matrix)
    x0, y0 = poster.qr_origin
    half = poster.module_px // 2
    return [
        [
            image.getpixel((x0 + col * poster.module_px + half, y0 + row * poster.module_px + half))
            < 128
            for col in range(size)
        ]
        for row in range(size)
    ]


def decoded(png: bytes) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp")
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_an_offer_poster_with_a_telegram_link(database_url: str, clock: FakeClock) -> None:
    app = poster_app(database_url, clock, telegram_bot_username="EngagebotKLBot")
    try:
        with session_scope(app.engine) as session:
            png = render_poster(session, "offer", 12, app.settings)
            poster = build_poster(session, "o", 12, app.settings)
    finally:
        app.close()
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT) == (1240, 1754)
    assert image.mode == "RGB"
    link = "https://t.me/EngagebotKLBot?start=o_12"
    assert poster.qr_payload == link
    assert decoded(png) == [link]
    expected = segno.make(link, error="m", micro=False).matrix
    assert drawn_modules(poster) == [[bool(bit) for bit in row] for row in expected]


def test_an_event_poster_for_signal_only(database_url: str, clock: FakeClock) -> None:
    app = poster_app(database_url, clock, signal_account="+4963112345678")
    try:
        with session_scope(app.engine) as session:
            poster = build_poster(session, "event", 1, app.settings)
    finally:
        app.close()
    # Scanning opens a chat with the bot's number; the poster says what to send there.
    assert poster.qr_payload == "https://signal.me/#p/+4963112345678"
    assert decoded(poster.png) == [poster.qr_payload]


def test_a_poster_without_any_messenger_link(database_url: str, clock: FakeClock) -> None:
    app = poster_app(database_url, clock)
    try:
        with session_scope(app.engine) as session:
            poster = build_poster(session, "e", 7, app.settings, locale="uk")
            with pytest.raises(PosterError):
                render_poster(session, "offer", 4242, app.settings)
            with pytest.raises(ValueError):
                render_poster(session, "poster", 1, app.settings)
    finally:
        app.close()
    assert poster.qr_payload == "/start e_7"
    expected = segno.make("/start e_7", error="m", micro=False).matrix
    assert drawn_modules(poster) == [[bool(bit) for bit in row] for row in expected]


@pytest.fixture
def logger_levels() -> Iterator[None]:
    """Put back the log levels the command line changes, for the tests that run after."""
    loggers = [logging.getLogger(name) for name in ("httpx", "alembic")]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.usefixtures("logger_levels")
def test_the_poster_command(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "EngagebotKLBot")
    out = tmp_path / "poster.png"
    assert main(["poster", "o_12", "--out", str(out)]) == 0
    assert "poster written to" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size == (1240, 1754)
    assert decoded(out.read_bytes()) == ["https://t.me/EngagebotKLBot?start=o_12"]
    assert main(["poster", "e_7"]) == 0
    assert (tmp_path / "e_7.png").is_file()
    assert main(["poster", "x_1"]) == 2
    assert "not an item" in capsys.readouterr().err
    assert main(["poster", "o_999"]) == 2
    assert "there is no offer 999" in capsys.readouterr().err
