"""Telegram: one incoming update, read straight from the Bot API's JSON.

The transport needs a handful of fields of each update to route it and to tell the core who
said what; building python-telegram-bot's whole object tree for that cost more of the process's
time than routing it (issue 17). `read_update` reads only those fields, and decides which of
the transport's answers an update gets, as `Kind`:

- a button press: an update with `callback_query`;
- private text: a `message` (not an edit, not a channel post) in a private chat, from a user,
  with non-empty text;
- private other: such a message without text (a sticker, a voice note), unless it is a service
  message (below);
- a group message: a `message` in a group or supergroup, from a user, not sent on behalf of a
  chat (`sender_chat`: an anonymous admin, a linked channel), and not a service message, except
  for new members joining (the transport answers only its own arrival);
- ignored: everything else, including anything without a person behind it (no `from`, or a
  bot), edited messages, channel posts, and JSON that does not have the shape the Bot API
  documents. Reading never raises on such input.

Field names and types follow the Bot API reference (https://core.telegram.org/bots/api),
sections "Update", "Message", "CallbackQuery", "User", "Chat" and "MaybeInaccessibleMessage".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

# Message (Bot API, "Message"): the fields that make a message a service message (something
# that happened in the chat, not something a person said). Each is optional; one present means
# a service message. `new_chat_members` is one, handled apart in groups.
SERVICE_FIELDS = (
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "refunded_payment",
    "users_shared",
    "chat_shared",
    "gift",
    "unique_gift",
    "gift_upgrade_sent",
    "connected_website",
    "write_access_allowed",
    "proximity_alert_triggered",
    "chat_background_set",
    "chat_owner_changed",
    "chat_owner_left",
    "checklist_tasks_done",
    "checklist_tasks_added",
    "direct_message_price_changed",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "general_forum_topic_hidden",
    "general_forum_topic_unhidden",
    "giveaway_created",
    "giveaway_completed",
    "managed_bot_created",
    "paid_message_price_changed",
    "poll_option_added",
    "poll_option_deleted",
    "suggested_post_approved",
    "suggested_post_approval_failed",
    "suggested_post_declined",
    "suggested_post_paid",
    "suggested_post_refunded",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
    "web_app_data",
)

# Chat (Bot API, "Chat"): the values of `type`.
PRIVATE = "private"
GROUPS = ("group", "supergroup")


class Kind(enum.Enum):
    """Which of the transport's answers an update gets."""

    PRESS = "press"
    PRIVATE_TEXT = "private text"
    PRIVATE_OTHER = "private other"
    GROUP = "group"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class TelegramUpdate:
    """What the transport reads of one update."""

    update_id: int
    # The chat the update belongs to: its updates are answered in order (the chat's id, else
    # the person's, else one of its own).
    chat_key: str
    kind: Kind
    # The chat of the message (for a press, of the pressed message; None for a press on a
    # message sent in inline mode, which has no chat the bot sees).
    chat_id: int | None = None
    chat_type: str | None = None
    # The person (User, "from").
    user_id: int | None = None
    is_bot: bool = False
    language_code: str | None = None
    # first_name, and last_name after a space if there is one.
    display_name: str | None = None
    # "@username", or a link to the user by id for someone without a username.
    handle: str | None = None
    text: str | None = None
    # A press (CallbackQuery): its id (to answer it) and its data ("" if none, as for a game).
    query_id: str | None = None
    callback_data: str | None = None
    # The pressed message's id, if it can still be edited (it is not inaccessible).
    pressed_message_id: int | None = None
    # A group message: the ids of the users who joined, if it says so.
    new_chat_members: tuple[int, ...] = ()
    sender_chat: bool = False


def update_id_of(data: object) -> int | None:
    """Return an update's id (Update, "update_id"), or None if it has none to go by."""
    if not isinstance(data, dict):
        return None
    update_id = data.get("update_id")
    return update_id if _is_int(update_id) else None


def read_update(data: dict[str, Any]) -> TelegramUpdate | None:
    """Read one update; None only if it has no `update_id` (nothing can confirm or keep it)."""
    update_id = update_id_of(data)
    if update_id is None:
        return None
    query = data.get("callback_query")
    if query is not None:
        return _press(update_id, query) or _ignored(update_id, data)
    message = data.get("message")
    if message is not None:
        return _message(update_id, message) or _ignored(update_id, data)
    return _ignored(update_id, data)


def _press(update_id: int, query: object) -> TelegramUpdate | None:
    """Read a CallbackQuery (Bot API, "CallbackQuery"); None if it is not one."""
    if not isinstance(query, dict):
        return None
    query_id, person, data = query.get("id"), _person(query.get("from")), query.get("data")
    if not isinstance(query_id, str) or person is None:
        return None
    chat_id = chat_type = pressed = None
    where = query.get("message")
    if where is not None:
        # MaybeInaccessibleMessage: a message, or one older than the bot may see, dated 0.
        chat = _chat(where.get("chat")) if isinstance(where, dict) else None
        if chat is None:
            return None
        chat_id, chat_type = chat
        message_id, date = where.get("message_id"), where.get("date")
        if _is_int(message_id) and _is_int(date) and date != 0:
            pressed = message_id
    return TelegramUpdate(
        update_id,
        str(person["user_id"] if chat_id is None else chat_id),
        Kind.PRESS,
        chat_id=chat_id,
        chat_type=chat_type,
        **person,
        query_id=query_id,
        callback_data=data if isinstance(data, str) else "",
        pressed_message_id=pressed,
    )


def _message(update_id: int, message: object) -> TelegramUpdate | None:
    """Read a new Message (Bot API, "Message"); None if it is not one."""
    if not isinstance(message, dict):
        return None
    chat = _chat(message.get("chat"))
    if chat is None:
        return None
    chat_id, chat_type = chat
    person = _person(message.get("from"))
    if person is None:
        # No person behind it (`from` is optional: empty for messages sent to channels).
        return TelegramUpdate(update_id, str(chat_id), Kind.IGNORED, chat_id, chat_type)
    text = message.get("text")
    text = text if isinstance(text, str) else None
    joined = message.get("new_chat_members")
    members = (
        tuple(m["id"] for m in joined if isinstance(m, dict) and _is_int(m.get("id")))
        if isinstance(joined, list)
        else ()
    )
    sender_chat = message.get("sender_chat") is not None
    if person["is_bot"]:
        kind = Kind.IGNORED  # another bot: nobody to answer
    elif chat_type == PRIVATE and text:
        kind = Kind.PRIVATE_TEXT
    elif chat_type == PRIVATE and not _is_service(message):
        kind = Kind.PRIVATE_OTHER
    elif chat_type in GROUPS and not sender_chat and (members or not _is_service(message)):
        kind = Kind.GROUP
    else:
        kind = Kind.IGNORED
    return TelegramUpdate(
        update_id,
        str(chat_id),
        kind,
        chat_id=chat_id,
        chat_type=chat_type,
        **person,
        text=text,
        new_chat_members=members,
        sender_chat=sender_chat,
    )


def _ignored(update_id: int, data: dict[str, Any]) -> TelegramUpdate:
    """An update the transport does not answer, kept in order with the others of its chat.

    Its chat is that of its object's `chat`, or of the `message` inside it, or of its `from`
    (Update: exactly one optional field besides `update_id` is present).
    """
    for name, value in data.items():
        if name == "update_id" or not isinstance(value, dict):
            continue
        inner = value.get("message")
        for chat in (value.get("chat"), inner.get("chat") if isinstance(inner, dict) else None):
            found = _chat(chat)
            if found is not None:
                return TelegramUpdate(update_id, str(found[0]), Kind.IGNORED, *found)
        person = _person(value.get("from"))
        if person is not None:
            return TelegramUpdate(update_id, str(person["user_id"]), Kind.IGNORED)
    return TelegramUpdate(update_id, f"update-{update_id}", Kind.IGNORED)


def _chat(chat: object) -> tuple[int, str] | None:
    """Return a Chat's id and type (Bot API, "Chat"), or None if it is not one."""
    if not isinstance(chat, dict):
        return None
    chat_id, chat_type = chat.get("id"), chat.get("type")
    if not _is_int(chat_id) or not isinstance(chat_type, str):
        return None
    return chat_id, chat_type


def _person(user: object) -> dict[str, Any] | None:
    """Return the fields of `TelegramUpdate` that a User gives (Bot API, "User"): its id,
    is_bot, language_code, full name and handle; None if it is not one."""
    if not isinstance(user, dict):
        return None
    user_id = user.get("id")
    if not _is_int(user_id):
        return None
    first, last = user.get("first_name"), user.get("last_name")
    first = first if isinstance(first, str) else ""
    name = f"{first} {last}" if isinstance(last, str) and last else first
    username = user.get("username")
    handle = f"@{username}" if isinstance(username, str) and username else f"tg://user?id={user_id}"
    language = user.get("language_code")
    return {
        "user_id": user_id,
        "is_bot": user.get("is_bot") is True,
        "language_code": language if isinstance(language, str) else None,
        "display_name": name or None,
        "handle": handle,
    }


def _is_service(message: dict[str, Any]) -> bool:
    """Return whether a message is a service message (any of `SERVICE_FIELDS` is there)."""
    return any(_present(message.get(field)) for field in SERVICE_FIELDS)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _present(value: object) -> bool:
    """Return whether an optional field is there: any object (even one with no fields, such as
    ForumTopicClosed), or a value that is not empty, false or zero."""
    return isinstance(value, dict) or bool(value)
