"""Replies as Matrix events: one text per answer with a numbered menu, places and files.

The Matrix spec has no buttons (client-server API, "Instant Messaging": only m.text, m.notice,
m.emote, m.image, m.file, m.location and a few more), so a reply's buttons become a numbered
list, as on Signal, and a typed number presses one (the conversation core maps it back).
The plain `body` is always complete; we add no `formatted_body`, since the numbered list and
links read the same in every client without one. Answers are m.text; what the bot sends on its
own (reminders, announcements) is m.notice, which clients show as coming from a bot and which
bots, by the spec's advice, never answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.messages import Attachment, Reply
from bot.transports.base import numbered_text

# The spec limits an event to 65,536 bytes of canonical JSON; a text stays far below that.
MAX_BODY_BYTES = 32_000


@dataclass(frozen=True, slots=True)
class MatrixMessage:
    """One Matrix message: a text (`body`), or a file to upload and send as m.file/m.image."""

    body: str = ""
    attachment: Attachment | None = None


def geo_uri(latitude: float, longitude: float) -> str:
    """Return a place as an RFC 5870 geo: URI, as m.location's `geo_uri` has it."""
    return f"geo:{latitude:.5f},{longitude:.5f}"


def render_text(reply: Reply, *, numbered: bool) -> str:
    """Render one reply as plain text: message, place, captions, then its buttons."""
    links: list[str] = []
    place = reply.place
    if place is not None and place.latitude is not None and place.longitude is not None:
        # The map for everyone, the geo: URI for a phone's map app.
        links = [place.map_url or "", geo_uri(place.latitude, place.longitude)]
    return numbered_text(reply, numbered=numbered, links=links)


def render_messages(replies: list[Reply]) -> list[MatrixMessage]:
    """Render replies as few Matrix messages as possible: texts joined, then their files.

    Only the last reply with buttons is numbered: a typed number presses the n-th button of
    the menu the conversation core remembers, which is that one. A literal reply (a command to
    copy) is a message of its own, since clients copy whole messages.
    """
    with_buttons = [i for i, reply in enumerate(replies) if reply.buttons]
    last_menu = with_buttons[-1] if with_buttons else None
    messages: list[MatrixMessage] = []
    texts: list[str] = []
    files: list[Attachment] = []

    def flush() -> None:
        if texts:
            messages.append(MatrixMessage(body="\n\n".join(texts)))
            texts.clear()
        messages.extend(MatrixMessage(attachment=a) for a in files)
        files.clear()

    for index, reply in enumerate(replies):
        text = render_text(reply, numbered=index == last_menu)
        alone = reply.literal or (index > 0 and replies[index - 1].literal)
        if texts and (alone or _size("\n\n".join([*texts, text])) > MAX_BODY_BYTES):
            flush()
        if text:
            texts.extend(_pieces(text))
        files.extend(a for a in reply.attachments if a.content)
    flush()
    return messages


def text_content(body: str, *, notice: bool) -> dict[str, str]:
    """Return the content of an m.room.message carrying text."""
    return {"msgtype": "m.notice" if notice else "m.text", "body": body}


def file_content(attachment: Attachment, *, url: str | None, file: dict | None) -> dict:
    """Return the content of an m.image or m.file event for an uploaded attachment.

    In an encrypted room the file was encrypted before upload and `file` carries its key
    (spec, "Sending encrypted attachments"); elsewhere `url` is the plain mxc:// URI.
    """
    image = attachment.mime_type.startswith("image/")
    content: dict = {
        "msgtype": "m.image" if image else "m.file",
        "body": attachment.caption or attachment.filename,
        "filename": attachment.filename,
        "info": {"mimetype": attachment.mime_type, "size": len(attachment.content)},
    }
    if file is not None:
        content["file"] = file
    else:
        content["url"] = url
    return content


def _pieces(text: str) -> list[str]:
    """Cut a text longer than one event may carry at paragraphs (never the case in practice)."""
    if _size(text) <= MAX_BODY_BYTES:
        return [text]
    pieces: list[str] = []
    current = ""
    for paragraph in text.split("\n"):
        joined = f"{current}\n{paragraph}" if current else paragraph
        if current and _size(joined) > MAX_BODY_BYTES:
            pieces.append(current)
            joined = paragraph
        current = joined
    if current:
        pieces.append(current)
    return pieces


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
