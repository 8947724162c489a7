"""The client against a live Trailkeep server (see conftest.py for the settings).

Every test writes its own events, with actions, ids and users carrying a fresh ``run_id``,
and reads them back filtered by those, so tests neither see each other's data nor depend on
what the tenant already holds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from trailkeep import (
    ApiError,
    AuthError,
    Client,
    PortApiError,
    PortAuthError,
    PortClient,
    PortValidationError,
    ValidationError,
)
from trailkeep.client import _query

#: The keys of a Port audit record, exactly.
RECORD_KEYS = {
    "id",
    "timestamp",
    "action",
    "user",
    "resource",
    "details",
    "ip_address",
    "user_agent",
}

_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware datetime (any number of fraction digits)."""
    match = _TIMESTAMP.match(text)
    assert match, f"not an RFC 3339 timestamp: {text!r}"
    whole, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    offset = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(whole + offset).replace(microsecond=micros)


def rfc3339(moment: datetime) -> str:
    """A whole-second aware datetime as the server writes it."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> datetime:
    """Now, in UTC, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def assert_newest_first(records: list[dict[str, Any]]) -> None:
    """Timestamps never increase down the list."""
    times = [parse_timestamp(r["timestamp"]) for r in records]
    assert times == sorted(times, reverse=True), times


def assert_record_shape(record: dict[str, Any]) -> None:
    """A record has exactly the documented keys, and the documented nested ones."""
    assert set(record) == RECORD_KEYS, sorted(record)
    assert isinstance(record["id"], str) and record["id"]
    assert isinstance(record["action"], str) and record["action"]
    parse_timestamp(record["timestamp"])
    if record["user"] is not None:
        assert set(record["user"]) == {"email", "name"}, record["user"]
    if record["resource"] is not None:
        assert set(record["resource"]) == {"type", "identifier", "blueprint"}, record["resource"]
    assert record["details"] is None or isinstance(record["details"], dict)


def ids(records: list[dict[str, Any]]) -> list[str]:
    """The records' ids, in order."""
    return [r["id"] for r in records]


# -- 1. create, then list ----------------------------------------------------------------------


def test_created_events_are_listed_newest_first(
    client: Client, run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    action = f"py{run_id}.entity.created"
    email = f"john.doe+{run_id}@example.com"
    identifier = f"payment-service-{run_id}"
    base = utc_now() - timedelta(minutes=10)
    created = []
    for i in range(3):
        stored = client.events.create(
            action,
            occurred_at=base + timedelta(seconds=i),
            actor={"type": "user", "id": f"john-{run_id}", "email": email, "name": "John Doe"},
            target={"type": "entity", "id": identifier, "name": "Payment service"},
            context={"ip_address": "192.168.1.100", "user_agent": "Mozilla/5.0 (pytest)"},
            changes={"language": {"to": "Python"}},
            description=f"entity {i}",
            metadata={"blueprint": "service", "n": i},
        )
        assert stored["action"] == action
        assert isinstance(stored["id"], str) and stored["id"]
        assert parse_timestamp(stored["occurred_at"]) == base + timedelta(seconds=i)
        created.append(stored)

    logs = client.audit.get_audit_logs(params={"action": action})
    assert isinstance(logs, dict)
    assert isinstance(logs["logs"], list)
    records = logs["logs"]
    assert ids(records) == [e["id"] for e in reversed(created)]
    assert_newest_first(records)
    for i, record in zip(range(2, -1, -1), records):
        assert_record_shape(record)
        assert record["action"] == action
        assert record["timestamp"] == rfc3339(base + timedelta(seconds=i))
        assert record["user"] == {"email": email, "name": "John Doe"}
        assert record["resource"]["type"] == "entity"
        assert record["resource"]["identifier"] == identifier
        assert record["resource"]["blueprint"] == "service"  # from metadata.blueprint
        assert record["details"]["changes"] == {"language": {"to": "Python"}}
        assert record["details"]["n"] == i
        assert record["ip_address"] == "192.168.1.100"
        assert record["user_agent"] == "Mozilla/5.0 (pytest)"

    # The seed's own loop.
    for log in logs.get("logs", []):
        print(f"{log['timestamp']}: {log['action']} by {log['user']}")
    out = capsys.readouterr().out
    assert out.count(f": {action} by ") == 3
    assert email in out

    # The seed's first example: no arguments at all.
    everything = client.audit.get_audit_logs()
    assert isinstance(everything.get("logs"), list)
    assert everything["logs"], "the tenant has events, so the first page is not empty"
    assert_newest_first(everything["logs"])
    for record in everything["logs"]:
        assert_record_shape(record)


# -- 2. one log by id --------------------------------------------------------------------------


def test_get_audit_log_returns_the_record(client: Client, run_id: str) -> None:
    action = f"py{run_id}.entity.updated"
    event_id = f"py-{run_id}-one"
    stored = client.events.create(
        action,
        id=event_id,
        actor={"email": f"jane+{run_id}@example.com", "name": "Jane Roe"},
        target={"type": "entity", "id": f"billing-{run_id}"},
        changes={"tier": {"from": "bronze", "to": "gold"}},
    )
    assert stored["id"] == event_id

    record = client.audit.get_audit_log(event_id)
    assert_record_shape(record)
    assert record["id"] == event_id
    assert record["action"] == action
    assert record["user"]["email"] == f"jane+{run_id}@example.com"
    assert record["resource"]["identifier"] == f"billing-{run_id}"

    listed = client.audit.get_audit_logs(params={"action": action})["logs"]
    assert listed == [record]


def test_get_unknown_audit_log_raises_404(client: Client, run_id: str) -> None:
    with pytest.raises(ApiError) as info:
        client.audit.get_audit_log(f"py-{run_id}-missing")
    error = info.value
    assert type(error) is ApiError
    assert not isinstance(error, (AuthError, ValidationError))
    assert error.status == 404
    assert error.error == "not_found"
    assert error.message

    # Port-style code catches it too.
    with pytest.raises(PortApiError):
        client.audit.get_audit_log(f"py-{run_id}-missing")


# -- 3. filters --------------------------------------------------------------------------------


def test_filter_by_action(client: Client, run_id: str) -> None:
    created = f"py{run_id}.entity.created"
    deleted = f"py{run_id}.entity.deleted"
    made = [client.events.create(created) for _ in range(2)]
    gone = client.events.create(deleted)

    found = client.audit.get_audit_logs(params={"action": created})["logs"]
    assert sorted(ids(found)) == sorted(e["id"] for e in made)
    assert {r["action"] for r in found} == {created}

    found = client.audit.get_audit_logs(params={"action": deleted})["logs"]
    assert ids(found) == [gone["id"]]


def test_filter_by_user(client: Client, run_id: str) -> None:
    action = f"py{run_id}.user.login"
    alice = {"type": "user", "id": f"alice-{run_id}", "email": f"alice+{run_id}@example.com"}
    bob = {"type": "user", "id": f"bob-{run_id}", "email": f"bob+{run_id}@example.com"}
    alices = [client.events.create(action, actor=alice) for _ in range(2)]
    client.events.create(action, actor=bob)

    # By e-mail, as in the seed.
    found = client.audit.get_audit_logs(params={"user": alice["email"]})["logs"]
    assert sorted(ids(found)) == sorted(e["id"] for e in alices)
    assert {r["user"]["email"] for r in found} == {alice["email"]}

    # Combined with another filter.
    found = client.audit.get_audit_logs(params={"action": action, "user": bob["email"]})["logs"]
    assert len(found) == 1 and found[0]["user"]["email"] == bob["email"]

    # By user id.
    found = client.audit.get_audit_logs(params={"user": alice["id"]})["logs"]
    assert sorted(ids(found)) == sorted(e["id"] for e in alices)


def test_filter_by_resource(client: Client, run_id: str) -> None:
    action = f"py{run_id}.entity.updated"
    identifier = f"payment-service-{run_id}"
    wanted = client.events.create(action, target={"type": "entity", "id": identifier})
    client.events.create(action, target={"type": "entity", "id": f"other-{run_id}"})
    blueprint = client.events.create(action, target={"type": "blueprint", "id": identifier})

    found = client.audit.get_audit_logs(
        params={"resource_type": "entity", "resource_identifier": identifier}
    )["logs"]
    assert ids(found) == [wanted["id"]]
    assert found[0]["resource"]["type"] == "entity"
    assert found[0]["resource"]["identifier"] == identifier

    found = client.audit.get_audit_logs(
        params={"resource_type": "blueprint", "resource_identifier": identifier}
    )["logs"]
    assert ids(found) == [blueprint["id"]]

    found = client.audit.get_audit_logs(params={"action": action, "resource_type": "entity"})[
        "logs"
    ]
    assert len(found) == 2 and {r["resource"]["type"] for r in found} == {"entity"}


def test_filter_by_date_range(client: Client, run_id: str) -> None:
    action = f"py{run_id}.entity.created"
    now = utc_now()
    ten, five, one = (
        client.events.create(action, occurred_at=now - timedelta(days=d)) for d in (10, 5, 1)
    )

    # Exactly as the seed: naive local datetime.isoformat() strings (taken as UTC; the
    # events lie days from every bound, so the machine's time zone does not matter).
    end_date = datetime.now()
    start_date = end_date - timedelta(days=7)
    found = client.audit.get_audit_logs(
        params={
            "action": action,
            "start_date": start_date.isoformat(),
            "end_date": end_date.isoformat(),
        }
    )["logs"]
    assert ids(found) == [one["id"], five["id"]]

    found = client.audit.get_audit_logs(
        params={
            "action": action,
            "start_date": (end_date - timedelta(days=7)).isoformat(),
            "end_date": (end_date - timedelta(days=3)).isoformat(),
        }
    )["logs"]
    assert ids(found) == [five["id"]]

    # Only a start, as in the seed's compliance example.
    found = client.audit.get_audit_logs(
        params={"action": action, "start_date": (datetime.now() - timedelta(days=30)).isoformat()}
    )["logs"]
    assert ids(found) == [one["id"], five["id"], ten["id"]]

    # RFC 3339 strings with Z, aware datetimes and plain dates work too.
    found = client.audit.get_audit_logs(
        params={
            "action": action,
            "start_date": rfc3339(now - timedelta(days=12)),
            "end_date": rfc3339(now - timedelta(days=8)),
        }
    )["logs"]
    assert ids(found) == [ten["id"]]
    found = client.audit.get_audit_logs(
        params={"action": action, "start_date": now - timedelta(days=6), "end_date": now}
    )["logs"]
    assert ids(found) == [one["id"], five["id"]]
    found = client.audit.get_audit_logs(
        params={"action": action, "start_date": date.today() - timedelta(days=7)}
    )["logs"]
    assert ids(found) == [one["id"], five["id"]]


def test_page_and_per_page(client: Client, run_id: str) -> None:
    action = f"py{run_id}.action.executed"
    base = utc_now() - timedelta(minutes=5)
    made = [client.events.create(action, occurred_at=base + timedelta(seconds=i)) for i in range(5)]
    newest_first = [e["id"] for e in reversed(made)]
    params = {"action": action}

    pages = [
        ids(client.audit.get_audit_logs(page=p, per_page=2, params=params)["logs"])
        for p in (1, 2, 3, 4)
    ]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5], []]

    # page and per_page inside params, as well.
    same = client.audit.get_audit_logs(params={"action": action, "page": 2, "per_page": 2})
    assert ids(same["logs"]) == newest_first[2:4]

    # The default page holds them all.
    assert ids(client.audit.get_audit_logs(params=params)["logs"]) == newest_first


# -- 4. the iterator ---------------------------------------------------------------------------


def test_iterator_walks_every_page(
    client: Client, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    action = f"py{run_id}.entity.created"
    base = utc_now() - timedelta(minutes=5)
    made = [client.events.create(action, occurred_at=base + timedelta(seconds=i)) for i in range(7)]
    newest_first = [e["id"] for e in reversed(made)]

    calls: list[tuple[Any, ...]] = []
    fetch = client.audit.get_audit_logs

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append((args, kwargs))
        return fetch(*args, **kwargs)

    monkeypatch.setattr(client.audit, "get_audit_logs", counting)

    walked = list(client.audit.iter_audit_logs(params={"action": action}, per_page=3))
    assert ids(walked) == newest_first
    assert len(calls) == 3  # 3 + 3 + 1, the short page ends it
    for record in walked:
        assert_record_shape(record)

    calls.clear()
    walked = list(client.audit.iter_audit_logs(params={"action": action}, per_page=7))
    assert ids(walked) == newest_first
    assert len(calls) == 2  # a full page, then an empty one

    # Lazy: taking one record fetches one page.
    calls.clear()
    first = next(iter(client.audit.iter_audit_logs(params={"action": action}, per_page=3)))
    assert first["id"] == newest_first[0]
    assert len(calls) == 1


# -- 5. validation errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": 0},
        {"per_page": 1001},
        {"page": 0},
        {"colour": "red"},
        {"start_date": "last tuesday"},
    ],
    ids=["per_page=0", "per_page=1001", "page=0", "unknown-param", "bad-date"],
)
def test_invalid_filters_raise_validation_error(client: Client, params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        client.audit.get_audit_logs(params=params)
    error = info.value
    assert isinstance(error, PortValidationError)
    assert isinstance(error, ApiError)
    assert not isinstance(error, AuthError)
    assert error.status == 400
    assert error.error == "invalid_request"
    assert error.message


def test_invalid_arguments_raise_validation_error(client: Client) -> None:
    with pytest.raises(PortValidationError) as info:
        client.audit.get_audit_logs(page=1, per_page=0)
    assert info.value.status == 400

    with pytest.raises(ValidationError):
        list(client.audit.iter_audit_logs(per_page=0))


def test_invalid_event_raises_validation_error(client: Client, run_id: str) -> None:
    with pytest.raises(ValidationError) as info:
        client.events.create("   ")
    error = info.value
    assert error.status == 400
    assert error.error
    assert any(e.get("field") == "action" for e in error.errors), error.errors

    with pytest.raises(ValidationError) as info:
        client.events.create(f"py{run_id}.user.login", context={"ip_address": "not-an-ip"})
    assert any(e.get("field") == "context.ip_address" for e in info.value.errors)
    assert "context.ip_address" in str(info.value)


# -- 6. authentication and permissions ---------------------------------------------------------


def test_bad_credentials_raise_auth_error_at_first_use(
    make_client: Callable[..., Client], client: Client, run_id: str
) -> None:
    secret = f"wrong-secret-{run_id}"
    for bad in (
        make_client(client_id=f"tkk_nosuchkey{run_id}", client_secret=secret),
        make_client(client_id=client.client_id, client_secret=secret),
    ):
        assert bad.token_fetches == 0  # creating a client sends nothing
        with pytest.raises(AuthError) as info:
            bad.audit.get_audit_logs()
        error = info.value
        assert isinstance(error, PortAuthError)
        assert error.status == 401
        assert error.error == "unauthorized"
        assert secret not in str(error) and secret not in repr(error)
        assert secret not in repr(bad)
        assert bad.token_fetches == 0

        with pytest.raises(AuthError):
            bad.events.create(f"py{run_id}.user.login")


def test_read_only_key_cannot_write(readonly_client: Client, run_id: str) -> None:
    # It can read ...
    logs = readonly_client.audit.get_audit_logs(params={"action": f"py{run_id}.nothing"})
    assert logs["logs"] == []
    # ... but not write.
    with pytest.raises(AuthError) as info:
        readonly_client.events.create(f"py{run_id}.entity.created")
    error = info.value
    assert isinstance(error, PortAuthError)
    assert error.status == 403
    assert error.message
    assert readonly_client.token_fetches == 1  # a 403 is not retried with a new token


# -- 7. the token ------------------------------------------------------------------------------


def test_token_is_reused_and_refreshed_before_expiry(
    make_client: Callable[..., Client], run_id: str
) -> None:
    client = make_client()
    params = {"action": f"py{run_id}.nothing"}
    assert client.token_fetches == 0
    assert client.token_expires_in is None

    client.audit.get_audit_logs(params=params)
    assert client.token_fetches == 1
    expires_in = client.token_expires_in
    assert expires_in is not None and expires_in > 0

    client.audit.get_audit_logs(params=params)
    assert client.token_fetches == 1  # reused

    # Pretend the token expired: the next call fetches a new one and works.
    client._token_expires_at = time.monotonic() - 1
    assert client.audit.get_audit_logs(params=params)["logs"] == []
    assert client.token_fetches == 2
    expires_in = client.token_expires_in
    assert expires_in is not None and expires_in > 0


def test_refused_token_is_replaced_and_the_call_retried(
    make_client: Callable[..., Client], run_id: str
) -> None:
    client = make_client()
    action = f"py{run_id}.entity.created"
    client.audit.get_audit_logs(params={"action": action})
    assert client.token_fetches == 1

    # The server refuses the cached token (revoked, or signed with a rotated key): one 401,
    # a new token, and the call goes through, writes included.
    client._token = "not-a-valid-token"
    stored = client.events.create(action)
    assert client.token_fetches == 2
    assert client._token != "not-a-valid-token"
    assert ids(client.audit.get_audit_logs(params={"action": action})["logs"]) == [stored["id"]]


def test_client_hides_its_secrets(client: Client, settings: Any) -> None:
    client.audit.get_audit_logs(params={"action": "py.nothing.here"})
    token = client._token
    assert token
    for text in (repr(client), str(client)):
        assert settings.client_secret not in text
        assert token not in text


# -- without a server --------------------------------------------------------------------------


def test_unreachable_server_raises_api_error() -> None:
    client = Client("http://127.0.0.1:9", client_id="tkk_x", client_secret="s3cret", timeout=5)
    with pytest.raises(ApiError) as info:
        client.audit.get_audit_logs()
    error = info.value
    assert type(error) is ApiError
    assert error.status is None
    assert error.error in ("connection_error", "timeout")
    assert "s3cret" not in str(error)


def test_port_names_are_aliases() -> None:
    assert PortClient is Client
    assert PortApiError is ApiError
    assert PortAuthError is AuthError
    assert PortValidationError is ValidationError
    assert issubclass(AuthError, ApiError) and issubclass(ValidationError, ApiError)


def test_query_values_become_rfc3339() -> None:
    naive = datetime(2024, 1, 15, 10, 30)
    aware = datetime(2024, 1, 15, 12, 30, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    assert _query(
        {
            "start_date": naive.isoformat(),
            "end_date": naive,
            "from": aware,
            "to": "2024-01-15T10:30:00.123456",
            "since": "2024-01-15 10:30",
            "zoned": "2024-01-15T10:30:00+02:00",
            "day": date(2024, 1, 15),
            "page": 2,
            "user": "john.doe@example.com",
            "skipped": None,
        }
    ) == [
        ("start_date", "2024-01-15T10:30:00Z"),
        ("end_date", "2024-01-15T10:30:00Z"),
        ("from", "2024-01-15T10:30:00.250000Z"),
        ("to", "2024-01-15T10:30:00.123456Z"),
        ("since", "2024-01-15T10:30:00Z"),
        ("zoned", "2024-01-15T10:30:00+02:00"),
        ("day", "2024-01-15"),
        ("page", "2"),
        ("user", "john.doe@example.com"),
    ]
