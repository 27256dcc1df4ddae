"""The full-sync part of the event contract: sync.started, sync.completed, data.syncId, and the
reason for each refusal. A syncId becomes a ledger key and an S3 prefix, so it is strict."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.domain.events import (
    Kind,
    SyncEnd,
    SyncStart,
    sync_id_of,
)
from tests import worked_example as wx

from .test_events import cloud_event, parse, refusal


def started(**data: Any) -> dict[str, Any]:
    return cloud_event("sync.started", {"syncId": "nightly-2026-12-01", "scope": "items", **data})


def completed(**data: Any) -> dict[str, Any]:
    return cloud_event("sync.completed", {"syncId": "nightly-2026-12-01", "count": 3, **data})


def test_sync_started_names_its_sync_and_scope() -> None:
    change = parse(started(scope="identities"))
    assert change.payload == SyncStart("nightly-2026-12-01", Kind.IDENTITY)
    assert (change.kind, change.sync_id, change.is_sync_control) == (
        Kind.IDENTITY,
        "nightly-2026-12-01",
        True,
    )


def test_sync_completed_carries_the_count_and_the_mass_delete_consent() -> None:
    change = parse(completed(count=200, allowMassDelete=True))
    assert change.payload == SyncEnd("nightly-2026-12-01", 200, True, None)
    # No scope: it is taken on either queue (its sync says which).
    assert change.belongs_on(Kind.ITEM) and change.belongs_on(Kind.IDENTITY)
    scoped = parse(completed(scope="identities"))
    assert scoped.belongs_on(Kind.IDENTITY) and not scoped.belongs_on(Kind.ITEM)


def test_a_sync_event_version_is_its_time_or_nothing() -> None:
    assert parse(started()).version == 0
    timed = parse({**started(), "time": "2026-11-26T10:00:00.250Z"})
    assert timed.version == 1_795_687_200_250


@pytest.mark.parametrize(
    "sync_id",
    ["", "../etc", "a/b", "a b", "-leading-dash", "x" * 129, "é", "a\nb", "a#b", "a%2Fb"],
)
def test_a_sync_id_that_could_escape_its_key_or_prefix_is_refused(sync_id: str) -> None:
    reason = refusal(started(syncId=sync_id))
    assert "not a sync id" in reason
    assert "\n" not in reason


@pytest.mark.parametrize("sync_id", [7, None, ["a"], {"id": "a"}, True])
def test_a_sync_id_that_is_not_a_string_is_refused(sync_id: Any) -> None:
    assert "data.syncId" in refusal(started(syncId=sync_id))


@pytest.mark.parametrize("scope", ["ITEMS", "item", "documents", "", None, 1])
def test_only_the_two_scopes_are_accepted(scope: Any) -> None:
    reason = refusal(started(scope=scope))
    assert "scope" in reason


def test_sync_started_without_scope_is_refused() -> None:
    event = started()
    del event["data"]["scope"]
    assert "data.scope" in refusal(event)


@pytest.mark.parametrize("count", [-1, 1.0, "3", True, None, 10**9 + 1])
def test_a_count_must_be_a_plain_non_negative_integer(count: Any) -> None:
    assert "data.count" in refusal(completed(count=count))


@pytest.mark.parametrize("consent", ["true", 1, None])
def test_mass_delete_consent_is_a_real_boolean(consent: Any) -> None:
    assert "data.allowMassDelete" in refusal(completed(allowMassDelete=consent))


def test_unknown_fields_in_sync_events_are_refused() -> None:
    assert "deleteAll" in refusal(completed(deleteAll=True))
    assert "count" in refusal(started(count=3))


def test_changes_carry_their_sync() -> None:
    item = cloud_event(
        "item.upserted",
        {"documentId": wx.DOCUMENT_ID, "version": 1, "document": wx.item_wire(), "syncId": "s-1"},
    )
    deleted = cloud_event("item.deleted", {"documentId": wx.DOCUMENT_ID, "version": 2, "syncId": "s-1"})
    identity = cloud_event("identity.upserted", {**wx.group_wire(), "version": 1, "syncId": "s-1"})
    alias = cloud_event("identity.aliased", {**wx.alias_wire("alice"), "version": 1, "syncId": "s-1"})
    for event in (item, deleted, identity, alias):
        change = parse(event)
        assert change.sync_id == "s-1" and not change.is_sync_control
    # syncId is the contract's, not Coveo's: it is not sent as part of the identity body.
    assert b"syncId" not in parse(identity).payload.body.to_wire_json()


def test_a_change_with_a_bad_sync_id_is_refused() -> None:
    event = cloud_event("item.deleted", {"documentId": wx.DOCUMENT_ID, "version": 2, "syncId": "../x"})
    assert "not a sync id" in refusal(event)
    identity = cloud_event("identity.deleted", {**_identity_only(), "version": 1, "syncId": 5})
    assert "data.syncId" in refusal(identity)


def _identity_only() -> dict[str, Any]:
    return {"identity": wx.group_wire()["identity"]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (json.dumps(cloud_event("item.upserted", {"syncId": "s-1", "documentId": 3})), "s-1"),
        (json.dumps({"detail-type": "item.deleted", "id": "x", "detail": {"syncId": "s-2"}}), "s-2"),
        (json.dumps({"Type": "Notification", "Message": json.dumps({"data": {"syncId": "s-3"}})}), "s-3"),
        (json.dumps({"Type": "Notification", "Message": {"data": {"syncId": "s-3"}}}), None),
        (json.dumps(cloud_event("item.deleted", {"syncId": "../x"})), None),
        ("not json", None),
        ("[1, 2]", None),
    ],
)
def test_the_sync_of_an_unreadable_change_is_found_when_it_can_be(body: str, expected: str | None) -> None:
    assert sync_id_of(body) == expected
