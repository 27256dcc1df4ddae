"""Retry behaviour: what is retried, how long the client waits, and that the deadline holds."""

from __future__ import annotations

import random

import httpx
import pytest

from coveo_push_api import (
    CoveoAuthError,
    CoveoBadRequestError,
    CoveoClient,
    CoveoPreconditionError,
    CoveoServerError,
    CoveoThrottledError,
    CoveoTransportError,
    Deadline,
    DeadlineExceededError,
    RetryPolicy,
)
from coveo_push_api.models import ItemBody
from coveo_push_api.retry import parse_retry_after
from tests import worked_example as wx
from tests.unit.wire import Wire, json_response


class FakeClock:
    """Sleeping advances the clock: retry timing is asserted without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_for(wire: Wire, clock: FakeClock, policy: RetryPolicy | None = None) -> CoveoClient:
    return CoveoClient(
        wx.ORGANIZATION_ID,
        "k",
        base_url="http://coveo.test",
        http_client=wire.client(),
        retry=policy or RetryPolicy(),
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(7),
    )


def push(client: CoveoClient, deadline: Deadline) -> None:
    client.push_item(wx.SOURCE_ID, wx.DOCUMENT_ID, ItemBody.from_wire(wx.item_wire()), deadline=deadline)


def throttled(retry_after: str | None = "3") -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return json_response(429, {"errorCode": "TOO_MANY_REQUESTS", "message": "Slow down"}, headers)


def test_429_waits_exactly_retry_after_then_succeeds() -> None:
    clock, wire = FakeClock(), Wire(script=[throttled("3"), httpx.Response(202)])
    push(client_for(wire, clock), Deadline.in_seconds(60, clock))
    assert len(wire.requests) == 2
    assert clock.sleeps == [3.0]
    assert wire.requests[0].content == wire.requests[1].content  # the same request, resent


def test_503_then_202_backs_off_with_jitter_within_the_ceiling() -> None:
    clock = FakeClock()
    wire = Wire(script=[json_response(503, {"message": "unavailable"}), httpx.Response(202)])
    push(client_for(wire, clock, RetryPolicy(base_delay_s=0.5)), Deadline.in_seconds(60, clock))
    assert len(wire.requests) == 2
    assert 0 <= clock.sleeps[0] <= 0.5


@pytest.mark.parametrize("status", [500, 502, 504])
def test_other_5xx_are_retried(status: int) -> None:
    clock, wire = FakeClock(), Wire(script=[httpx.Response(status), httpx.Response(202)])
    push(client_for(wire, clock), Deadline.in_seconds(60, clock))
    assert len(wire.requests) == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("dropped")],
)
def test_timeouts_and_dropped_connections_are_retried(failure: Exception) -> None:
    clock, wire = FakeClock(), Wire(script=[failure, httpx.Response(202)])
    push(client_for(wire, clock), Deadline.in_seconds(60, clock))
    assert len(wire.requests) == 2


def test_post_files_is_retried_too() -> None:
    clock = FakeClock()
    container = {"uploadUri": "http://up.test/x", "fileId": "f", "requiredHeaders": {}}
    wire = Wire(script=[throttled("1"), json_response(201, container)])
    assert (
        client_for(wire, clock).create_file_container(deadline=Deadline.in_seconds(60, clock)).file_id == "f"
    )
    assert [r.method for r in wire.requests] == ["POST", "POST"]


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "INVALID_JSON", CoveoBadRequestError),
        (401, "INVALID_TOKEN", CoveoAuthError),
        (403, "ACCESS_DENIED", CoveoAuthError),
        (412, "SOURCE_DOES_NOT_EXIST", CoveoPreconditionError),
    ],
)
def test_other_4xx_are_not_retried_and_raise_typed_errors(
    status: int, code: str, error: type[Exception]
) -> None:
    clock = FakeClock()
    wire = Wire(script=[json_response(status, {"errorCode": code, "message": "Nope."})])
    with pytest.raises(error) as info:
        push(client_for(wire, clock), Deadline.in_seconds(60, clock))
    assert len(wire.requests) == 1
    assert clock.sleeps == []
    raised = info.value
    assert (raised.status, raised.error_code, raised.message) == (status, code, "Nope.")  # type: ignore[attr-defined]
    assert f"HTTP {status} {code}: Nope." in str(raised)
    assert "Bearer" not in str(raised)


def test_retry_after_past_the_deadline_gives_up_without_sleeping() -> None:
    clock, wire = FakeClock(), Wire(script=[throttled("30")])
    with pytest.raises(DeadlineExceededError) as info:
        push(client_for(wire, clock), Deadline.in_seconds(10, clock))
    assert clock.sleeps == []
    assert len(wire.requests) == 1
    assert isinstance(info.value.last_error, CoveoThrottledError)
    assert info.value.last_error.retry_after == 30.0
    assert info.value.retryable


def test_persistent_503_stops_at_the_deadline() -> None:
    clock = FakeClock()
    wire = Wire(default=lambda r: httpx.Response(503))
    policy = RetryPolicy(max_attempts=1000, base_delay_s=1, max_delay_s=4)
    with pytest.raises(DeadlineExceededError):
        push(client_for(wire, clock, policy), Deadline.in_seconds(30, clock))
    assert clock.now <= 30
    assert sum(clock.sleeps) <= 30
    assert len(wire.requests) >= 5


def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    clock = FakeClock()
    wire = Wire(default=lambda r: httpx.Response(502))
    with pytest.raises(CoveoServerError) as info:
        push(client_for(wire, clock, RetryPolicy(max_attempts=3)), Deadline.in_seconds(600, clock))
    assert len(wire.requests) == 3
    assert info.value.status == 502
    assert info.value.retryable


def test_transport_error_keeps_the_route_but_not_the_key() -> None:
    clock = FakeClock()
    wire = Wire(default=lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")))
    with pytest.raises(CoveoTransportError) as info:
        push(client_for(wire, clock, RetryPolicy(max_attempts=2)), Deadline.in_seconds(60, clock))
    assert "PUT /push/v1/organizations/" in str(info.value)
    assert "Bearer" not in str(info.value)


def test_per_request_timeout_never_exceeds_the_time_left() -> None:
    clock, wire = FakeClock(), Wire()
    push(client_for(wire, clock), Deadline.in_seconds(2.5, clock))
    timeouts = wire.requests[0].extensions["timeout"]
    assert all(value <= 2.5 for value in timeouts.values())


def test_without_a_deadline_the_default_budget_bounds_the_call() -> None:
    clock = FakeClock()
    wire = Wire(default=lambda r: throttled("50"))
    client = client_for(wire, clock, RetryPolicy(default_budget_s=120, max_attempts=100))
    with pytest.raises(DeadlineExceededError):
        client.push_item(wx.SOURCE_ID, wx.DOCUMENT_ID, ItemBody.from_wire(wx.item_wire()))
    assert sum(clock.sleeps) <= 120


def test_full_jitter_stays_within_the_exponential_ceiling() -> None:
    policy, rng = RetryPolicy(base_delay_s=0.5, max_delay_s=8), random.Random(1)
    for attempt in range(10):
        ceiling = min(8, 0.5 * 2**attempt)
        samples = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling / 2  # jitter spreads over the whole range


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("", None),
        ("soon", None),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 40.0),
    ],
)
def test_retry_after_parsing(header: str, seconds: float | None) -> None:
    assert parse_retry_after(header, now=lambda: 60.0) == seconds
