"""Fixtures for the tests against a live Trailkeep server.

Set, before running ``python -m pytest -q``:

* ``TRAILKEEP_URL``: the server, such as ``http://127.0.0.1:8080``;
* ``TRAILKEEP_CLIENT_ID``, ``TRAILKEEP_CLIENT_SECRET``: an API key with the roles
  ``audit:read`` and ``audit:write``;
* ``TRAILKEEP_READONLY_CLIENT_ID``, ``TRAILKEEP_READONLY_CLIENT_SECRET``: a key of the same
  tenant with ``audit:read`` only (for the permission test).

A missing variable fails the tests that need it (it never skips them, and they are reported
as failed, not as errors): a run without a server must not look green. A few tests need no
server and pass regardless.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from trailkeep import Client

_HOW = (
    "the tests run against a live Trailkeep server: set TRAILKEEP_URL (e.g. "
    "http://127.0.0.1:8080), TRAILKEEP_CLIENT_ID and TRAILKEEP_CLIENT_SECRET (a key with "
    "audit:read and audit:write), and TRAILKEEP_READONLY_CLIENT_ID and "
    "TRAILKEEP_READONLY_CLIENT_SECRET (a key with audit:read only)"
)

_SERVER = ("TRAILKEEP_URL", "TRAILKEEP_CLIENT_ID", "TRAILKEEP_CLIENT_SECRET")
_READONLY = ("TRAILKEEP_READONLY_CLIENT_ID", "TRAILKEEP_READONLY_CLIENT_SECRET")
# Fixtures that need the server's variables; readonly_client needs _READONLY as well.
_LIVE_FIXTURES = {"settings", "make_client", "client", "readonly_client"}


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _missing(item: pytest.Item) -> list[str]:
    names = set(getattr(item, "fixturenames", ()))
    needed: list[str] = []
    if names & _LIVE_FIXTURES:
        needed += _SERVER
    if "readonly_client" in names:
        needed += _READONLY
    return [n for n in needed if not _env(n)]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Fail (not skip, not error) a live test whose settings are missing.

    The fixtures tolerate missing variables so that setup succeeds; the test then fails
    here, before its body runs, with a message saying what to set.
    """
    missing = _missing(item)
    if missing:
        pytest.fail(f"{', '.join(missing)} not set; {_HOW}", pytrace=False)


@dataclass(frozen=True)
class Settings:
    """Where the server is and the read-write key to use."""

    url: str
    client_id: str
    client_secret: str


def pytest_report_header(config: pytest.Config) -> str:
    """Show which server the run talks to."""
    url = _env("TRAILKEEP_URL")
    return f"trailkeep server: {url}" if url else "trailkeep server: TRAILKEEP_URL NOT SET"


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The server and the read-write key, from the environment."""
    return Settings(
        url=_env("TRAILKEEP_URL"),
        client_id=_env("TRAILKEEP_CLIENT_ID"),
        client_secret=_env("TRAILKEEP_CLIENT_SECRET"),
    )


def _placeholder() -> Client:
    # Only reached when a variable is missing; pytest_runtest_call fails the test first.
    return None  # type: ignore[return-value]


@pytest.fixture
def make_client(settings: Settings) -> Callable[..., Client]:
    """A factory of fresh clients for the server; keyword arguments override the key."""

    def make(**overrides: object) -> Client:
        if not (settings.url and settings.client_id and settings.client_secret):
            return _placeholder()
        options: dict[str, object] = {
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
            "timeout": 30.0,
        }
        options.update(overrides)
        return Client(settings.url, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    """A client with the read-write key."""
    return make_client()


@pytest.fixture
def readonly_client(settings: Settings) -> Client:
    """A client with the read-only key (audit:read only)."""
    client_id = _env("TRAILKEEP_READONLY_CLIENT_ID")
    client_secret = _env("TRAILKEEP_READONLY_CLIENT_SECRET")
    if not (settings.url and client_id and client_secret):
        return _placeholder()
    return Client(settings.url, client_id=client_id, client_secret=client_secret)


@pytest.fixture
def run_id() -> str:
    """A fresh suffix, so each test's actions, ids and users are its own."""
    return uuid.uuid4().hex[:12]
