"""The plumbing of the local annotation pages: JSON requests in, JSON or bytes out, refusals as 4xx.

A page's handler subclasses :class:`JsonRequestHandler`, names which exceptions answer which
status (``error_status``, most specific first) and routes its paths; anything else an endpoint
raises is a bug and stays a 500.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

MAX_BODY = 4096  # bytes; every request body is a few fields of JSON


class BadRequest(ValueError):
    """A request the page would never send: malformed JSON, a missing or mistyped field."""


class RequestTooLarge(BadRequest):
    """A request body over :data:`MAX_BODY` bytes."""


def json_object(body: bytes) -> dict:
    """A request body as a JSON object, or BadRequest saying what is wrong with it."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequest(f"expected a JSON object, got {type(document).__name__}")
    return document


def pixel_field(document: dict, name: str) -> float:
    """Field ``name`` of a request as a finite pixel coordinate."""
    value = document.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"{name!r} must be a pixel coordinate (a number), got {value!r}")
    return float(value)


class JsonRequestHandler(BaseHTTPRequestHandler):
    """Replies and request bodies of a local page; quiet (the page's owner logs what matters)."""

    error_status: tuple[tuple[type[Exception], HTTPStatus], ...] = (
        (RequestTooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE), (BadRequest, HTTPStatus.BAD_REQUEST))

    def log_message(self, format: str, *args) -> None:
        pass

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: HTTPStatus, content: dict) -> None:
        self._send(status, json.dumps(content).encode(), "application/json")

    def _answer(self, respond: Callable[[], None]) -> None:
        """Run ``respond``; a refusal (``error_status``) becomes its 4xx reply ``{"error": ...}``."""
        try:
            respond()
        except Exception as exc:
            status = next((s for kind, s in self.error_status if isinstance(exc, kind)), None)
            if status is None:
                raise
            self._json(status, {"error": str(exc)})

    def _request(self) -> dict:
        """The request's body as a JSON object (BadRequest, RequestTooLarge)."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise BadRequest("Content-Length must be a number of bytes") from None
        if length > MAX_BODY:
            raise RequestTooLarge(f"request body of {length} bytes; at most {MAX_BODY}")
        return json_object(self.rfile.read(max(length, 0)))
