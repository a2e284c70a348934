"""How replies look on Signal: plain text with numbered buttons, within signal-cli's size limit."""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass

from bot.messages import Attachment, Reply
from bot.transports.base import numbered_text

log = logging.getLogger(__name__)

# signal-cli's ServiceConfig.MAX_MESSAGE_SIZE_BYTES: a body of more UTF-8 bytes is cut there and
# the whole text uploaded as a `text/x-signal-plain` attachment (ManagerImpl.applyMessage), an
# upload that can fail or be rate limited on its own. Every message we send stays within it.
MAX_MESSAGE_BYTES = 2000


@dataclass(frozen=True, slots=True)
class SignalMessage:
    """One Signal message: its text and its attachments as data URIs."""

    text: str
    attachments: tuple[str, ...] = ()


_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
_MIME = re.compile(r"^[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+$")


def data_uri(attachment: Attachment) -> str:
    """Encode an attachment as the data URI signal-cli's `send` takes (RFC 2397 plus filename)."""
    # ";" and "," would end the filename parameter early, so only plain characters stay.
    filename = _SAFE_FILENAME.sub("_", attachment.filename).strip("._") or "file"
    mime = attachment.mime_type if _MIME.match(attachment.mime_type) else "application/octet-stream"
    payload = base64.b64encode(attachment.content).decode("ascii")
    return f"data:{mime};filename={filename};base64,{payload}"


def render_reply(reply: Reply, *, numbered: bool = True) -> SignalMessage:
    """Render one reply as text: the message, its place, captions, then its buttons."""
    map_url = reply.place.map_url if reply.place is not None else None
    attachments = [a for a in reply.attachments if a.content]
    if len(attachments) < len(reply.attachments):
        # signal-cli reads a data URI with nothing after the comma as a file path
        # (DataURI.DATA_URI_PATTERN wants at least one data character) and fails the send.
        log.warning(
            "not sending empty attachments: %s",
            ", ".join(a.filename for a in reply.attachments if not a.content),
        )
    return SignalMessage(
        numbered_text(reply, numbered=numbered, links=[map_url] if map_url else []),
        tuple(data_uri(attachment) for attachment in attachments),
    )


def render_messages(replies: list[Reply]) -> list[SignalMessage]:
    """Render replies as few Signal messages as possible, each within MAX_MESSAGE_BYTES.

    A typed number presses the n-th button of the last reply that has buttons (the menu the
    conversation core remembers, for answers and for outbox notices alike), so only that menu
    is numbered; buttons of earlier replies are listed with bullets.

    Replies for one update are joined into one message, separated by blank lines: Signal has no
    message threads to keep apart, and every message counts against unpublished rate limits.
    A literal reply (a command to copy) is a message of its own, since phones copy whole
    messages. A reply too long for one message is split at paragraphs, else lines, else words; its
    attachments go with its last part.
    """
    with_buttons = [i for i, reply in enumerate(replies) if reply.buttons]
    last_menu = with_buttons[-1] if with_buttons else None
    messages: list[SignalMessage] = []
    texts: list[str] = []
    attachments: list[str] = []
    for index, reply in enumerate(replies):
        rendered = render_reply(reply, numbered=index == last_menu)
        parts = split_text(rendered.text) if rendered.text else []
        alone = reply.literal or (index > 0 and replies[index - 1].literal)
        for number, part in enumerate(parts):
            starts_alone = alone and number == 0
            if texts and (
                starts_alone or _utf8_size("\n\n".join([*texts, part])) > MAX_MESSAGE_BYTES
            ):
                messages.append(SignalMessage("\n\n".join(texts), tuple(attachments)))
                texts, attachments = [], []
            texts.append(part)
        attachments.extend(rendered.attachments)
    if texts or attachments:
        messages.append(SignalMessage("\n\n".join(texts), tuple(attachments)))
    return messages


def split_text(text: str, limit: int = MAX_MESSAGE_BYTES) -> list[str]:
    """Split text into parts of at most `limit` UTF-8 bytes at the widest boundary that fits."""
    parts = _split(text, limit, ("\n\n", "\n", " "))
    return [part.strip("\n") for part in parts if part.strip()]


def _split(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    if _utf8_size(text) <= limit:
        return [text]
    if not separators:
        return _cut(text, limit)
    separator, narrower = separators[0], separators[1:]
    parts: list[str] = []
    current: str | None = None
    for piece in text.split(separator):
        joined = piece if current is None else current + separator + piece
        if _utf8_size(joined) <= limit:
            current = joined
            continue
        if current is not None:
            parts.append(current)
        *whole, current = _split(piece, limit, narrower)
        parts.extend(whole)
    if current is not None:
        parts.append(current)
    return parts


def _cut(text: str, limit: int) -> list[str]:
    """Cut a text without spaces (a long link, say) into pieces of at most `limit` bytes."""
    parts, current, size = [], [], 0
    for character in text:
        width = _utf8_size(character)
        if size + width > limit:
            parts.append("".join(current))
            current, size = [], 0
        current.append(character)
        size += width
    parts.append("".join(current))
    return parts


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
