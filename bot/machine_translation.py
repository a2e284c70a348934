"""Optional machine translation of offers and events: DeepL's API or a LibreTranslate server.

Nothing here is needed to run the bot. When the operator configures neither service, no
coordinator sees the button and every translation is written by hand. A machine translation is
only ever a draft: a coordinator reviews it before readers see it, and readers are told that it
was made by a machine.
"""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

from bot.config import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 15.0


class MachineTranslationError(RuntimeError):
    """The service could not translate (unreachable, refused, out of quota)."""


class MachineTranslator(Protocol):
    name: str

    def translate(self, texts: list[str], *, source: str, target: str) -> list[str]:
        """Translate each text from locale `source` into locale `target`, in order."""
        ...


class LibreTranslate:
    """A LibreTranslate server, through its documented HTTP API.

    `POST /translate` with a JSON body `{"q": [...], "source": "de", "target": "uk",
    "format": "text", "api_key": "..."}` answers `{"translatedText": [...]}` when `q` is a list
    (LibreTranslate's API documentation, "API Usage": https://docs.libretranslate.com/guides/api_usage).
    """

    name = "LibreTranslate"

    def __init__(self, url: str, api_key: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key

    def translate(self, texts: list[str], *, source: str, target: str) -> list[str]:
        body: dict[str, object] = {"q": texts, "source": source, "target": target}
        body["format"] = "text"
        if self.api_key:
            body["api_key"] = self.api_key
        try:
            response = httpx.post(f"{self.url}/translate", json=body, timeout=TIMEOUT_SECONDS)
            response.raise_for_status()
            translated = response.json().get("translatedText")
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise MachineTranslationError(f"LibreTranslate: {type(exc).__name__}") from None
        if isinstance(translated, str):
            translated = [translated]
        if not isinstance(translated, list) or len(translated) != len(texts):
            raise MachineTranslationError("LibreTranslate: unexpected answer")
        return [str(text) for text in translated]


# DeepL names English and Portuguese targets by region; the bot's English is British.
_DEEPL_TARGETS = {"en": "EN-GB"}


class DeepL:
    """DeepL's API through the official `deepl` package (pip install -e '.[deepl]')."""

    name = "DeepL"

    def __init__(self, auth_key: str, server_url: str | None = None) -> None:
        import deepl  # optional: only operators who configure DeepL install it

        self._deepl = deepl
        self._translator = deepl.Translator(
            auth_key, server_url=server_url, send_platform_info=False
        )

    def translate(self, texts: list[str], *, source: str, target: str) -> list[str]:
        try:
            results = self._translator.translate_text(
                texts,
                source_lang=source.upper(),
                target_lang=_DEEPL_TARGETS.get(target, target.upper()),
            )
        except (self._deepl.DeepLException, TypeError, ValueError, KeyError) as exc:
            # TypeError and friends: an answer not of the documented shape.
            raise MachineTranslationError(f"DeepL: {type(exc).__name__}") from None
        results = results if isinstance(results, list) else [results]
        return [result.text for result in results]


def machine_translator(settings: Settings) -> MachineTranslator | None:
    """Return the service the operator configured (DeepL first), or None for none."""
    if settings.deepl_api_key:
        try:
            return DeepL(settings.deepl_api_key, settings.deepl_server_url)
        except ImportError:
            log.warning("DEEPL_API_KEY is set but the deepl package is not installed")
    if settings.libretranslate_url:
        return LibreTranslate(settings.libretranslate_url, settings.libretranslate_api_key)
    return None
