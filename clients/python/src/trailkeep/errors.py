"""The exceptions the client raises, and how an HTTP answer becomes one.

Every failure is an :class:`ApiError`. Two subclasses single out the cases a caller usually
handles on their own, as the Port SDK's error handling describes them:

* :class:`AuthError`: bad credentials or insufficient permissions (HTTP 401 and 403).
* :class:`ValidationError`: invalid parameters or an invalid event (HTTP 400 and 422).

Everything else (404, 409, 413, 415, 429, 5xx, an unreadable answer, a refused connection, a
timeout) is a plain :class:`ApiError`. The ``Port*`` names are aliases, so code written for
Port's SDK (``except PortAuthError:``) works unchanged.

The server answers errors in two shapes, and both are read here:

* the Port dialect (``/v1/auth/access_token``, ``/v1/audit``):
  ``{"ok": false, "error": "<code>", "message": "<why>"}``;
* RFC 9457 problem details (``/v1/events``):
  ``{"type", "title", "status", "detail", "code", "errors": [{"field", "message"}]}``.

Exception messages never contain credentials or tokens: they are built only from the server's
answer and the request's method and path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ApiError",
    "AuthError",
    "ValidationError",
    "PortApiError",
    "PortAuthError",
    "PortValidationError",
    "error_from_response",
]

#: Longest piece of a non-JSON error body quoted in a message.
_MAX_QUOTED = 200


class ApiError(Exception):
    """A request to the Trailkeep server failed.

    Attributes:
        status: The HTTP status, or ``None`` when no answer arrived (connection refused,
            timeout) or the answer could not be read.
        error: The server's short machine-readable code, such as ``"not_found"``,
            ``"invalid_request"`` or ``"validation_failed"`` (the client's own codes are
            ``"connection_error"``, ``"timeout"`` and ``"invalid_response"``).
        message: What went wrong, in words.
        errors: Per-field problems of an invalid event, each a dict with ``"field"`` and
            ``"message"`` (and ``"index"`` for batches); empty otherwise.
        retry_after: Seconds the server asked the client to wait (``Retry-After`` on 429 and
            503), or ``None``.
    """

    status: int | None
    error: str | None
    message: str
    errors: list[dict[str, Any]]
    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Create an error.

        Args:
            message: What went wrong.
            status: The HTTP status, if an answer arrived.
            error: The server's short error code.
            errors: Per-field problems, if the server listed any.
            retry_after: Seconds to wait before retrying, if the server said.
        """
        super().__init__(message)
        self.message = message
        self.status = status
        self.error = error
        self.errors = list(errors or [])
        self.retry_after = retry_after

    def __str__(self) -> str:
        """The status, the code, the message and any field problems, on one line."""
        head = []
        if self.status is not None:
            head.append(str(self.status))
        if self.error:
            head.append(self.error)
        text = f"{' '.join(head)}: {self.message}" if head else self.message
        fields = [
            f"{e.get('field', '?')} {e.get('message', '')}".strip()
            for e in self.errors
            if isinstance(e, Mapping)
        ]
        if fields:
            text += " (" + "; ".join(fields) + ")"
        return text

    def __repr__(self) -> str:
        """A developer-facing representation."""
        return (
            f"{type(self).__name__}(status={self.status!r}, error={self.error!r}, "
            f"message={self.message!r})"
        )


class AuthError(ApiError):
    """The credentials were refused (HTTP 401) or lack the needed role (HTTP 403).

    Raised, for instance, on the first call of a client built with a wrong client id or
    secret, or when a key with only ``audit:read`` tries to write events.
    """


class ValidationError(ApiError):
    """The request was invalid (HTTP 400 or 422).

    Raised for invalid filter parameters (an unknown parameter, ``per_page`` out of range, a
    date that is not RFC 3339) and for invalid events; :attr:`ApiError.errors` then names the
    offending fields.
    """


#: Port SDK name for :class:`ApiError`.
PortApiError = ApiError
#: Port SDK name for :class:`AuthError`.
PortAuthError = AuthError
#: Port SDK name for :class:`ValidationError`.
PortValidationError = ValidationError


def _class_for(status: int | None) -> type[ApiError]:
    if status in (401, 403):
        return AuthError
    if status in (400, 422):
        return ValidationError
    return ApiError


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # An HTTP date; rare enough not to parse.
    return seconds if seconds >= 0 else None


def error_from_response(
    status: int | None,
    body: bytes,
    *,
    reason: str = "",
    retry_after: str | None = None,
) -> ApiError:
    """Build the exception for an unsuccessful answer.

    Args:
        status: The HTTP status.
        body: The answer's body (either error shape, or anything else).
        reason: The HTTP reason phrase, used when the body says nothing.
        retry_after: The ``Retry-After`` header, if any.

    Returns:
        An :class:`AuthError`, :class:`ValidationError` or :class:`ApiError`, by status.
    """
    parsed: Any = None
    if body:
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            parsed = None

    error: str | None = None
    message = ""
    errors: list[dict[str, Any]] = []
    if isinstance(parsed, Mapping):
        # Problem details: code + detail (or title); Port dialect: error + message.
        code = parsed.get("code", parsed.get("error"))
        if isinstance(code, str):
            error = code
        for key in ("detail", "message", "title"):
            text = parsed.get(key)
            if isinstance(text, str) and text:
                message = text
                break
        listed = parsed.get("errors")
        if isinstance(listed, list):
            errors = [dict(e) for e in listed if isinstance(e, Mapping)]
    elif body:
        snippet = body[:_MAX_QUOTED].decode("utf-8", "replace").strip()
        message = snippet
    if not message:
        message = reason or (f"HTTP {status}" if status is not None else "request failed")
    return _class_for(status)(
        message,
        status=status,
        error=error,
        errors=errors,
        retry_after=_retry_after(retry_after),
    )
