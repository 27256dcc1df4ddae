"""The client against a mock transport: the exact requests it puts on the wire for every route."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import httpx
import pytest

from coveo_push_api import CoveoClient, Endpoints, PushLimits, Region
from coveo_push_api.models import (
    BaseIdentityBody,
    BatchDelete,
    IdentityBody,
    ItemBody,
    LogsRequest,
    MappedIdentityBody,
)
from tests import worked_example as wx
from tests.unit.wire import Wire, json_response

ORG = wx.ORGANIZATION_ID
PUSH = f"/push/v1/organizations/{ORG}"
CONTAINER = {
    "uploadUri": "http://upload.test/bucket/key?X-Amz-Signature=abc",
    "fileId": "file-1",
    "requiredHeaders": {"x-amz-server-side-encryption": "AES256", "Content-Type": "application/octet-stream"},
}


def make_client(wire: Wire, **kwargs: object) -> CoveoClient:
    return CoveoClient(ORG, "secret-key", base_url="http://coveo.test", http_client=wire.client(), **kwargs)  # type: ignore[arg-type]


def container_then(*rest: httpx.Response) -> list[httpx.Response]:
    return [json_response(201, CONTAINER), httpx.Response(200), *rest]


class TestAddressing:
    @pytest.mark.parametrize(
        ("region", "push", "platform"),
        [
            (Region.US, "https://api.cloud.coveo.com/push/v1", "https://platform.cloud.coveo.com/rest"),
            ("ca", "https://api-ca.cloud.coveo.com/push/v1", "https://platform-ca.cloud.coveo.com/rest"),
            ("eu", "https://api-eu.cloud.coveo.com/push/v1", "https://platform-eu.cloud.coveo.com/rest"),
            ("au", "https://api-au.cloud.coveo.com/push/v1", "https://platform-au.cloud.coveo.com/rest"),
        ],
    )
    def test_regions(self, region: Region | str, push: str, platform: str) -> None:
        endpoints = Endpoints.for_region(region)
        assert (endpoints.push, endpoints.platform) == (push, platform)
        assert endpoints.logs == push.replace("/push/v1", "/logs/v1")

    def test_region_request_goes_to_the_regional_host(self) -> None:
        wire = Wire()
        client = CoveoClient(ORG, "k", region="eu", http_client=wire.client())
        client.delete_item(wx.SOURCE_ID, "file://x")
        assert wire.requests[0].url.host == "api-eu.cloud.coveo.com"

    def test_unknown_region_is_refused(self) -> None:
        with pytest.raises(ValueError, match="'mars'"):
            CoveoClient(ORG, "k", region="mars")

    def test_bearer_auth_and_product_user_agent_by_default(self) -> None:
        wire = Wire()
        client = CoveoClient(ORG, "secret-key", base_url="http://coveo.test", http_client=None)
        client._http = wire.client()  # keep the default headers logic but record the request
        client.delete_item(wx.SOURCE_ID, "file://x")
        headers = wire.requests[0].headers
        assert headers["Authorization"] == "Bearer secret-key"
        assert headers["Content-Type"] == "application/json"
        assert "secret-key" not in repr(client)

    def test_shared_pool_names_the_product(self) -> None:
        from coveo_push_api import USER_AGENT, shared_http_client

        assert shared_http_client() is shared_http_client()
        assert shared_http_client().headers["User-Agent"] == USER_AGENT
        assert USER_AGENT.startswith("coveo-secured-push-connector/")


class TestItems:
    def test_worked_example_single_push(self) -> None:
        wire = Wire()
        item = ItemBody.from_wire(wx.item_wire())
        make_client(wire).push_item(wx.SOURCE_ID, wx.DOCUMENT_ID, item, ordering_id=1_700_000_000_000)
        request = wire.requests[0]
        assert request.method == "PUT"
        assert request.url.path == f"{PUSH}/sources/{wx.SOURCE_ID}/documents"
        assert dict(request.url.params) == {"documentId": wx.DOCUMENT_ID, "orderingId": "1700000000000"}
        assert b"documentId=file%3A%2F%2Ffolder%2Fmytext.txt" in request.url.raw_path
        assert json.loads(request.content) == {**wx.item_wire(), "documentId": wx.DOCUMENT_ID}

    @pytest.mark.parametrize("shape", ["sets", "levels"])
    def test_a_permission_set_that_omits_allow_anonymous_goes_out_private(self, shape: str) -> None:
        """Coveo's own default for a missing `allowAnonymous` must never decide: the client spells
        it out as false, in the simple model and in the complete one, single push and batch."""
        permission_set = {"allowedPermissions": [{"identity": "AlphaTeam", "identityType": "Group"}]}
        permissions = (
            [permission_set] if shape == "sets" else [{"name": "L1", "permissionSets": [permission_set]}]
        )
        item = ItemBody.from_wire({"data": "secret", "permissions": permissions})
        wire = Wire(script=[httpx.Response(202), *container_then()])
        client = make_client(wire)
        client.push_item(wx.SOURCE_ID, "file://private", item)
        client.push_items(wx.SOURCE_ID, [item.model_copy(update={"document_id": "file://private"})])
        single = json.loads(wire.requests[0].content)
        uploaded = json.loads(wire.requests[2].content)["addOrUpdate"][0]
        for body in (single, uploaded):
            sets = body["permissions"] if shape == "sets" else body["permissions"][0]["permissionSets"]
            assert [s["allowAnonymous"] for s in sets] == [False]

    def test_mismatched_document_id_in_body_is_refused_before_sending(self) -> None:
        wire = Wire()
        item = ItemBody.from_wire({**wx.item_wire(), "documentId": "file://other"})
        with pytest.raises(ValueError, match="differs"):
            make_client(wire).push_item(wx.SOURCE_ID, wx.DOCUMENT_ID, item)
        assert wire.requests == []

    def test_compression_type_is_a_query_parameter_on_a_single_push(self) -> None:
        wire = Wire()
        item = ItemBody.from_wire({"compressedBinaryData": "eJzLSM3JyQcABiwCFQ==", "compressionType": "ZLIB"})
        make_client(wire).push_item(wx.SOURCE_ID, "file://z", item)
        assert wire.requests[0].url.params["compressionType"] == "ZLIB"
        assert "compressionType" not in json.loads(wire.requests[0].content)

    def test_delete_with_children(self) -> None:
        wire = Wire()
        make_client(wire).delete_item(wx.SOURCE_ID, wx.DOCUMENT_ID, delete_children=True, ordering_id=5)
        request = wire.requests[0]
        assert (request.method, request.url.path) == ("DELETE", f"{PUSH}/sources/{wx.SOURCE_ID}/documents")
        assert dict(request.url.params) == {
            "documentId": wx.DOCUMENT_ID,
            "deleteChildren": "true",
            "orderingId": "5",
        }
        assert request.content == b""

    def test_delete_older_than(self) -> None:
        wire = Wire()
        make_client(wire).delete_items_older_than(wx.SOURCE_ID, 1_700_000_000_000, queue_delay_minutes=0)
        assert wire.lines() == [
            f"DELETE {PUSH}/sources/{wx.SOURCE_ID}/documents/olderthan?orderingId=1700000000000&queueDelay=0"
        ]

    def test_ordering_id_from_the_future_is_refused(self) -> None:
        wire = Wire()
        future = int((time.time() + 3600) * 1000)
        with pytest.raises(ValueError, match="in the future"):
            make_client(wire).delete_items_older_than(wx.SOURCE_ID, future)
        assert wire.requests == []

    def test_source_status(self) -> None:
        wire = Wire(default=lambda r: httpx.Response(201))
        make_client(wire).set_source_status(wx.SOURCE_ID, "REBUILD")
        assert wire.lines() == [f"POST {PUSH}/sources/{wx.SOURCE_ID}/status?statusType=REBUILD"]


class TestFileContainers:
    def test_batch_goes_container_upload_push(self) -> None:
        wire = Wire(script=container_then())
        receipts = make_client(wire).push_items(
            wx.SOURCE_ID,
            [ItemBody.from_wire({**wx.item_wire(), "documentId": wx.DOCUMENT_ID})],
            [BatchDelete(document_id="file://old", delete_children=True)],
            ordering_id=7,
        )
        create, upload, push = wire.requests
        assert (create.method, create.url.path) == ("POST", f"{PUSH}/files")
        assert create.headers["Authorization"] == "Bearer secret-key"
        # The upload goes to the presigned URI with exactly the required headers and no API key.
        assert str(upload.url) == CONTAINER["uploadUri"]
        assert upload.method == "PUT"
        assert upload.headers["x-amz-server-side-encryption"] == "AES256"
        assert upload.headers["Content-Type"] == "application/octet-stream"
        assert "Authorization" not in upload.headers
        assert json.loads(upload.content) == {
            "addOrUpdate": [{**wx.item_wire(), "documentId": wx.DOCUMENT_ID}],
            "delete": [{"documentId": "file://old", "deleteChildren": True}],
        }
        assert (push.method, push.url.path) == ("PUT", f"{PUSH}/sources/{wx.SOURCE_ID}/documents/batch")
        assert dict(push.url.params) == {"fileId": "file-1", "orderingId": "7"}
        assert receipts[0].file_id == "file-1"
        assert receipts[0].counts == {"addOrUpdate": 1, "delete": 1}

    def test_batch_split_above_the_container_limit(self) -> None:
        containers = iter(range(100))

        def answer(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/files"):
                n = next(containers)
                return json_response(
                    201, {**CONTAINER, "uploadUri": f"http://upload.test/{n}", "fileId": f"f{n}"}
                )
            return httpx.Response(200 if request.url.host == "upload.test" else 202)

        wire = Wire(default=answer)
        items = [ItemBody.from_wire({"documentId": f"file://doc/{i}", "data": "x" * 100}) for i in range(10)]
        receipts = make_client(wire, limits=PushLimits(max_container_bytes=400)).push_items(
            wx.SOURCE_ID, items
        )
        uploads = [r for r in wire.requests if r.url.host == "upload.test"]
        pushed = [json.loads(u.content)["addOrUpdate"] for u in uploads]
        assert all(len(u.content) <= 400 for u in uploads)
        assert len(uploads) == len(receipts) > 1
        # Every item lands exactly once, in order, and no container could have held one more.
        assert [d["documentId"] for chunk in pushed for d in chunk] == [f"file://doc/{i}" for i in range(10)]
        assert [r.counts["addOrUpdate"] for r in receipts] == [len(c) for c in pushed]
        batch_pushes = [r for r in wire.requests if r.url.path.endswith("/documents/batch")]
        assert [r.url.params["fileId"] for r in batch_pushes] == [r.file_id for r in receipts]

    def test_large_inline_data_goes_through_a_container(self) -> None:
        wire = Wire(script=container_then())
        text = "y" * 2_000
        make_client(wire, limits=PushLimits(max_inline_data_bytes=1_000)).push_item(
            wx.SOURCE_ID, wx.DOCUMENT_ID, ItemBody.from_wire({"data": text, "title": "big"})
        )
        _, upload, push = wire.requests
        assert upload.content == text.encode()
        body = json.loads(push.content)
        assert body == {"documentId": wx.DOCUMENT_ID, "compressedBinaryDataFileId": "file-1", "title": "big"}
        assert push.url.params["compressionType"] == "UNCOMPRESSED"

    def test_large_compressed_data_is_uploaded_raw_not_base64(self) -> None:
        wire = Wire(script=container_then())
        raw = bytes(range(256)) * 8
        item = ItemBody.from_wire(
            {"compressedBinaryData": base64.b64encode(raw).decode(), "compressionType": "GZIP"}
        )
        make_client(wire, limits=PushLimits(max_inline_data_bytes=1_000)).push_item(
            wx.SOURCE_ID, "file://b", item
        )
        assert wire.requests[1].content == raw
        assert wire.requests[2].url.params["compressionType"] == "GZIP"

    def test_an_item_over_the_container_limit_fails_before_anything_is_sent(self) -> None:
        from coveo_push_api import ItemTooLargeError

        wire = Wire()
        items = [
            ItemBody.from_wire({"documentId": "file://a", "data": "a"}),
            ItemBody.from_wire({"documentId": "file://b", "data": "b" * 500}),
        ]
        with pytest.raises(ItemTooLargeError, match=r"addOrUpdate\[1\]"):
            make_client(wire, limits=PushLimits(max_container_bytes=300)).push_items(wx.SOURCE_ID, items)
        assert wire.requests == []

    def test_refused_upload_gets_one_fresh_container(self) -> None:
        denied = httpx.Response(
            403, text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        )
        wire = Wire(script=[json_response(201, CONTAINER), denied, *container_then()])
        make_client(wire).push_items(
            wx.SOURCE_ID, [ItemBody.from_wire({"documentId": "file://a", "data": "a"})]
        )
        assert [r.method for r in wire.requests] == ["POST", "PUT", "POST", "PUT", "PUT"]

    def test_upload_refused_twice_raises_with_s3_reason(self) -> None:
        from coveo_push_api import FileContainerUploadError

        denied = httpx.Response(
            403, text="<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        )
        wire = Wire(script=[json_response(201, CONTAINER), denied, json_response(201, CONTAINER), denied])
        with pytest.raises(FileContainerUploadError) as info:
            make_client(wire).push_items(
                wx.SOURCE_ID, [ItemBody.from_wire({"documentId": "file://a", "data": "a"})]
            )
        assert (info.value.status, info.value.error_code, info.value.message) == (
            403,
            "AccessDenied",
            "Access Denied",
        )
        assert not any(r.url.path.endswith("/batch") for r in wire.requests)


class TestPrefetchedContainers:
    """A container asked for ahead of the push (while the connector's claims run) is the one the
    push fills: the same three requests, the first one earlier."""

    ITEMS: ClassVar[list[ItemBody]] = [ItemBody.from_wire({"documentId": "file://a", "data": "a"})]

    def test_the_push_fills_the_prefetched_container(self) -> None:
        wire = Wire(script=container_then())
        client = make_client(wire)
        client.prefetch_file_container()
        client.prefetch_file_container()  # one waits at most: asking again sends nothing
        client._prefetched[0].result(timeout=5)  # type: ignore[index]  # let it land
        assert wire.lines() == [f"POST {PUSH}/files"]  # sent before the push was asked for
        receipts = client.push_items(wx.SOURCE_ID, self.ITEMS, ordering_id=3)
        assert [r.method for r in wire.requests] == ["POST", "PUT", "PUT"]
        assert receipts[0].file_id == "file-1"
        assert client.requests_sent == 3
        assert client._prefetched is None  # taken: the next push creates its own

    def test_an_old_prefetched_container_is_not_used(self) -> None:
        now = [1_000.0]
        wire = Wire(script=[json_response(201, {**CONTAINER, "fileId": "stale"}), *container_then()])
        client = make_client(wire, clock=lambda: now[0])
        client.prefetch_file_container()
        client._prefetched[0].result(timeout=5)  # type: ignore[index]
        now[0] += 15 * 60 + 1  # its upload URI may expire before the push ends
        receipts = client.push_items(wx.SOURCE_ID, self.ITEMS)
        assert [r.method for r in wire.requests] == ["POST", "POST", "PUT", "PUT"]
        assert receipts[0].file_id == "file-1"

    def test_a_prefetch_that_failed_leaves_the_push_its_own_attempt(self) -> None:
        refused = json_response(400, {"errorCode": "INVALID", "message": "no"})
        wire = Wire(script=[refused, *container_then()])
        client = make_client(wire)
        client.prefetch_file_container()
        receipts = client.push_items(wx.SOURCE_ID, self.ITEMS)
        assert [r.method for r in wire.requests] == ["POST", "POST", "PUT", "PUT"]
        assert receipts[0].file_id == "file-1"

    def test_when_coveo_keeps_refusing_the_push_raises_its_own_error(self) -> None:
        from coveo_push_api import CoveoError

        refused = json_response(400, {"errorCode": "INVALID", "message": "no"})
        wire = Wire(default=lambda request: refused)
        client = make_client(wire)
        client.prefetch_file_container()
        with pytest.raises(CoveoError):
            client.push_items(wx.SOURCE_ID, self.ITEMS)
        assert not any(r.url.path.endswith("/batch") for r in wire.requests)


class TestIdentities:
    def test_group_alias_delete_and_older_than(self) -> None:
        wire = Wire()
        client = make_client(wire)
        client.push_identity(wx.PROVIDER_ID, IdentityBody.model_validate(wx.group_wire()), ordering_id=3)
        client.push_alias(wx.PROVIDER_ID, MappedIdentityBody.model_validate(wx.alias_wire("alice")))
        client.delete_identity(
            wx.PROVIDER_ID, BaseIdentityBody.model_validate({"identity": {"name": "g", "type": "GROUP"}})
        )
        client.delete_identities_older_than(wx.PROVIDER_ID, 1_700_000_000_000, queue_delay_minutes=15)
        base = f"{PUSH}/providers/{wx.PROVIDER_ID}"
        assert wire.lines() == [
            f"PUT {base}/permissions?orderingId=3",
            f"PUT {base}/mappings",
            f"DELETE {base}/permissions",
            f"DELETE {base}/permissions/olderthan?orderingId=1700000000000&queueDelay=15",
        ]
        group, alias, deleted, _ = wire.bodies()
        assert group["members"] == [{"name": n, "type": "USER", "additionalInfo": {}} for n in wx.MEMBERS]
        assert alias["mappings"][0]["provider"] == wx.EMAIL_PROVIDER
        assert deleted == {"identity": {"name": "g", "type": "GROUP", "additionalInfo": {}}}

    def test_identity_batch_body_and_route(self) -> None:
        wire = Wire(script=container_then())
        make_client(wire).push_identities(
            wx.PROVIDER_ID,
            members=[IdentityBody.model_validate(wx.group_wire())],
            mappings=[MappedIdentityBody.model_validate(wx.alias_wire(m)) for m in wx.MEMBERS],
        )
        upload, push = wire.requests[1], wire.requests[2]
        content = json.loads(upload.content)
        assert list(content) == ["members", "mappings", "deleted"]
        assert [m["identity"]["name"] for m in content["mappings"]] == list(wx.MEMBERS)
        assert (push.method, push.url.path) == ("PUT", f"{PUSH}/providers/{wx.PROVIDER_ID}/permissions/batch")
        assert push.url.params["fileId"] == "file-1"


class TestReads:
    def test_logs_query_body_and_paging(self) -> None:
        page = {
            "documentLogEntries": [
                {"datetime": "2026-11-26T10:00:00Z", "id": "file://a", "result": "COMPLETED"}
            ]
        }
        wire = Wire(script=[json_response(200, {**page, "hasNextPage": True}), json_response(200, page)])
        start = datetime(2026, 11, 25, tzinfo=UTC)
        entries = list(
            make_client(wire).iter_logs(
                LogsRequest(sources_ids=[wx.SOURCE_ID]),
                start=start,
                end=start + timedelta(hours=1),
                per_page=1,
            )
        )
        assert len(entries) == 2
        first, second = wire.requests
        assert first.method == "POST"
        assert first.url.path == f"/logs/v1/organizations/{ORG}"
        assert dict(first.url.params) == {
            "from": "2026-11-25T00:00:00.000Z",
            "to": "2026-11-25T01:00:00.000Z",
            "page": "0",
            "perPage": "1",
        }
        assert second.url.params["page"] == "1"
        assert json.loads(first.content) == {"sourcesIds": [wx.SOURCE_ID]}

    def test_logs_longer_than_seven_days_are_read_in_windows(self) -> None:
        wire = Wire(default=lambda r: json_response(200, {"documentLogEntries": [], "hasNextPage": False}))
        start = datetime(2026, 11, 1, tzinfo=UTC)
        list(make_client(wire).iter_logs(LogsRequest(), start=start, end=start + timedelta(days=10)))
        windows = [(r.url.params["from"], r.url.params["to"]) for r in wire.requests]
        assert windows == [
            ("2026-11-01T00:00:00.000Z", "2026-11-08T00:00:00.000Z"),
            ("2026-11-08T00:00:00.000Z", "2026-11-11T00:00:00.000Z"),
        ]
        with pytest.raises(ValueError, match="7 days"):
            make_client(wire).get_logs(LogsRequest(), start=start, end=start + timedelta(days=8))

    def test_item_permissions_double_encode_the_document_id(self) -> None:
        wire = Wire(default=lambda r: json_response(200, {"state": "VALID", "permissionLevels": []}))
        model = make_client(wire).get_item_permissions("idx-1", wx.DOCUMENT_ID)
        assert model.state == "VALID"
        assert wire.lines() == [
            f"GET /rest/organizations/{ORG}/indexes/idx-1/documents/file%253A%252F%252Ffolder%252Fmytext.txt/permissions"
        ]

    def test_effective_permissions_follow_pages(self) -> None:
        pages = [
            json_response(200, {"items": [{"identity": "alice", "allowed": True}], "totalPages": 2}),
            json_response(200, {"items": [{"identity": "bob", "allowed": False}], "totalPages": 2}),
        ]
        wire = Wire(script=pages)
        users = list(make_client(wire).iter_effective_permissions("idx", wx.DOCUMENT_ID, per_page=1))
        assert [(u.identity, u.allowed) for u in users] == [("alice", True), ("bob", False)]
        assert [r.url.params["page"] for r in wire.requests] == ["0", "1"]

    def test_indexes_and_security_cache_entity(self) -> None:
        wire = Wire(
            script=[
                json_response(200, [{"id": "idx-1"}, {"id": "idx-2"}]),
                json_response(200, {"state": "DISABLED"}),
            ]
        )
        client = make_client(wire)
        assert client.list_indexes() == ["idx-1", "idx-2"]
        assert client.get_security_cache_entity(wx.PROVIDER_ID, "AlphaTeam", "GROUP").state == "DISABLED"
        request = wire.requests[1]
        assert request.url.path == f"/rest/organizations/{ORG}/securitycache/entities/{wx.PROVIDER_ID}/entity"
        assert json.loads(request.content) == {
            "name": "AlphaTeam",
            "type": "Group",
            "provider": wx.PROVIDER_ID,
            "infos": [],
        }

    def test_security_cache_members_follow_pages(self) -> None:
        pages = [
            json_response(200, {"items": [{"name": "alice", "type": "User"}], "totalPages": 2}),
            json_response(200, {"items": [{"name": "Inner", "type": "Group"}], "totalPages": 2}),
        ]
        wire = Wire(script=pages)
        members = list(
            make_client(wire).iter_security_cache_members(wx.PROVIDER_ID, "AlphaTeam", "GROUP", page_size=1)
        )
        assert [(m.type, m.name) for m in members] == [("User", "alice"), ("Group", "Inner")]
        path = f"/rest/organizations/{ORG}/securitycache/entities/{wx.PROVIDER_ID}/members/children"
        assert [(r.method, r.url.path) for r in wire.requests] == [("POST", path)] * 2
        assert [dict(r.url.params) for r in wire.requests] == [
            {"recursive": "false", "page": str(page), "pageSize": "1"} for page in (0, 1)
        ]
        assert json.loads(wire.requests[0].content)["name"] == "AlphaTeam"


def test_a_body_whose_content_comes_later_may_have_none_but_never_two() -> None:
    """`from_wire(content_attached_later=True)`: the connector attaches fetched bytes before sending,
    so no placeholder content is needed to validate the rest of the body."""
    from coveo_push_api.models import ItemBody

    metadata_only = {"title": "T", "permissions": [{"allowAnonymous": False}]}
    body = ItemBody.from_wire(metadata_only, content_attached_later=True)
    assert (body.data, body.compressed_binary_data, body.compressed_binary_data_file_id) == (None, None, None)
    with pytest.raises(ValueError, match=r"exactly one of .* \(got none\)"):
        ItemBody.from_wire(metadata_only)
    two = {**metadata_only, "data": "x", "compressedBinaryData": "eA=="}
    with pytest.raises(ValueError, match="got data and compressedBinaryData"):
        ItemBody.from_wire(two, content_attached_later=True)
    one = ItemBody.from_wire({**metadata_only, "data": "x"}, content_attached_later=True)
    assert one.data == "x"
