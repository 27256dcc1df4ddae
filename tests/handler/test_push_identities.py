"""push_identities as Lambda calls it: identities, aliases and deletions in, one identity batch out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from connector.domain.ledger import Status
from tests import worked_example as wx
from tests.fakes import FakeCoveo, FakeDeadLetters, FakeLambdaContext, transient
from tests.in_memory_ledger import InMemoryLedger

from .conftest import make_pipeline, sqs_event

Handler = Callable[..., dict[str, Any]]


def record(message_id: str, type_: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    event = {"specversion": "1.0", "id": event_id or message_id, "source": "dir", "type": type_, "data": data}
    return {
        "messageId": message_id,
        "receiptHandle": "rh",
        "body": json.dumps(event),
        "attributes": {},
        "messageAttributes": {},
    }


def parts(pipeline: Any) -> tuple[FakeCoveo, InMemoryLedger, FakeDeadLetters]:
    return (
        cast(FakeCoveo, pipeline.coveo),
        cast(InMemoryLedger, pipeline.ledger),
        cast(FakeDeadLetters, pipeline.dead_letters),
    )


def test_worked_example_is_one_identity_batch(push_identities: Handler) -> None:
    pipeline = make_pipeline("identity")
    coveo, ledger, dlq = parts(pipeline)
    response = push_identities(
        sqs_event("push_identities-worked-example.json"), FakeLambdaContext(), pipeline=pipeline
    )
    assert response == {"batchItemFailures": []}
    assert dlq.sent == []
    (call,) = coveo.calls
    assert (call.name, call.target) == ("push_identities", wx.PROVIDER_ID)
    members, mappings, deleted = call.payload
    assert [m.to_wire() for m in members] == [
        {
            "identity": {"name": "AlphaTeam", "type": "GROUP", "additionalInfo": {}},
            "members": [{"name": n, "type": "USER", "additionalInfo": {}} for n in wx.MEMBERS],
        }
    ]
    assert [(m.identity.name, m.mappings[0].name, m.mappings[0].provider) for m in mappings] == [
        (n, f"{n}@example.com", wx.EMAIL_PROVIDER) for n in wx.MEMBERS
    ]  # david's event names no provider: the default (Email Security Provider) is filled in
    assert deleted == []
    assert {key: head.status for key, head in ledger.rows.items()} == {
        f"identity#{wx.PROVIDER_ID}#GROUP#AlphaTeam": Status.ACCEPTED,
        **{f"alias#{wx.PROVIDER_ID}#USER#{n}": Status.ACCEPTED for n in wx.MEMBERS},
    }


def test_one_change_is_one_single_call(push_identities: Handler) -> None:
    pipeline = make_pipeline("identity")
    coveo, _, _ = parts(pipeline)
    event = {
        "Records": [
            record(
                "m", "identity.deleted", {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "version": 9}
            )
        ]
    }
    push_identities(event, FakeLambdaContext(), pipeline=pipeline)
    assert [(c.name, c.payload.to_wire()) for c in coveo.calls] == [
        ("delete_identity", {"identity": {"name": "AlphaTeam", "type": "GROUP", "additionalInfo": {}}})
    ]


def test_delete_supersedes_an_older_upsert_of_the_same_group(push_identities: Handler) -> None:
    pipeline = make_pipeline("identity")
    coveo, _, _ = parts(pipeline)
    event = {
        "Records": [
            record("m1", "identity.upserted", {**wx.group_wire(), "version": 1}),
            record(
                "m2", "identity.deleted", {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "version": 2}
            ),
        ]
    }
    assert push_identities(event, FakeLambdaContext(), pipeline=pipeline) == {"batchItemFailures": []}
    assert [c.name for c in coveo.calls] == ["delete_identity"]


def test_group_pushed_again_replaces_members_newest_wins(push_identities: Handler) -> None:
    pipeline = make_pipeline("identity")
    coveo, _, _ = parts(pipeline)
    without_david = {
        "identity": {"name": "AlphaTeam", "type": "GROUP"},
        "members": [{"name": "alice", "type": "USER"}, {"name": "bob", "type": "USER"}],
    }
    push_identities(
        {"Records": [record("m2", "identity.upserted", {**without_david, "version": 2})]},
        FakeLambdaContext(),
        pipeline=pipeline,
    )
    # The older version with david arrives late: skipped, never pushed over the newer one.
    push_identities(
        {"Records": [record("m1", "identity.upserted", {**wx.group_wire(), "version": 1})]},
        FakeLambdaContext(),
        pipeline=pipeline,
    )
    assert len(coveo.calls) == 1
    assert [m.name for m in coveo.calls[0].payload.members or []] == ["alice", "bob"]


def test_bad_identity_input_is_dead_lettered_with_specific_reasons(push_identities: Handler) -> None:
    pipeline = make_pipeline("identity")
    coveo, _, dlq = parts(pipeline)
    event = {
        "Records": [
            record("ok", "identity.upserted", {**wx.group_wire(), "version": 1}),
            record(
                "bad-type", "identity.upserted", {"identity": {"name": "g", "type": "TEAM"}, "version": 1}
            ),
            record(
                "empty-name", "identity.upserted", {"identity": {"name": " ", "type": "GROUP"}, "version": 1}
            ),
            record(
                "not-cascaded",
                "identity.aliased",
                {
                    "identity": {"name": "a", "type": "USER"},
                    "mappings": [{"name": "a", "type": "USER", "provider": "Okta"}],
                    "version": 1,
                },
            ),
            record(
                "user-members",
                "identity.upserted",
                {
                    "identity": {"name": "alice", "type": "USER"},
                    "members": [{"name": "x", "type": "USER"}],
                    "version": 1,
                },
            ),
            record("item-here", "item.deleted", {"documentId": "file://a", "version": 1}),
        ]
    }
    assert push_identities(event, FakeLambdaContext(), pipeline=pipeline) == {"batchItemFailures": []}
    reasons = dlq.reasons()
    assert "unknown identity type 'TEAM'" in reasons["bad-type"]
    assert "identity name must not be blank" in reasons["empty-name"]
    assert "does not cascade to" in reasons["not-cascaded"]
    assert "only GROUP and VIRTUAL_GROUP identities hold members" in reasons["user-members"]
    assert "belong on the item queue" in reasons["item-here"]
    assert [c.name for c in coveo.calls] == ["push_identity"]


def test_transient_failure_retries_the_batch(push_identities: Handler) -> None:
    pipeline = make_pipeline("identity")
    coveo, _, _ = parts(pipeline)
    coveo.failures["push_identities"] = [transient()]
    event = sqs_event("push_identities-worked-example.json")
    response = push_identities(event, FakeLambdaContext(), pipeline=pipeline)
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(
        r["messageId"] for r in event["Records"]
    )
    assert push_identities(event, FakeLambdaContext(), pipeline=pipeline) == {"batchItemFailures": []}
