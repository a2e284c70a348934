"""The fields of an offer or event as coordinators answer them: the question of each, its
button label, its length limits, and how a typed answer is read. Publishing (handlers/publish.py)
asks them in order; managing (handlers/manage.py) asks one again to change it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from babel import units
from sqlmodel import col, select

from bot.i18n import Translator
from bot.messages import Button, Reply
from db.models import Category, District, Event, Offer
from handlers.actions import BadAction, parse_action
from handlers.context import Context
from handlers.router import router
from handlers.timeparse import parse_local_datetime
from handlers.ui import name_in, too_long, too_short

# The questions of the publishing conversation, in order, per kind of item.
OFFER_STEPS = (
    "category",
    "title",
    "summary",
    "description",
    "district",
    "place",
    "address",
    "schedule",
    "contact",
)
EVENT_STEPS = (
    "category",
    "title",
    "summary",
    "description",
    "district",
    "place",
    "address",
    "when",
    "duration",
    "capacity",
)
# Every field of an offer as managing and the preview's changes list them: also what volunteers
# need, which publishing does not ask (most offers need nothing in particular).
OFFER_FIELDS = (*OFFER_STEPS[:-1], "requirements", OFFER_STEPS[-1])
CHOICES = frozenset({"category", "district"})  # answered with buttons
TEXT_FIELDS = frozenset(set(EVENT_STEPS) | set(OFFER_FIELDS)) - CHOICES
OPTIONAL = frozenset(
    {
        "description",
        "district",
        "place",
        "address",
        "schedule",
        "requirements",
        "contact",
        "duration",
        "capacity",
    }
)
LIMITS = {
    "title": 200,
    "summary": 500,
    "description": 4000,
    "place": 200,
    "address": 300,
    "schedule": 300,
    "requirements": 1000,
    "contact": 300,
}
# The model's column lengths above; below, what is too short to tell residents anything.
MINIMUMS = {"title": 3, "summary": 3}
# The item's column of each text field (category, district, duration and capacity differ).
COLUMNS = {
    "title": "title",
    "summary": "summary",
    "description": "description",
    "place": "place_name",
    "address": "address",
    "schedule": "schedule",
    "requirements": "requirements",
    "contact": "contact",
    "when": "starts_at",
}


def steps_of(kind: str) -> tuple[str, ...]:
    """The fields of an offer ("offer" or "o") or an event, in the order they are asked."""
    return OFFER_STEPS if kind in ("offer", "o") else EVENT_STEPS


def fields_of(kind: str) -> tuple[str, ...]:
    """Every field of an offer or an event that a coordinator can change."""
    return OFFER_FIELDS if kind in ("offer", "o") else EVENT_STEPS


def question(t: Translator, field: str) -> str:
    """The question that asks for a field."""
    questions = {
        "category": t._("Which topic fits best?"),
        "district": t._("In which district?"),
        "title": t._("What is the title? Short and clear, please."),
        "summary": t._("In one sentence: what will volunteers do?"),
        "description": t._("Anything else people should know? A few sentences."),
        "place": t._("Where does it take place? The name of the place."),
        "address": t._("What is the address?"),
        "schedule": t._("When and how often? For example: every Tuesday, 2 hours."),
        "requirements": t._(
            "What do volunteers need? For example: a certificate of good conduct, or enough "
            "German for a conversation."
        ),
        "contact": t._("How can people reach you? An e-mail address or phone number."),
        "when": t._('When does it start? For example: 12.12. 18:00 or "morgen 17 Uhr".'),
        "duration": t._("How many hours will it last?"),
        "capacity": t._("How many places are there? Skip if there is no limit."),
    }
    return questions[field]


def label(t: Translator, field: str) -> str:
    """The label of the button that changes a field."""
    labels = {
        "category": t.pgettext("button", "✏️ Topic"),
        "district": t.pgettext("button", "✏️ District"),
        "title": t.pgettext("button", "✏️ Title"),
        "summary": t.pgettext("button", "✏️ Summary"),
        "description": t.pgettext("button", "✏️ Description"),
        "place": t.pgettext("button", "✏️ Place"),
        "address": t.pgettext("button", "✏️ Address"),
        "schedule": t.pgettext("button", "✏️ When and how often"),
        "requirements": t.pgettext("button", "✏️ What volunteers need"),
        "contact": t.pgettext("button", "✏️ Contact"),
        "when": t.pgettext("button", "✏️ Time"),
        "duration": t.pgettext("button", "✏️ Length"),
        "capacity": t.pgettext("button", "✏️ Places"),
    }
    return labels[field]


def field_buttons(t: Translator, kind: str, press: Any) -> list[tuple[Button, ...]]:
    """Two buttons a row, one per field of the kind; `press(field)` gives each one's action."""
    buttons = [Button(label(t, field), press(field)) for field in fields_of(kind)]
    return [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]


def choice_buttons(ctx: Context, field: str, press: Any) -> list[tuple[Button, ...]]:
    """The topics or districts to choose from; `press(id)` gives each one's action (0: none)."""
    t = ctx.t
    if field == "category":
        categories = ctx.session.exec(select(Category).order_by(col(Category.position))).all()
        return [
            (Button(f"{c.emoji} {name_in(c.names, t.locale, c.slug)}".strip(), press(c.id or 0)),)
            for c in categories
        ]
    districts = ctx.session.exec(select(District).order_by(col(District.position))).all()
    rows = [(Button(name_in(d.names, t.locale, d.slug), press(d.id or 0)),) for d in districts]
    rows.append((Button(t.pgettext("button", "No particular district"), press(0)),))
    return rows


def valid_choice(ctx: Context, field: str, value: int) -> bool:
    """Whether a pressed topic or district exists (a district may be 0, none)."""
    if field == "category":
        return bool(value) and ctx.session.get(Category, value) is not None
    return field == "district" and (not value or ctx.session.get(District, value) is not None)


def read(ctx: Context, field: str, text: str) -> tuple[Any, str | None]:
    """Read a typed answer: its value, or None and what is wrong with it."""
    t = ctx.t
    limit = LIMITS.get(field)
    if limit is not None and len(text) > limit:
        return None, too_long(t, limit)
    minimum = MINIMUMS.get(field)
    if minimum is not None and len(text.strip()) < minimum:
        return None, too_short(t, minimum)
    if field == "when":
        moment = parse_local_datetime(text, now=ctx.now, tz=ctx.settings.tz)
        if moment is None:
            return None, t._(
                'I could not read that date. Please write it like 12.12. 18:00 or "morgen 17 Uhr".'
            )
        if moment <= ctx.now:
            return None, t._("That time is in the past. Please give a time in the future.")
        return moment.isoformat(), None
    if field == "duration":
        hours = _number(text.replace(",", ".").removesuffix("h").strip(), allow_float=True)
        if hours is None or not 0 < hours <= 24 * 14:
            return None, t._("Please write the length in hours, such as 2 or 1.5.")
        return hours, None
    if field == "capacity":
        places = _number(text.strip())
        if places is None or not 1 <= places <= 100_000:
            return None, t._("Please write a whole number of places, such as 20.")
        return int(places), None
    return text, None


NUMERIC = frozenset({"when", "duration", "capacity"})  # a typed number is the answer itself
_MENU_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


def pressed_number(ctx: Context, field: str, text: str) -> list[Reply] | None:
    """Press the button a typed number names, at a question whose answer is not a number.

    On Signal and the console buttons are numbered; at a text question the number would
    otherwise become the answer, and "Back", "Skip" or "Stop" could never be chosen there.
    """
    number = _MENU_NUMBER.match(text)
    menu = ctx.state.menu or []
    if field in NUMERIC or number is None or not 1 <= int(number.group(1)) <= len(menu):
        return None
    try:
        parsed = parse_action(menu[int(number.group(1)) - 1], router.shapes)
    except BadAction:
        return None
    return router.call(ctx, parsed.name, *parsed.args)


def _number(text: str, *, allow_float: bool = False) -> float | None:
    try:
        value = float(text) if allow_float else int(text)
    except ValueError:
        return None
    return value


def hours_text(t: Translator, hours: float) -> str:
    """A length in hours as the language says it ("1,5 Stunden")."""
    return units.format_unit(hours, "duration-hour", length="long", locale=t.locale)


def shown_value(ctx: Context, field: str, value: Any) -> str:
    """A field's value as the coordinator reads it back, or "" when it has none."""
    t = ctx.t
    if value is None or value == "":
        return ""
    if field in CHOICES:
        found = ctx.session.get(Category if field == "category" else District, value)
        return name_in(found.names, t.locale, found.slug) if found else ""
    if field == "when":
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return t.datetime(moment)
    if field == "duration":
        return hours_text(t, float(value))
    if field == "capacity":
        return t.number(int(value))
    return str(value)


def value_of(item: Offer | Event, field: str) -> Any:
    """What an item says now for a field, in the form `read` gives it."""
    if field == "category":
        return item.category_id
    if field == "district":
        return item.district_id
    if isinstance(item, Event):
        if field == "duration":
            if item.ends_at is None:
                return None
            return (item.ends_at - item.starts_at).total_seconds() / 3600
        if field == "capacity":
            return item.capacity
        if field == "when":
            return item.starts_at
    return getattr(item, COLUMNS[field])


def reindex(ctx: Context, kind: str, item_id: int) -> None:
    """Keep the search index current after a change, where the search index exists."""
    try:
        from db.search import reindex_item
    except ImportError:
        return
    reindex_item(ctx.session, kind, item_id)
