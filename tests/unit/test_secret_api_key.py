"""The connector's key source over Secrets Manager (issue 15): Powertools' real cache in front of a
stub of boto3's Secrets Manager client that counts the GetSecretValue calls it answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.utilities.parameters import base as powertools_parameters

from connector.adapters.secrets import SECRET_MAX_AGE_S, SecretApiKey, api_key_from_secret
from connector.entry.runtime import Runtime
from coveo_push_api import ApiKeySource, CoveoClient
from coveo_push_api.models import ItemBody
from tests import worked_example as wx
from tests.unit.test_settings_flow import REQUIRED
from tests.unit.wire import Wire, json_response

SECRET = "coveo/api-key"
OLD, NEW = "xx-old-key-51c0e2d7", "xx-new-key-a8d34f19"


class StubSecretsManager:
    """What `get_secret_value` of boto3's client answers: the secret's current value, or an error."""

    def __init__(self, value: str | bytes | None) -> None:
        self.value = value
        self.calls = 0

    def get_secret_value(self, *, SecretId: str) -> dict[str, Any]:
        self.calls += 1
        if self.value is None:
            raise LookupError(f"Secrets Manager can't find the specified secret {SecretId}")
        if isinstance(self.value, bytes):
            return {"SecretBinary": self.value}
        return {"SecretString": self.value}


class Clock:
    """Powertools' cache ages by `datetime.now()`: this one moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, 0)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> FrozenDatetime:  # type: ignore[override]
            return clock.now  # type: ignore[return-value]

    monkeypatch.setattr(powertools_parameters, "datetime", FrozenDatetime)
    return clock


def test_it_is_a_key_source_for_the_client() -> None:
    assert isinstance(SecretApiKey(SECRET, StubSecretsManager(OLD)), ApiKeySource)


def test_current_is_cached_for_five_minutes_then_read_again(clock: Clock) -> None:
    store = StubSecretsManager(OLD)
    source = SecretApiKey(SECRET, store)
    assert source.current() == OLD
    store.value = NEW  # the secret is rotated
    clock.advance(SECRET_MAX_AGE_S - 1)
    assert source.current() == OLD  # still the cached copy
    assert store.calls == 1
    clock.advance(2)  # past the cache age
    assert source.current() == NEW
    assert store.calls == 2
    assert source.current() == NEW and store.calls == 2  # and cached again
    assert SECRET_MAX_AGE_S == 300


def test_refresh_reads_the_secret_now_and_refills_the_cache(clock: Clock) -> None:
    store = StubSecretsManager(OLD)
    source = SecretApiKey(SECRET, store)
    assert source.current() == OLD
    store.value = NEW
    assert source.refresh() == NEW
    assert store.calls == 2
    assert source.current() == NEW  # from the cache the refresh filled
    assert store.calls == 2


def test_the_secret_may_hold_json_or_binary() -> None:
    assert SecretApiKey(SECRET, StubSecretsManager(f'{{"apiKey": "{OLD}"}}')).current() == OLD
    assert SecretApiKey(SECRET, StubSecretsManager(OLD.encode())).current() == OLD
    assert api_key_from_secret(SECRET, StubSecretsManager(f' {{"apiKey": "{NEW}", "x": 1}}')) == NEW


@pytest.mark.parametrize("value", ["", '{"other": "value"}', '{"apiKey": ""}', "{not json " + OLD])
def test_an_empty_secret_is_a_clear_error_without_the_value(value: str) -> None:
    with pytest.raises(ValueError, match=f"secret '{SECRET}' holds") as raised:
        SecretApiKey(SECRET, StubSecretsManager(value)).current()
    assert OLD not in str(raised.value)


def test_a_missing_secret_raises() -> None:
    with pytest.raises(Exception, match="can't find the specified secret"):
        SecretApiKey(SECRET, StubSecretsManager(None)).current()


def test_the_repr_names_the_secret_not_the_key() -> None:
    source = SecretApiKey(SECRET, StubSecretsManager(OLD))
    source.current()
    assert SECRET in repr(source) and OLD not in repr(source)


def test_the_client_recovers_from_a_401_through_the_secret(clock: Clock) -> None:
    """A warm client whose cached key was rotated out: Coveo's 401 makes it read the secret again."""
    store = StubSecretsManager(OLD)
    source = SecretApiKey(SECRET, store)
    source.current()  # the cold start read
    store.value = NEW

    def accept_new_only(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == f"Bearer {NEW}":
            return httpx.Response(202)
        return json_response(401, {"errorCode": "INVALID_TOKEN", "message": "Token is invalid."})

    wire = Wire(default=accept_new_only)
    client = CoveoClient(wx.ORGANIZATION_ID, source, base_url="http://coveo.test", http_client=wire.client())
    client.push_item(wx.SOURCE_ID, wx.DOCUMENT_ID, ItemBody.from_wire(wx.item_wire()))
    client.push_item(wx.SOURCE_ID, wx.DOCUMENT_ID, ItemBody.from_wire(wx.item_wire()))
    assert [r.headers["Authorization"] for r in wire.requests] == [f"Bearer {k}" for k in (OLD, NEW, NEW)]
    assert store.calls == 2  # the cold start and the one refresh


# Every variable the connector requires (kept in step with the settings by that module's tests).
ENV = {**REQUIRED, "COVEO_API_KEY_SECRET": SECRET}


def clients(store: StubSecretsManager) -> Any:
    def client(service: str, **options: Any) -> Any:
        assert service == "secretsmanager"
        return store

    return client


def test_the_runtime_gives_the_client_the_secret_as_its_key_source() -> None:
    store = StubSecretsManager(OLD)
    runtime = Runtime.from_env(ENV, client=clients(store))
    assert store.calls == 1  # read at cold start
    assert runtime.coveo._auth == {"Authorization": f"Bearer {OLD}"}
    assert OLD not in repr(runtime.coveo)


@pytest.mark.parametrize(
    ("value", "message"), [(None, "can't find the specified secret"), ("", "holds no API key")]
)
def test_a_missing_or_empty_secret_fails_the_cold_start(value: str | None, message: str) -> None:
    with pytest.raises(Exception, match=message):
        Runtime.from_env(ENV, client=clients(StubSecretsManager(value)))
