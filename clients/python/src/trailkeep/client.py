"""The Trailkeep client: authentication, the audit-log reader and the event writer.

``Client`` exchanges a client id and secret for a short-lived bearer token
(``POST /v1/auth/access_token``), keeps it, refreshes it shortly before it expires and once
more if the server refuses it, and offers two services:

* ``client.audit``: read audit logs the way Port's SDK does (``GET /v1/audit``), as records
  ``{id, timestamp, action, user, resource, details, ip_address, user_agent}``;
* ``client.events``: write audit events through Trailkeep's native API (``POST /v1/events``).

Only the standard library is used; every request has a timeout.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any

from .errors import ApiError, AuthError, error_from_response

__all__ = ["Client", "AuditService", "EventsService", "DEFAULT_TIMEOUT", "__version__"]

__version__ = "0.1.0"

#: Seconds a request may take before it fails with an :class:`ApiError` (``error="timeout"``).
DEFAULT_TIMEOUT = 30.0
#: Seconds before a token's expiry at which the client fetches a new one.
DEFAULT_REFRESH_MARGIN = 30.0

_TOKEN_PATH = "/v1/auth/access_token"
_AUDIT_PATH = "/v1/audit"
_EVENTS_PATH = "/v1/events"

# A date-time as Python's ``isoformat()`` writes a naive value: no ``Z``, no offset.
_NAIVE_ISO = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(?:\.\d{1,9})?)?$"
)

def _rfc3339(value: datetime) -> str:
    """``value`` as RFC 3339 in UTC with a ``Z``; a naive ``datetime`` is taken as UTC."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        value = value.replace(tzinfo=timezone.utc)
    else:
        value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def _instant_text(value: str) -> str:
    """A naive ISO date-time string made RFC 3339 (UTC); any other string unchanged."""
    match = _NAIVE_ISO.match(value)
    if match is None:
        return value
    day, minutes, seconds = match.groups()
    return f"{day}T{minutes}{seconds or ':00'}Z"


def _query_text(key: str, value: Any) -> str:
    if isinstance(value, datetime):
        return _rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _instant_text(value)
    if isinstance(value, (int, float)):
        return str(value)
    raise TypeError(
        f"query parameter {key!r}: cannot send a {type(value).__name__}; "
        "use a str, int, float, bool, date or datetime"
    )


def _query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query pairs from ``params``: ``None`` dropped, sequences repeated, instants RFC 3339."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if not isinstance(key, str):
            raise TypeError(f"query parameter names must be str, not {type(key).__name__}")
        if value is None:
            continue
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            pairs.extend((key, _query_text(key, v)) for v in value if v is not None)
        else:
            pairs.append((key, _query_text(key, value)))
    return pairs


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuses redirects, so the bearer token never follows one to another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        return None


class Client:
    """A client for one Trailkeep server and one API key.

    ``base_url`` is the server's root, such as ``"http://127.0.0.1:8080"``; ``client_id`` and
    ``client_secret`` are an API key's id (``tkk_...``) and secret. Each falls back to an
    environment variable when omitted: ``TRAILKEEP_URL``, ``TRAILKEEP_CLIENT_ID``,
    ``TRAILKEEP_CLIENT_SECRET``. Creating a client sends nothing: the token is fetched on the
    first call, so bad credentials surface there, as an :class:`~trailkeep.AuthError`.

    The token is reused until shortly before it expires (``refresh_margin`` seconds, or half
    its lifetime when that is shorter), then fetched again; a call the server answers with 401
    fetches a new token and is retried once. A client may be shared between threads.

    Example::

        from trailkeep import Client

        client = Client("http://127.0.0.1:8080", client_id="tkk_...", client_secret="...")
        logs = client.audit.get_audit_logs(params={"action": "entity.created"})
        for log in logs.get("logs", []):
            print(f"{log['timestamp']}: {log['action']} by {log['user']}")

    Attributes:
        audit: Reads audit logs (:class:`AuditService`).
        events: Writes audit events (:class:`EventsService`).
    """

    audit: AuditService
    events: EventsService

    def __init__(
        self,
        base_url: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        user_agent: str | None = None,
    ) -> None:
        """Create a client; nothing is sent until the first call.

        Args:
            base_url: The server's root URL (default: ``$TRAILKEEP_URL``).
            client_id: The API key's id (default: ``$TRAILKEEP_CLIENT_ID``).
            client_secret: The API key's secret (default: ``$TRAILKEEP_CLIENT_SECRET``).
            timeout: Seconds each request may take (default 30).
            refresh_margin: Seconds before the token's expiry at which a new one is fetched.
            user_agent: The ``User-Agent`` header (default ``trailkeep-python/<version>``).

        Raises:
            ValueError: A setting is missing or invalid.
        """
        base_url = base_url or os.environ.get("TRAILKEEP_URL")
        client_id = client_id or os.environ.get("TRAILKEEP_CLIENT_ID")
        client_secret = client_secret or os.environ.get("TRAILKEEP_CLIENT_SECRET")
        if not base_url:
            raise ValueError("base_url is required (or set TRAILKEEP_URL)")
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("base_url must be an http:// or https:// URL")
        if not client_id:
            raise ValueError("client_id is required (or set TRAILKEEP_CLIENT_ID)")
        if not client_secret:
            raise ValueError("client_secret is required (or set TRAILKEEP_CLIENT_SECRET)")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if refresh_margin < 0:
            raise ValueError("refresh_margin must not be negative")

        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = float(timeout)
        self._refresh_margin = float(refresh_margin)
        self._user_agent = user_agent or f"trailkeep-python/{__version__}"
        self._opener = urllib.request.build_opener(_NoRedirect())

        self._lock = threading.Lock()
        self._token: str | None = None
        # time.monotonic() at which the token expires, and how long before that to refresh.
        self._token_expires_at = 0.0
        self._token_margin = 0.0
        self._token_fetches = 0

        self.audit = AuditService(self)
        self.events = EventsService(self)

    def __repr__(self) -> str:
        """The server and the client id; never the secret or the token."""
        return f"Client(base_url={self._base_url!r}, client_id={self._client_id!r})"

    @property
    def base_url(self) -> str:
        """The server's root URL, without a trailing slash."""
        return self._base_url

    @property
    def client_id(self) -> str:
        """The API key's id."""
        return self._client_id

    @property
    def timeout(self) -> float:
        """Seconds each request may take."""
        return self._timeout

    @property
    def token_fetches(self) -> int:
        """How many access tokens this client has obtained so far (for monitoring and tests).

        It is 0 before the first call, 1 after it, and grows by one at each refresh.
        """
        return self._token_fetches

    @property
    def token_expires_in(self) -> float | None:
        """Seconds until the current token expires, or ``None`` when there is none yet (or
        the server did not say how long it lives)."""
        if self._token is None or math.isinf(self._token_expires_at):
            return None
        return self._token_expires_at - time.monotonic()

    # -- authentication ---------------------------------------------------------------------

    def _current_token(self) -> tuple[str, bool]:
        """The token to use, and whether it was fetched just now."""
        with self._lock:
            now = time.monotonic()
            if self._token is not None and now < self._token_expires_at - self._token_margin:
                return self._token, False
            self._token = None
            answer = self._send(
                "POST",
                _TOKEN_PATH,
                body={"clientId": self._client_id, "clientSecret": self._client_secret},
                token=None,
            )
            token = answer.get("accessToken") if isinstance(answer, Mapping) else None
            if not isinstance(token, str) or not token:
                raise ApiError(
                    "the token answer has no accessToken",
                    status=200,
                    error="invalid_response",
                )
            lifetime = answer.get("expiresIn")
            fetched = time.monotonic()
            if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool) and lifetime > 0:
                self._token_expires_at = fetched + float(lifetime)
                self._token_margin = min(self._refresh_margin, float(lifetime) / 2)
            else:
                # Lifetime unknown: keep it until the server refuses it.
                self._token_expires_at = math.inf
                self._token_margin = 0.0
            self._token = token
            self._token_fetches += 1
            return token, True

    def _forget_token(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    # -- transport --------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] | None = None,
        body: Any = None,
    ) -> Any:
        """Send an authenticated request; on a 401 with an older token, retry once."""
        token, fresh = self._current_token()
        try:
            return self._send(method, path, query=query, body=body, token=token)
        except AuthError as exc:
            if exc.status != 401 or fresh:
                raise
        self._forget_token(token)
        token, _ = self._current_token()
        return self._send(method, path, query=query, body=body, token=token)

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] | None = None,
        body: Any = None,
        token: str | None,
    ) -> Any:
        """Send one request and return its decoded JSON answer, or raise an ApiError."""
        url = self._base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(list(query))
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, default=_json_default, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        where = f"{method} {path}"
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status = int(response.status)
                raw = response.read()
        except urllib.error.HTTPError as exc:
            try:
                raw = exc.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            finally:
                exc.close()
            raise error_from_response(
                exc.code,
                raw,
                reason=f"{where}: {exc.reason}",
                retry_after=exc.headers.get("Retry-After") if exc.headers else None,
            ) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise self._timed_out(where) from exc
            raise ApiError(
                f"{where}: cannot reach {self._base_url}: {exc.reason}",
                error="connection_error",
            ) from exc
        except (TimeoutError, socket.timeout) as exc:
            raise self._timed_out(where) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ApiError(
                f"{where}: the connection to {self._base_url} failed: {exc}",
                error="connection_error",
            ) from exc

        if status == 204 or not raw.strip():
            return {}
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(
                f"{where}: the server answered {status} with a body that is not JSON",
                status=status,
                error="invalid_response",
            ) from None
        if isinstance(answer, Mapping) and answer.get("ok") is False:
            raise error_from_response(status, raw, reason=where)
        return answer

    def _timed_out(self, where: str) -> ApiError:
        return ApiError(
            f"{where}: no answer within {self._timeout:g} s", error="timeout"
        )


class AuditService:
    """Reads audit logs, like the ``audit`` service of Port's Python SDK.

    Get it as ``client.audit``. A log is a dict::

        {
            "id": "01J...",
            "timestamp": "2024-01-15T10:30:00Z",
            "action": "entity.created",
            "user": {"email": "john.doe@example.com", "name": "John Doe"},
            "resource": {"type": "entity", "identifier": "payment-service", "blueprint": "service"},
            "details": {...},
            "ip_address": "192.168.1.100",
            "user_agent": "Mozilla/5.0...",
        }

    Values the event did not carry are ``None``. Reading needs the ``audit:read`` role.
    """

    def __init__(self, client: Client) -> None:
        """Bind the service to ``client`` (``Client`` does this itself)."""
        self._client = client

    def get_audit_logs(
        self,
        page: int | None = None,
        per_page: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Retrieve one page of audit logs, newest first.

        Args:
            page: The page, from 1 (default 1).
            per_page: Logs a page, 1 to 1000 (default 50, the server's).
            params: Filters, all optional and combined with AND:

                * ``start_date``, ``end_date``: the period (``end_date`` excluded), each a
                  ``datetime``, a ``date`` or a string in RFC 3339 or ``YYYY-MM-DD``.
                  ``datetime.isoformat()`` strings work: a naive ``datetime`` or naive ISO
                  string is taken as UTC.
                * ``action``: an exact action, such as ``"entity.created"``.
                * ``user``: the user's e-mail address or id.
                * ``resource_type``, ``resource_identifier``: the resource acted upon.

                ``page`` and ``per_page`` may also be given here; the arguments win.

        Returns:
            The server's answer, with the list of logs under ``"logs"`` (the server's
            ``"audits"``), so ``logs.get("logs", [])`` is the page.

        Raises:
            ValidationError: An unknown or invalid parameter (HTTP 400).
            AuthError: Bad credentials, or a key without ``audit:read``.
            ApiError: Any other failure.
        """
        merged: dict[str, Any] = dict(params or {})
        if page is not None:
            merged["page"] = page
        if per_page is not None:
            merged["per_page"] = per_page
        answer = self._client._request("GET", _AUDIT_PATH, query=_query(merged))
        if not isinstance(answer, Mapping):
            raise ApiError(
                "the audit answer is not a JSON object", status=200, error="invalid_response"
            )
        result = dict(answer)
        audits = result.pop("audits", None)
        logs = audits if audits is not None else result.get("logs")
        if not isinstance(logs, list):
            raise ApiError(
                "the audit answer has no list of audits", status=200, error="invalid_response"
            )
        result["logs"] = logs
        return result

    def get_audit_log(self, id: str) -> dict[str, Any]:
        """Retrieve one audit log by its id.

        Args:
            id: The log's ``"id"``.

        Returns:
            The log.

        Raises:
            ApiError: With ``status == 404`` when there is no such log (a plain
                ``ApiError``, not one of its subclasses); any other failure.
            AuthError: Bad credentials, or a key without ``audit:read``.
        """
        if not isinstance(id, str) or not id:
            raise ValueError("id must be a non-empty string")
        path = f"{_AUDIT_PATH}/{urllib.parse.quote(id, safe='')}"
        answer = self._client._request("GET", path)
        record = answer.get("audit") if isinstance(answer, Mapping) else None
        if not isinstance(record, dict):
            raise ApiError(
                "the audit answer has no audit record", status=200, error="invalid_response"
            )
        return record

    def iter_audit_logs(
        self,
        params: Mapping[str, Any] | None = None,
        per_page: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Yield every audit log matching ``params``, newest first, across all pages.

        Pages are fetched lazily, ``per_page`` logs at a time, until a page comes back short.
        A log that moves to a later page because newer ones arrived meanwhile is yielded
        only once. The server pages at most 100,000 logs deep; narrow the filter (for
        instance with ``start_date``/``end_date``) to go further.

        Args:
            params: Filters, as for :meth:`get_audit_logs` (``page`` and ``per_page`` in
                it are ignored).
            per_page: Logs a request, 1 to 1000.

        Raises:
            ValidationError, AuthError, ApiError: As :meth:`get_audit_logs`, when a page
                is fetched.
        """
        filters = {k: v for k, v in (params or {}).items() if k not in ("page", "per_page")}
        seen: set[Any] = set()
        page = 1
        while True:
            logs = self.get_audit_logs(page=page, per_page=per_page, params=filters)["logs"]
            for log in logs:
                key = log.get("id") if isinstance(log, Mapping) else None
                if key is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                yield log
            if len(logs) < per_page:
                return
            page += 1


class EventsService:
    """Writes audit events through Trailkeep's native API (``POST /v1/events``).

    Get it as ``client.events``. Writing needs the ``audit:write`` role. An event written here
    is readable through ``client.audit`` at once: ``actor`` becomes the log's ``user``,
    ``target`` its ``resource``, ``context.ip_address``/``user_agent`` its own fields.
    """

    def __init__(self, client: Client) -> None:
        """Bind the service to ``client`` (``Client`` does this itself)."""
        self._client = client

    def create(
        self,
        action: str,
        *,
        id: str | None = None,
        occurred_at: datetime | str | None = None,
        actor: Mapping[str, Any] | None = None,
        target: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        changes: Mapping[str, Mapping[str, Any]] | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        category: str | None = None,
        outcome: str | None = None,
    ) -> dict[str, Any]:
        """Record one audit event.

        Args:
            action: What happened, such as ``"entity.created"``.
            id: Your own id for the event (letters, digits and ``- _ . : ~ @``); makes a
                retry idempotent. The server assigns a ULID when omitted.
            occurred_at: When it happened (default: now); a ``datetime`` (naive is UTC) or an
                RFC 3339 string. At most 5 minutes in the future.
            actor: Who did it: ``{"type", "id", "email", "name"}``.
            target: What it was done to: ``{"type", "id", "name"}``.
            context: Where and how: ``{"ip_address", "user_agent", ...}``.
            changes: Field changes: ``{field: {"from": old, "to": new}}``.
            description: A human-readable summary.
            metadata: Free-form application data.
            category: The kind of action (``create``, ``update``, ...); derived from
                ``action`` when omitted.
            outcome: ``success`` (the default), ``failure`` or ``unknown``.

        Returns:
            The stored event, with the server's fields (``id``, ``seq``, ``tenant``,
            ``received_at``, ...).

        Raises:
            ValidationError: The event is invalid (HTTP 400); ``errors`` names the fields.
            AuthError: Bad credentials, or a key without ``audit:write`` (HTTP 403).
            ApiError: Any other failure, such as 409 (the id is taken by another event).
        """
        event: dict[str, Any] = {"action": action}
        if id is not None:
            event["id"] = id
        if occurred_at is not None:
            event["occurred_at"] = (
                _rfc3339(occurred_at)
                if isinstance(occurred_at, datetime)
                else _instant_text(occurred_at)
            )
        for name, value in (
            ("actor", actor),
            ("target", target),
            ("context", context),
            ("changes", changes),
            ("metadata", metadata),
        ):
            if value is not None:
                event[name] = (
                    {k: dict(v) for k, v in value.items()} if name == "changes" else dict(value)
                )
        for name, text in (
            ("description", description),
            ("category", category),
            ("outcome", outcome),
        ):
            if text is not None:
                event[name] = text
        answer = self._client._request("POST", _EVENTS_PATH, body=event)
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise ApiError(
                "the ingest answer has no stored event", status=201, error="invalid_response"
            )
        return data[0]
