"""What travels between a messenger and the conversation core, free of any messenger library."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

MAX_ACTION_BYTES = 64  # Telegram's limit for callback data; every action id fits it


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a user did: typed text, or pressed a button (an action id)."""

    transport: str
    user_key: str
    text: str | None = None
    action: str | None = None
    locale_hint: str | None = None
    # "private" for a one-to-one chat; the bot only talks to people one to one.
    chat_kind: str = "private"
    chat_key: str | None = None
    # Who the user says they are. Never stored, except when they agree to share it with an
    # organisation ("I'd like to help").
    display_name: str | None = None
    handle: str | None = None
    # The messenger's id of this update where it keeps updates until confirmed (Telegram), so
    # the core records its answer with what handling changed, and never handles it twice.
    update_id: int | None = None
    # The message whose button was pressed can be edited in place (Telegram, within 48 hours):
    # a reply with `replace` then changes that message instead of following it.
    can_edit: bool = False
    # The messenger's id of that pressed message, kept with the answer: an answer sent only
    # after a restart then still edits it rather than arriving as a new message.
    pressed_message: str | None = None
    # The messenger received a message it could not read: "encrypted" when it could not be
    # decrypted (Matrix, a key that never arrived); the person is asked to send it again.
    unreadable: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str

    def __post_init__(self) -> None:
        if len(self.action.encode()) > MAX_ACTION_BYTES:
            raise ValueError(f"action id over {MAX_ACTION_BYTES} bytes: {self.action!r}")


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    address: str
    latitude: float | None = None
    longitude: float | None = None

    @property
    def map_url(self) -> str | None:
        if self.latitude is None or self.longitude is None:
            return None
        return (
            "https://www.openstreetmap.org/?mlat="
            f"{self.latitude:.5f}&mlon={self.longitude:.5f}#map=17/{self.latitude:.5f}/{self.longitude:.5f}"
        )


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to show: text, rows of buttons, and optionally a place or attachments.

    `replace` asks a messenger that can edit messages to edit the one whose button was pressed
    instead of sending a new message (paging, sub-menus). A `literal` reply is shown exactly as
    written, never given direction marks: a command or code that must work when copied. An
    `urgent` reply belongs to an urgent announcement: a messenger that can send faster for a fee
    does so when its operator allows it (Telegram's paid broadcasts), the others ignore it.
    """

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    place: Place | None = None
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)
    replace: bool = False
    rtl: bool = False
    literal: bool = False
    urgent: bool = False

    def flat_buttons(self) -> list[Button]:
        """Return the buttons in reading order; a typed number n presses the n-th of these."""
        return [button for row in self.buttons for button in row]


def replies_to_json(replies: list[Reply], *, edits: str | None = None) -> list[dict[str, Any]]:
    """Return replies as JSON, to be kept until they were sent.

    `edits` is the pressed message a first reply with `replace` changes (see `kept_edit`).
    """
    kept = [
        {
            "text": reply.text,
            "buttons": [[[b.label, b.action] for b in row] for row in reply.buttons],
            "place": None
            if reply.place is None
            else [
                reply.place.name,
                reply.place.address,
                reply.place.latitude,
                reply.place.longitude,
            ],
            "attachments": [
                [a.filename, base64.b64encode(a.content).decode("ascii"), a.mime_type, a.caption]
                for a in reply.attachments
            ],
            "replace": reply.replace,
            "rtl": reply.rtl,
            "literal": reply.literal,
        }
        for reply in replies
    ]
    if edits is not None and replies and replies[0].replace:
        kept[0]["edits"] = edits
    return kept


def kept_edit(data: list[dict[str, Any]]) -> str | None:
    """Return the pressed message that kept replies edit, if `replies_to_json` was told one."""
    edits = data[0].get("edits") if data else None
    return edits if isinstance(edits, str) else None


def replies_from_json(data: list[dict[str, Any]]) -> list[Reply]:
    """Return replies kept by `replies_to_json`."""
    return [
        Reply(
            text=item["text"],
            buttons=tuple(
                tuple(Button(label, action) for label, action in row) for row in item["buttons"]
            ),
            place=None if item["place"] is None else Place(*item["place"]),
            attachments=tuple(
                Attachment(name, base64.b64decode(content), mime, caption)
                for name, content, mime, caption in item["attachments"]
            ),
            replace=item["replace"],
            rtl=item["rtl"],
            literal=item.get("literal", False),  # answers kept before the field existed
        )
        for item in data
    ]
