"""The API key from a key source: read for every request, refreshed once on a 401 (issue 15)."""

from __future__ import annotations

import httpx
import pytest

from coveo_push_api import (
    ApiKeySource,
    ApiKeyUnavailableError,
    CoveoAuthError,
    CoveoClient,
    RetryPolicy,
    StaticApiKey,
)
from coveo_push_api.models import ItemBody
from tests import worked_example as wx
from tests.unit.wire import Wire, json_response

OLD, NEW = "old-key-1f0c7d", "new-key-9a3e52"


class RotatingKey:
    """A key source: `current()` hands out `keys[0]` until a refresh moves on to the next key."""

    def __init__(self, *keys: str, fail_refresh: Exception | None = None) -> None:
        self.keys = list(keys)
        self.reads = 0
        self.refreshes = 0
        self.fail_refresh = fail_refresh

    def current(self) -> str:
        self.reads += 1
        return self.keys[0]

    def refresh(self) -> str:
        self.refreshes += 1
        if self.fail_refresh is not None:
            raise self.fail_refresh
        if len(self.keys) > 1:
            self.keys.pop(0)
        return self.keys[0]


def invalid_token(request: httpx.Request | None = None) -> httpx.Response:
    return json_response(401, {"errorCode": "INVALID_TOKEN", "message": "Token is invalid."})


def forbidden() -> httpx.Response:
    return json_response(403, {"errorCode": "FORBIDDEN", "message": "Missing privilege."})


class NoSleep:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def make_client(
    wire: Wire, api_key: str | ApiKeySource, sleep: NoSleep | None = None, **kwargs: object
) -> CoveoClient:
    return CoveoClient(
        wx.ORGANIZATION_ID,
        api_key,
        base_url="http://coveo.test",
        http_client=wire.client(),
        sleep=sleep or NoSleep(),
        **kwargs,  # type: ignore[arg-type]
    )


def push(client: CoveoClient) -> None:
    client.push_item(wx.SOURCE_ID, wx.DOCUMENT_ID, ItemBody.from_wire(wx.item_wire()))


def keys_sent(wire: Wire) -> list[str | None]:
    return [r.headers.get("Authorization") for r in wire.requests]


def test_the_protocol_is_what_a_source_implements() -> None:
    assert isinstance(RotatingKey(OLD), ApiKeySource)
    assert isinstance(StaticApiKey(OLD), ApiKeySource)


def test_a_401_then_a_refreshed_key_pushes_the_change_once() -> None:
    wire, sleep, source = Wire([invalid_token()]), NoSleep(), RotatingKey(OLD, NEW)
    client = make_client(wire, source, sleep)
    push(client)
    assert keys_sent(wire) == [f"Bearer {OLD}", f"Bearer {NEW}"]
    # The same request again: same route, same body; counted, but neither a retry nor a wait.
    assert wire.lines()[0] == wire.lines()[1] and wire.requests[0].content == wire.requests[1].content
    assert client.requests_sent == 2
    assert source.refreshes == 1
    assert sleep.sleeps == []


def test_the_resend_uses_no_retry_attempt() -> None:
    """With one attempt allowed (no retries at all), a refreshed key still gets its resend."""
    wire = Wire([invalid_token()])
    client = make_client(wire, RotatingKey(OLD, NEW), retry=RetryPolicy(max_attempts=1))
    push(client)
    assert keys_sent(wire) == [f"Bearer {OLD}", f"Bearer {NEW}"]


def test_later_requests_use_the_refreshed_key() -> None:
    wire, source = Wire([invalid_token()]), RotatingKey(OLD, NEW)
    client = make_client(wire, source)
    push(client)
    push(client)
    assert keys_sent(wire) == [f"Bearer {OLD}", f"Bearer {NEW}", f"Bearer {NEW}"]
    assert source.refreshes == 1


def test_a_401_when_the_refresh_gives_the_same_key_is_raised_without_a_loop() -> None:
    # Every answer is a 401: a client that looped would show more than one request.
    wire, source = Wire(default=invalid_token), RotatingKey(OLD)
    client = make_client(wire, source)
    with pytest.raises(CoveoAuthError) as raised:
        push(client)
    assert raised.value.status == 401 and raised.value.error_code == "INVALID_TOKEN"
    assert len(wire.requests) == 1 and client.requests_sent == 1
    assert source.refreshes == 1


def test_a_refreshed_key_refused_too_is_raised_after_one_resend() -> None:
    wire, source = Wire(default=invalid_token), RotatingKey(OLD, NEW, "never-reached")
    client = make_client(wire, source)
    with pytest.raises(CoveoAuthError):
        push(client)
    assert keys_sent(wire) == [f"Bearer {OLD}", f"Bearer {NEW}"]
    assert source.refreshes == 1  # once per request


def test_each_request_may_refresh_once() -> None:
    """The limit is per request: a later request refused again refreshes again."""
    wire = Wire([invalid_token(), json_response(202, {}), invalid_token()])
    source = RotatingKey(OLD, NEW, "newest-key")
    client = make_client(wire, source)
    push(client)
    push(client)
    assert keys_sent(wire) == [f"Bearer {OLD}", f"Bearer {NEW}", f"Bearer {NEW}", "Bearer newest-key"]
    assert source.refreshes == 2


def test_a_403_does_not_refresh() -> None:
    wire, source = Wire([forbidden()]), RotatingKey(OLD, NEW)
    client = make_client(wire, source)
    with pytest.raises(CoveoAuthError) as raised:
        push(client)
    assert raised.value.status == 403
    assert source.refreshes == 0
    assert keys_sent(wire) == [f"Bearer {OLD}"]


def test_the_key_is_read_for_every_request() -> None:
    """A source whose key changed (its cache aged, say) is heard on the next request, no 401 needed."""
    wire, source = Wire(), RotatingKey(OLD)
    client = make_client(wire, source)
    client.delete_item(wx.SOURCE_ID, "file://a")
    source.keys = [NEW]
    client.delete_item(wx.SOURCE_ID, "file://b")
    assert keys_sent(wire) == [f"Bearer {OLD}", f"Bearer {NEW}"]
    assert source.refreshes == 0


def test_a_retry_after_a_5xx_reads_the_key_again() -> None:
    wire, source = Wire(), RotatingKey(OLD)

    def unavailable_then_rotate(request: httpx.Request) -> httpx.Response:
        source.keys = [NEW]
        return json_response(503, {"errorCode": "SERVICE_UNAVAILABLE", "message": "later"})

    wire.script = [unavailable_then_rotate]
    push(make_client(wire, source))
    assert keys_sent(wire) == [f"Bearer {OLD}", f"Bearer {NEW}"]


def test_a_string_key_never_refreshes() -> None:
    """The string form behaves as before: one 401, raised at once, the same header every time."""
    wire = Wire([json_response(202, {}), invalid_token()], default=invalid_token)
    client = make_client(wire, "secret-key")
    push(client)
    with pytest.raises(CoveoAuthError):
        push(client)
    assert keys_sent(wire) == ["Bearer secret-key", "Bearer secret-key"]
    assert client.requests_sent == 2


def test_a_string_key_is_static_and_empty_is_refused() -> None:
    source = StaticApiKey("secret-key")
    assert (source.current(), source.refresh()) == ("secret-key", "secret-key")
    assert "secret-key" not in repr(source)
    with pytest.raises(ValueError, match="api_key is required"):
        CoveoClient(wx.ORGANIZATION_ID, "", base_url="http://coveo.test")


def test_a_source_that_cannot_give_a_key_sends_nothing_and_is_retryable() -> None:
    class Down:
        def current(self) -> str:
            raise OSError("secret store unreachable")

        def refresh(self) -> str:
            raise AssertionError("no 401 was answered")

    wire = Wire()
    client = make_client(wire, Down())
    with pytest.raises(ApiKeyUnavailableError, match="OSError: secret store unreachable") as raised:
        push(client)
    assert raised.value.retryable
    assert wire.requests == []


def test_an_empty_key_from_a_source_is_refused() -> None:
    wire = Wire()
    with pytest.raises(ApiKeyUnavailableError, match="empty key"):
        push(make_client(wire, RotatingKey("")))
    assert wire.requests == []


def test_a_refresh_that_fails_raises_the_401() -> None:
    """The caller acts on Coveo's answer (a 401: keep the change, retry later), not on the store's."""
    wire = Wire(default=invalid_token)
    source = RotatingKey(OLD, fail_refresh=OSError("secret store unreachable"))
    with pytest.raises(CoveoAuthError) as raised:
        push(make_client(wire, source))
    assert raised.value.status == 401
    assert isinstance(raised.value.__cause__, ApiKeyUnavailableError)
    assert len(wire.requests) == 1


def test_uploads_to_a_file_container_carry_no_key() -> None:
    """Presigned uploads go out without the Authorization header, whatever the source holds."""
    container = {
        "uploadUri": "http://upload.test/bucket/key?X-Amz-Signature=abc",
        "fileId": "file-1",
        "requiredHeaders": {"Content-Type": "application/octet-stream"},
    }
    wire, source = Wire([json_response(201, container), httpx.Response(200)]), RotatingKey(OLD)
    item = ItemBody.from_wire(wx.item_wire()).model_copy(update={"document_id": wx.DOCUMENT_ID})
    make_client(wire, source).push_items(wx.SOURCE_ID, [item])
    assert keys_sent(wire) == [f"Bearer {OLD}", None, f"Bearer {OLD}"]


def test_no_key_in_the_client_repr_or_the_error() -> None:
    wire, source = Wire(default=invalid_token), RotatingKey(OLD, NEW)
    client = make_client(wire, source)
    with pytest.raises(CoveoAuthError) as raised:
        push(client)
    for text in (repr(client), str(raised.value), repr(raised.value)):
        assert OLD not in text and NEW not in text


def test_a_server_error_after_the_resend_is_retried_as_usual() -> None:
    wire = Wire([invalid_token(), json_response(503, {"message": "later"})])
    sleep, source = NoSleep(), RotatingKey(OLD, NEW)
    client = make_client(wire, source, sleep)
    push(client)
    assert keys_sent(wire) == [f"Bearer {OLD}", f"Bearer {NEW}", f"Bearer {NEW}"]
    assert len(sleep.sleeps) == 1  # the 503's backoff only
