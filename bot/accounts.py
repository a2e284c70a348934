"""What a person's id looks like on each messenger, for admins an operator names by hand.

The bot knows people by the id their messenger gives it: Telegram's numeric user id, Signal's
account id (ACI, a UUID; phone numbers are never stored), Matrix's user id, the console's
chosen name.
"""

from __future__ import annotations

import re

# One line per messenger, as `ADMIN_IDS` and `engagebot admin add` take them.
ID_FORMS = {
    "telegram": "telegram:<user id, a positive number>, such as telegram:123456789",
    "signal": "signal:<ACI, a UUID>, such as signal:1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b",
    "matrix": "matrix:<Matrix user id>, such as matrix:@anna:matrix.example.org",
    "console": "console:<name>, such as console:admin",
}
_MATRIX = re.compile(r"@[^\s:,]+:[^\s:,]+(:[0-9]{1,5})?")
_TELEGRAM = re.compile(r"[1-9][0-9]{0,15}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PHONE = re.compile(r"\+?[0-9][0-9 ()/-]{4,}")
_CONSOLE = re.compile(r"[^\s,:]{1,64}")


class BadUserId(ValueError):
    """Not an id the bot could ever be written to by; the message says what would be."""


def parse_user_id(text: str) -> tuple[str, str]:
    """Split `messenger:id` and check the id has the form that messenger gives the bot."""
    messenger, sep, user = text.strip().partition(":")
    messenger, user = messenger.strip().lower(), user.strip()
    if not sep or messenger not in ID_FORMS:
        raise BadUserId(f"{text!r} is not one of: {'; '.join(ID_FORMS.values())}")
    if messenger == "telegram" and not _TELEGRAM.fullmatch(user):
        raise BadUserId(
            f"{text!r}: a Telegram user id is a positive number, such as telegram:123456789 "
            "(a bot such as @userinfobot tells people theirs)"
        )
    if messenger == "signal":
        user = user.lower()
        if _PHONE.fullmatch(user):
            raise BadUserId(
                f"{text!r} is a phone number, but Signal users are keyed by their account id "
                "(ACI, a UUID such as 1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b), which the bot "
                "stores instead of numbers; `signal-cli -a BOT_NUMBER listContacts` shows "
                "the ACI of everyone who wrote to the bot"
            )
        if not _UUID.fullmatch(user):
            raise BadUserId(f"{text!r}: a Signal id is the account's ACI, {ID_FORMS['signal']}")
    if messenger == "matrix" and not _MATRIX.fullmatch(user):
        raise BadUserId(f"{text!r}: a Matrix id is {ID_FORMS['matrix']}")
    if messenger == "console" and not _CONSOLE.fullmatch(user):
        raise BadUserId(f"{text!r}: {ID_FORMS['console']} (no spaces, commas or colons)")
    return messenger, user
