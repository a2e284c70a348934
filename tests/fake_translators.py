"""Loopback fakes of the two machine-translation services the bot can use.

Each "translates" by prefixing the target language, so a test can tell what went where:
"Lesen" into Ukrainian comes back as "[uk] Lesen".

- LibreTranslate: `POST /translate` with a JSON body `q` (a string or a list), `source`,
  `target`, `format` and an optional `api_key`; the answer is `{"translatedText": ...}` of the
  same shape as `q`, and an error is `{"error": "..."}` with status 400/403/500
  (LibreTranslate's API documentation, "API Usage": https://docs.libretranslate.com/guides/api_usage).
- DeepL: `POST /v2/translate` with the header `Authorization: DeepL-Auth-Key KEY` and a JSON
  body `text` (a list), `target_lang`, an optional `source_lang` and `show_billed_characters`;
  the answer is `{"translations": [{"detected_source_language": "DE", "text": "...",
  "billed_characters": 5}]}` (the count only when asked for), 403 for a wrong key, 456 when the
  quota is used up
  (DeepL API reference, "Translate text": https://developers.deepl.com/docs/api-reference/translate).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeService:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False


@contextmanager
def fake_libretranslate(api_key: str | None = None) -> Iterator[FakeService]:
    """Serve LibreTranslate's /translate on 127.0.0.1."""

    def answer(handler: BaseHTTPRequestHandler, service: FakeService) -> tuple[int, Any]:
        if handler.path != "/translate":
            return 404, {"error": "Not Found"}
        body = _json_body(handler)
        service.requests.append(body)
        if service.fail:
            return 500, {"error": "Cannot translate text: model not loaded"}
        if api_key is not None and body.get("api_key") != api_key:
            return 403, {"error": "Invalid API key"}
        if not body.get("q") or not body.get("target"):
            return 400, {"error": "Invalid request: missing q parameter"}
        target = body["target"]
        q = body["q"]
        if isinstance(q, list):
            return 200, {"translatedText": [f"[{target}] {text}" for text in q]}
        return 200, {"translatedText": f"[{target}] {q}"}

    with _serve(answer) as service:
        yield service


@contextmanager
def fake_deepl(auth_key: str) -> Iterator[FakeService]:
    """Serve DeepL's /v2/translate on 127.0.0.1."""

    def answer(handler: BaseHTTPRequestHandler, service: FakeService) -> tuple[int, Any]:
        if handler.path != "/v2/translate":
            return 404, {"message": "Not found"}
        if handler.headers.get("Authorization") != f"DeepL-Auth-Key {auth_key}":
            return 403, {"message": "Wrong endpoint or invalid authentication key"}
        body = _json_body(handler)
        service.requests.append(body)
        if service.fail:
            return 456, {"message": "Quota exceeded"}
        texts, target = body.get("text"), body.get("target_lang")
        if not isinstance(texts, list) or not target:
            return 400, {"message": "Value for 'target_lang' not supported."}
        source = body.get("source_lang") or "DE"
        translations = []
        for text in texts:
            translation: dict[str, Any] = {"detected_source_language": source}
            translation["text"] = f"[{target}] {text}"
            if body.get("show_billed_characters"):
                translation["billed_characters"] = len(text)
            translations.append(translation)
        return 200, {"translations": translations}

    with _serve(answer) as service:
        yield service


def _json_body(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b"{}"
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


@contextmanager
def _serve(answer: Any) -> Iterator[FakeService]:
    service = FakeService(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status, payload = answer(self, service)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
