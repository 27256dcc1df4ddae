"""What our client sends follows Coveo's routes and bodies: the condensed description always, the
published specs as well when they are beside the checkout (`SPEC_SOURCES`).

Every request is checked whole (`check_request`): a documented method on a documented path, its
query parameters (names, required ones, each value against its type, format, minimum and enum), and
its body against the route's definition (closed where our tightenings close it), or no body."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from coveo_push_api import CoveoClient
from coveo_push_api.models import BaseIdentityBody, BatchDelete, IdentityBody, ItemBody, MappedIdentityBody
from coveo_push_api.models.responses import LogResult, LogsRequest, LogTask
from tests import worked_example as wx
from tests.unit.wire import Wire, json_response

from .coveo_spec import (
    SPEC_SOURCES,
    check_request,
    read_field,
    subset_operation,
    validate_push_body,
)

pytestmark = [pytest.mark.contract]

UPLOAD_HOST = "upload.test"
NOW_MS = 1_700_000_000_000  # an orderingId in the past


def answer(request: httpx.Request) -> httpx.Response:
    if request.url.host == UPLOAD_HOST:
        return httpx.Response(200)
    path = request.url.path
    if path.endswith("/files"):
        return json_response(
            201,
            {
                "uploadUri": f"http://{UPLOAD_HOST}/container?X-Amz-Signature=s",
                "fileId": "file-1",
                "requiredHeaders": {
                    "x-amz-server-side-encryption": "AES256",
                    "Content-Type": "application/octet-stream",
                },
            },
        )
    if path.startswith("/logs/"):
        return json_response(200, {"documentLogEntries": [], "hasNextPage": False})
    if path.endswith("/indexes"):
        return json_response(200, [{"id": "index-1"}])
    if path.endswith("/permissions/effective") or path.endswith("/members/children"):
        return json_response(200, {"items": [], "totalEntries": 0, "totalPages": 1})
    if path.startswith("/rest/"):
        return json_response(200, {"state": "UP_TO_DATE"})
    return httpx.Response(201 if path.endswith("/status") else 202)


def client_on(wire: Wire) -> CoveoClient:
    return CoveoClient(wx.ORGANIZATION_ID, "k", base_url="http://coveo.test", http_client=wire.client())


@pytest.mark.parametrize("source", SPEC_SOURCES)
def test_worked_example_single_calls_follow_the_spec(source: str) -> None:
    wire = Wire(default=answer)
    client = client_on(wire)
    client.push_identity(wx.PROVIDER_ID, IdentityBody.model_validate(wx.group_wire()), ordering_id=1)
    for member in wx.MEMBERS:
        client.push_alias(
            wx.PROVIDER_ID, MappedIdentityBody.model_validate(wx.alias_wire(member)), ordering_id=1
        )
    client.push_item(wx.SOURCE_ID, wx.DOCUMENT_ID, ItemBody.from_wire(wx.item_wire()), ordering_id=1)
    client.delete_identity(
        wx.PROVIDER_ID,
        BaseIdentityBody.model_validate({"identity": {"name": "Old", "type": "GROUP"}}),
        ordering_id=1,
    )
    client.delete_item(wx.SOURCE_ID, "file://folder/old.txt", delete_children=True, ordering_id=1)
    client.set_source_status(wx.SOURCE_ID, "IDLE")
    definitions = [check_request(r, source) for r in wire.requests]
    assert definitions == [
        "IdentityBody",
        "MappedIdentityBody",
        "MappedIdentityBody",
        "MappedIdentityBody",
        "DocumentBody",
        "BaseIdentityBody",
        None,
        None,
    ]


@pytest.mark.parametrize("source", SPEC_SOURCES)
def test_worked_example_batches_follow_the_spec(source: str) -> None:
    wire = Wire(default=answer)
    client = client_on(wire)
    client.push_identities(
        wx.PROVIDER_ID,
        members=[IdentityBody.model_validate(wx.group_wire())],
        mappings=[MappedIdentityBody.model_validate(wx.alias_wire(m)) for m in wx.MEMBERS],
    )
    client.push_items(
        wx.SOURCE_ID,
        [ItemBody.from_wire({**wx.item_wire(), "documentId": wx.DOCUMENT_ID})],
        [BatchDelete(document_id="file://folder/old.txt", delete_children=True)],
    )
    coveo_calls = [r for r in wire.requests if r.url.host != UPLOAD_HOST]
    uploads = [json.loads(r.content) for r in wire.requests if r.url.host == UPLOAD_HOST]
    for request in coveo_calls:
        assert check_request(request, source) is None  # the content travels in the container
    validate_push_body("BatchIdentityBody", uploads[0], source)
    validate_push_body("BatchDocumentBody", uploads[1], source)
    assert [
        f"{r.method} {r.url.path.rsplit('/', 2)[-2]}/{r.url.path.rsplit('/', 1)[-1]}" for r in coveo_calls
    ] == [
        f"POST {wx.ORGANIZATION_ID}/files",
        "PUT permissions/batch",
        f"POST {wx.ORGANIZATION_ID}/files",
        "PUT documents/batch",
    ]


# --- full sync: the calls beyond pushes (issue 16) -----------------------------------------------


@pytest.mark.parametrize("source", SPEC_SOURCES)
def test_full_sync_push_calls_follow_the_spec(source: str) -> None:
    """Delete older than (items and identities, with and without queueDelay) and every source
    status: documented routes, orderingId/queueDelay/statusType values of the documented types,
    no body (SPEC-PUSH deleteDocumentsOlderThan, deleteIdentityOlderThan, setSourceStatus)."""
    wire = Wire(default=answer)
    client = client_on(wire)
    client.set_source_status(wx.SOURCE_ID, "REBUILD")
    client.delete_items_older_than(wx.SOURCE_ID, NOW_MS)
    client.delete_items_older_than(wx.SOURCE_ID, NOW_MS, queue_delay_minutes=0)
    client.delete_identities_older_than(wx.PROVIDER_ID, NOW_MS)
    client.delete_identities_older_than(wx.PROVIDER_ID, NOW_MS, queue_delay_minutes=15)
    for status in ("REFRESH", "INCREMENTAL", "IDLE"):
        client.set_source_status(wx.SOURCE_ID, status)
    for request in wire.requests:
        assert check_request(request, source) is None  # none of them has a body
    assert [subset_operation(r.method, r.url.path)["path"].rsplit("/", 2)[-2:] for r in wire.requests] == [
        ["{sourceId}", "status"],
        ["documents", "olderthan"],
        ["documents", "olderthan"],
        ["permissions", "olderthan"],
        ["permissions", "olderthan"],
        *[["{sourceId}", "status"]] * 3,
    ]


@pytest.mark.parametrize("source", SPEC_SOURCES)
def test_count_documents_reads_the_source_the_spec_describes(source: str) -> None:
    """GET …/sources/{sourceId} is getSource; the count the client reads,
    information.numberOfDocuments, is an int64 of its SourceModel (deprecated there, and still the
    only count of a source's documents it has)."""
    wire = Wire(default=lambda request: json_response(200, {"information": {"numberOfDocuments": 3}}))
    assert client_on(wire).count_documents(wx.SOURCE_ID) == 3
    [request] = wire.requests
    assert check_request(request, source) is None
    field = read_field("GET", request.url.path, "information.numberOfDocuments", source)
    assert field == {"type": "integer", "format": "int64"}


@pytest.mark.parametrize("source", SPEC_SOURCES)
def test_count_identities_sends_the_states_array_as_the_spec_serializes_it(source: str) -> None:
    """GET …/securitycache/entities/{providerId} is getEntities: `states` is an array of entity
    states (repeated, OpenAPI's default form), page and perPage are int32; the count the client
    reads, totalEntries, is an int64 of PageModelSIDModel."""
    wire = Wire(default=lambda request: json_response(200, {"items": [], "totalEntries": 9, "totalPages": 9}))
    assert client_on(wire).count_identities(wx.PROVIDER_ID) == 9
    [request] = wire.requests
    assert check_request(request, source) is None
    [states] = [p for p in subset_operation("GET", request.url.path)["query"] if p["name"] == "states"]
    assert sorted(request.url.params.get_list("states")) == sorted(
        s for s in states["items"]["enum"] if s != "DISABLED"
    )
    assert read_field("GET", request.url.path, "totalEntries", source) == {
        "type": "integer",
        "format": "int64",
    }


# --- what the validator asks: logs, the security cache, item permissions --------------------------


@pytest.mark.parametrize("source", SPEC_SOURCES)
def test_the_validators_questions_follow_the_spec(source: str) -> None:
    """The two Logs API queries the validator sends (a closed body: a misspelt filter would return
    unfiltered logs), a security cache entity and its members, and an item's permissions. The item
    permission routes are in none of the published specs we hold: only the subset checks them."""
    wire = Wire(default=answer)
    client = client_on(wire)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    for request in (
        LogsRequest(sources_ids=[wx.SOURCE_ID], results=[LogResult.ERROR, LogResult.REJECTED]),
        LogsRequest(sources_ids=[wx.SOURCE_ID], tasks=[LogTask.INDEXING], results=[LogResult.COMPLETED]),
    ):
        list(client.iter_logs(request, start=end - timedelta(hours=1), end=end))
    client.get_logs(
        LogsRequest(),
        start=end - timedelta(hours=1),
        end=end,
        document_id=wx.DOCUMENT_ID,
        matching="EXACT",  # type: ignore[arg-type]
    )
    client.get_security_cache_entity(wx.PROVIDER_ID, "AlphaTeam", "GROUP")
    list(client.iter_security_cache_members(wx.PROVIDER_ID, "AlphaTeam", "GROUP"))
    [index] = client.list_indexes()
    client.get_item_permissions(index, wx.DOCUMENT_ID)
    list(client.iter_effective_permissions(index, wx.DOCUMENT_ID))
    definitions = [check_request(r, source) for r in wire.requests]
    assert definitions == [
        "GetLogsOrFacetsRequestBodyModel",
        "GetLogsOrFacetsRequestBodyModel",
        "GetLogsOrFacetsRequestBodyModel",
        "SecurityCacheMemberModel",
        "SecurityCacheMemberModel",
        None,
        None,
        None,
    ]
    in_no_published_spec = [subset_operation(r.method, r.url.path)["spec"] is None for r in wire.requests]
    assert in_no_published_spec == [False] * 5 + [True] * 3


# --- the checks refuse what they must --------------------------------------------------------------

DOCUMENTS = f"http://coveo.test/push/v1/organizations/{wx.ORGANIZATION_ID}/sources/{wx.SOURCE_ID}/documents"
MAPPINGS = f"http://coveo.test/push/v1/organizations/{wx.ORGANIZATION_ID}/providers/{wx.PROVIDER_ID}/mappings"


def request(method: str, url: str, body: object | None = None) -> httpx.Request:
    content = json.dumps(body).encode() if body is not None else b""
    return httpx.Request(method, url, content=content)


@pytest.mark.parametrize("source", SPEC_SOURCES)
@pytest.mark.parametrize(
    ("sent", "message"),
    [
        pytest.param(
            request("POST", f"{DOCUMENTS}?documentId=x", {"data": "x"}),
            "is not a route of",
            id="wrong-method",
        ),
        pytest.param(
            request("PUT", f"{DOCUMENTS}?documentId=x&ordering=1", {"data": "x"}),
            "ordering: not a documented query parameter",
            id="unknown-parameter",
        ),
        pytest.param(
            request("PUT", f"{DOCUMENTS}?orderingId=1", {"data": "x"}),
            "documentId: required and missing",
            id="missing-parameter",
        ),
        pytest.param(
            request("PUT", f"{DOCUMENTS}?documentId=x&compressionType=zlib", {"data": "x"}),
            "compressionType='zlib': not one of",
            id="parameter-value",
        ),
        pytest.param(
            request("PUT", MAPPINGS, {**wx.alias_wire("alice"), "aliases": []}),
            "'aliases' was unexpected",
            id="unknown-body-field",
        ),
        pytest.param(
            request("DELETE", f"{DOCUMENTS}?documentId=x", {"documentId": "x"}),
            "takes no body",
            id="unexpected-body",
        ),
    ],
)
def test_a_request_off_the_spec_is_refused(sent: httpx.Request, message: str, source: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_request(sent, source)
