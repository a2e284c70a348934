"""Typed numbers keep their meaning from page to page: the pager is last, always with both
"previous" and "next", so typing the same number again keeps going the same way."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.i18n import RLM
from tests.dialog import Dialog
from tests.test_search import speaker

pytestmark = pytest.mark.both_databases

LOCALES = ["de", "uk", "ar", "fa"]


def page_line(app: App, locale: str, page: int, pages: int) -> str:
    t = app.translations.get(locale)
    return t._("Page %(page)s of %(pages)s.", page=t.number(page), pages=t.number(pages))


def pages_of(dialog: Dialog) -> int:
    """How many pages the list has, read from its pager's action (`srch:N:P` or `evs:P`)."""
    previous_page = int(dialog.last[-1].flat_buttons()[-2].action.rsplit(":", 1)[1])
    return previous_page + 1  # on the first page "previous" goes to the last


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("opening", ["Kaiserslautern", "/events"])
def test_next_and_previous_keep_their_numbers_on_every_page(
    app: App, locale: str, opening: str
) -> None:
    dialog = speaker(app, locale)
    dialog.say(opening)
    pages = pages_of(dialog)
    assert pages >= 2
    next_number = len(dialog.labels)
    t = app.translations.get(locale)
    assert [label.removeprefix(RLM) for label in dialog.labels[-2:]] == [
        t.pgettext("button", "◀ Previous"),
        t.pgettext("button", "Next ▶"),
    ]
    for page in range(2, pages + 1):
        dialog.say(str(next_number))
        assert page_line(app, locale, page, pages) in dialog.text, (page, dialog.text)
        if page < pages:
            assert len(dialog.labels) == next_number, "a full page numbers everything alike"
    last_next = len(dialog.labels)
    dialog.say(str(last_next - 1))
    assert page_line(app, locale, pages - 1, pages) in dialog.text, "previous from the last"
    dialog.say(str(next_number))
    assert page_line(app, locale, pages, pages) in dialog.text
    dialog.say(str(len(dialog.labels)))
    assert page_line(app, locale, 1, pages) in dialog.text, "next from the last is the first"
