"""Trailkeep's Python client.

Read audit logs the way Port's Python SDK does, and write audit events::

    from trailkeep import Client, PortAuthError

    client = Client("http://127.0.0.1:8080", client_id="tkk_...", client_secret="...")
    client.events.create("entity.created", actor={"email": "john.doe@example.com"})
    for log in client.audit.get_audit_logs().get("logs", []):
        print(f"{log['timestamp']}: {log['action']} by {log['user']}")

``PortClient`` is another name for :class:`Client`, and ``PortApiError``,
``PortAuthError`` and ``PortValidationError`` for the exceptions, so code written for Port's
SDK runs with only its import changed.
"""

from .client import DEFAULT_TIMEOUT, AuditService, Client, EventsService, __version__
from .errors import (
    ApiError,
    AuthError,
    PortApiError,
    PortAuthError,
    PortValidationError,
    ValidationError,
)

#: Port SDK name for :class:`Client`.
PortClient = Client

__all__ = [
    "Client",
    "PortClient",
    "AuditService",
    "EventsService",
    "ApiError",
    "AuthError",
    "ValidationError",
    "PortApiError",
    "PortAuthError",
    "PortValidationError",
    "DEFAULT_TIMEOUT",
    "__version__",
]
