"""What a full sync asks of Coveo, over HTTP: delete items older than an orderingId and disable
identities older than one (strictly lower, after `queueDelay` minutes on the emulator's clock), the
source's status activity, and the sizes a mass-delete guard weighs (numberOfDocuments, the
security cache's totalEntries).

Specs: SPEC-PUSH deleteDocumentsOlderThan / deleteIdentityOlderThan / setSourceStatus, SPEC-SRC
getSource, SPEC-SEC getEntities; reference §2, §2.2, §4 (orderingId), §5 (errors).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.emulator.emulator_helpers import EMAIL, PROVIDER, SOURCE, Coveo, group, item_body, user, w3c

MINUTE = 60


# --- helpers -------------------------------------------------------------------------------------


def indexed(coveo: Coveo, document_id: str) -> bool:
    found = coveo.item(document_id)
    return bool(found and found["indexed"])


def delete_items_older_than(coveo: Coveo, **params: Any) -> httpx.Response:
    return coveo.http.delete(f"{coveo.source}/documents/olderthan", params=params)


def disable_identities_older_than(coveo: Coveo, **params: Any) -> httpx.Response:
    return coveo.http.delete(f"{coveo.provider}/permissions/olderthan", params=params)


def source(coveo: Coveo) -> dict[str, Any]:
    response = coveo.http.get(f"{coveo.rest}/sources/{SOURCE}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def set_status(coveo: Coveo, status: str) -> httpx.Response:
    return coveo.http.post(f"{coveo.source}/status", params={"statusType": status})


def entities(coveo: Coveo, params: Any = None, provider: str = PROVIDER) -> httpx.Response:
    return coveo.http.get(f"{coveo.rest}/securitycache/entities/{provider}", params=params)


def total_entries(coveo: Coveo, params: Any = None) -> int:
    response = entities(coveo, params)
    assert response.status_code == 200, response.text
    return int(response.json()["totalEntries"])


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["errorCode"]


def states(coveo: Coveo, provider: str = PROVIDER) -> dict[str, str]:
    return {name: i["state"] for name, i in coveo.identities(provider).items()}


def now_ms() -> int:
    return int(time.time() * 1000)  # the emulator's clock right after a reset (no offset)


ENABLED = ("UNKNOWN", "UP_TO_DATE", "NOT_UPDATED", "OUT_OF_DATE", "IN_ERROR")


# --- delete items older than ---------------------------------------------------------------------


def test_items_older_than_are_deleted_strictly_below_after_the_default_15_minutes(coveo: Coveo) -> None:
    for document_id, ordering_id in (("file://old", 100), ("file://edge", 200), ("file://new", 300)):
        assert coveo.put_item(document_id, item_body(), orderingId=ordering_id).status_code == 202
    assert source(coveo)["information"]["numberOfDocuments"] == 3

    response = delete_items_older_than(coveo, orderingId=200)
    assert (response.status_code, response.content) == (202, b"{}")

    coveo.advance(15 * MINUTE - 1)  # the grace period is not over: nothing is deleted yet
    assert indexed(coveo, "file://old")
    assert coveo.state()["pendingOperations"] == 1
    coveo.advance(1)  # 15 minutes after the request (SPEC-PUSH: "Default value is 15 minutes")
    assert not indexed(coveo, "file://old")
    assert indexed(coveo, "file://edge")  # equal is not "strictly lower"
    assert indexed(coveo, "file://new")
    assert source(coveo)["information"]["numberOfDocuments"] == 2
    [summary] = coveo.logs("", {"operations": ["DELETE_OLDER_THAN"], "tasks": ["CONSUMING"]})
    assert summary["meta"] == {"orderingId": 200, "deleted": 1}
    [entry] = coveo.logs("file://old", {"operations": ["DELETE_OLDER_THAN"]})
    assert (entry["task"], entry["result"]) == ("INDEXING", "COMPLETED")


@pytest.mark.parametrize("minutes", [0, 1, 7])
def test_queue_delay_is_minutes_on_the_emulator_clock(coveo: Coveo, minutes: int) -> None:
    coveo.put_item("file://old", item_body(), orderingId=100)
    assert delete_items_older_than(coveo, orderingId=101, queueDelay=minutes).status_code == 202
    if minutes:
        coveo.advance(minutes * MINUTE - 1)
        assert indexed(coveo, "file://old")
        coveo.advance(1)
    assert not indexed(coveo, "file://old")


def test_the_sync_recipe_keeps_what_was_pushed_at_or_after_the_remembered_ordering_id(
    coveo: Coveo,
) -> None:
    """Coveo's recipe: remember an orderingId, push everything, delete older than it. What the
    sync re-pushed (even while the deletion waits out its queueDelay) survives; what it left
    out is deleted."""
    for name in ("kept", "updated", "left-out"):
        coveo.put_item(f"file://{name}", item_body(), orderingId=100)
    start = 1_000
    coveo.put_item("file://kept", item_body(), orderingId=start)  # re-pushed at the sync's start
    assert delete_items_older_than(coveo, orderingId=start, queueDelay=5).status_code == 202
    # during the grace period: an update and a new item, both newer than the remembered orderingId
    coveo.put_item("file://updated", {**item_body(), "title": "v2"}, orderingId=start + 1)
    coveo.put_item("file://added", item_body(), orderingId=start + 2)
    coveo.advance(5 * MINUTE)
    assert {d: indexed(coveo, d) for d in ("file://kept", "file://updated", "file://added")} == {
        "file://kept": True,
        "file://updated": True,
        "file://added": True,
    }
    assert not indexed(coveo, "file://left-out")
    assert coveo.found("file://updated")["metadata"]["title"] == "v2"


def test_an_item_pushed_with_an_older_ordering_id_during_the_grace_period_is_deleted(coveo: Coveo) -> None:
    """The deletion applies to what the index holds when it runs, not when it was requested."""
    assert delete_items_older_than(coveo, orderingId=500, queueDelay=1).status_code == 202
    coveo.put_item("file://late-but-old", item_body(), orderingId=400)
    assert indexed(coveo, "file://late-but-old")
    coveo.advance(MINUTE)
    assert not indexed(coveo, "file://late-but-old")


def test_an_ordering_id_from_the_future_poisons_the_source_until_then(coveo: Coveo) -> None:
    """Reference §4 pitfall (DOC-147, DOC-131): Coveo accepts it, deletes everything, then rejects
    every new item pushed with a default orderingId until that time comes."""
    coveo.put_item("file://before", item_body())
    future = now_ms() + 3_600_000
    assert delete_items_older_than(coveo, orderingId=future, queueDelay=0).status_code == 202
    assert not indexed(coveo, "file://before")

    assert coveo.put_item("file://during", item_body()).status_code == 202  # the 202 says nothing
    assert not indexed(coveo, "file://during")
    [rejected] = coveo.logs("file://during", {"results": ["REJECTED"]})
    assert rejected["task"] == "CONSUMING"
    assert f"orderingId {future}" in rejected["meta"]["error"]

    coveo.advance(3_601)  # the default orderingId (the time of receipt) is now past it
    assert coveo.put_item("file://after", item_body()).status_code == 202
    assert indexed(coveo, "file://after")


# --- disable identities older than ---------------------------------------------------------------


def test_identities_older_than_are_disabled_strictly_below_after_the_default_15_minutes(
    coveo: Coveo,
) -> None:
    for name, ordering_id in (("old", 100), ("edge", 200), ("new", 300)):
        coveo.put_mapping(
            {
                "identity": {"name": name, "type": "USER"},
                "mappings": [{"name": f"{name}@example.com", "type": "USER", "provider": EMAIL}],
            },
            orderingId=ordering_id,
        )
    assert disable_identities_older_than(coveo, orderingId=200).status_code == 202
    coveo.advance(15 * MINUTE - 1)
    assert states(coveo) == {"old": "UP_TO_DATE", "edge": "UP_TO_DATE", "new": "UP_TO_DATE"}
    coveo.advance(1)
    assert states(coveo) == {"old": "DISABLED", "edge": "UP_TO_DATE", "new": "UP_TO_DATE"}
    # "In a specific security identity provider" (SPEC-PUSH): the Email provider is not touched.
    assert set(states(coveo, EMAIL).values()) == {"UP_TO_DATE"}
    assert coveo.entity("old").json()["state"] == "DISABLED"


def _sync_identities(coveo: Coveo, *, ordering_id: int, users: tuple[str, ...], group_too: bool) -> None:
    if group_too:
        members = [{"name": n, "type": "USER"} for n in ("alice", "bob", "david")]
        body = {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "members": members}
        assert coveo.put_identity(body, orderingId=ordering_id).status_code == 202
    for name in users:
        body = {
            "identity": {"name": name, "type": "USER"},
            "mappings": [{"name": f"{name}@example.com", "type": "USER", "provider": EMAIL}],
        }
        assert coveo.put_mapping(body, orderingId=ordering_id).status_code == 202


@pytest.fixture
def loaded(coveo: Coveo) -> Coveo:
    """The worked example's identities at orderingId 100, an item for the group and one for alice."""
    _sync_identities(coveo, ordering_id=100, users=("alice", "bob", "david"), group_too=True)
    coveo.put_item("file://team.txt", item_body(allowed=[group("AlphaTeam")]))
    coveo.put_item("file://alice.txt", item_body(allowed=[user("alice")]))
    assert coveo.effective("file://team.txt") == {
        name: True
        for name in ("alice", "bob", "david", "alice@example.com", "bob@example.com", "david@example.com")
    }
    assert coveo.effective("file://alice.txt") == {"alice": True, "alice@example.com": True}
    return coveo


def test_a_user_left_out_of_an_identity_sync_loses_what_they_could_see(loaded: Coveo) -> None:
    """The group is re-pushed and still lists alice, but alice herself is not: once she is
    disabled, neither the item allowed to her nor the one allowed to her group is visible to her
    (under either of her identities); the others keep theirs."""
    coveo = loaded
    _sync_identities(coveo, ordering_id=200, users=("bob", "david"), group_too=True)
    assert disable_identities_older_than(coveo, orderingId=200, queueDelay=0).status_code == 202
    assert states(coveo)["alice"] == "DISABLED"
    team = coveo.effective("file://team.txt")
    assert team["alice"] is False
    assert team.get("alice@example.com", False) is False
    assert {k: v for k, v in team.items() if not k.startswith("alice")} == {
        "bob": True,
        "david": True,
        "bob@example.com": True,
        "david@example.com": True,
    }
    mine = coveo.effective("file://alice.txt")
    assert mine["alice"] is False
    assert mine.get("alice@example.com", False) is False
    allowed = coveo.permissions_response(
        "file://team.txt", effective=True, includedEntities="ALLOWED"
    ).json()["items"]
    assert "alice" not in {row["identity"] for row in allowed}

    # A later push of alice (newer orderingId) enables her again.
    _sync_identities(coveo, ordering_id=300, users=("alice",), group_too=False)
    assert coveo.effective("file://team.txt")["alice"] is True
    assert coveo.effective("file://alice.txt")["alice"] is True


def test_a_group_left_out_of_an_identity_sync_no_longer_grants_access(loaded: Coveo) -> None:
    coveo = loaded
    _sync_identities(coveo, ordering_id=200, users=("alice", "bob", "david"), group_too=False)
    assert disable_identities_older_than(coveo, orderingId=200, queueDelay=0).status_code == 202
    assert states(coveo)["AlphaTeam"] == "DISABLED"
    assert not any(coveo.effective("file://team.txt").values())
    assert coveo.effective("file://alice.txt")["alice"] is True  # her own grant does not depend on it
    # A model that names alice (in a later level, so that she is listed) and grants her access in
    # its first level only through the group: the disabled group no longer matches her.
    levels = [
        {
            "name": "first",
            "permissionSets": [{"allowAnonymous": False, "allowedPermissions": [group("AlphaTeam")]}],
        },
        {"name": "then", "permissionSets": [{"allowAnonymous": False, "deniedPermissions": [user("alice")]}]},
    ]
    coveo.put_item("file://levels.txt", {**item_body(), "permissions": levels})
    assert coveo.effective("file://levels.txt")["alice"] is False


# --- invalid requests ----------------------------------------------------------------------------

OLDER_THAN = [delete_items_older_than, disable_identities_older_than]


@pytest.mark.parametrize("route", OLDER_THAN, ids=["items", "identities"])
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "MISSING_PARAMETER"),  # orderingId is required (SPEC-PUSH)
        ({"orderingId": ""}, "MISSING_PARAMETER"),
        ({"queueDelay": 0}, "MISSING_PARAMETER"),
        ({"orderingId": "soon"}, "INVALID_PARAMETER"),  # format int64
        ({"orderingId": "1.5"}, "INVALID_PARAMETER"),
        ({"orderingId": "1_000"}, "INVALID_PARAMETER"),
        ({"orderingId": " 100"}, "INVALID_PARAMETER"),
        ({"orderingId": str(2**63)}, "INVALID_PARAMETER"),
        ({"orderingId": 100, "queueDelay": -1}, "INVALID_PARAMETER"),  # minimum: 0
        ({"orderingId": 100, "queueDelay": "1.5"}, "INVALID_PARAMETER"),  # format int32
        ({"orderingId": 100, "queueDelay": "soon"}, "INVALID_PARAMETER"),
        ({"orderingId": 100, "queueDelay": str(2**31)}, "INVALID_PARAMETER"),
    ],
)
def test_invalid_older_than_requests_are_412_and_change_nothing(
    coveo: Coveo, route: Any, params: dict[str, Any], expected: str
) -> None:
    coveo.put_item("file://old", item_body(), orderingId=1)
    coveo.put_identity({"identity": {"name": "old", "type": "USER"}}, orderingId=1)
    response = route(coveo, **params)
    assert error(response) == (412, expected)  # reference §5: 412 MISSING_/INVALID_PARAMETER
    assert coveo.state()["pendingOperations"] == 0
    coveo.advance(16 * MINUTE)
    assert indexed(coveo, "file://old")
    assert states(coveo)["old"] == "UP_TO_DATE"


def test_largest_documented_values_are_accepted(coveo: Coveo) -> None:
    assert delete_items_older_than(coveo, orderingId=1, queueDelay=2**31 - 1).status_code == 202
    assert disable_identities_older_than(coveo, orderingId="+1", queueDelay="+0").status_code == 202


def test_older_than_on_an_unknown_source_or_provider_is_412(coveo: Coveo) -> None:
    push = coveo.push
    other_source = coveo.http.delete(
        f"{push}/sources/nosuchsource/documents/olderthan", params={"orderingId": 1}
    )
    assert error(other_source) == (412, "SOURCE_DOES_NOT_EXIST")
    other_provider = coveo.http.delete(
        f"{push}/providers/nosuchprovider/permissions/olderthan", params={"orderingId": 1}
    )
    assert error(other_provider) == (412, "SECURITY_PROVIDER_DOES_NOT_EXIST")


# --- source status and size ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "refresh_type", "end_date"),
    [
        ("REBUILD", "REBUILD", "lastRebuildEndDate"),
        ("REFRESH", "FULL_REFRESH", "lastFullRefreshEndDate"),
        ("INCREMENTAL", "INCREMENTAL_REFRESH", "lastIncrementalRefreshEndDate"),
    ],
)
def test_an_active_status_opens_an_activity_and_idle_completes_it(
    coveo: Coveo, status: str, refresh_type: str, end_date: str
) -> None:
    coveo.put_item("file://before", item_body())
    information = source(coveo)["information"]
    assert information["sourceStatus"]["type"] == "PUSH_READY"  # "Ready to receive content" (DOC-35)
    assert "activityId" not in information["sourceStatus"]
    assert "lastOperation" not in information

    response = set_status(coveo, status)
    assert (response.status_code, response.content) == (201, b"")
    during = source(coveo)["information"]["sourceStatus"]
    assert (during["type"], during["refreshType"]) == ("REFRESHING", refresh_type)
    started = datetime.fromisoformat(during["timestamp"])  # a date-time (SPEC-SRC SourceStatus)
    activity_id = during["activityId"]
    assert during["numberOfProcessedDocuments"] == 0
    coveo.put_item("file://a", item_body())
    coveo.put_item("file://b", item_body())
    assert source(coveo)["information"]["sourceStatus"]["numberOfProcessedDocuments"] == 2
    assert set_status(coveo, status).status_code == 201  # the same status again: the same activity
    assert source(coveo)["information"]["sourceStatus"]["activityId"] == activity_id

    coveo.advance(60)
    assert set_status(coveo, "IDLE").status_code == 201
    information = source(coveo)["information"]
    assert information["sourceStatus"]["type"] == "PUSH_READY"
    assert "activityId" not in information["sourceStatus"]
    last = information["lastOperation"]
    assert (last["id"], last["operationType"], last["result"]) == (activity_id, refresh_type, "COMPLETED")
    ended = datetime.fromisoformat(last["timestamp"])
    assert 59 <= (ended - started).total_seconds() < 120
    assert information[end_date] == last["timestamp"]
    assert information["numberOfDocuments"] == 3


def test_status_values_are_case_insensitive_and_checked(coveo: Coveo) -> None:
    assert set_status(coveo, "rebuild").status_code == 201  # "case insensitive" (OLD-DOCS, §2.2)
    assert source(coveo)["information"]["sourceStatus"]["refreshType"] == "REBUILD"
    assert error(set_status(coveo, "PAUSE")) == (412, "INVALID_PARAMETER")
    assert error(coveo.http.post(f"{coveo.source}/status")) == (412, "MISSING_PARAMETER")
    # a refused status leaves the activity as it was
    assert source(coveo)["information"]["sourceStatus"]["refreshType"] == "REBUILD"
    other = coveo.http.post(f"{coveo.push}/sources/nosuchsource/status", params={"statusType": "IDLE"})
    assert error(other) == (412, "SOURCE_DOES_NOT_EXIST")


def test_another_active_status_completes_the_open_activity_and_opens_its_own(coveo: Coveo) -> None:
    set_status(coveo, "INCREMENTAL")
    first = source(coveo)["information"]["sourceStatus"]["activityId"]
    set_status(coveo, "REBUILD")
    information = source(coveo)["information"]
    assert information["sourceStatus"]["refreshType"] == "REBUILD"
    assert information["sourceStatus"]["activityId"] != first
    assert (information["lastOperation"]["id"], information["lastOperation"]["operationType"]) == (
        first,
        "INCREMENTAL_REFRESH",
    )


def test_number_of_documents_counts_what_the_index_holds(coveo: Coveo) -> None:
    assert source(coveo)["information"]["numberOfDocuments"] == 0
    for name in ("a", "b", "c"):
        coveo.put_item(f"file://{name}", item_body())
    coveo.delete_item("file://b")  # a tombstone is not a document
    coveo.put_item("file://rejected", item_body(allowed=[group("NoSuchGroup")]))  # never indexed
    assert source(coveo)["information"]["numberOfDocuments"] == 2
    assert error(coveo.http.get(f"{coveo.rest}/sources/nosuchsource")) == (404, "SOURCE_NOT_FOUND")


# --- security cache entity counts ----------------------------------------------------------------


def test_entity_counts_filter_on_states_in_either_array_form(loaded: Coveo) -> None:
    """getEntities' `states` is an array (SPEC-SEC): the repeated form (OpenAPI's default) and the
    comma-joined one give the same totalEntries."""
    coveo = loaded
    # AlphaTeam + alice, bob, david in the provider (the e-mail users live in the Email provider)
    assert total_entries(coveo) == 4
    repeated = [("states", s) for s in ENABLED] + [("page", 0), ("perPage", 1)]
    comma = {"states": ",".join(ENABLED), "page": 0, "perPage": 1}
    assert total_entries(coveo, repeated) == total_entries(coveo, comma) == 4
    page = entities(coveo, comma).json()
    assert (len(page["items"]), page["totalPages"]) == (1, 4)

    _sync_identities(coveo, ordering_id=200, users=("bob", "david"), group_too=True)
    disable_identities_older_than(coveo, orderingId=200, queueDelay=0)
    assert total_entries(coveo, repeated) == total_entries(coveo, comma) == 3
    assert total_entries(coveo, {"states": "DISABLED"}) == 1
    assert total_entries(coveo, [("states", "DISABLED"), ("states", "UP_TO_DATE")]) == 4
    assert [i["name"] for i in entities(coveo, {"states": "DISABLED"}).json()["items"]] == ["alice"]
    assert total_entries(coveo, {"states": "IN_ERROR"}) == 0


def test_entity_counts_refuse_an_unknown_state_or_provider(coveo: Coveo) -> None:
    assert error(entities(coveo, {"states": "UP_TO_DATE,GONE"})) == (400, "INVALID_PARAMETER")
    assert error(entities(coveo, provider="nosuchprovider")) == (404, "SECURITY_PROVIDER_NOT_FOUND")


def test_entity_counts_filter_on_the_last_update_date(coveo: Coveo) -> None:
    coveo.put_identity({"identity": {"name": "early", "type": "USER"}})
    coveo.advance(3_600)
    coveo.put_identity({"identity": {"name": "late", "type": "USER"}})
    stamp = coveo.entity("late").json()["lastUpdateDate"]  # ms
    cut = w3c(datetime.fromtimestamp(stamp / 1000, UTC))
    coveo.advance(1)
    coveo.put_identity({"identity": {"name": "later", "type": "USER"}})
    assert total_entries(coveo, {"to": cut}) == 2
    assert total_entries(coveo, {"from": cut}) == 2  # late (at the cut) and later
