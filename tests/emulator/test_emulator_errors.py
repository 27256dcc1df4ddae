"""Synchronous answers: auth, addressing, parameters, bodies, size gates, the S3-like upload."""

from __future__ import annotations

import json

import httpx
import pytest

from coveo_emulator.config import EmulatorConfig
from coveo_emulator.server import EmulatorServer
from tests.emulator.emulator_helpers import API_KEY, ORG, PROVIDER, SOURCE, Coveo, item_body

KB = 1024


@pytest.fixture(scope="module")
def emulator_config() -> EmulatorConfig:
    # The documented limits, scaled down so that crossing them is cheap.
    return EmulatorConfig(
        max_request_bytes=60 * KB, max_inline_data_bytes=50 * KB, max_container_bytes=100 * KB
    )


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["errorCode"]


PUSH_ROUTES = [
    ("PUT", f"/push/v1/organizations/{ORG}/sources/{SOURCE}/documents?documentId=file://a/b"),
    ("DELETE", f"/push/v1/organizations/{ORG}/sources/{SOURCE}/documents?documentId=file://a/b"),
    ("PUT", f"/push/v1/organizations/{ORG}/providers/{PROVIDER}/permissions"),
    ("POST", f"/push/v1/organizations/{ORG}/files"),
    ("POST", f"/logs/v1/organizations/{ORG}?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"),
    ("GET", f"/rest/organizations/{ORG}/indexes"),
]


@pytest.mark.parametrize(("method", "path"), PUSH_ROUTES)
def test_missing_authorization_is_401_unauthorized(coveo: Coveo, method: str, path: str) -> None:
    response = httpx.request(method, coveo.base_url + path, json={})
    assert error(response) == (401, "UNAUTHORIZED")


@pytest.mark.parametrize(("method", "path"), PUSH_ROUTES)
def test_wrong_key_is_401_invalid_token(coveo: Coveo, method: str, path: str) -> None:
    response = httpx.request(
        method, coveo.base_url + path, json={}, headers={"Authorization": "Bearer wrong-key"}
    )
    assert error(response) == (401, "INVALID_TOKEN")
    assert response.json()["message"]


def test_unknown_organization_is_404(coveo: Coveo) -> None:
    response = coveo.http.put(
        f"/push/v1/organizations/otherorg/sources/{SOURCE}/documents",
        params={"documentId": "file://a"},
        json=item_body(),
    )
    assert error(response) == (404, "ORGANIZATION_NOT_FOUND")
    assert "otherorg" in response.json()["message"]
    assert error(coveo.http.get("/rest/organizations/otherorg/indexes")) == (404, "ORGANIZATION_NOT_FOUND")


def test_unknown_source_or_provider_is_412(coveo: Coveo) -> None:
    response = coveo.http.put(
        f"{coveo.push}/sources/othersource/documents", params={"documentId": "file://a"}, json=item_body()
    )
    assert error(response) == (412, "SOURCE_DOES_NOT_EXIST")
    response = coveo.http.put(
        f"{coveo.push}/providers/otherprovider/permissions", json={"identity": {"name": "x", "type": "USER"}}
    )
    assert response.status_code == 412
    assert "otherprovider" in response.json()["message"]


def test_missing_or_invalid_parameters_are_412(coveo: Coveo) -> None:
    no_id = coveo.http.put(f"{coveo.source}/documents", json=item_body())
    assert error(no_id) == (412, "MISSING_PARAMETER")
    assert "documentId" in no_id.json()["message"]
    assert error(coveo.put_item("file://a", item_body(), orderingId="soon")) == (412, "INVALID_PARAMETER")
    assert error(coveo.put_item("file://a", item_body(), compressionType="RAR")) == (412, "INVALID_PARAMETER")
    assert error(coveo.http.delete(f"{coveo.source}/documents/olderthan")) == (412, "MISSING_PARAMETER")
    assert error(coveo.http.put(f"{coveo.source}/documents/batch")) == (412, "MISSING_PARAMETER")
    empty = coveo.http.put(f"{coveo.source}/documents", params={"documentId": "file://a"})
    assert error(empty) == (412, "MISSING_PARAMETER")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"title": "x", "data": "y"', "not valid JSON"),
        (b'{"title": "x", "title": "y"}', "duplicate key"),
        (b'{"title": "x", "Title": "y"}', "case-insensitive"),
        (b'{"title": "x", "author": {"name": "Alice"}}', "sub-object"),
        (b'{"title": "x", "tags": [["a"], ["b"]]}', "nested array"),
        (b'{"title": "x", "orderingId": 5}', "reserved key"),
        (b'{"title": "x", "data": "a", "compressedBinaryData": "Yg=="}', "only one of"),
        (b'{"documentId": "file://other", "title": "x"}', "does not match"),
        (b'{"title": "x", "permissions": [{"allowedPermissions": [{"identityType": "User"}]}]}', "identity"),
        (b'["not", "an", "object"]', "JSON object"),
    ],
)
def test_bad_single_push_bodies_are_400_invalid_json(coveo: Coveo, body: bytes, fragment: str) -> None:
    response = coveo.http.put(
        f"{coveo.source}/documents",
        params={"documentId": "file://folder/a.txt"},
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert error(response) == (400, "INVALID_JSON")
    assert fragment in response.json()["message"]
    assert coveo.logs() == []  # refused synchronously: nothing was queued


def test_non_json_content_type_is_415(coveo: Coveo) -> None:
    response = coveo.http.put(
        f"{coveo.source}/documents",
        params={"documentId": "file://a"},
        content=b'{"title": "x"}',
        headers={"Content-Type": "text/plain"},
    )
    assert error(response) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_request_over_the_request_limit_is_413(coveo: Coveo) -> None:
    body = item_body(
        data="x" * (45 * KB), filler="y" * (20 * KB)
    )  # inline data under 50 KB, request over 60 KB
    assert error(coveo.put_item("file://big", body))[0] == 413
    assert coveo.put_item("file://small", item_body(data="x" * (45 * KB))).status_code == 202


def test_inline_data_over_the_inline_limit_is_413(coveo: Coveo) -> None:
    response = coveo.put_item("file://big", item_body(data="x" * (51 * KB)))
    assert response.status_code == 413
    assert "inline" in response.json()["message"]


def test_container_over_the_container_limit_is_413(coveo: Coveo) -> None:
    big = {"addOrUpdate": [{"documentId": f"file://b/{i}", "data": "x" * (30 * KB)} for i in range(4)]}
    assert coveo.push_batch(big).status_code == 413
    fits = {"addOrUpdate": [{"documentId": f"file://b/{i}", "data": "x" * (30 * KB)} for i in range(3)]}
    assert coveo.push_batch(fits).status_code == 202


def test_real_limits_6mb_request_and_5mb_inline_data() -> None:
    with EmulatorServer(EmulatorConfig()) as server:
        coveo = Coveo(server.base_url)
        mb = 1024 * 1024
        over_request = coveo.put_item(
            "file://big", item_body(data="x" * (4 * mb), filler="y" * (2 * mb + 10))
        )
        assert over_request.status_code == 413
        over_inline = coveo.put_item("file://big", item_body(data="x" * (5 * mb + 10)))
        assert over_inline.status_code == 413
        assert "inline" in over_inline.json()["message"]
        assert coveo.put_item("file://ok", item_body(data="x" * (5 * mb - 100))).status_code == 202
        coveo.http.close()


def test_file_container_upload_demands_exactly_the_required_headers(coveo: Coveo) -> None:
    container = coveo.create_container()
    assert container["requiredHeaders"] == {
        "x-amz-server-side-encryption": "AES256",
        "Content-Type": "application/octet-stream",
    }
    assert container["uploadUri"].startswith(coveo.base_url + "/")
    body = json.dumps({"addOrUpdate": [{"documentId": "file://c/1", "data": "x"}]}).encode()
    for headers in (
        {"Content-Type": "application/octet-stream"},
        {"x-amz-server-side-encryption": "AES256"},
        {"x-amz-server-side-encryption": "aws:kms", "Content-Type": "application/octet-stream"},
        {"x-amz-server-side-encryption": "AES256", "Content-Type": "application/json"},
    ):
        refused = httpx.put(container["uploadUri"], content=body, headers=headers)
        assert refused.status_code == 403
        assert "<Code>AccessDenied</Code>" in refused.text
        assert refused.headers["content-type"].startswith("application/xml")
    tampered = httpx.put(
        container["uploadUri"][:-4] + "0000", content=body, headers=container["requiredHeaders"]
    )
    assert tampered.status_code == 403
    accepted = httpx.put(container["uploadUri"], content=body, headers=container["requiredHeaders"])
    assert accepted.status_code == 200 and accepted.content == b""
    # it went to the emulator itself, not Coveo: no Authorization was needed or sent
    assert "authorization" not in {k.lower() for k in container["requiredHeaders"]}


def test_file_container_expires_after_60_minutes(coveo: Coveo) -> None:
    container = coveo.create_container()
    coveo.advance(61 * 60)
    late = httpx.put(container["uploadUri"], content=b"{}", headers=container["requiredHeaders"])
    assert late.status_code == 403
    assert "expired" in late.text


def test_file_container_is_consumed_once(coveo: Coveo) -> None:
    file_id = coveo.upload({"addOrUpdate": [{"documentId": "file://c/1", "data": "x", "permissions": []}]})
    first = coveo.http.put(f"{coveo.source}/documents/batch", params={"fileId": file_id})
    second = coveo.http.put(f"{coveo.source}/documents/batch", params={"fileId": file_id})
    assert first.status_code == second.status_code == 202  # the Push API does not look inside
    batch_entries = coveo.logs(file_id)
    assert [(e["task"], e["result"]) for e in batch_entries] == [
        ("CONSUMING_BATCH", "COMPLETED"),
        ("CONSUMING_BATCH", "ERROR"),
    ]
    assert "already consumed" in batch_entries[1]["meta"]["error"]
    assert coveo.state()["containers"][file_id]["consumed"] is True


def test_unknown_file_id_is_accepted_then_an_error_in_the_logs(coveo: Coveo) -> None:
    response = coveo.http.put(f"{coveo.source}/documents/batch", params={"fileId": "no-such-file"})
    assert response.status_code == 202
    [entry] = coveo.logs("no-such-file")
    assert (entry["operation"], entry["task"], entry["result"]) == ("BATCH_FILE", "CONSUMING_BATCH", "ERROR")
    assert "does not exist" in entry["meta"]["error"]


def test_source_status_is_201_and_shows_on_the_source(coveo: Coveo) -> None:
    assert coveo.http.post(f"{coveo.source}/status", params={"statusType": "REBUILD"}).status_code == 201
    source = coveo.http.get(f"{coveo.rest}/sources/{SOURCE}").json()
    assert source["information"]["sourceStatus"]["type"] == "REFRESHING"
    assert source["information"]["sourceStatus"]["refreshType"] == "REBUILD"
    assert coveo.http.post(f"{coveo.source}/status", params={"statusType": "idle"}).status_code == 201
    assert (
        coveo.http.get(f"{coveo.rest}/sources/{SOURCE}").json()["information"]["sourceStatus"]["type"]
        == "PUSH_READY"
    )
    assert error(coveo.http.post(f"{coveo.source}/status", params={"statusType": "PAUSE"})) == (
        412,
        "INVALID_PARAMETER",
    )


def test_unknown_route_is_a_json_404(coveo: Coveo) -> None:
    response = coveo.http.get("/push/v1/nothing/here")
    assert response.status_code == 404
    assert response.json()["errorCode"] == "NOT_FOUND"


def test_bearer_scheme_is_case_insensitive(coveo: Coveo) -> None:
    response = httpx.post(
        coveo.base_url + f"/push/v1/organizations/{ORG}/files", headers={"Authorization": f"bearer {API_KEY}"}
    )
    assert response.status_code == 201
