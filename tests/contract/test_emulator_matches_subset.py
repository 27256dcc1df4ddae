"""The emulator serves the routes the condensed description has, no others, and reads no query
parameter the description does not document for the route; the client's traffic, which the other
contract tests hold to the description, is accepted by the emulator as Coveo would accept it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.datastructures import QueryParams

from coveo_emulator.app import API_ROUTES
from coveo_emulator.config import EmulatorConfig
from coveo_emulator.push_routes import UPLOAD
from coveo_emulator.server import EmulatorServer
from coveo_push_api import CoveoClient
from coveo_push_api.models import BaseIdentityBody, BatchDelete, IdentityBody, ItemBody, MappedIdentityBody
from coveo_push_api.models.responses import LogResult, LogsRequest, LogTask
from tests import worked_example as wx

from .coveo_spec import check_request, load_subset, subset_operation

pytestmark = [pytest.mark.contract]


def _shape(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template)


def test_the_emulator_serves_exactly_the_routes_of_the_subset() -> None:
    served = {(method, _shape(template)) for method, template, _ in API_ROUTES if template != UPLOAD}
    described = {(op["method"], _shape(op["path"])) for op in load_subset()["operations"]}
    assert served - described == set(), "the emulator serves routes the subset does not describe"
    assert described - served == set(), "the subset describes routes the emulator does not serve"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig()) as server:
        yield server


def test_the_client_traffic_is_accepted_and_every_parameter_the_emulator_reads_is_documented(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []  # query parameter names the emulator reads while it handles one request
    original_get, original_getlist = QueryParams.get, QueryParams.getlist

    def get(self: QueryParams, key: Any, default: Any = None) -> Any:
        read.append(key)
        return original_get(self, key, default)

    def getlist(self: QueryParams, key: Any) -> list[Any]:
        read.append(key)
        return original_getlist(self, key)

    monkeypatch.setattr(QueryParams, "get", get)
    monkeypatch.setattr(QueryParams, "getlist", getlist)

    seen: list[tuple[httpx.Request, int, list[str]]] = []

    def record(response: httpx.Response) -> None:  # the client is sequential: the reads are its own
        response.read()
        seen.append((response.request, response.status_code, list(read)))
        read.clear()

    http = httpx.Client(event_hooks={"response": [record]}, timeout=30)
    cfg = emulator.emulator.config
    client = CoveoClient(cfg.organization_id, cfg.api_key, base_url=emulator.base_url, http_client=http)
    try:
        client.push_identity(wx.PROVIDER_ID, IdentityBody.model_validate(wx.group_wire()))
        for member in wx.MEMBERS:
            client.push_alias(wx.PROVIDER_ID, MappedIdentityBody.model_validate(wx.alias_wire(member)))
        client.push_item(wx.SOURCE_ID, wx.DOCUMENT_ID, ItemBody.from_wire(wx.item_wire()), ordering_id=1)
        client.push_identities(
            wx.PROVIDER_ID, members=[IdentityBody.model_validate(wx.group_wire())], ordering_id=2
        )
        client.push_items(
            wx.SOURCE_ID,
            [ItemBody.from_wire({**wx.item_wire(), "documentId": "file://folder/b.txt"})],
            [BatchDelete(document_id="file://folder/old.txt", delete_children=True)],
            ordering_id=2,
        )
        client.delete_identity(
            wx.PROVIDER_ID,
            BaseIdentityBody.model_validate({"identity": {"name": "Old", "type": "GROUP"}}),
            ordering_id=3,
        )
        client.delete_item(wx.SOURCE_ID, "file://folder/c.txt", delete_children=True, ordering_id=3)
        client.set_source_status(wx.SOURCE_ID, "REBUILD")
        client.delete_items_older_than(wx.SOURCE_ID, 1, queue_delay_minutes=0)
        client.delete_identities_older_than(wx.PROVIDER_ID, 1, queue_delay_minutes=0)
        client.set_source_status(wx.SOURCE_ID, "IDLE")
        end = datetime.now(UTC)
        for logs in (
            LogsRequest(sources_ids=[wx.SOURCE_ID], results=[LogResult.ERROR, LogResult.REJECTED]),
            LogsRequest(sources_ids=[wx.SOURCE_ID], tasks=[LogTask.INDEXING], results=[LogResult.COMPLETED]),
        ):
            list(client.iter_logs(logs, start=end - timedelta(hours=1), end=end))
        client.get_security_cache_entity(wx.PROVIDER_ID, "AlphaTeam", "GROUP")
        list(client.iter_security_cache_members(wx.PROVIDER_ID, "AlphaTeam", "GROUP"))
        for index in client.list_indexes():
            client.get_item_permissions(index, wx.DOCUMENT_ID)
            list(client.iter_effective_permissions(index, wx.DOCUMENT_ID))
        client.count_documents(wx.SOURCE_ID)
        client.count_identities(wx.PROVIDER_ID)
    finally:
        http.close()

    routes_called = set()
    for request, status, names in seen:
        assert status < 300, f"{request.method} {request.url}: {status}"
        if request.url.path.startswith("/s3/"):  # the file container's upload: S3, not Coveo
            continue
        check_request(request)
        operation = subset_operation(request.method, request.url.path)
        documented = {p["name"] for p in operation["query"]}
        assert set(names) <= documented, f"{operation['path']}: the emulator reads {set(names) - documented}"
        routes_called.add((operation["method"], operation["path"]))
    used_by_client = {
        (op["method"], op["path"]) for op in load_subset()["operations"] if op["usedBy"] == "client"
    }
    assert routes_called == used_by_client
    reads = {
        name
        for request, _, names in seen
        if request.url.path.endswith("/documents/olderthan")
        for name in names
    }
    assert {"orderingId", "queueDelay"} <= reads, "the emulator's reads were not recorded"
