"""Content in the reader's language: every field of an offer translatable, and a note naming the
original's language wherever the original is shown (cards, lists, announcements)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.clock import FakeClock
from db.broadcasts import queue_broadcast
from db.engine import session_scope
from db.models import (
    Broadcast,
    Event,
    ItemStatus,
    Offer,
    OfferTranslation,
    OutboxMessage,
    User,
)
from tests.dialog import Dialog

pytestmark = pytest.mark.both_databases

SCHEDULE = "Jeden Dienstag, 2 Stunden"
REQUIREMENTS = "Ein erweitertes Führungszeugnis"
CONTACT = "Ruf Frau Berg an: 0631 123456, montags"


def reader(app: App, name: str, locale: str) -> Dialog:
    dialog = Dialog(app.conversation, user=name)
    dialog.onboard(locale)
    return dialog


def new_offer(app: App, clock: FakeClock, *, locale: str = "de", **texts: str) -> int:
    """Publish an offer of our own (the demo city is translated everywhere)."""
    with session_scope(app.engine) as session:
        template = session.get(Offer, 1)
        assert template is not None
        offer = Offer(
            organisation_id=template.organisation_id,
            category_id=template.category_id,
            locale=locale,
            title=texts.get("title", "Gartenhilfe im Hof"),
            summary=texts.get("summary", "Du gießt die Beete im Hof."),
            schedule=texts.get("schedule", SCHEDULE),
            requirements=texts.get("requirements", REQUIREMENTS),
            contact=texts.get("contact", CONTACT),
            status=ItemStatus.PUBLISHED,
            created_at=clock.now(),
            updated_at=clock.now(),
            published_at=clock.now(),
        )
        session.add(offer)
        session.flush()
        assert offer.id is not None
        return offer.id


def translate_offer(app: App, offer_id: int, locale: str, **fields: str | bool) -> None:
    with session_scope(app.engine) as session:
        session.add(OfferTranslation(offer_id=offer_id, locale=locale, **fields))


def test_every_field_of_an_offer_shows_in_the_readers_language(app: App, clock: FakeClock) -> None:
    offer_id = new_offer(app, clock)
    translate_offer(
        app,
        offer_id,
        "uk",
        title="Допомога в саду у дворі",
        summary="Ви поливаєте грядки у дворі.",
        schedule="Щовівторка, 2 години",
        requirements="Розширена довідка про несудимість",
        contact="Телефонуйте пані Берг: 0631 123456, у понеділок",
    )
    ukrainian = reader(app, "olena", "uk")
    ukrainian.press(f"o:{offer_id}")
    card = ukrainian.text
    for text in ("Щовівторка, 2 години", "Розширена довідка", "Телефонуйте пані Берг"):
        assert text in card
    for german in (SCHEDULE, REQUIREMENTS, CONTACT, "Gartenhilfe"):
        assert german not in card
    assert "Мова оригіналу" not in card, "fully translated: no note"


def test_a_partial_translation_shows_the_rest_in_the_original_with_a_note(
    app: App, clock: FakeClock
) -> None:
    offer_id = new_offer(app, clock)
    translate_offer(app, offer_id, "ar", title="مساعدة في حديقة الفناء", summary="تسقي الأحواض.")
    arabic = reader(app, "amal", "ar")
    arabic.press(f"o:{offer_id}")
    card = arabic.text
    assert "مساعدة في حديقة الفناء" in card
    assert SCHEDULE in card and REQUIREMENTS in card, "untranslated fields show the original"
    assert "لم تتم ترجمة أجزاء من هذا النص بعد" in card
    assert "الألمانية" in card, "the note names the original's language in Arabic"


def test_an_untranslated_offer_says_it_is_shown_in_german(app: App, clock: FakeClock) -> None:
    offer_id = new_offer(app, clock)
    farsi = reader(app, "dara", "fa")
    farsi.press(f"o:{offer_id}")
    assert "این متن هنوز ترجمه نشده است" in farsi.text
    assert "آلمانی" in farsi.text
    assert SCHEDULE in farsi.text, "the when line is shown, in the original"
    german = reader(app, "greta", "de")
    german.press(f"o:{offer_id}")
    assert "Originalsprache" not in german.text
    assert f"Wann: {SCHEDULE}" in german.text
    assert f"Was du brauchst: {REQUIREMENTS}" in german.text


def test_an_offer_written_in_ukrainian_is_noted_for_german_readers(
    app: App, clock: FakeClock
) -> None:
    offer_id = new_offer(
        app,
        clock,
        locale="uk",
        title="Розмовний клуб",
        summary="Ви говорите з людьми.",
        schedule="Щочетверга",
        requirements="",
        contact="",
    )
    german = reader(app, "greta", "de")
    german.press(f"o:{offer_id}")
    assert "Dieser Text ist noch nicht übersetzt. Originalsprache: Ukrainisch." in german.text
    ukrainian = reader(app, "olena", "uk")
    ukrainian.press(f"o:{offer_id}")
    assert "Мова оригіналу" not in ukrainian.text


def test_drafts_and_outdated_translations_are_not_shown_to_readers(
    app: App, clock: FakeClock
) -> None:
    offer_id = new_offer(app, clock)
    translate_offer(app, offer_id, "uk", title="Стара назва", outdated=True)
    translate_offer(app, offer_id, "ar", title="مسودة آلية", draft=True, machine=True)
    ukrainian = reader(app, "olena", "uk")
    ukrainian.press(f"o:{offer_id}")
    assert "Стара назва" not in ukrainian.text and "Gartenhilfe im Hof" in ukrainian.text
    assert "Цей текст ще не перекладено" in ukrainian.text
    arabic = reader(app, "amal", "ar")
    arabic.press(f"o:{offer_id}")
    assert "مسودة آلية" not in arabic.text and "Gartenhilfe im Hof" in arabic.text


def test_a_reviewed_machine_translation_is_labelled(app: App, clock: FakeClock) -> None:
    offer_id = new_offer(app, clock, requirements="", contact="")
    translate_offer(
        app,
        offer_id,
        "uk",
        title="Допомога в саду",
        summary="Ви поливаєте грядки.",
        schedule="Щовівторка",
        machine=True,
    )
    ukrainian = reader(app, "olena", "uk")
    ukrainian.press(f"o:{offer_id}")
    assert "Машинний переклад, перевірений організацією." in ukrainian.text


def test_the_event_list_names_the_language_of_untranslated_titles(
    app: App, clock: FakeClock
) -> None:
    with session_scope(app.engine) as session:
        first = session.exec(select(Event).order_by(Event.starts_at)).first()  # type: ignore[arg-type]
        assert first is not None
        session.add(
            Event(
                organisation_id=first.organisation_id,
                title="Nachbarschaftsfest im Hof",
                starts_at=clock.now() + timedelta(hours=3),
                status=ItemStatus.PUBLISHED,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    for locale, note in (
        ("uk", "Ще не перекладені назви показано мовою оригіналу: німецька."),
        ("ar", "العناوين غير المترجمة بعد معروضة بلغتها الأصلية: الألمانية."),
        ("fa", "عنوان‌هایی که هنوز ترجمه نشده‌اند به زبان اصلی نشان داده می‌شوند: آلمانی."),
    ):
        dialog = reader(app, f"r-{locale}", locale)
        dialog.say("/events")
        assert "Nachbarschaftsfest im Hof" in " ".join(dialog.labels)
        assert note in dialog.text.replace("\u2068", "").replace("\u2069", ""), dialog.text
    german = reader(app, "greta", "de")
    german.say("/events")
    assert "Originalsprache" not in german.text


def test_an_announcement_in_german_names_its_language(app: App, clock: FakeClock) -> None:
    for locale in ("de", "uk", "ar"):
        reader(app, f"b-{locale}", locale)
    with session_scope(app.engine) as session:
        broadcast = Broadcast(
            audience="all",
            texts={"de": "Das Stadtteilfest fällt aus.", "ar": "تم إلغاء مهرجان الحي."},
            send_at=clock.now(),
            created_at=clock.now(),
        )
        session.add(broadcast)
        session.flush()
        queue_broadcast(session, broadcast=broadcast, now=clock.now())
        rows = {
            row.user_id: row.id
            for row in session.exec(
                select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast.id)
            )
        }
    rendered = {}
    for row_id in rows.values():
        notice = app.conversation.render_notice(row_id)
        assert notice is not None
        rendered[notice.user_key] = "\n".join(r.text for r in notice.replies)
    ukrainian = rendered["b-uk"]
    assert "Das Stadtteilfest fällt aus." in ukrainian
    assert "Цього оголошення немає вашою мовою. Мова оригіналу: німецька." in ukrainian
    arabic = rendered["b-ar"]
    assert "تم إلغاء مهرجان الحي." in arabic and "غير متوفر بلغتك" not in arabic
    german = rendered["b-de"]
    assert "Das Stadtteilfest" in german and "nicht in deiner Sprache" not in german


@pytest.mark.parametrize(
    ("text", "needed"),
    [
        ("lesen@stadtteilbuero-west.example.org", False),
        ("+49 631 123456", False),
        ("https://asz.example.org", False),
        ("Ruf an: 0631 123456", True),
        ("Einmal pro Woche", True),
        ("", False),
    ],
)
def test_only_texts_with_words_need_a_translation(text: str, needed: bool) -> None:
    from handlers.content import needs_translation

    assert needs_translation(text) is needed


def test_alerts_and_digests_name_the_language_of_an_untranslated_title(
    app: App, clock: FakeClock
) -> None:
    offer_id = new_offer(app, clock)
    translated = new_offer(app, clock, title="Zweites Angebot")
    translate_offer(app, translated, "ar", title="عرض ثانٍ")  # title only: no list note for it
    for locale in ("uk", "ar"):
        reader(app, f"n-{locale}", locale)
    with session_scope(app.engine) as session:
        users = {
            u.external_id: u.id
            for u in session.exec(select(User).where(col(User.external_id).startswith("n-")))
        }
        rows = {}
        for name, user_id in users.items():
            for kind, payload in (
                ("alert", {"item": "o", "id": offer_id}),
                ("alert", {"item": "o", "id": translated}),
                ("digest", {"offers": [translated]}),
            ):
                row = OutboxMessage(
                    user_id=user_id,
                    transport="console",
                    kind=kind,
                    dedupe_key=f"{name}-{kind}-{payload}",
                    payload=payload,
                    next_attempt_at=clock.now(),
                    created_at=clock.now(),
                )
                session.add(row)
                session.flush()
                rows[(name, kind, str(payload))] = row.id

    def rendered(name: str, kind: str, payload: dict) -> str:
        notice = app.conversation.render_notice(rows[(name, kind, str(payload))])
        assert notice is not None
        return strip("\n".join(r.text for r in notice.replies))

    untranslated = rendered("n-uk", "alert", {"item": "o", "id": offer_id})
    assert "Gartenhilfe im Hof" in untranslated
    assert "Ще не перекладені назви показано мовою оригіналу: німецька." in untranslated
    arabic = rendered("n-ar", "alert", {"item": "o", "id": translated})
    assert "عرض ثانٍ" in arabic and "بلغتها الأصلية" not in arabic
    digest = rendered("n-uk", "digest", {"offers": [translated]})
    assert "мовою оригіналу: німецька" in digest
    assert "بلغتها الأصلية" not in rendered("n-ar", "digest", {"offers": [translated]})


def strip(text: str) -> str:
    return text.replace("\u2068", "").replace("\u2069", "").replace("\u200f", "")


def test_the_offer_list_names_the_language_of_untranslated_titles(
    app: App, clock: FakeClock
) -> None:
    offer_id = new_offer(app, clock)
    with session_scope(app.engine) as session:
        offer = session.get(Offer, offer_id)
        assert offer is not None
        category_id = offer.category_id
    for locale, note in (
        ("uk", "Ще не перекладені назви показано мовою оригіналу: німецька."),
        ("ar", "العناوين غير المترجمة بعد معروضة بلغتها الأصلية: الألمانية."),
    ):
        dialog = reader(app, f"l-{locale}", locale)
        for page in range(5):
            dialog.press(f"oc:{category_id}:{page}")
            if any(
                action == f"o:{offer_id}"
                for r in dialog.last
                for b in r.flat_buttons()
                for action in [b.action]
            ):
                break
        else:
            raise AssertionError("the new offer is on no page")
        assert note in strip(dialog.text), dialog.text
    german = reader(app, "l-de", "de")
    german.press(f"oc:{category_id}:0")
    assert "Originalsprache" not in german.text
