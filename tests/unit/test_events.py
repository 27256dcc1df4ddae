"""The upstream event contract: envelopes, types, versions, and the reason for each refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.domain.errors import InvalidEvent
from connector.domain.events import (
    IdentityAlias,
    IdentityDelete,
    IdentityUpsert,
    ItemDelete,
    ItemUpsert,
    parse_message,
)
from tests import worked_example as wx

PERMISSIONS = [{"allowedPermissions": [{"identity": "AlphaTeam", "identityType": "Group"}]}]


def cloud_event(type_: str, data: Any, **extra: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": "e-1", "source": "urn:test", "type": type_, "data": data, **extra}


def parse(message: Any) -> Any:
    body = message if isinstance(message, str) else json.dumps(message)
    return parse_message(body, provider_id=wx.PROVIDER_ID)


def refusal(message: Any) -> str:
    with pytest.raises(InvalidEvent) as info:
        parse(message)
    return info.value.reason


def test_item_upserted() -> None:
    change = parse(
        cloud_event("item.upserted", {"documentId": wx.DOCUMENT_ID, "version": 7, "document": wx.item_wire()})
    )
    assert (change.key, change.version, change.subject, change.kind) == (
        f"item#{wx.DOCUMENT_ID}",
        7,
        wx.DOCUMENT_ID,
        "item",
    )
    assert isinstance(change.payload, ItemUpsert)
    assert change.payload.body.to_wire() == wx.item_wire()


def test_version_defaults_to_event_time_in_ms() -> None:
    event = cloud_event("item.deleted", {"documentId": "file://a"}, time="2026-11-26T10:00:00.250Z")
    assert parse(event).version == 1_795_687_200_250


def test_no_version_and_no_time_is_refused() -> None:
    assert "no version" in refusal(cloud_event("item.deleted", {"documentId": "file://a"}))


def test_sns_wrapped() -> None:
    inner = cloud_event("item.deleted", {"documentId": "file://a", "version": 1, "deleteChildren": True})
    change = parse({"Type": "Notification", "MessageId": "m", "Message": json.dumps(inner)})
    assert change.payload == ItemDelete("file://a", True)


def test_eventbridge_delivered() -> None:
    event = {
        "id": "eb-1",
        "detail-type": "item.deleted",
        "source": "s",
        "time": "2026-11-26T10:00:00Z",
        "detail": {"documentId": "file://a"},
    }
    change = parse(event)
    assert (change.event_id, change.event_type, change.version) == ("eb-1", "item.deleted", 1_795_687_200_000)


def test_identity_types_and_keys() -> None:
    upsert = parse(cloud_event("identity.upserted", {**wx.group_wire(), "version": 1}))
    alias = parse(cloud_event("identity.aliased", {**wx.alias_wire("alice"), "version": 1}))
    delete = parse(
        cloud_event("identity.deleted", {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "version": 2})
    )
    assert isinstance(upsert.payload, IdentityUpsert) and isinstance(alias.payload, IdentityAlias)
    assert isinstance(delete.payload, IdentityDelete)
    # A delete supersedes an upsert of the same identity; aliases are a separate record.
    assert upsert.key == delete.key == f"identity#{wx.PROVIDER_ID}#GROUP#AlphaTeam"
    assert alias.key == f"alias#{wx.PROVIDER_ID}#USER#alice"
    assert upsert.kind == "identity" and upsert.subject == "GROUP AlphaTeam"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("{not json", "message body is not JSON"),
        ("[1, 2]", "message body is an array, not a JSON object"),
        ({"id": "x"}, "not a CloudEvent: missing 'specversion', 'source', 'type'"),
        (
            {"specversion": "0.3", "id": "x", "source": "s", "type": "item.deleted"},
            "unsupported CloudEvents specversion '0.3'",
        ),
        (cloud_event("item.moved", {}), "unknown event type 'item.moved'"),
        (cloud_event("item.deleted", None), "item.deleted event has no data object"),
        (
            cloud_event("item.deleted", {"documentId": "file://a", "version": "2"}),
            "data.version: Input should be a valid integer",
        ),
        (
            cloud_event("item.deleted", {"documentId": "file://a", "version": -1}),
            "data.version: Input should be greater than or equal to 0",
        ),
        (
            cloud_event("item.deleted", {"documentId": "file://a", "version": 1, "deleteChildren": "yes"}),
            "data.deleteChildren",
        ),
        (
            cloud_event("item.deleted", {"documentId": "file://a", "version": 1, "colour": 1}),
            "data.colour: Extra inputs are not permitted",
        ),
        (cloud_event("item.deleted", {"documentId": "no uri", "version": 1}), "is not a URI"),
        (
            cloud_event("item.deleted", {"documentId": "file://a"}, time="yesterday"),
            "is not an RFC 3339 date-time",
        ),
        (
            cloud_event("item.deleted", {"documentId": "file://a"}, time="2026-11-26T10:00:00"),
            "has no time zone",
        ),
        (
            cloud_event("item.upserted", {"documentId": "file://a", "version": 1}),
            "data.document: Field required",
        ),
        (
            cloud_event(
                "item.upserted",
                {"documentId": "file://a", "version": 1, "document": {"documentId": "file://b", "data": "x"}},
            ),
            "differs from data.documentId",
        ),
        (
            cloud_event(
                "item.upserted",
                {
                    "documentId": "file://a",
                    "version": 1,
                    "document": {"data": "x"},
                    "contentRef": "s3://bucket/k",
                },
            ),
            "must not also carry content",
        ),
        (
            cloud_event(
                "item.upserted",
                {"documentId": "file://a", "version": 1, "document": {}, "contentRef": "http://b/k"},
            ),
            "is not an s3://bucket/key URI",
        ),
        (
            cloud_event(
                "identity.upserted", {"identity": {"name": "", "type": "GROUP"}}, time="2026-11-26T10:00:00Z"
            ),
            "data.identity.name",
        ),
        (
            cloud_event(
                "identity.upserted", {"identity": {"name": "g", "type": "TEAM"}}, time="2026-11-26T10:00:00Z"
            ),
            "unknown identity type 'TEAM'",
        ),
        (
            cloud_event(
                "identity.aliased",
                {"identity": {"name": "a", "type": "USER"}, "mappings": []},
                time="2026-11-26T10:00:00Z",
            ),
            "data.mappings",
        ),
    ],
)
def test_refusals_name_the_problem(message: Any, reason: str) -> None:
    assert reason in refusal(message)


def test_content_ref_item_carries_its_pointer() -> None:
    change = parse(
        cloud_event(
            "item.upserted",
            {
                "documentId": "file://a",
                "version": 1,
                "document": {"permissions": PERMISSIONS},
                "contentRef": "s3://my-bucket/a.pdf",
            },
        )
    )
    assert isinstance(change.payload, ItemUpsert)
    assert change.payload.content_ref == "s3://my-bucket/a.pdf"
