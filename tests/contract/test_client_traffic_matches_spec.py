"""The worked example, sent by our client, uses the documented routes and bodies that validate
against Coveo's published Push spec."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from coveo_push_api import CoveoClient
from coveo_push_api.models import BaseIdentityBody, BatchDelete, IdentityBody, ItemBody, MappedIdentityBody
from tests import worked_example as wx
from tests.unit.wire import Wire, json_response

from .coveo_spec import (
    SECURITY_CACHE_SPEC_FILE,
    SOURCE_SPEC_FILE,
    find_operation,
    load_openapi3_spec,
    load_push_spec,
    query_errors,
    requires_platform_specs,
    requires_spec,
    response_schema,
    schema_at,
    validate_push_body,
)

pytestmark = [requires_spec, pytest.mark.contract]

UPLOAD_HOST = "upload.test"


def answer(request: httpx.Request) -> httpx.Response:
    if request.url.host == UPLOAD_HOST:
        return httpx.Response(200)
    if request.url.path.endswith("/files"):
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
    return httpx.Response(201 if request.url.path.endswith("/status") else 202)


def spec_operation(method: str, path: str) -> dict[str, Any]:
    """The Push spec's operation whose path template matches this concrete path."""
    return find_operation(load_push_spec(), method, path, prefix="/push/v1")


def check_against_spec(request: httpx.Request) -> str | None:
    """Assert route, query names and body against the spec; return the body definition used."""
    operation = spec_operation(request.method, request.url.path)
    parameters = operation.get("parameters", [])
    documented = {p["name"] for p in parameters if p.get("in") == "query"}
    assert set(request.url.params) <= documented, f"undocumented query parameters on {request.url.path}"
    for parameter in parameters:
        if parameter.get("in") == "query" and parameter.get("required"):
            assert parameter["name"] in request.url.params
    # ... and each value against its parameter's type, format, minimum and enum
    assert query_errors(operation, request.url.params) == [], request.url
    body_params = [p for p in parameters if p.get("in") == "body"]
    if not body_params:
        assert request.content == b"", f"{request.method} {request.url.path} takes no body"
        return None
    definition = body_params[0]["schema"]["$ref"].rsplit("/", 1)[-1]
    validate_push_body(definition, json.loads(request.content))
    return str(definition)


def test_worked_example_single_calls_follow_the_spec() -> None:
    wire = Wire(default=answer)
    client = CoveoClient(wx.ORGANIZATION_ID, "k", base_url="http://coveo.test", http_client=wire.client())
    client.push_identity(wx.PROVIDER_ID, IdentityBody.model_validate(wx.group_wire()))
    for member in wx.MEMBERS:
        client.push_alias(wx.PROVIDER_ID, MappedIdentityBody.model_validate(wx.alias_wire(member)))
    client.push_item(wx.SOURCE_ID, wx.DOCUMENT_ID, ItemBody.from_wire(wx.item_wire()), ordering_id=1)
    client.delete_identity(
        wx.PROVIDER_ID, BaseIdentityBody.model_validate({"identity": {"name": "Old", "type": "GROUP"}})
    )
    client.delete_item(wx.SOURCE_ID, "file://folder/old.txt", delete_children=True)
    client.set_source_status(wx.SOURCE_ID, "IDLE")
    definitions = [check_against_spec(r) for r in wire.requests]
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


def test_worked_example_batches_follow_the_spec() -> None:
    wire = Wire(default=answer)
    client = CoveoClient(wx.ORGANIZATION_ID, "k", base_url="http://coveo.test", http_client=wire.client())
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
        check_against_spec(request)
    validate_push_body("BatchIdentityBody", uploads[0])
    validate_push_body("BatchDocumentBody", uploads[1])
    assert [
        f"{r.method} {r.url.path.rsplit('/', 2)[-2]}/{r.url.path.rsplit('/', 1)[-1]}" for r in coveo_calls
    ] == [
        f"POST {wx.ORGANIZATION_ID}/files",
        "PUT permissions/batch",
        f"POST {wx.ORGANIZATION_ID}/files",
        "PUT documents/batch",
    ]


# --- full sync: the calls beyond pushes (issue 16) -----------------------------------------------

NOW_MS = 1_700_000_000_000  # an orderingId in the past


def test_full_sync_push_calls_follow_the_spec() -> None:
    """Delete older than (items and identities, with and without queueDelay) and every source
    status: documented routes, orderingId/queueDelay/statusType values of the documented types,
    no body (SPEC-PUSH deleteDocumentsOlderThan, deleteIdentityOlderThan, setSourceStatus)."""
    wire = Wire(default=answer)
    client = CoveoClient(wx.ORGANIZATION_ID, "k", base_url="http://coveo.test", http_client=wire.client())
    client.set_source_status(wx.SOURCE_ID, "REBUILD")
    client.delete_items_older_than(wx.SOURCE_ID, NOW_MS)
    client.delete_items_older_than(wx.SOURCE_ID, NOW_MS, queue_delay_minutes=0)
    client.delete_identities_older_than(wx.PROVIDER_ID, NOW_MS)
    client.delete_identities_older_than(wx.PROVIDER_ID, NOW_MS, queue_delay_minutes=15)
    for status in ("REFRESH", "INCREMENTAL", "IDLE"):
        client.set_source_status(wx.SOURCE_ID, status)
    for request in wire.requests:
        assert check_against_spec(request) is None  # none of them has a body
    assert [spec_operation(r.method, r.url.path)["externalDocs"]["url"] for r in wire.requests] == [
        "https://docs.coveo.com/en/35/index-content/manage-the-push-source#update-the-status-of-a-push-source",
        "https://docs.coveo.com/en/131/",
        "https://docs.coveo.com/en/131/",
        "https://docs.coveo.com/en/33/",
        "https://docs.coveo.com/en/33/",
        *[
            "https://docs.coveo.com/en/35/index-content/manage-the-push-source#update-the-status-of-a-push-source"
        ]
        * 3,
    ]


def platform_operation(spec_file: str, request: httpx.Request) -> dict[str, Any]:
    operation = find_operation(load_openapi3_spec(spec_file), request.method, request.url.path)
    assert query_errors(operation, request.url.params) == [], request.url
    assert request.content == b"", f"{request.method} {request.url.path} takes no body"
    return operation


@requires_platform_specs
def test_count_documents_reads_the_source_the_source_spec_describes() -> None:
    """GET …/sources/{sourceId} is getSource; the count the client reads,
    information.numberOfDocuments, is an integer of its SourceModel (deprecated there, and still
    the only count of a source's documents it has)."""
    wire = Wire(default=lambda request: json_response(200, {"information": {"numberOfDocuments": 3}}))
    client = CoveoClient(wx.ORGANIZATION_ID, "k", base_url="http://coveo.test", http_client=wire.client())
    assert client.count_documents(wx.SOURCE_ID) == 3
    [request] = wire.requests
    operation = platform_operation(SOURCE_SPEC_FILE, request)
    assert operation["operationId"] == "getSource"
    spec = load_openapi3_spec(SOURCE_SPEC_FILE)
    count = schema_at(spec, response_schema(operation), "information.numberOfDocuments")
    assert (count["type"], count["format"]) == ("integer", "int64")


@requires_platform_specs
def test_count_identities_sends_the_states_array_as_the_security_cache_spec_serializes_it() -> None:
    """GET …/securitycache/entities/{providerId} is getEntities: `states` is an array of entity
    states (repeated, OpenAPI's default form), page and perPage are int32; the count the client
    reads, totalEntries, is an integer of PageModelSIDModel."""
    wire = Wire(default=lambda request: json_response(200, {"items": [], "totalEntries": 9, "totalPages": 9}))
    client = CoveoClient(wx.ORGANIZATION_ID, "k", base_url="http://coveo.test", http_client=wire.client())
    assert client.count_identities(wx.PROVIDER_ID) == 9
    [request] = wire.requests
    operation = platform_operation(SECURITY_CACHE_SPEC_FILE, request)
    assert operation["operationId"] == "getEntities"
    states = next(p for p in operation["parameters"] if p["name"] == "states")["schema"]["items"]["enum"]
    assert sorted(request.url.params.get_list("states")) == sorted(s for s in states if s != "DISABLED")
    spec = load_openapi3_spec(SECURITY_CACHE_SPEC_FILE)
    total = schema_at(spec, response_schema(operation), "totalEntries")
    assert (total["type"], total["format"]) == ("integer", "int64")
