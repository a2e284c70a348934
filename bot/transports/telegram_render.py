"""How replies look on Telegram: plain text with inline keyboards, venues and files, in the
sizes the Bot API accepts, and edits of a pressed message in place.

Text messages (most of what the bot sends: every outbox notice, most replies) skip
python-telegram-bot's per-call object building: `send_text` encodes the sendMessage
parameters once and posts them through the bot's own request object (`BaseRequest.post`, so
PTB's reading of the answer and its errors stay as they are), through the bot's rate limiter
when it has one, and does not turn the answer into a `Message` nobody reads. Edits of a pressed
message and the answers to presses go the same way; venues and files go through PTB's methods.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial

from telegram import InputFile, LinkPreviewOptions
from telegram.error import BadRequest
from telegram.ext import ExtBot

from bot.messages import Reply
from bot.transports.telegram_http import PreparedRequest

log = logging.getLogger(__name__)

# Telegram's limits: message text and captions, in UTF-16 code units (how Telegram counts).
MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
# Plain text everywhere: no parse mode, so nothing a user or a coordinator wrote (an "<", a "*",
# an "_" in a name) needs escaping or can break a message; and no link previews.
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_NO_PREVIEW_JSON = json.dumps(NO_PREVIEW.to_dict())

_NOT_MODIFIED = "message is not modified"
# Images Telegram shows as photos; other images (SVG, TIFF, ...) go as documents, which it accepts.
_DIRECT_PHOTO = re.compile(r"^image/(jpeg|png|webp|gif)$")


def steps(
    bot: ExtBot,
    chat_id: int,
    replies: list[Reply],
    edit_message_id: int | None,
    retries: int | None,
    *,
    paid: bool = False,
) -> list[Callable[[], Awaitable[object]]]:
    """Return the Bot API calls that show `replies`, one per message, in order.

    With `paid` (the operator enabled paid broadcasts), every message of an urgent reply is sent
    with `allow_paid_broadcast` (Bot API, sendMessage and the other send methods: "Pass True to
    allow up to 1000 messages per second, ignoring broadcasting limits for a fee of 0.1
    Telegram Stars per message. The relevant Stars will be withdrawn from the bot's balance").
    """
    steps: list[Callable[[], Awaitable[object]]] = []
    for index, reply in enumerate(replies):
        parts = split_text(reply.text)
        # python-telegram-bot's AIORateLimiter then counts it against its paid budget, not
        # the overall 30 a second (telegram.ext.AIORateLimiter, since 21.11).
        extra = {"allow_paid_broadcast": True} if paid and reply.urgent else {}
        if index == 0 and reply.replace and edit_message_id is not None and len(parts) == 1:
            steps.append(
                partial(
                    edit_or_send,
                    bot,
                    chat_id,
                    edit_message_id,
                    parts[0],
                    keyboard_json(reply),
                    retries,
                )
            )
        else:
            if not parts:
                log.warning("telegram: a reply without text was not sent")
            buttons = keyboard_json(reply)
            for number, part in enumerate(parts, 1):
                steps.append(
                    partial(
                        send_text,
                        bot,
                        chat_id,
                        part,
                        # Buttons under the last part, where the reader ends up.
                        buttons if number == len(parts) else None,
                        retries,
                        paid=bool(extra),
                    )
                )
        place = reply.place
        if place is not None and place.latitude is not None and place.longitude is not None:
            steps.append(
                partial(
                    bot.send_venue,
                    chat_id,
                    latitude=place.latitude,
                    longitude=place.longitude,
                    title=place.name or place.address,
                    address=place.address or place.name,
                    rate_limit_args=retries,
                    **extra,
                )
            )
        for attachment in reply.attachments:
            caption = attachment.caption
            fits = _utf16_len(caption) <= MAX_CAPTION_LENGTH
            upload = InputFile(attachment.content, filename=attachment.filename)
            send_file = (
                bot.send_photo if _DIRECT_PHOTO.match(attachment.mime_type) else bot.send_document
            )
            steps.append(
                partial(
                    send_file,
                    chat_id,
                    upload,
                    caption=caption if fits else None,
                    rate_limit_args=retries,
                    **extra,
                )
            )
            if not fits:
                steps.extend(
                    partial(send_text, bot, chat_id, part, None, retries, paid=bool(extra))
                    for part in split_text(caption)
                )
    return steps


async def edit_or_send(
    bot: ExtBot,
    chat_id: int,
    message_id: int,
    text: str,
    buttons: str | None,
    retries: int | None,
) -> None:
    """Edit the pressed message in place, or send the text anew where it cannot be edited."""
    if not await edit_in_place(bot, chat_id, message_id, text, buttons, retries):
        await send_text(bot, chat_id, text, buttons, retries)


async def edit_in_place(
    bot: ExtBot,
    chat_id: int,
    message_id: int,
    text: str,
    buttons: str | None,
    retries: int | None,
) -> bool:
    """Edit a message's text and buttons in place (editMessageText); return False if it must
    be sent anew instead. `buttons` is the reply_markup, JSON-encoded (`keyboard_json`)."""
    fields = {
        "chat_id": str(chat_id),
        "message_id": str(message_id),
        "text": text,
        "link_preview_options": _NO_PREVIEW_JSON,
    }
    if buttons is not None:
        fields["reply_markup"] = buttons
    try:
        await _post(bot, "editMessageText", fields, {"chat_id": chat_id}, retries)
    except BadRequest as exc:
        if _NOT_MODIFIED in exc.message.lower():
            return True  # pressed twice: the message already shows this
        # Too old, deleted, or not ours to edit: show the reply as a new message.
        log.info("telegram: could not edit a message (%s); sending a new one", exc.message)
        return False
    return True


async def send_text(
    bot: ExtBot,
    chat_id: int,
    text: str,
    buttons: str | None,
    retries: int | None,
    *,
    paid: bool = False,
) -> None:
    """Send one plain text message (sendMessage) without a link preview, as `bot.send_message`
    would, but encoded once and without reading the answer into a `Message`.

    `buttons` is the reply_markup, JSON-encoded (`keyboard_json`). Errors are PTB's own
    (`telegram.error`), raised by `BaseRequest.post` from the Bot API's answer.
    """
    fields = {"chat_id": str(chat_id), "text": text, "link_preview_options": _NO_PREVIEW_JSON}
    if buttons is not None:
        fields["reply_markup"] = buttons
    if paid:
        fields["allow_paid_broadcast"] = "true"
    # The limiter sees what it decides on: the chat, and whether the message is paid for.
    await _post(
        bot, "sendMessage", fields, {"chat_id": chat_id, "allow_paid_broadcast": paid}, retries
    )


async def answer_press(bot: ExtBot, callback_query_id: str) -> None:
    """Stop a pressed button's clock (answerCallbackQuery with no notification), as
    `CallbackQuery.answer()` would, without its per-call objects."""
    fields = {"callback_query_id": callback_query_id}
    await _post(bot, "answerCallbackQuery", fields, fields, None)


async def _post(
    bot: ExtBot,
    method: str,
    fields: dict[str, str],
    limits: dict[str, object],
    retries: int | None,
) -> None:
    """Post a Bot API call through the bot's request object, and through its rate limiter
    when it has one; `limits` is what the limiter decides on, as PTB's methods pass it."""
    request = bot.request
    url = f"{bot.base_url}/{method}"
    data = PreparedRequest(fields)
    limiter = bot.rate_limiter
    if limiter is None:
        if retries is not None:
            raise ValueError("`retries` needs a rate limiter")
        await request.post(url, request_data=data)
        return
    await limiter.process_request(
        callback=request.post,
        args=(url,),
        kwargs={"request_data": data},
        endpoint=method,
        data=limits,
        rate_limit_args=retries,
    )


def keyboard_json(reply: Reply) -> str | None:
    """Return a reply's buttons as the JSON of an InlineKeyboardMarkup (Bot API,
    "InlineKeyboardMarkup": inline_keyboard, rows of InlineKeyboardButton with text and
    callback_data), the callback data being the action ids; None without buttons."""
    rows = [
        [{"text": button.label, "callback_data": button.action} for button in row]
        for row in reply.buttons
        if row
    ]
    return json.dumps({"inline_keyboard": rows}) if rows else None


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fitting_prefix(text: str, limit: int) -> int:
    """Return how many characters of `text` fit into `limit` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Split text into parts Telegram accepts: at paragraphs, else lines, else words, else hard.

    Only the whitespace where a part ends is dropped (Telegram trims it anyway); parts that
    would be blank are left out.
    """
    parts: list[str] = []
    rest = text
    while _utf16_len(rest) > limit:
        window = rest[: max(_fitting_prefix(rest, limit), 1)]
        cut, skip = len(window), 0
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator)
            if at > 0:
                cut, skip = at, len(separator)
                break
        head, rest = rest[:cut].rstrip(), rest[cut + skip :].lstrip()
        if head:
            parts.append(head)
    if rest.strip():
        parts.append(rest)
    return parts


def file_url_for(base_url: str) -> str:
    """Derive the file download URL from the API URL, as Telegram lays them out."""
    # https://api.telegram.org/bot -> https://api.telegram.org/file/bot; the same for a
    # self-hosted server such as http://localhost:8081/bot.
    head, _, last = base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{last}"
