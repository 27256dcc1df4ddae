"""The client's full-sync calls against a mock transport: the exact requests they put on the wire
(count_documents, count_identities, delete_items_older_than, delete_identities_older_than,
set_source_status), what they refuse before sending, and how they report Coveo's answers.

Specs: SPEC-PUSH deleteDocumentsOlderThan / deleteIdentityOlderThan / setSourceStatus, SPEC-SRC
getSource, SPEC-SEC getEntities (reference §2, §4, §6.2).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from coveo_push_api import (
    CoveoClient,
    CoveoError,
    CoveoHTTPError,
    CoveoNotFoundError,
    CoveoPreconditionError,
    CoveoServerError,
    RetryPolicy,
)
from coveo_push_api.models import SourceStatus
from tests import worked_example as wx
from tests.unit.wire import Wire, json_response

ORG = wx.ORGANIZATION_ID
PUSH = f"/push/v1/organizations/{ORG}"
REST = f"/rest/organizations/{ORG}"
NOW_MS = 1_700_000_000_000  # an orderingId in the past
ENABLED_STATES = "states=UNKNOWN&states=UP_TO_DATE&states=NOT_UPDATED&states=OUT_OF_DATE&states=IN_ERROR"


def make_client(wire: Wire, sleeps: list[float] | None = None) -> CoveoClient:
    return CoveoClient(
        ORG,
        "secret-key",
        base_url="http://coveo.test",
        http_client=wire.client(),
        retry=RetryPolicy(max_attempts=3),
        sleep=(sleeps if sleeps is not None else []).append,
        rng=random.Random(3),
    )


def coveo_error(status: int, code: str, message: str = "no") -> httpx.Response:
    return json_response(status, {"errorCode": code, "message": message})


def source_answer(information: Any) -> httpx.Response:
    return json_response(200, {"id": wx.SOURCE_ID, "sourceType": "PUSH", "information": information})


def assert_plain_request(request: httpx.Request, method: str) -> None:
    """No body, and the headers every Coveo call carries (the key only in Authorization)."""
    assert request.method == method
    assert request.content == b""
    assert request.headers["Authorization"] == "Bearer secret-key"
    assert request.headers["Accept"] == "application/json"


# --- count_documents -----------------------------------------------------------------------------


class TestCountDocuments:
    def test_one_get_of_the_source_and_its_number_of_documents(self) -> None:
        wire = Wire(script=[source_answer({"numberOfDocuments": 1234, "sourceStatus": {"type": "IDLE"}})])
        assert make_client(wire).count_documents(wx.SOURCE_ID) == 1234
        assert wire.lines() == [f"GET {REST}/sources/{wx.SOURCE_ID}"]
        assert wire.requests[0].url.host == "coveo.test"
        assert_plain_request(wire.requests[0], "GET")

    def test_the_source_id_is_one_encoded_path_segment(self) -> None:
        wire = Wire(script=[source_answer({"numberOfDocuments": 0})])
        assert make_client(wire).count_documents("my source/1") == 0
        assert wire.lines() == [f"GET {REST}/sources/my%20source%2F1"]

    @pytest.mark.parametrize(
        "payload",
        [
            {"id": wx.SOURCE_ID, "information": {"sourceStatus": {"type": "IDLE"}}},  # no numberOfDocuments
            {"id": wx.SOURCE_ID},  # no information
            {"information": {"numberOfDocuments": None}},
            {"information": {"numberOfDocuments": "12"}},
            {"information": {"numberOfDocuments": 12.0}},
            {"information": {"numberOfDocuments": True}},
            {"information": {"numberOfDocuments": -1}},
            {"information": [12]},
            [{"information": {"numberOfDocuments": 12}}],
        ],
    )
    def test_an_answer_without_a_count_raises(self, payload: Any) -> None:
        wire = Wire(script=[json_response(200, payload)])
        with pytest.raises(CoveoError, match="numberOfDocuments"):
            make_client(wire).count_documents(wx.SOURCE_ID)
        assert len(wire.requests) == 1  # a bad answer is not retried

    def test_an_answer_that_is_not_json_raises(self) -> None:
        wire = Wire(script=[httpx.Response(200, text="<html>maintenance</html>")])
        with pytest.raises(CoveoHTTPError, match="not JSON"):
            make_client(wire).count_documents(wx.SOURCE_ID)

    def test_an_unknown_source_raises_with_coveos_code(self) -> None:
        wire = Wire(script=[coveo_error(404, "SOURCE_NOT_FOUND", "Source 'x' does not exist.")])
        with pytest.raises(CoveoNotFoundError) as info:
            make_client(wire).count_documents("x")
        assert (info.value.status, info.value.error_code) == (404, "SOURCE_NOT_FOUND")
        assert len(wire.requests) == 1

    def test_a_server_error_is_retried(self) -> None:
        sleeps: list[float] = []
        wire = Wire(script=[coveo_error(503, "SERVICE_UNAVAILABLE"), source_answer({"numberOfDocuments": 7})])
        assert make_client(wire, sleeps).count_documents(wx.SOURCE_ID) == 7
        assert wire.lines() == [f"GET {REST}/sources/{wx.SOURCE_ID}"] * 2
        assert len(sleeps) == 1


# --- count_identities ----------------------------------------------------------------------------


class TestCountIdentities:
    def test_one_page_of_one_entity_in_every_state_but_disabled(self) -> None:
        """`states` is an array in SPEC-SEC getEntities: one `states=` per value (OpenAPI's default
        form), never DISABLED; `totalEntries` is the count."""
        wire = Wire(script=[json_response(200, {"items": [{}], "totalEntries": 42, "totalPages": 42})])
        assert make_client(wire).count_identities(wx.PROVIDER_ID) == 42
        assert wire.lines() == [
            f"GET {REST}/securitycache/entities/{wx.PROVIDER_ID}?{ENABLED_STATES}&page=0&perPage=1"
        ]
        request = wire.requests[0]
        assert request.url.params.get_list("states") == [
            "UNKNOWN",
            "UP_TO_DATE",
            "NOT_UPDATED",
            "OUT_OF_DATE",
            "IN_ERROR",
        ]
        assert_plain_request(request, "GET")

    def test_the_provider_id_is_one_encoded_path_segment(self) -> None:
        wire = Wire(script=[json_response(200, {"items": [], "totalEntries": 0, "totalPages": 0})])
        assert make_client(wire).count_identities("My Provider/1") == 0
        assert (
            wire.requests[0]
            .url.raw_path.decode()
            .startswith(f"{REST}/securitycache/entities/My%20Provider%2F1?states=")
        )

    @pytest.mark.parametrize(
        "payload",
        [
            {"items": [], "totalPages": 0},  # no totalEntries
            {"totalEntries": "3"},
            {"totalEntries": 3.0},
            {"totalEntries": False},
            {"totalEntries": -1},
            [{"totalEntries": 3}],
        ],
    )
    def test_an_answer_without_a_count_raises(self, payload: Any) -> None:
        wire = Wire(script=[json_response(200, payload)])
        with pytest.raises(CoveoError, match="totalEntries"):
            make_client(wire).count_identities(wx.PROVIDER_ID)

    def test_an_unknown_provider_raises_with_coveos_code(self) -> None:
        wire = Wire(script=[coveo_error(404, "SECURITY_PROVIDER_NOT_FOUND")])
        with pytest.raises(CoveoNotFoundError) as info:
            make_client(wire).count_identities("nope")
        assert info.value.error_code == "SECURITY_PROVIDER_NOT_FOUND"

    def test_a_throttled_count_waits_as_told_and_asks_again_the_same(self) -> None:
        sleeps: list[float] = []
        throttled = json_response(429, {"errorCode": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "2"})
        wire = Wire(script=[throttled, json_response(200, {"totalEntries": 5})])
        assert make_client(wire, sleeps).count_identities(wx.PROVIDER_ID) == 5
        first, second = wire.lines()
        assert first == second and "states=UNKNOWN" in first
        assert sleeps == [2.0]


# --- delete older than ---------------------------------------------------------------------------

ITEMS = f"{PUSH}/sources/{wx.SOURCE_ID}/documents/olderthan"
IDENTITIES = f"{PUSH}/providers/{wx.PROVIDER_ID}/permissions/olderthan"

OlderThan = Callable[..., None]


def items_older_than(client: CoveoClient) -> OlderThan:
    return lambda *args, **kwargs: client.delete_items_older_than(wx.SOURCE_ID, *args, **kwargs)


def identities_older_than(client: CoveoClient) -> OlderThan:
    return lambda *args, **kwargs: client.delete_identities_older_than(wx.PROVIDER_ID, *args, **kwargs)


ROUTES = pytest.mark.parametrize(
    ("call", "path"),
    [(items_older_than, ITEMS), (identities_older_than, IDENTITIES)],
    ids=["items", "identities"],
)


@ROUTES
def test_older_than_without_queue_delay_leaves_coveos_default(
    call: Callable[[CoveoClient], OlderThan], path: str
) -> None:
    wire = Wire()
    call(make_client(wire))(NOW_MS)
    assert wire.lines() == [f"DELETE {path}?orderingId={NOW_MS}"]  # Coveo's default: 15 minutes
    assert_plain_request(wire.requests[0], "DELETE")


@ROUTES
@pytest.mark.parametrize("minutes", [0, 1, 15, 90])
def test_older_than_with_a_queue_delay_in_minutes(
    call: Callable[[CoveoClient], OlderThan], path: str, minutes: int
) -> None:
    wire = Wire()
    call(make_client(wire))(NOW_MS, queue_delay_minutes=minutes)
    assert wire.lines() == [f"DELETE {path}?orderingId={NOW_MS}&queueDelay={minutes}"]
    assert wire.requests[0].content == b""


@ROUTES
@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((NOW_MS,), {"queue_delay_minutes": -1}, "queue_delay_minutes must be >= 0"),
        ((-1,), {}, "orderingId must be >= 0"),
        ((int((time.time() + 3600) * 1000),), {}, "in the future"),  # reference §4 pitfall
    ],
)
def test_older_than_refuses_before_sending(
    call: Callable[[CoveoClient], OlderThan], path: str, args: tuple[int], kwargs: dict[str, int], match: str
) -> None:
    wire = Wire()
    with pytest.raises(ValueError, match=match):
        call(make_client(wire))(*args, **kwargs)
    assert wire.requests == []


@ROUTES
def test_an_ordering_id_just_now_is_sent(call: Callable[[CoveoClient], OlderThan], path: str) -> None:
    wire = Wire()
    now = int(time.time() * 1000)
    call(make_client(wire))(now)
    assert wire.requests[0].url.params["orderingId"] == str(now)


@ROUTES
def test_older_than_refused_by_coveo_raises_with_its_code(
    call: Callable[[CoveoClient], OlderThan], path: str
) -> None:
    wire = Wire(script=[coveo_error(412, "INVALID_PARAMETER", "Parameter 'queueDelay' is invalid.")])
    with pytest.raises(CoveoPreconditionError) as info:
        call(make_client(wire))(NOW_MS, queue_delay_minutes=0)
    assert (info.value.status, info.value.error_code, info.value.method) == (
        412,
        "INVALID_PARAMETER",
        "DELETE",
    )
    assert info.value.path == path
    assert len(wire.requests) == 1  # a 412 is not retried


@ROUTES
def test_older_than_is_retried_the_same_after_a_server_error(
    call: Callable[[CoveoClient], OlderThan], path: str
) -> None:
    wire = Wire(script=[coveo_error(500, "INTERNAL_SERVER_ERROR"), httpx.Response(202)])
    call(make_client(wire))(NOW_MS, queue_delay_minutes=5)
    assert wire.lines() == [f"DELETE {path}?orderingId={NOW_MS}&queueDelay=5"] * 2


@ROUTES
def test_older_than_gives_up_after_the_policys_attempts(
    call: Callable[[CoveoClient], OlderThan], path: str
) -> None:
    wire = Wire(default=lambda request: coveo_error(503, "SERVICE_UNAVAILABLE"))
    with pytest.raises(CoveoServerError):
        call(make_client(wire))(NOW_MS)
    assert len(wire.requests) == 3


# --- set_source_status ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["REBUILD", "REFRESH", "INCREMENTAL", "IDLE", SourceStatus.REBUILD])
def test_source_status_is_one_post_with_the_status_type(status: str) -> None:
    wire = Wire(default=lambda request: httpx.Response(201))
    make_client(wire).set_source_status(wx.SOURCE_ID, status)
    assert wire.lines() == [
        f"POST {PUSH}/sources/{wx.SOURCE_ID}/status?statusType={SourceStatus(status).value}"
    ]
    assert_plain_request(wire.requests[0], "POST")


@pytest.mark.parametrize("status", ["PAUSE", "rebuild", ""])
def test_source_status_outside_the_spec_enum_is_refused_before_sending(status: str) -> None:
    wire = Wire(default=lambda request: httpx.Response(201))
    with pytest.raises(ValueError):
        make_client(wire).set_source_status(wx.SOURCE_ID, status)
    assert wire.requests == []


def test_source_status_refused_by_coveo_raises_with_its_code() -> None:
    wire = Wire(script=[coveo_error(412, "SOURCE_DOES_NOT_EXIST", "Source 'x' does not exist.")])
    with pytest.raises(CoveoPreconditionError) as info:
        make_client(wire).set_source_status("x", "IDLE")
    assert (info.value.error_code, info.value.message) == (
        "SOURCE_DOES_NOT_EXIST",
        "Source 'x' does not exist.",
    )


def test_source_status_is_retried_after_a_dropped_connection() -> None:
    wire = Wire(script=[httpx.ConnectError("reset"), httpx.Response(201)])
    make_client(wire).set_source_status(wx.SOURCE_ID, "IDLE")
    assert wire.lines() == [f"POST {PUSH}/sources/{wx.SOURCE_ID}/status?statusType=IDLE"] * 2
