"""How replies look on Telegram: plain text with inline keyboards, venues and files, in the
sizes the Bot API accepts, and edits of a pressed message in place."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, LinkPreviewOptions
from telegram.error import BadRequest
from telegram.ext import ExtBot

from bot.messages import Reply

log = logging.getLogger(__name__)

# Telegram's limits: message text and captions, in UTF-16 code units (how Telegram counts).
MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
# Plain text everywhere: no parse mode, so nothing a user or a coordinator wrote (an "<", a "*",
# an "_" in a name) needs escaping or can break a message; and no link previews.
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

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
        markup = keyboard(reply)
        # python-telegram-bot's AIORateLimiter then counts it against its paid budget, not
        # the overall 30 a second (telegram.ext.AIORateLimiter, since 21.11).
        extra = {"allow_paid_broadcast": True} if paid and reply.urgent else {}
        if index == 0 and reply.replace and edit_message_id is not None and len(parts) == 1:
            steps.append(
                partial(edit_or_send, bot, chat_id, edit_message_id, parts[0], markup, retries)
            )
        else:
            if not parts:
                log.warning("telegram: a reply without text was not sent")
            for number, part in enumerate(parts, 1):
                steps.append(
                    partial(
                        bot.send_message,
                        chat_id,
                        part,
                        # Buttons under the last part, where the reader ends up.
                        reply_markup=markup if number == len(parts) else None,
                        link_preview_options=NO_PREVIEW,
                        rate_limit_args=retries,
                        **extra,
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
                    partial(
                        bot.send_message,
                        chat_id,
                        part,
                        link_preview_options=NO_PREVIEW,
                        rate_limit_args=retries,
                        **extra,
                    )
                    for part in split_text(caption)
                )
    return steps


async def edit_or_send(
    bot: ExtBot,
    chat_id: int,
    message_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None,
    retries: int | None,
) -> None:
    """Edit the pressed message in place, or send the text anew where it cannot be edited."""
    if not await edit_in_place(bot, chat_id, message_id, text, markup, retries):
        await bot.send_message(
            chat_id,
            text,
            reply_markup=markup,
            link_preview_options=NO_PREVIEW,
            rate_limit_args=retries,
        )


async def edit_in_place(
    bot: ExtBot,
    chat_id: int,
    message_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None,
    retries: int | None,
) -> bool:
    """Edit a message in place; return False if it must be sent anew instead."""
    try:
        await bot.edit_message_text(
            text,
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=markup,
            link_preview_options=NO_PREVIEW,
            rate_limit_args=retries,
        )
    except BadRequest as exc:
        if _NOT_MODIFIED in exc.message.lower():
            return True  # pressed twice: the message already shows this
        # Too old, deleted, or not ours to edit: show the reply as a new message.
        log.info("telegram: could not edit a message (%s); sending a new one", exc.message)
        return False
    return True


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Return a reply's buttons as an inline keyboard whose callback data are the action ids."""
    rows = [
        [InlineKeyboardButton(button.label, callback_data=button.action) for button in row]
        for row in reply.buttons
        if row
    ]
    return InlineKeyboardMarkup(rows) if rows else None


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
