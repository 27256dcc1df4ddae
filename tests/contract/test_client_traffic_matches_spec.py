"""The worked example, sent by our client, uses the documented routes and bodies that validate
against Coveo's published Push spec."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from coveo_push_api import CoveoClient
from coveo_push_api.models import BaseIdentityBody, BatchDelete, IdentityBody, ItemBody, MappedIdentityBody
from tests import worked_example as wx
from tests.unit.wire import Wire, json_response

from .coveo_spec import load_push_spec, requires_spec, validate_push_body

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
    """The spec's operation whose path template matches this concrete path."""
    spec = load_push_spec()
    relative = path.removeprefix("/push/v1")
    for template, operations in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, relative) and method.lower() in operations:
            return operations[method.lower()]  # type: ignore[no-any-return]
    raise AssertionError(f"{method} {path} is not a route of Coveo's Push spec")


def check_against_spec(request: httpx.Request) -> str | None:
    """Assert route, query names and body against the spec; return the body definition used."""
    operation = spec_operation(request.method, request.url.path)
    parameters = operation.get("parameters", [])
    documented = {p["name"] for p in parameters if p.get("in") == "query"}
    assert set(request.url.params) <= documented, f"undocumented query parameters on {request.url.path}"
    for parameter in parameters:
        if parameter.get("in") == "query" and parameter.get("required"):
            assert parameter["name"] in request.url.params
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
