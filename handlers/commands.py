"""The commands every messenger offers, with a short description to translate for menus."""

from __future__ import annotations

from bot.i18n import N_, Translator

# (command, description); Telegram shows these in its command menu in each user's language.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Start, or come back to the beginning")),
    ("help", N_("How to use this bot")),
    ("offers", N_("Volunteer offers by topic or district")),
    ("events", N_("Upcoming events")),
    ("search", N_("Search offers and events")),
    ("language", N_("Change the language")),
    ("settings", N_("Your settings")),
    ("privacy", N_("What is stored about you")),
    ("stop", N_("Pause all messages from the bot")),
)

# Commands can also be typed as plain words on messengers without a command menu. The English
# word always works; each catalog adds its own (several separated by commas).
WORD_COMMANDS: tuple[str, ...] = (
    "start",
    "help",
    "menu",
    "stop",
    "language",
    "offers",
    "events",
    "settings",
    "privacy",
)


def command_words(translators: list[Translator]) -> dict[str, str]:
    """Map every typed word that means a command, in any supported language, to the command."""
    words: dict[str, str] = {}
    for command in WORD_COMMANDS:
        words[command] = command
    for t in translators:
        for command, translated in (
            # TRANSLATORS: words a user may type instead of /start; lowercase, comma-separated.
            ("start", t.pgettext("command word", "start")),
            # TRANSLATORS: words a user may type instead of /help; lowercase, comma-separated.
            ("help", t.pgettext("command word", "help")),
            # TRANSLATORS: words a user may type instead of /menu; lowercase, comma-separated.
            ("menu", t.pgettext("command word", "menu")),
            # TRANSLATORS: words a user may type to pause all messages; lowercase, comma-separated.
            ("stop", t.pgettext("command word", "stop")),
            # TRANSLATORS: words a user may type instead of /language; lowercase, comma-separated.
            ("language", t.pgettext("command word", "language")),
            # TRANSLATORS: words a user may type instead of /offers; lowercase, comma-separated.
            ("offers", t.pgettext("command word", "offers")),
            # TRANSLATORS: words a user may type instead of /events; lowercase, comma-separated.
            ("events", t.pgettext("command word", "events")),
            # TRANSLATORS: words a user may type instead of /settings; lowercase, comma-separated.
            ("settings", t.pgettext("command word", "settings")),
            # TRANSLATORS: words a user may type instead of /privacy; lowercase, comma-separated.
            ("privacy", t.pgettext("command word", "privacy")),
        ):
            for word in translated.split(","):
                word = normalise_word(word)
                if word:
                    words.setdefault(word, command)
    return words


def normalise_word(text: str) -> str:
    """Fold a typed word for comparison: lower case, no surrounding space or punctuation."""
    return text.strip().strip(".!?؟،,;:").casefold()
