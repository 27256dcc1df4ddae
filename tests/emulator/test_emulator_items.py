"""What happens after the 202: orderingId, deletes, batches, asynchronous rejections, dialects."""

from __future__ import annotations

import base64
import gzip
import json
import time
import zlib

from tests.emulator.emulator_helpers import EMAIL, PROVIDER, PUBLIC, Coveo, group, item_body, user


def indexed(coveo: Coveo, document_id: str) -> bool:
    found = coveo.item(document_id)
    return bool(found and found["indexed"])


def test_stale_orderingid_is_skipped(coveo: Coveo) -> None:
    assert coveo.put_item("file://a.txt", {**item_body(), "title": "v2"}, orderingId=200).status_code == 202
    assert coveo.put_item("file://a.txt", {**item_body(), "title": "v1"}, orderingId=100).status_code == 202
    found = coveo.item("file://a.txt")
    assert found is not None
    assert found["metadata"]["title"] == "v2"
    assert found["orderingId"] == 200
    skipped = coveo.logs("file://a.txt", {"results": ["SKIPPED"]})
    assert len(skipped) == 1
    assert skipped[0]["task"] == "CONSUMING"
    assert "lower than the item's last orderingId 200" in skipped[0]["meta"]["reason"]
    # a stale delete is skipped too
    coveo.delete_item("file://a.txt", orderingId=150)
    assert indexed(coveo, "file://a.txt")


def test_equal_orderingid_is_applied_and_default_orderingid_is_receipt_time(coveo: Coveo) -> None:
    coveo.put_item("file://a.txt", {**item_body(), "title": "first"}, orderingId=300)
    coveo.put_item("file://a.txt", {**item_body(), "title": "replay"}, orderingId=300)
    assert coveo.found("file://a.txt")["metadata"]["title"] == "replay"
    coveo.put_item("file://b.txt", item_body())
    state = coveo.state()
    received = state["items"]["file://b.txt"]["orderingId"]
    assert abs(received - time.time() * 1000) < 60_000  # ms since the epoch, at receipt
    # an older explicit orderingId cannot overwrite an item pushed with the default (now in ms)
    coveo.put_item("file://b.txt", {**item_body(), "title": "old"}, orderingId=received - 1)
    assert coveo.found("file://b.txt")["metadata"]["title"] == "An item"


def test_delete_children_follows_parentid(coveo: Coveo) -> None:
    coveo.put_item("file://mail/1", item_body())
    coveo.put_item("file://mail/1/att-a", item_body(parentId="file://mail/1"))
    coveo.put_item("file://mail/1/att-b", item_body(parentId="file://mail/1"))
    coveo.put_item("file://mail/2", item_body())
    coveo.put_item("file://mail/2/att", item_body(parentId="file://mail/2"))

    assert coveo.delete_item("file://mail/2").status_code == 202  # deleteChildren defaults to false
    assert not indexed(coveo, "file://mail/2")
    assert indexed(coveo, "file://mail/2/att")

    assert coveo.delete_item("file://mail/1", deleteChildren="true").status_code == 202
    assert not indexed(coveo, "file://mail/1")
    assert not indexed(coveo, "file://mail/1/att-a")
    assert not indexed(coveo, "file://mail/1/att-b")
    parent_log = coveo.logs("file://mail/1", {"tasks": ["INDEXING"], "operations": ["DELETE_AND_CHILDREN"]})
    assert [e["result"] for e in parent_log] == ["COMPLETED"]
    child_log = coveo.logs("file://mail/1/att-a", {"operations": ["DELETE"]})
    assert child_log[-1]["meta"]["parentId"] == "file://mail/1"


def test_delete_older_than_deletes_strictly_lower_orderingids_after_queue_delay(coveo: Coveo) -> None:
    coveo.put_item("file://old", item_body(), orderingId=100)
    coveo.put_item("file://edge", item_body(), orderingId=200)
    coveo.put_item("file://new", item_body(), orderingId=300)

    assert (
        coveo.http.delete(f"{coveo.source}/documents/olderthan", params={"orderingId": 200}).status_code
        == 202
    )
    # default queueDelay: 15 minutes before the operation is even enqueued
    assert indexed(coveo, "file://old")
    coveo.advance(15 * 60)
    assert not indexed(coveo, "file://old")
    assert indexed(coveo, "file://edge")  # equal is not "strictly lower"
    assert indexed(coveo, "file://new")
    [entry] = coveo.logs("file://old", {"operations": ["DELETE_OLDER_THAN"], "tasks": ["INDEXING"]})
    assert entry["result"] == "COMPLETED"

    coveo.http.delete(f"{coveo.source}/documents/olderthan", params={"orderingId": 1000, "queueDelay": 0})
    assert not indexed(coveo, "file://new")
    # an add older than that delete-older-than is rejected afterwards (DOC-147's poisoned source)
    coveo.put_item("file://late", item_body(), orderingId=500)
    assert not indexed(coveo, "file://late")
    assert coveo.logs("file://late")[-1]["result"] == "REJECTED"


def test_more_than_5000_permissions_is_accepted_then_rejected(coveo: Coveo) -> None:
    users = [{"name": f"user{i}@example.com", "type": "USER"} for i in range(5001)]
    coveo.put_identity({"identity": {"name": "Everyone", "type": "GROUP"}, "members": users})
    allowed = [{"identity": f"user{i}@example.com", "identityType": "User"} for i in range(5001)]
    assert coveo.put_item("file://crowded", item_body(allowed=allowed)).status_code == 202
    rejected = coveo.logs("file://crowded", {"results": ["REJECTED"]})
    assert len(rejected) == 1
    assert "5001 permissions" in rejected[0]["meta"]["error"]
    assert not indexed(coveo, "file://crowded")
    # 5,000 is fine
    assert coveo.put_item("file://full", item_body(allowed=allowed[:5000])).status_code == 202
    assert indexed(coveo, "file://full")


def test_bad_items_in_a_batch_are_rejected_while_their_neighbours_are_indexed(
    worked_identities: Coveo,
) -> None:
    coveo = worked_identities
    good = {"documentId": "file://batch/good-1", "title": "ok", "data": "x", "permissions": PUBLIC}
    batch = {
        "addOrUpdate": [
            good,
            {"documentId": "file://batch/sub-object", "title": "x", "author": {"name": "Alice"}},
            {"title": "no documentId"},
            {"documentId": "file://batch/reserved", "Data": "x", "DATA": "y"},
            {"documentId": "file://batch/ordering", "ORDERINGID": 5},
            {
                "documentId": "file://batch/unknown-identity",
                "permissions": [{"allowedPermissions": [group("NoSuchTeam")]}],
            },
            "not an object",
            {
                **good,
                "documentId": "file://batch/good-2",
                "permissions": [{"allowedPermissions": [group("AlphaTeam")]}],
            },
        ],
        "delete": [{"documentId": "file://batch/never-existed", "deleteChildren": True}],
    }
    assert coveo.push_batch(batch).status_code == 202

    assert indexed(coveo, "file://batch/good-1")
    assert indexed(coveo, "file://batch/good-2")
    for bad in ("sub-object", "reserved", "ordering", "unknown-identity"):
        assert not indexed(coveo, f"file://batch/{bad}")
        assert coveo.logs(f"file://batch/{bad}")[-1]["result"] == "REJECTED"
    rejected = coveo.logs(body={"results": ["REJECTED"]})
    reasons = {e["meta"].get("position", e["id"]): e["meta"]["error"] for e in rejected}
    assert "sub-object" in reasons["addOrUpdate[1]"]
    assert "documentId" in reasons["addOrUpdate[2]"]
    assert "duplicate key" in reasons["addOrUpdate[3]"]
    assert "reserved key" in reasons["addOrUpdate[4]"]
    assert "unknown security identity: GROUP 'NoSuchTeam'" in reasons["file://batch/unknown-identity"]
    assert "JSON object" in reasons["addOrUpdate[6]"]
    [batch_entry] = coveo.logs(body={"operations": ["BATCH_FILE"]})
    assert batch_entry["result"] == "COMPLETED"
    assert batch_entry["meta"]["addOrUpdate"] == 8 and batch_entry["meta"]["delete"] == 1


def test_invalid_json_batch_file_is_an_error_in_the_logs(coveo: Coveo) -> None:
    assert coveo.push_batch(b'{"addOrUpdate": [ {"documentId": ').status_code == 202
    [entry] = coveo.logs(body={"operations": ["BATCH_FILE"]})
    assert entry["result"] == "ERROR"
    assert "not valid JSON" in entry["meta"]["error"]


def test_unknown_identity_rejects_the_item_until_the_identity_exists(coveo: Coveo) -> None:
    body = item_body(allowed=[group("BetaTeam")], denied=[user("eve@example.com", EMAIL)])
    assert coveo.put_item("file://secret", body).status_code == 202
    [entry] = coveo.logs("file://secret", {"results": ["REJECTED"]})
    assert entry["task"] == "INDEXING"
    assert entry["meta"]["error"] == (
        f"unknown security identity: GROUP 'BetaTeam' in provider '{PROVIDER}'; "
        "USER 'eve@example.com' in provider 'Email Security Provider'"
    )
    assert {i["identity"] for i in entry["meta"]["unknownIdentities"]} == {"BetaTeam", "eve@example.com"}
    assert not indexed(coveo, "file://secret")

    coveo.put_identity(
        {"identity": {"name": "BetaTeam", "type": "GROUP"}, "members": [{"name": "carol", "type": "USER"}]}
    )
    coveo.put_mapping(
        {
            "identity": {"name": "eve", "type": "USER"},
            "mappings": [{"name": "eve@example.com", "type": "USER"}],
        }
    )
    assert coveo.put_item("file://secret", body).status_code == 202
    assert coveo.effective("file://secret") == {"carol": True, "eve": False, "eve@example.com": False}


def test_pascalcase_dialect_and_identity_type_spellings(coveo: Coveo) -> None:
    coveo.put_identity(
        {
            "Identity": {"Name": "Team", "Type": "Group"},
            "Members": [{"Name": "alice", "Type": "User"}, {"Name": "Sub", "Type": "VirtualGroup"}],
        }
    )
    coveo.put_identity(
        {"identity": {"name": "Sub", "type": "VIRTUAL_GROUP"}, "members": [{"name": "zoe", "type": "USER"}]}
    )
    body = {
        "DocumentId": "file://pascal",
        "Title": "Old docs style",
        "permanentid": "abc",
        "Data": "text",
        "Permissions": [
            {
                "AllowAnonymous": False,
                "AllowedPermissions": [
                    {"Identity": "Team", "IdentityType": "GROUP", "SecurityProvider": PROVIDER}
                ],
            }
        ],
    }
    assert coveo.put_item("file://pascal", body).status_code == 202
    assert coveo.effective("file://pascal") == {"alice": True, "zoe": True}
    assert coveo.found("file://pascal")["metadata"] == {"title": "Old docs style", "permanentid": "abc"}
    batch = {
        "AddOrUpdate": [{"DocumentId": "file://pascal-2", "Data": "x", "Permissions": PUBLIC}],
        "Delete": [],
    }
    coveo.push_batch(batch)
    assert indexed(coveo, "file://pascal-2")


def test_compressed_data_is_decoded_and_bad_data_rejected(coveo: Coveo) -> None:
    text = b"hello " * 100
    zlib_body = {
        **item_body(),
        "data": None,
        "compressedBinaryData": base64.b64encode(zlib.compress(text)).decode(),
    }
    del zlib_body["data"]
    coveo.put_item("file://zlib", zlib_body, compressionType="ZLIB")
    assert coveo.found("file://zlib")["dataSize"] == len(text)

    batch = {
        "addOrUpdate": [
            {
                "documentId": "file://gzip",
                "compressedBinaryData": base64.b64encode(gzip.compress(text)).decode(),
                "compressionType": "GZIP",
                "permissions": PUBLIC,
            },
            {
                "documentId": "file://lies",
                "compressedBinaryData": base64.b64encode(text).decode(),
                "compressionType": "ZLIB",
                "permissions": PUBLIC,
            },
        ]
    }
    coveo.push_batch(batch)
    assert coveo.found("file://gzip")["dataSize"] == len(text)
    assert not indexed(coveo, "file://lies")
    [entry] = coveo.logs("file://lies", {"results": ["REJECTED"]})
    assert entry["task"] == "PROCESSING" and "ZLIB" in entry["meta"]["error"]


def test_large_item_through_compressed_binary_data_file_id(coveo: Coveo) -> None:
    raw = b"large content " * 1000
    file_id = coveo.upload(zlib.compress(raw))
    body = {"title": "Large", "compressedBinaryDataFileId": file_id, "permissions": PUBLIC}
    assert coveo.put_item("file://large", body, compressionType="ZLIB").status_code == 202
    assert coveo.found("file://large")["dataSize"] == len(raw)
    assert coveo.state()["containers"][file_id]["consumed"] is True


def test_file_extension_without_dot_is_a_warning(coveo: Coveo) -> None:
    coveo.put_item("file://warn", item_body(fileExtension="txt", allowed=[], denied=[]))
    [warning] = coveo.logs("file://warn", {"results": ["WARNING"]})
    assert warning["task"] == "PROCESSING" and "fileExtension" in warning["meta"]["warning"]
    assert indexed(coveo, "file://warn")


def test_batch_of_identities(coveo: Coveo) -> None:
    batch = {
        "members": [
            {"identity": {"name": "Ops", "type": "GROUP"}, "members": [{"name": "olga", "type": "USER"}]},
            {"identity": {"name": "bad"}, "members": "not a list"},
        ],
        "mappings": [
            {
                "identity": {"name": "olga", "type": "USER"},
                "mappings": [{"name": "olga@example.com", "type": "USER", "provider": EMAIL}],
            }
        ],
        "deleted": [{"identity": {"name": "Ops", "type": "GROUP"}}],
    }
    assert coveo.push_identity_batch(batch).status_code == 202
    identities = coveo.identities()
    assert identities["Ops"]["state"] == "DISABLED"
    assert identities["olga"]["mappings"] == [{"name": "olga@example.com", "type": "USER", "provider": EMAIL}]
    assert "olga@example.com" in coveo.identities(EMAIL)
    log = coveo.state()["identityLog"]
    assert any(e["result"] == "REJECTED" and "members[1]" in e["identity"] for e in log)


def test_permission_levels_first_conclusive_level_wins(worked_identities: Coveo) -> None:
    coveo = worked_identities
    permissions = [
        {
            "name": "Level 1",
            "permissionSets": [
                {"allowAnonymous": False, "deniedPermissions": [user("david")], "allowedPermissions": []}
            ],
        },
        {
            "name": "Level 2",
            "permissionSets": [
                {"allowAnonymous": False, "allowedPermissions": [group("AlphaTeam")]},
                {"allowAnonymous": False, "allowedPermissions": [user("alice"), user("bob")]},
            ],
        },
    ]
    coveo.put_item("file://levels", {"title": "Levels", "permissions": permissions})
    access = coveo.effective("file://levels")
    # david: denied at level 1 (conclusive). alice, bob: not named at level 1, allowed in both sets of level 2.
    assert access["david"] is False and access["david@example.com"] is False
    assert access["alice"] is True and access["bob"] is True


def test_anonymous_sets_and_public_items(coveo: Coveo) -> None:
    coveo.put_item("file://public", {"title": "Public", "permissions": PUBLIC})
    response = coveo.permissions_response("file://public", effective=True).json()
    assert response["anonymousAllowed"] is True
    star = [{"allowAnonymous": True, "allowedPermissions": [{"identity": "*@*", "identityType": "User"}]}]
    assert coveo.put_item("file://star", {"title": "Public", "permissions": star}).status_code == 202
    assert indexed(coveo, "file://star")  # a pattern is not an unknown identity


def test_nested_groups_and_wellknowns_expand(coveo: Coveo) -> None:
    coveo.put_identity(
        {"identity": {"name": "Outer", "type": "GROUP"}, "members": [{"name": "Inner", "type": "GROUP"}]}
    )
    coveo.put_identity(
        {"identity": {"name": "Inner", "type": "GROUP"}, "members": [{"name": "ian", "type": "USER"}]}
    )
    # wellKnowns: the user declares its membership of Everyone
    coveo.put_identity(
        {"identity": {"name": "wendy", "type": "USER"}, "wellKnowns": [{"name": "Everyone", "type": "GROUP"}]}
    )
    coveo.put_item("file://nested", item_body(allowed=[group("Outer")]))
    coveo.put_item("file://everyone", item_body(allowed=[group("Everyone")]))
    assert coveo.effective("file://nested") == {"ian": True}
    assert coveo.effective("file://everyone") == {"wendy": True}


def test_group_push_replaces_its_members(coveo: Coveo) -> None:
    coveo.put_identity(
        {
            "identity": {"name": "Team", "type": "GROUP"},
            "members": [{"name": "a", "type": "USER"}, {"name": "b", "type": "USER"}],
        }
    )
    coveo.put_item("file://team", item_body(allowed=[group("Team")]))
    assert coveo.effective("file://team") == {"a": True, "b": True}
    coveo.put_identity(
        {"identity": {"name": "Team", "type": "GROUP"}, "members": [{"name": "c", "type": "USER"}]}
    )
    assert coveo.effective("file://team") == {"c": True}
    assert [m["name"] for m in coveo.identities()["Team"]["members"]] == ["c"]


def test_permission_states(coveo: Coveo) -> None:
    coveo.put_identity(
        {"identity": {"name": "Parent", "type": "GROUP"}, "members": [{"name": "Child", "type": "GROUP"}]}
    )
    coveo.put_identity({"identity": {"name": "ok", "type": "USER"}})
    # an identity whose fetch failed (EntityUpdateResult) and was never successfully updated
    failed = {
        "identity": {"name": "broken", "type": "USER"},
        "Result": {"result": "EntityIsUnavailable", "errorDetails": "LDAP down"},
    }
    coveo.put_identity(failed)

    def state_of(document_id: str, body: dict[str, object]) -> str:
        assert coveo.put_item(document_id, body).status_code == 202
        return str(coveo.permissions_response(document_id).json()["state"])

    assert state_of("file://valid", item_body(allowed=[user("ok")])) == "VALID"
    # "Child" is only referenced as a member: NOT_UPDATED -> an allowed identity not up to date
    assert state_of("file://incomplete", item_body(allowed=[group("Child")])) == "INCOMPLETE"
    assert state_of("file://in-error", item_body(allowed=[user("ok")], denied=[user("broken")])) == "IN_ERROR"
    root = coveo.permissions_response("file://in-error").json()["permissionModelStateRootCauseModel"]
    assert root["entityInformation"]["name"] == "broken"
    assert root["entityInformation"]["lastUpdateErrorDetail"] == "LDAP down"
    # it was fine once, then an update failed: OUT_OF_DATE -> WARNING when denied
    coveo.put_identity({"identity": {"name": "flaky", "type": "USER"}})
    coveo.put_identity({"identity": {"name": "flaky", "type": "USER"}, "Result": {"result": "TimedOut"}})
    assert state_of("file://warning", item_body(allowed=[user("ok")], denied=[user("flaky")])) == "WARNING"
    assert coveo.entity("flaky").json()["state"] == "OUT_OF_DATE"
    assert coveo.entity("flaky").json()["lastUpdateResult"] == "TIMED_OUT"

    coveo.reset(securityRefreshDelaySeconds=30)
    coveo.put_identity({"identity": {"name": "ok", "type": "USER"}})
    assert state_of("file://pending", item_body(allowed=[user("ok")])) == "PENDING"
    assert coveo.found("file://pending")["permissionState"] == "PENDING"


def test_metadata_is_indexed_with_case_insensitive_keys(coveo: Coveo) -> None:
    body = {
        "permanentId": "pid-1",
        "Title": "Hello",
        "clickableUri": "https://example.com/x",
        "tags": ["a", "b"],
        "views": 12,
        "public": True,
        "data": "x",
        "permissions": PUBLIC,
    }
    raw = json.dumps(body).encode()
    response = coveo.http.put(
        f"{coveo.source}/documents",
        params={"documentId": "file://meta"},
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 202
    assert coveo.stats()["bytesIn"] == len(raw)
    assert coveo.found("file://meta")["metadata"] == {
        "permanentid": "pid-1",
        "title": "Hello",
        "clickableuri": "https://example.com/x",
        "tags": ["a", "b"],
        "views": 12,
        "public": True,
    }
