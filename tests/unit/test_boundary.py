"""The hardened boundary: every hostile or odd input an outside tester tried, refused with a reason
that names the field, or made to work. Nothing here may be coerced where a permission, a version or
an identity is decided."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.domain.errors import InvalidEvent, PermanentError
from connector.domain.events import (
    MAX_READABLE_KEY_BYTES,
    ItemUpsert,
    item_key,
    parse_message,
)
from connector.domain.pipeline import Disposition, Message
from tests import worked_example as wx
from tests.handler.conftest import make_pipeline

PROVIDER = wx.PROVIDER_ID
GROUP = {"identity": "AlphaTeam", "identityType": "Group", "securityProvider": PROVIDER}


def item(document: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
    body = {"documentId": "file://folder/a.txt", "version": 1, "document": document or {"data": "x"}}
    return {
        "specversion": "1.0",
        "id": "e-1",
        "source": "urn:test",
        "type": "item.upserted",
        "data": {**body, **data},
    }


def secured(**permission_set: Any) -> dict[str, Any]:
    return {"data": "x", "permissions": [{"allowedPermissions": [GROUP], **permission_set}]}


def identity(name: Any, **data: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": "e-2",
        "source": "urn:test",
        "type": "identity.upserted",
        "data": {"identity": {"name": name, "type": "GROUP"}, "members": [], "version": 1, **data},
    }
    return event


def body_of(message: Any) -> str:
    return message if isinstance(message, str) else json.dumps(message)


def refusal(message: Any, **settings: Any) -> str:
    """What the item or identity pipeline says when it dead-letters `message` alone."""
    kind = "identity" if '"identity.' in body_of(message) else "item"
    pipeline = make_pipeline(kind, **settings)
    report = pipeline.process([Message("m", body_of(message))], lambda: 60.0)
    outcome = report.outcomes["m"]
    assert outcome.disposition is Disposition.DEAD_LETTERED, outcome
    assert pipeline.coveo.calls == []  # type: ignore[attr-defined]
    return outcome.reason or ""


def pushed(message: Any, **settings: Any) -> Any:
    kind = "identity" if '"identity.' in body_of(message) else "item"
    pipeline = make_pipeline(kind, **settings)
    report = pipeline.process([Message("m", body_of(message))], lambda: 60.0)
    assert report.outcomes["m"].disposition is Disposition.PUSHED, report.outcomes["m"]
    return pipeline.coveo.calls[-1]  # type: ignore[attr-defined]


# --- never public by accident -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "true", 1, 1.0, "1", [True], {"v": True}, None])
def test_allow_anonymous_must_be_the_json_literal(value: Any) -> None:
    reason = refusal(item(secured(allowAnonymous=value)))
    assert "allowAnonymous" in reason and "boolean" in reason


def test_duplicate_permissions_key_is_refused_not_last_wins() -> None:
    text = (
        '{"specversion": "1.0", "id": "dup", "source": "s", "type": "item.upserted", "data": '
        '{"documentId": "file://a", "version": 1, "document": {"data": "x", '
        '"permissions": [{"allowedPermissions": [{"identity": "AlphaTeam", "identityType": "Group"}]}], '
        '"permissions": [{"allowAnonymous": true}]}}}'
    )
    assert "has the key 'permissions' twice" in refusal(text)


def test_a_set_that_omits_allow_anonymous_goes_out_secured() -> None:
    call = pushed(item(secured()))
    wire = call.payload.to_wire()
    assert wire["permissions"][0]["allowAnonymous"] is False


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("identity", 5, "identity: Input should be a valid string"),
        ("identity", "  ", "identity name must not be blank"),
        ("identity", "", "identity"),
        ("securityProvider", " ", "identity name must not be blank"),
        ("securityProvider", 3, "securityProvider: Input should be a valid string"),
        ("identityType", 1, "identityType"),
    ],
)
def test_permission_identities_are_strict(field: str, value: Any, reason: str) -> None:
    document = {"data": "x", "permissions": [{"allowedPermissions": [{**GROUP, field: value}]}]}
    assert reason in refusal(item(document))


def test_a_provider_the_deployment_does_not_use_is_refused_at_once() -> None:
    document = {
        "data": "x",
        "permissions": [{"allowedPermissions": [{**GROUP, "securityProvider": "Other"}]}],
    }
    reason = refusal(item(document))
    assert "securityProvider 'Other'" in reason and PROVIDER in reason
    # The deployment's provider and the providers it cascades to are fine.
    pushed(item(secured()))
    email = {
        "identity": "bob@example.com",
        "identityType": "User",
        "securityProvider": "Email Security Provider",
    }
    pushed(
        item({"data": "x", "permissions": [{"allowedPermissions": [GROUP], "deniedPermissions": [email]}]})
    )


# --- versions and times ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("7", "data.version: Input should be a valid integer"),
        (7.0, "data.version: Input should be a valid integer"),
        (True, "data.version: Input should be a valid integer"),
        (-1, "data.version: Input should be greater than or equal to 0"),
        (2**63, "orderingId range"),
        (10**39, "orderingId range"),
    ],
)
def test_versions_are_json_integers_in_the_ordering_id_range(version: Any, reason: str) -> None:
    assert reason in refusal(item(secured(), version=version))


def test_the_largest_version_works() -> None:
    pushed(item(secured(), version=2**63 - 1))


@pytest.mark.parametrize(
    ("time", "version"),
    [
        ("2026-11-26T10:00:00Z", 1_795_687_200_000),
        ("2026-11-26t10:00:00z", 1_795_687_200_000),  # RFC 3339 allows either case
        ("2026-11-26T11:00:00.001+01:00", 1_795_687_200_001),
        ("2016-12-31T23:59:60Z", 1_483_228_800_000),  # a leap second: the next second
        ("1970-01-01T00:00:00Z", 0),
        ("2026-11-26T10:00:00.123456789Z", 1_795_687_200_123),
    ],
)
def test_event_times_are_full_rfc3339(time: str, version: int) -> None:
    event = {**item(secured()), "time": time}
    del event["data"]["version"]
    assert parse_message(json.dumps(event), provider_id=PROVIDER).version == version


@pytest.mark.parametrize(
    ("time", "reason"),
    [
        ("1969-12-31T23:59:59Z", "is before 1970"),
        ("2026-11-26", "is not an RFC 3339 date-time"),
        ("2026-11-26 10:00:00Z", "is not an RFC 3339 date-time"),
        ("20261126T100000Z", "is not an RFC 3339 date-time"),
        ("2026-02-30T10:00:00Z", "is not a valid date-time"),
        ("2026-11-26T10:00:00+24:00", "is not a valid date-time"),
        ("2026-11-26T10:00:00Z\n", "is not an RFC 3339 date-time"),
        ("2026-11-26T10:00:00", "has no time zone"),
        (1764151200, "must be an RFC 3339 string, got a number"),
    ],
)
def test_bad_times_are_refused(time: Any, reason: str) -> None:
    assert reason in refusal({**item(secured()), "time": time})


# --- document ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document_id", "reason"),
    [
        ("file://folder/a.txt\n", "is not a URI"),
        ("file://folder/a.txt\r", "is not a URI"),
        ("javascript:alert(1)", "javascript: scheme"),
        ("JavaScript://x%0aalert(1)", "javascript: scheme"),
        ("data:text/html,<script>", "data: scheme"),
        ("vbscript:msgbox", "vbscript: scheme"),
        ("file://", "empty authority and path"),
        ("https://", "empty authority and path"),
        ("https://?q=1", "empty authority and path"),
        ("no-scheme", "is not a URI"),
        ("file://" + "a" * 2100, "at most 2,048"),
    ],
)
def test_document_ids_are_whole_uris_that_link_to_an_item(document_id: str, reason: str) -> None:
    assert reason in refusal(item(secured(), documentId=document_id))


def test_long_ids_work_and_their_ledger_key_stays_within_dynamodb_limits() -> None:
    document_id = "file://" + "é" * 2000  # 2,007 characters, 4,007 bytes
    call = pushed(item(secured(), documentId=document_id))
    assert call.target == document_id
    key = item_key(document_id)
    assert len(key.encode()) < 2048 and key.startswith("item#sha256 ")
    assert item_key("file://short") == "item#file://short"  # readable while it fits
    assert len(item_key("file://" + "a" * (MAX_READABLE_KEY_BYTES - 12)).encode()) == MAX_READABLE_KEY_BYTES


def test_long_identity_names_work_and_past_the_cap_are_refused() -> None:
    call = pushed(identity("g" * 2000))
    assert call.payload.identity.name == "g" * 2000
    assert "at most 2,048" in refusal(identity("g" * 2049))


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_blank_identity_names_are_refused(name: str) -> None:
    assert "data.identity.name" in refusal(identity(name))


def test_a_blank_member_or_alias_name_is_refused() -> None:
    assert "identity name must not be blank" in refusal(
        identity("g", members=[{"name": " ", "type": "USER"}])
    )
    alias = identity("alice")
    alias["type"] = "identity.aliased"
    alias["data"] = {
        "identity": {"name": "alice", "type": "USER"},
        "mappings": [{"name": " ", "type": "USER", "provider": "Email Security Provider"}],
    }
    assert "data.mappings.0.name" in refusal(alias)


# --- content and metadata -----------------------------------------------------------------------


def test_a_producer_supplied_file_id_is_refused() -> None:
    for key in ("compressedBinaryDataFileId", "compressedbinarydatafileid"):
        document = {key: "abc", "permissions": secured()["permissions"]}
        assert "compressedBinaryDataFileId is the connector's to set" in refusal(item(document))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_metadata_is_refused(value: str) -> None:
    text = json.dumps(item(secured())).replace('"data": "x"', f'"data": "x", "size": {value}')
    reason = refusal(text)
    assert "not JSON" in reason or "too large" in reason


def test_metadata_values_are_strict_too() -> None:
    reason = refusal(item({**secured(), "data": 5}))
    assert "data.document.data: Input should be a valid string" in reason


# --- envelopes ----------------------------------------------------------------------------------


def test_an_sns_message_that_is_an_object_names_the_envelope() -> None:
    sns = {"Type": "Notification", "MessageId": "m", "Message": item(secured())}
    assert "SNS notification's 'Message' is an object" in refusal(sns)


def test_a_lone_surrogate_anywhere_is_refused_naming_where() -> None:
    for where, text in [
        ("data.document.title", json.dumps(item({**secured(), "title": "\ud800"}))),
        ("data.documentId", json.dumps(item(secured(), documentId="file://\udc00"))),
        ("id", json.dumps({**item(secured()), "id": "e-\ud800"})),
    ]:
        assert f"unpaired UTF-16 surrogate at {where}" in refusal(text)


def test_nesting_past_the_limit_is_refused_not_a_recursion_error() -> None:
    deep = json.dumps(item({**secured(), "x": 1})).replace('"x": 1', '"x": ' + "[" * 5000 + "]" * 5000)
    assert "deeper than 32 levels" in refusal(deep)


def test_event_ids_are_bounded() -> None:
    assert "at most 1,024" in refusal({**item(secured()), "id": "e" * 1025})


def test_parsing_raises_only_our_refusal_type() -> None:
    for text in ["[" * 100_000, '{"a":1,"a":2}', "\ud800", "null", '{"Type": "Notification", "Message": 5}']:
        with pytest.raises(InvalidEvent):
            parse_message(text, provider_id=PROVIDER)
    assert issubclass(InvalidEvent, PermanentError)


def test_a_valid_event_still_parses() -> None:
    change = parse_message(json.dumps(item(secured())), provider_id=PROVIDER)
    assert isinstance(change.payload, ItemUpsert)
