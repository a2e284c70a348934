"""Content in the coordinator's language: drafts carry the author's language, coordinators
translate in the chat, edits of the original mark translations outdated, and optional machine
drafts (DeepL, LibreTranslate) are reviewed before readers see them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from bot.config import SettingsError
from db.engine import session_scope
from db.models import ConversationState, Offer, OfferTranslation, Role, User
from tests.conftest import make_settings
from tests.dialog import Dialog
from tests.fake_translators import fake_deepl, fake_libretranslate

pytestmark = pytest.mark.both_databases

HOMEWORK = 2  # demo-offer-02, the ASZ's homework help, translated into every language


def strip_isolates(text: str) -> str:
    return text.replace("\u2068", "").replace("\u2069", "").replace("\u200f", "")


@pytest.fixture
def city(database_url: str, clock: FakeClock) -> Iterator[App]:
    application = App(make_settings(database_url, admin_ids="console:admin"), clock=clock)
    yield application
    application.close()


def city_with(database_url: str, clock: FakeClock, **settings: object) -> App:
    return App(make_settings(database_url, admin_ids="console:admin", **settings), clock=clock)


def person(app: App, name: str, locale: str) -> Dialog:
    dialog = Dialog(app.conversation, user=name)
    dialog.onboard(locale)
    return dialog


def coordinator(app: App, name: str, locale: str, organisation: str = "ASZ") -> Dialog:
    admin = Dialog(app.conversation, user="admin")
    admin.onboard("en")
    admin.say("/coordinator")
    admin.tap("Invite a coordinator")
    admin.tap(organisation)
    code = admin.text.split("/join ")[1].split()[0]
    dialog = person(app, name, locale)
    dialog.say(f"/join {code}")
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == name)).one()
        assert session.exec(select(Role).where(Role.user_id == user.id)).first(), dialog.text
    return dialog


def step_of(app: App, dialog: Dialog) -> str | None:
    with session_scope(app.engine) as session:
        user = session.exec(select(User).where(User.external_id == dialog.user)).one()
        state = session.get(ConversationState, user.id)
        return state.step if state and state.flow else None


def publish_offer(app: App, dialog: Dialog, answers: dict[str, str]) -> Offer:
    """Go through the publishing conversation, whatever the order of its questions."""
    dialog.press("pub_new:offer")
    for _ in range(40):
        step = step_of(app, dialog)
        if step is None:
            break
        actions = [b.action for r in dialog.last for b in r.flat_buttons()]
        if step == "preview":
            dialog.press(next(a for a in actions if a.startswith("pub_ok")))
        elif step in answers:
            dialog.say(answers[step])
        elif any(a.startswith(("pub_org:", f"pub_pick:{step}:")) for a in actions):
            dialog.press(next(a for a in actions if a.startswith(("pub_org:", "pub_pick:"))))
        else:
            dialog.press("pub_skip")
    with session_scope(app.engine) as session:
        offer = session.exec(select(Offer).where(Offer.title == answers["title"])).one()
        session.expunge(offer)
        return offer


UKRAINIAN_OFFER = {
    "title": "Розмовний клуб для мам",
    "summary": "Ви розмовляєте з мамами, які вчать німецьку.",
    "schedule": "Щосереди, 10:00–11:30",
}


def test_a_ukrainian_coordinators_offer_is_ukrainian_and_named_so_elsewhere(city: App) -> None:
    olena = coordinator(city, "olena", "uk")
    offer = publish_offer(city, olena, UKRAINIAN_OFFER)
    assert offer.locale == "uk"
    olena.press(f"o:{offer.id}")
    assert "Мова оригіналу" not in olena.text, "the author reads her own language: no note"
    for name, locale, note in (
        ("greta", "de", "Dieser Text ist noch nicht übersetzt. Originalsprache: Ukrainisch."),
        ("amal", "ar", "لم تتم ترجمة هذا النص بعد. لغة النص: الأوكرانية."),
        ("dara", "fa", "این متن هنوز ترجمه نشده است. زبان متن: اوکراینی."),
    ):
        reader = person(city, name, locale)
        reader.press(f"o:{offer.id}")
        text = strip_isolates(reader.text)
        assert note in text, text
        assert "Щосереди, 10:00–11:30" in text, "the when line in the original"


def test_a_german_coordinators_offer_stays_german(city: App) -> None:
    greta = coordinator(city, "gerd", "de")
    offer = publish_offer(
        city, greta, {"title": "Spielenachmittag", "summary": "Du spielst mit Kindern."}
    )
    assert offer.locale == "de"
    ukrainian = person(city, "olena", "uk")
    ukrainian.press(f"o:{offer.id}")
    assert "Мова оригіналу: німецька." in strip_isolates(ukrainian.text)


def test_editing_the_original_outdates_its_translations_until_updated(city: App) -> None:
    carla = coordinator(city, "carla", "de")
    english = person(city, "emma", "en")
    english.press(f"o:{HOMEWORK}")
    assert "Homework help for primary school children" in english.text
    carla.press(f"item:o:{HOMEWORK}")
    carla.press(f"edit:o:{HOMEWORK}:title")
    carla.say("Hausaufgabenhilfe ABGESAGT")
    said = strip_isolates(carla.text)
    assert "Diese Übersetzungen sind jetzt veraltet:" in said
    for language in ("Englisch", "Ukrainisch", "Russisch", "Arabisch", "Persisch", "Türkisch"):
        assert language in said
    assert "Übersetzungen" in " ".join(carla.labels)
    english.press(f"o:{HOMEWORK}")
    assert "Hausaufgabenhilfe ABGESAGT" in english.text, "the original, not the stale title"
    assert "not yet translated; it is shown in German" in english.text
    # The coordinator updates the English translation in the chat.
    carla.tap("Übersetzungen")
    menu = strip_isolates(carla.text)
    assert "English: veraltet, die Leute sehen das Original" in menu
    carla.tap("English")
    asked = strip_isolates(carla.text)
    assert "Schritt 1 von" in asked and "Bitte schreib den Titel auf Englisch." in asked
    assert "Original (Deutsch):\nHausaufgabenhilfe ABGESAGT" in asked
    assert "Homework help for primary school children" in asked, "what it says now"
    carla.say("X")
    assert "zu kurz" in carla.text and "Bitte schreib den Titel auf Englisch." in carla.text
    carla.say("y" * 201)
    assert "zu lang" in carla.text and "Bitte schreib den Titel auf Englisch." in carla.text
    carla.say("Homework help CANCELLED")
    assert "Kurzbeschreibung auf Englisch" in carla.text
    while "So lassen" in " ".join(carla.labels):
        carla.tap("So lassen")
    assert "Gespeichert: die Übersetzung (Englisch)." in strip_isolates(carla.text)
    assert "English: aktuell" in strip_isolates(carla.text)
    english.press(f"o:{HOMEWORK}")
    assert "Homework help CANCELLED" in english.text
    assert "not yet translated" not in english.text
    ukrainian = person(city, "olena", "uk")
    ukrainian.press(f"o:{HOMEWORK}")
    assert "Hausaufgabenhilfe ABGESAGT" in ukrainian.text, "still outdated in Ukrainian"


def test_an_arabic_coordinator_translates_by_typed_numbers(city: App) -> None:
    amal = coordinator(city, "amal", "ar")
    offer = publish_offer(
        city,
        amal,
        {
            "title": "نادي القراءة للنساء",
            "summary": "تقرئين مع نساء من الحي.",
            "schedule": "كل خميس",
        },
    )
    assert offer.locale == "ar"
    amal.press(f"tr:o:{offer.id}")
    assert "ترجمات «نادي القراءة للنساء». لغة النص الأصلي: العربية." in strip_isolates(amal.text)
    amal.tap("Deutsch")
    assert "اكتب العنوان باللغة الألمانية." in strip_isolates(amal.text)
    assert "تخطَّ" not in amal.text, "a title cannot be left out"
    amal.say("Leseclub für Frauen")
    amal.say("Du liest mit Frauen aus dem Viertel.")
    assert "متى يُقام" in amal.text
    amal.say("1")  # on Signal, typing 1 presses "leave out, show the original"
    assert "تم الحفظ" in amal.text
    german = person(city, "greta", "de")
    german.press(f"o:{offer.id}")
    text = strip_isolates(german.text)
    assert "Leseclub für Frauen" in text and "Du liest mit Frauen" in text
    assert "كل خميس" in text, "the when line left out shows the original"
    assert "Teile dieses Textes sind noch nicht übersetzt. Originalsprache: Arabisch." in text


def test_stopping_a_translation_changes_nothing(city: App) -> None:
    carla = coordinator(city, "carla", "uk")
    carla.press(f"tr_lang:o:{HOMEWORK}:en")
    carla.say("Something else")
    assert "Напишіть короткий опис мовою: англійська." in strip_isolates(carla.text)
    carla.tap("✖")
    assert "Нічого не змінено." in carla.text
    with session_scope(city.engine) as session:
        row = session.exec(
            select(OfferTranslation).where(
                OfferTranslation.offer_id == HOMEWORK, OfferTranslation.locale == "en"
            )
        ).one()
        assert row.title == "Homework help for primary school children"


def test_a_resident_cannot_translate(city: App) -> None:
    resident = person(city, "rita", "de")
    for forged in (f"tr:o:{HOMEWORK}", f"tr_lang:o:{HOMEWORK}:en", f"tr_mt:o:{HOMEWORK}"):
        resident.press(forged)
        assert "nur für die Koordination" in resident.text, (forged, resident.text)


def test_without_a_service_there_is_no_machine_button(city: App) -> None:
    carla = coordinator(city, "carla", "de")
    offer = publish_offer(city, carla, {"title": "Gartentag", "summary": "Du gräbst Beete um."})
    carla.press(f"tr:o:{offer.id}")
    assert not any("🤖" in label for label in carla.labels)
    carla.press(f"tr_mt:o:{offer.id}")
    assert "funktioniert nicht mehr" in carla.text


def test_libretranslate_drafts_are_reviewed_before_readers_see_them(
    database_url: str, clock: FakeClock
) -> None:
    with fake_libretranslate(api_key="secret") as service:
        app = city_with(
            database_url, clock, libretranslate_url=service.url, libretranslate_api_key="secret"
        )
        try:
            olena = coordinator(app, "olena", "uk")
            offer = publish_offer(app, olena, UKRAINIAN_OFFER)
            olena.press(f"tr:o:{offer.id}")
            olena.tap("🤖")
            said = strip_isolates(olena.text)
            assert "LibreTranslate підготував чернетки перекладів:" in said
            assert "Deutsch: машинна чернетка, ще не перевірена" in said
            first = service.requests[0]
            assert first["source"] == "uk" and first["api_key"] == "secret"
            assert first["q"] == [
                UKRAINIAN_OFFER["title"],
                UKRAINIAN_OFFER["summary"],
                UKRAINIAN_OFFER["schedule"],
            ]
            assert {r["target"] for r in service.requests} == {"de", "en", "ru", "ar", "fa", "tr"}
            german = person(app, "greta", "de")
            german.press(f"o:{offer.id}")
            assert "[de]" not in german.text, "an unchecked draft is not shown"
            assert "Originalsprache: Ukrainisch" in strip_isolates(german.text)
            olena.tap("Deutsch")
            assert "Машинна чернетка:" in olena.text and "[de] Розмовний клуб" in olena.text
            olena.say("Gesprächskreis für Mütter")
            while "Залишити так" in " ".join(olena.labels):
                olena.tap("Залишити так")
            german.press(f"o:{offer.id}")
            text = strip_isolates(german.text)
            assert "Gesprächskreis für Mütter" in text and "[de] Щосереди" in text
            assert "Maschinell übersetzt und von der Organisation geprüft." in text
            arabic = person(app, "amal", "ar")
            arabic.press(f"o:{offer.id}")
            assert "[ar]" not in arabic.text, "the Arabic draft is still unchecked"
        finally:
            app.close()


def test_a_failing_service_is_reported_and_nothing_is_saved(
    database_url: str, clock: FakeClock
) -> None:
    with fake_libretranslate() as service:
        service.fail = True
        app = city_with(database_url, clock, libretranslate_url=service.url)
        try:
            carla = coordinator(app, "carla", "de")
            offer = publish_offer(app, carla, {"title": "Gartentag", "summary": "Du gräbst."})
            carla.press(f"tr_mt:o:{offer.id}")
            assert "LibreTranslate konnte gerade nicht übersetzen:" in carla.text
            with session_scope(app.engine) as session:
                rows = session.exec(
                    select(OfferTranslation).where(OfferTranslation.offer_id == offer.id)
                ).all()
            assert rows == []
        finally:
            app.close()


def test_deepl_drafts_through_the_official_package(database_url: str, clock: FakeClock) -> None:
    pytest.importorskip("deepl")
    with fake_deepl("key-123:fx") as service:
        app = city_with(
            database_url, clock, deepl_api_key="key-123:fx", deepl_server_url=service.url
        )
        try:
            dara = coordinator(app, "dara", "fa")
            offer = publish_offer(
                app, dara, {"title": "باشگاه گفت‌وگو", "summary": "با همسایه‌ها حرف می‌زنید."}
            )
            assert offer.locale == "fa"
            dara.press(f"tr:o:{offer.id}")
            dara.tap("🤖")
            assert "DeepL پیش‌نویس ترجمه آماده کرد" in strip_isolates(dara.text)
            targets = {r["target_lang"] for r in service.requests}
            assert targets == {"DE", "EN-GB", "UK", "RU", "AR", "TR"}
            assert {r["source_lang"] for r in service.requests} == {"FA"}
            dara.tap("English")
            while "همین بماند" in " ".join(dara.labels):
                dara.tap("همین بماند")
            english = person(app, "emma", "en")
            english.press(f"o:{offer.id}")
            assert "[EN-GB] باشگاه گفت‌وگو" in english.text
            assert "Machine-translated and checked by the organisation." in english.text
        finally:
            app.close()


def test_the_services_are_configured_by_the_operator_only(tmp_path) -> None:
    from bot.machine_translation import (
        DeepL,
        LibreTranslate,
        MachineTranslationError,
        machine_translator,
    )

    assert machine_translator(make_settings(tmp_path / "a.db")) is None
    libre = machine_translator(make_settings(tmp_path / "a.db", libretranslate_url="http://x"))
    assert isinstance(libre, LibreTranslate)
    both = make_settings(tmp_path / "a.db", libretranslate_url="http://x", deepl_api_key="k:fx")
    assert isinstance(machine_translator(both), DeepL), "DeepL first when both are set"
    with pytest.raises(SettingsError, match="must be a URL"):
        make_settings(tmp_path / "a.db", libretranslate_url="translate.example.org")
    with fake_libretranslate(api_key="right") as service:
        wrong = LibreTranslate(service.url, api_key="wrong")
        with pytest.raises(MachineTranslationError):
            wrong.translate(["Hallo"], source="de", target="uk")
        assert LibreTranslate(service.url, "right").translate(
            ["Hallo", "Welt"], source="de", target="uk"
        ) == ["[uk] Hallo", "[uk] Welt"]
    with fake_deepl("k:fx") as service:
        service.fail = True
        with pytest.raises(MachineTranslationError):
            DeepL("k:fx", service.url).translate(["Hallo"], source="de", target="uk")
