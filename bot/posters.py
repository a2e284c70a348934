"""Printable posters: an offer or event on A4, with a QR code that opens it in the bot."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont, features
from sqlmodel import Session

from bot.config import Settings
from bot.i18n import N_, Translations, Translator
from bot.links import start_payload, telegram_link
from db.models import Event, Offer, Organisation
from db.queries import event_translation, offer_translation
from db.search import kind_of

WIDTH, HEIGHT = 1240, 1754  # A4 at 150 dots per inch
MARGIN = 96
QR_BORDER = 4  # modules of white around the code, as the QR standard asks
ACCENT = (31, 98, 125)
INK = (24, 24, 24)
MUTED = (80, 80, 80)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Fill = str | tuple[int, int, int]
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FONT_FILES = {
    False: ("DejaVuSans.ttf", "DejaVu Sans"),
    True: ("DejaVuSans-Bold.ttf", "DejaVu Sans:bold"),
}
_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
    "/Library/Fonts",
    "C:/Windows/Fonts",
)


class PosterError(LookupError):
    """The item asked for does not exist."""


@dataclass(frozen=True)
class Poster:
    """A rendered poster and where its QR code sits, so it can be checked."""

    png: bytes
    qr_payload: str
    qr_origin: tuple[int, int]  # top-left pixel of the first module (inside the white border)
    module_px: int


def render_poster(
    session: Session, kind: str, id: int, settings: Settings, *, locale: str | None = None
) -> bytes:
    """Return a PNG poster of an offer or event with a QR code that opens it in the bot."""
    return build_poster(session, kind, id, settings, locale=locale).png


def poster_links(settings: Settings, payload: str) -> tuple[str, list[tuple[str, dict[str, str]]]]:
    """Return what the QR code holds and the sentences (to translate) that tell how to open the
    item by hand."""
    lines: list[tuple[str, dict[str, str]]] = []
    qr = telegram_link(settings, payload)
    if qr:
        lines.append((N_("Telegram: %(link)s"), {"link": qr.removeprefix("https://")}))
    if settings.signal_account:
        lines.append(
            (
                N_("Signal: %(number)s, send: %(command)s"),
                {"number": settings.signal_account, "command": f"start {payload}"},
            )
        )
        if qr is None and settings.signal_account.startswith("+"):
            qr = f"https://signal.me/#p/{settings.signal_account}"
    if qr is None:
        qr = f"/start {payload}"
        lines.append((N_("Send “%(command)s” to the bot."), {"command": qr}))
    return qr, lines


def build_poster(
    session: Session, kind: str, id: int, settings: Settings, *, locale: str | None = None
) -> Poster:
    """Render the poster of an offer or event, in `locale` (default: the default locale)."""
    kind = kind_of(kind)
    t = Translations(settings.tz, settings.default_locale).get(locale or settings.default_locale)
    item: Offer | Event | None = session.get(Offer if kind == "offer" else Event, id)
    if item is None:
        raise PosterError(f"there is no {kind} {id}")
    title, summary = _texts(session, item, t.locale)
    organisation = session.get(Organisation, item.organisation_id)
    facts: list[str] = []
    if isinstance(item, Event):
        facts.append(t._("When: %(when)s", when=t.datetime(item.starts_at, all_day=item.all_day)))
        if item.ends_at and not item.all_day:
            facts.append(t.until(item.starts_at, item.ends_at))
    elif item.schedule:
        facts.append(t._("When: %(schedule)s", schedule=item.schedule))
    place = ", ".join(filter(None, [item.place_name, item.address]))
    if place:
        facts.append(t._("Where: %(place)s", place=place))
    if organisation is not None:
        facts.append(
            t._("Organised by: %(name)s", name=organisation.name)
            if isinstance(item, Event)
            else t._("Organisation: %(name)s", name=organisation.name)
        )
    payload = start_payload(kind, id)
    qr_payload, how_lines = poster_links(settings, payload)
    how = [t._(sentence, **values) for sentence, values in how_lines]
    banner = t._("Volunteer offer") if kind == "offer" else t._("Event")
    return _draw(
        t,
        banner=banner,
        title=title,
        facts=facts,
        summary=summary,
        scan=t._("Scan the code to open this in the chat."),
        how=how,
        qr_payload=qr_payload,
    )


def _texts(session: Session, item: Offer | Event, locale: str) -> tuple[str, str]:
    assert item.id is not None
    if locale != item.locale:
        found = (
            offer_translation(session, offer_id=item.id, locale=locale)
            if isinstance(item, Offer)
            else event_translation(session, event_id=item.id, locale=locale)
        )
        if found is not None:
            return found.title, found.summary
    return item.title, item.summary


# -- drawing ---------------------------------------------------------------------------------


def _draw(
    t: Translator,
    *,
    banner: str,
    title: str,
    facts: list[str],
    summary: str,
    scan: str,
    how: list[str],
    qr_payload: str,
) -> Poster:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    writer = _Writer(draw, t)
    width = WIDTH - 2 * MARGIN

    draw.rectangle((0, 0, WIDTH, 150), fill=ACCENT)
    writer.line(banner, _font(56, bold=True), y=45, fill="white")

    y = 210
    y = writer.block(title, _font(76, bold=True), y=y, width=width, fill=INK, max_lines=4, gap=14)
    y += 36
    for fact in facts:
        y = writer.block(fact, _font(38), y=y, width=width, fill=INK, max_lines=3, gap=8) + 14
    if summary:
        y += 16
        y = writer.block(summary, _font(36), y=y, width=width, fill=MUTED, max_lines=3, gap=8)

    # The code takes the room that is left, centred, above the lines that explain it.
    footer_top = HEIGHT - MARGIN - 58 * (len(how) + 1)
    qr = segno.make(qr_payload, error="m", micro=False)
    modules = len(qr.matrix)
    room = min(width, footer_top - (y + 40)) - 20
    module_px = max(4, min(16, room // (modules + 2 * QR_BORDER)))
    side = (modules + 2 * QR_BORDER) * module_px
    left = (WIDTH - side) // 2
    top = max(y + 40, footer_top - side - 20)
    origin = (left + QR_BORDER * module_px, top + QR_BORDER * module_px)
    draw.rectangle((left, top, left + side - 1, top + side - 1), fill="white")
    for row, bits in enumerate(qr.matrix):
        for column, dark in enumerate(bits):
            if dark:
                x0 = origin[0] + column * module_px
                y0 = origin[1] + row * module_px
                draw.rectangle((x0, y0, x0 + module_px - 1, y0 + module_px - 1), fill="black")

    y = top + side + 10
    y = writer.block(scan, _font(36, bold=True), y=y, width=width, fill=INK, center=True) + 10
    for line in how:
        y = writer.block(line, _font(32), y=y, width=width, fill=MUTED, center=True) + 6

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return Poster(buffer.getvalue(), qr_payload, origin, module_px)


class _Writer:
    """Draws wrapped lines of text, right to left where the language needs it."""

    def __init__(self, draw: ImageDraw.ImageDraw, t: Translator) -> None:
        self.draw = draw
        self.rtl = t.rtl
        # Shaping Arabic and Farsi needs libraqm; without it the letters stay unjoined.
        self.direction = "rtl" if t.rtl and features.check_feature("raqm") else None

    def clean(self, text: str) -> str:
        """Keep direction marks only where the layout engine understands them."""
        return text if self.direction else _BIDI_CONTROLS.sub("", text)

    def width(self, text: str, font: Font) -> float:
        return self.draw.textlength(text, font=font, direction=self.direction)

    def line(self, text: str, font: Font, *, y: int, fill: Fill, center: bool = False) -> None:
        text = self.clean(text)
        width = self.width(text, font)
        if center:
            x = (WIDTH - width) / 2
        elif self.rtl:
            x = WIDTH - MARGIN - width
        else:
            x = MARGIN
        self.draw.text((x, y), text, font=font, fill=fill, direction=self.direction)

    def block(
        self,
        text: str,
        font: Font,
        *,
        y: int,
        width: int,
        fill: Fill,
        max_lines: int = 2,
        gap: int = 6,
        center: bool = False,
    ) -> int:
        """Draw `text` wrapped to `width`; return the y below it."""
        lines = self.wrap(self.clean(text), font, width)
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = self.shorten(lines[-1] + " …", font, width)
        height = _line_height(font)
        for line in lines:
            self.line(line, font, y=y, fill=fill, center=center)
            y += height + gap
        return y

    def wrap(self, text: str, font: Font, width: int) -> list[str]:
        lines: list[str] = []
        current = ""
        for word in text.split():
            candidate = f"{current} {word}".strip()
            if self.width(candidate, font) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            while self.width(word, font) > width:  # a word longer than the line: break it
                cut = len(word)
                while cut > 1 and self.width(word[:cut], font) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        if current:
            lines.append(current)
        return lines

    def shorten(self, text: str, font: Font, width: int) -> str:
        while len(text) > 2 and self.width(text, font) > width:
            text = text[:-3].rstrip() + " …"
        return text


def _line_height(font: Font) -> int:
    top, bottom = font.getbbox("ÄÖÜgjy")[1::2]
    return int(bottom - min(top, 0))


@cache
def _font_file(bold: bool) -> str | None:
    """Find DejaVu Sans (it has umlauts, Cyrillic and Arabic letters); None if not installed."""
    filename, pattern = _FONT_FILES[bold]
    for folder in _FONT_DIRS:
        path = Path(folder) / filename
        if path.is_file():
            return str(path)
    if shutil.which("fc-match"):
        try:
            found = subprocess.run(
                ["fc-match", "-f", "%{file}", pattern],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        if found.lower().endswith((".ttf", ".otf")) and Path(found).is_file():
            return found
    return None


@cache
def _font(size: int, *, bold: bool = False) -> Font:
    path = _font_file(bold)
    if path is not None:
        return ImageFont.truetype(path, size)
    # Pillow's own font scales since Pillow 10.1 and covers Latin letters with umlauts.
    return ImageFont.load_default(size=size)
