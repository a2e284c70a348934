"""The parts of the Matrix transport that need no homeserver: settings, rendering, sync batches."""

from __future__ import annotations

import pytest

from bot.accounts import BadUserId, parse_user_id
from bot.app import App
from bot.config import SettingsError
from bot.i18n import RLM
from bot.messages import Attachment, Button, Incoming, Place, Reply
from bot.transports.matrix.render import file_content, render_messages, text_content
from bot.transports.matrix.sync import message_payload
from tests.conftest import make_settings
from tests.dialog import Dialog

UNDECRYPTABLE = (
    "I could not read your last message: it reached me encrypted with a key I did "
    "not get. Please send it again."
)


def test_matrix_needs_an_account_and_a_way_to_log_in(tmp_path) -> None:
    with pytest.raises(SettingsError, match="MATRIX_USER_ID: is required"):
        make_settings(tmp_path / "x.db", matrix_homeserver="https://matrix.example.org")
    with pytest.raises(SettingsError, match="MATRIX_PASSWORD: or MATRIX_ACCESS_TOKEN"):
        make_settings(
            tmp_path / "x.db",
            matrix_homeserver="https://matrix.example.org",
            matrix_user_id="@bot:example.org",
        )
    with pytest.raises(SettingsError, match="MATRIX_USER_ID: must be the bot's full Matrix id"):
        make_settings(
            tmp_path / "x.db",
            matrix_homeserver="https://matrix.example.org",
            matrix_user_id="engagebot",
            matrix_password="secret",
        )
    with pytest.raises(SettingsError, match="MATRIX_HOMESERVER: must be the homeserver's URL"):
        make_settings(tmp_path / "x.db", matrix_homeserver="matrix.example.org")
    settings = make_settings(
        tmp_path / "bot.db",
        matrix_homeserver="https://matrix.example.org/",
        matrix_user_id="@bot:example.org:8448",
        matrix_access_token="syt_abc",
    )
    assert settings.matrix_homeserver == "https://matrix.example.org"
    # The device's keys live beside the database, in a folder of their own.
    assert settings.matrix_store == tmp_path / "bot-matrix"


def test_matrix_admins_are_named_by_their_full_id() -> None:
    assert parse_user_id("matrix:@anna:example.org") == ("matrix", "@anna:example.org")
    with pytest.raises(BadUserId, match="a Matrix id is"):
        parse_user_id("matrix:anna")


def test_buttons_become_a_numbered_list_of_the_last_menu_only() -> None:
    first = Reply("Erst", buttons=((Button("A", "a"),),))
    menu = Reply("Dann", buttons=((Button("Eins", "one"), Button("Zwei", "two")),))
    [message] = render_messages([first, menu])
    assert message.body == "Erst\n• A\n\nDann\n1) Eins\n2) Zwei"
    assert text_content(message.body, notice=True) == {"msgtype": "m.notice", "body": message.body}
    assert text_content(message.body, notice=False)["msgtype"] == "m.text"


def test_a_place_has_a_map_link_and_a_geo_uri_right_to_left_around_them() -> None:
    place = Place("Café", "Königstraße 1, Kaiserslautern", 49.44, 7.77)
    [message] = render_messages([Reply(f"{RLM}موعد", place=place, rtl=True)])
    lines = message.body.split("\n")
    assert lines[1].startswith(f"{RLM}📍 \u2068Café, Königstraße 1")
    assert lines[2].startswith("https://www.openstreetmap.org/?mlat=49.44000&mlon=7.77000")
    assert lines[3] == "geo:49.44000,7.77000"


def test_files_follow_their_text_as_uploads() -> None:
    ics = Attachment("event-1.ics", b"BEGIN:VCALENDAR", "text/calendar", "Kalender")
    poster = Attachment("poster.png", b"\x89PNG", "image/png")
    text, calendar, image = render_messages([Reply("Hier", attachments=(ics, poster))])
    assert text.body == "Hier\n📎 Kalender"
    assert calendar.attachment == ics and image.attachment == poster
    plain = file_content(ics, url="mxc://example.org/abc", file=None)
    assert plain["msgtype"] == "m.file" and plain["url"] == "mxc://example.org/abc"
    assert plain["info"] == {"mimetype": "text/calendar", "size": 15}
    secret = file_content(poster, url=None, file={"url": "mxc://example.org/x", "v": "v2"})
    assert secret["msgtype"] == "m.image" and "url" not in secret and secret["file"]["v"] == "v2"


def test_only_what_a_person_sent_is_taken_up() -> None:
    from nio import MegolmEvent, RoomMessageNotice, RoomMessageText

    def text(sender: str, body: str, kind=RoomMessageText, msgtype: str = "m.text"):
        source = {
            "event_id": "$1",
            "sender": sender,
            "origin_server_ts": 1,
            "type": "m.room.message",
            "content": {"msgtype": msgtype, "body": body},
        }
        return kind.from_dict(source)

    me = "@bot:example.org"
    assert message_payload(text("@anna:example.org", "hilfe"), me=me) == {
        "sender": "@anna:example.org",
        "event": "$1",
        "text": "hilfe",
    }
    assert message_payload(text(me, "my own"), me=me) is None
    # Another bot's notice is never answered: two bots could talk forever.
    notice = text("@other:example.org", "Hi", RoomMessageNotice, "m.notice")
    assert message_payload(notice, me=me) is None
    # A reply's quoted fallback is not part of what the person typed.
    reply = text("@anna:example.org", "> <@bot:example.org> Wähle:\n> 1) Eins\n\n2")
    assert message_payload(reply, me=me)["text"] == "2"
    undecrypted = MegolmEvent.from_dict(
        {
            "event_id": "$2",
            "sender": "@anna:example.org",
            "origin_server_ts": 1,
            "type": "m.room.encrypted",
            "content": {
                "algorithm": "m.megolm.v1.aes-sha2",
                "sender_key": "k",
                "ciphertext": "c",
                "session_id": "s",
                "device_id": "D",
            },
        }
    )
    assert message_payload(undecrypted, me=me)["unreadable"] == "encrypted"


@pytest.mark.parametrize("locale", ["de", "en", "ar"])
def test_an_undecryptable_message_is_asked_for_again_in_the_persons_language(
    app: App, locale: str
) -> None:
    dialog = Dialog(app.conversation, user="@anna:example.org", transport="matrix")
    dialog.onboard(locale)
    t = app.translations.get(locale)
    replies = app.conversation.handle(
        Incoming("matrix", "@anna:example.org", unreadable="encrypted")
    )
    assert t._(UNDECRYPTABLE) in replies[0].text
    assert t._(UNDECRYPTABLE) != UNDECRYPTABLE or locale == "en"
    if locale == "ar":
        assert replies[0].text.startswith(RLM) and replies[0].rtl
    # The person keeps where they were: the same menu comes with it.
    assert any(reply.buttons for reply in replies)
