"""Reading one Bot API update: which answer it gets, and what of it the transport keeps.

The payloads follow the Bot API reference, sections "Update", "Message", "CallbackQuery",
"User", "Chat" and "MaybeInaccessibleMessage".
"""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Update
from telegram.ext import filters

from bot.transports.telegram_updates import Kind, TelegramUpdate, read_update, update_id_of

ANNA = {"id": 42, "is_bot": False, "first_name": "Anna", "language_code": "de"}
BORYS = {"id": 43, "is_bot": False, "first_name": "Borys", "last_name": "Koval", "username": "bk"}
OTHER_BOT = {"id": 99, "is_bot": True, "first_name": "Helper", "username": "helper_bot"}
PRIVATE = {"id": 42, "type": "private", "first_name": "Anna"}
GROUP = {"id": -100, "type": "group", "title": "Friends"}
SUPERGROUP = {"id": -1001, "type": "supergroup", "title": "City"}
CHANNEL = {"id": -1002, "type": "channel", "title": "News"}


def message(chat: dict[str, Any] = PRIVATE, sender: dict[str, Any] | None = ANNA, **fields: Any):
    """A Message (Bot API, "Message"): message_id, date and chat, `from` unless None."""
    data: dict[str, Any] = {"message_id": 7, "date": 1_700_000_000, "chat": chat, **fields}
    if sender is not None:
        data["from"] = sender
    return data


def update(**fields: Any) -> dict[str, Any]:
    """An Update (Bot API, "Update"): update_id and one optional field."""
    return {"update_id": 1000, **fields}


def press(where: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A CallbackQuery (Bot API, "CallbackQuery"), on the message `where` if any."""
    query: dict[str, Any] = {"id": "q-1", "from": BORYS, "chat_instance": "ci", **fields}
    if where is not None:
        query["message"] = where
    return update(callback_query=query)


def read(data: dict[str, Any]) -> TelegramUpdate:
    result = read_update(data)
    assert result is not None
    return result


def test_private_text_keeps_who_said_what() -> None:
    got = read(update(message=message(text="/start o_12")))
    assert got == TelegramUpdate(
        1000,
        "42",
        Kind.PRIVATE_TEXT,
        chat_id=42,
        chat_type="private",
        user_id=42,
        language_code="de",
        display_name="Anna",
        handle="tg://user?id=42",
        text="/start o_12",
    )


def test_a_full_name_and_a_username() -> None:
    chat = {"id": 43, "type": "private"}
    got = read(update(message=message(chat, BORYS, text="hi")))
    assert (got.display_name, got.handle, got.language_code) == ("Borys Koval", "@bk", None)


@pytest.mark.parametrize(
    "fields", [{"sticker": {"file_id": "s"}}, {"voice": {"file_id": "v"}}, {"text": ""}, {}]
)
def test_a_private_message_without_text_is_private_other(fields: dict[str, Any]) -> None:
    got = read(update(message=message(**fields)))
    assert (got.kind, got.text, got.user_id) == (Kind.PRIVATE_OTHER, fields.get("text"), 42)


@pytest.mark.parametrize(
    "fields",
    [
        {"pinned_message": message(text="pinned")},
        {"forum_topic_closed": {}},  # an object with no fields still says something happened
        {"delete_chat_photo": True},
        {"write_access_allowed": {"from_request": True}},
        {"migrate_to_chat_id": -1003},
    ],
)
def test_a_private_service_message_is_ignored(fields: dict[str, Any]) -> None:
    assert read(update(message=message(**fields))).kind is Kind.IGNORED


@pytest.mark.parametrize("chat", [GROUP, SUPERGROUP])
def test_a_group_message_names_its_group(chat: dict[str, Any]) -> None:
    got = read(update(message=message(chat, BORYS, text="hello all")))
    assert (got.kind, got.chat_key, got.chat_id, got.user_id, got.text) == (
        Kind.GROUP,
        str(chat["id"]),
        chat["id"],
        43,
        "hello all",
    )


def test_joining_a_group_is_a_group_message_with_the_members() -> None:
    joined = [OTHER_BOT, {"id": 55, "is_bot": False, "first_name": "Cleo"}]
    got = read(update(message=message(GROUP, BORYS, new_chat_members=joined)))
    assert (got.kind, got.new_chat_members, got.text) == (Kind.GROUP, (99, 55), None)


@pytest.mark.parametrize(
    "fields",
    [
        {"left_chat_member": ANNA},
        {"new_chat_title": "Friends 2"},
        {"pinned_message": message(GROUP, text="pinned")},
        {"group_chat_created": True},
        {"video_chat_started": {}},
    ],
)
def test_other_group_service_messages_are_ignored(fields: dict[str, Any]) -> None:
    assert read(update(message=message(GROUP, BORYS, **fields))).kind is Kind.IGNORED


def test_a_message_on_behalf_of_a_chat_is_ignored() -> None:
    # An anonymous admin: `from` is a placeholder user, `sender_chat` the group itself.
    got = read(update(message=message(SUPERGROUP, BORYS, sender_chat=SUPERGROUP, text="hi")))
    assert (got.kind, got.sender_chat, got.chat_key) == (Kind.IGNORED, True, "-1001")


def test_a_bot_sender_is_nobody_to_answer() -> None:
    chat = {"id": 99, "type": "private"}
    got = read(update(message=message(chat, OTHER_BOT, text="beep")))
    assert (got.kind, got.is_bot, got.user_id) == (Kind.IGNORED, True, 99)
    assert read(update(message=message(GROUP, OTHER_BOT, text="beep"))).kind is Kind.IGNORED


@pytest.mark.parametrize("chat", [PRIVATE, GROUP])
def test_a_message_with_no_person_is_ignored(chat: dict[str, Any]) -> None:
    got = read(update(message=message(chat, None, text="hi")))
    assert (got.kind, got.chat_key, got.user_id) == (Kind.IGNORED, str(chat["id"]), None)


@pytest.mark.parametrize(
    ("field", "chat"),
    [
        ("edited_message", PRIVATE),
        ("edited_message", GROUP),
        ("channel_post", CHANNEL),
        ("edited_channel_post", CHANNEL),
        ("business_message", PRIVATE),
    ],
)
def test_edits_and_posts_are_ignored_in_their_chat(field: str, chat: dict[str, Any]) -> None:
    got = read(update(**{field: message(chat, ANNA, text="hi")}))
    assert (got.kind, got.chat_key) == (Kind.IGNORED, str(chat["id"]))


def test_a_message_in_a_channel_is_ignored() -> None:
    assert read(update(message=message(CHANNEL, ANNA, text="hi"))).kind is Kind.IGNORED


def test_a_press_on_a_message_it_can_edit() -> None:
    where = message({"id": 43, "type": "private"}, sender=None, text="Pick one")
    got = read(press(where, data="going:5"))
    assert got == TelegramUpdate(
        1000,
        "43",
        Kind.PRESS,
        chat_id=43,
        chat_type="private",
        user_id=43,
        display_name="Borys Koval",
        handle="@bk",
        query_id="q-1",
        callback_data="going:5",
        pressed_message_id=7,
    )


def test_a_press_on_an_inaccessible_message_cannot_edit_it() -> None:
    # MaybeInaccessibleMessage: InaccessibleMessage has chat, message_id and date 0.
    where = {"chat": {"id": 43, "type": "private"}, "message_id": 7, "date": 0}
    got = read(press(where, data="going:5"))
    assert (got.kind, got.chat_id, got.pressed_message_id) == (Kind.PRESS, 43, None)


def test_a_press_in_inline_mode_has_no_chat_and_belongs_to_the_person() -> None:
    got = read(press(inline_message_id="inl-1", data="x"))
    assert (got.kind, got.chat_key, got.chat_id, got.chat_type) == (Kind.PRESS, "43", None, None)
    assert got.pressed_message_id is None


def test_a_press_in_a_group_keeps_its_chat_type() -> None:
    got = read(press(message(GROUP, sender=None, text="poll"), data="x"))
    assert (got.kind, got.chat_type, got.chat_key) == (Kind.PRESS, "group", "-100")


def test_a_game_press_has_no_data() -> None:
    got = read(press(message({"id": 43, "type": "private"}), game_short_name="g"))
    assert (got.kind, got.callback_data) == (Kind.PRESS, "")


@pytest.mark.parametrize(
    "data",
    [
        update(),
        update(message=None),
        update(message="text"),
        update(message={"message_id": 1, "date": 1, "text": "no chat"}),
        update(message=message({"id": "42", "type": "private"}, text="id not a number")),
        update(message=message({"id": 42}, text="no chat type")),
        update(message=message(sender={"first_name": "no id"}, text="hi")),
        update(message=message(sender={"id": True, "first_name": "bool"}, text="hi")),
        update(callback_query={"from": BORYS, "data": "no id"}),
        update(callback_query={"id": "q", "data": "no from"}),
        update(callback_query={"id": "q", "from": BORYS, "message": {"message_id": 1}}),
        update(callback_query=["not", "an", "object"]),
        update(my_chat_member={"chat": GROUP, "from": BORYS}),
        update(inline_query={"id": "i", "from": BORYS, "query": "x"}),
        update(something_new={"deep": {"er": [1, 2]}}),
    ],
)
def test_odd_updates_are_ignored_without_an_error(data: dict[str, Any]) -> None:
    assert read(data).kind is Kind.IGNORED


def test_ignored_updates_still_belong_to_a_chat() -> None:
    assert read(update(my_chat_member={"chat": GROUP, "from": BORYS})).chat_key == "-100"
    assert read(update(inline_query={"id": "i", "from": BORYS, "query": "x"})).chat_key == "43"
    assert read(update(something_new=[1])).chat_key == "update-1000"


def test_odd_fields_are_left_out() -> None:
    sender = {"id": 42, "is_bot": "no", "first_name": 5, "language_code": 7, "username": ""}
    got = read(update(message=message(sender=sender, text=["not", "text"])))
    assert (got.kind, got.is_bot, got.display_name, got.language_code, got.text) == (
        Kind.PRIVATE_OTHER,
        False,
        None,
        None,
        None,
    )
    assert got.handle == "tg://user?id=42"
    joined = [{"id": "x"}, "y", {"id": 55}]
    assert read(update(message=message(GROUP, new_chat_members=joined))).new_chat_members == (55,)


@pytest.mark.parametrize("data", [{}, {"update_id": "5"}, {"update_id": None}, [], "x"])
def test_without_an_update_id_there_is_nothing_to_read(data: Any) -> None:
    assert update_id_of(data) is None
    assert read_update(data) is None


# The routing python-telegram-bot's filters gave before this reader existed: the same kinds.
_PRIVATE = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & filters.USER
_GROUP = (
    filters.UpdateType.MESSAGE
    & filters.ChatType.GROUPS
    & filters.USER
    & ~filters.SenderChat.ALL
    & (~filters.StatusUpdate.ALL | filters.StatusUpdate.NEW_CHAT_MEMBERS)
)
# Sticker (Bot API, "Sticker"): its required fields.
STICKER = {
    "file_id": "s",
    "file_unique_id": "u",
    "type": "regular",
    "width": 1,
    "height": 1,
    "is_animated": False,
    "is_video": False,
}
WELL_FORMED = [
    update(message=message(text="hi")),
    update(message=message(sticker=STICKER)),
    update(message=message(pinned_message=message(text="p"))),
    update(message=message(forum_topic_closed={})),
    update(message=message(GROUP, BORYS, text="hi")),
    update(message=message(SUPERGROUP, BORYS)),
    update(message=message(GROUP, BORYS, new_chat_members=[OTHER_BOT])),
    update(message=message(GROUP, BORYS, left_chat_member=ANNA)),
    update(message=message(GROUP, BORYS, video_chat_ended={"duration": 5})),
    update(message=message(SUPERGROUP, BORYS, sender_chat=CHANNEL, text="hi")),
    update(message=message(GROUP, None, text="hi")),
    update(message=message(CHANNEL, None, text="hi")),
    update(edited_message=message(text="hi", edit_date=1_700_000_001)),
    update(channel_post=message(CHANNEL, None, text="hi")),
    press(message({"id": 43, "type": "private"}), data="x"),
    press({"chat": {"id": 43, "type": "private"}, "message_id": 7, "date": 0}, data="x"),
    press(inline_message_id="inl", data="x"),
]


def _kind_by_filters(data: dict[str, Any]) -> Kind:
    parsed = Update.de_json(data, None)
    if parsed.callback_query is not None:
        return Kind.PRESS
    if _PRIVATE.check_update(parsed) and parsed.effective_user.is_bot:
        return Kind.IGNORED  # the handlers returned at once for a bot
    if (_PRIVATE & filters.TEXT).check_update(parsed):
        return Kind.PRIVATE_TEXT
    if (_PRIVATE & ~filters.TEXT & ~filters.StatusUpdate.ALL).check_update(parsed):
        return Kind.PRIVATE_OTHER
    if _GROUP.check_update(parsed) and not parsed.effective_user.is_bot:
        return Kind.GROUP
    return Kind.IGNORED


@pytest.mark.parametrize("data", WELL_FORMED)
def test_the_kinds_are_those_the_filters_gave(data: dict[str, Any]) -> None:
    assert read(data).kind is _kind_by_filters(data)
