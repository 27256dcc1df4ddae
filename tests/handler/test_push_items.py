"""push_items as Lambda calls it: an SQS event in, a partial batch response out, with fakes behind."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, ClassVar, cast

import pytest

from connector.domain.ledger import Head, Status
from coveo_push_api import CoveoAuthError, CoveoBadRequestError
from tests.fakes import FakeContent, FakeCoveo, FakeDeadLetters, FakeLambdaContext, transient
from tests.in_memory_ledger import InMemoryLedger

from .conftest import make_pipeline, sqs_event

Handler = Callable[..., dict[str, Any]]


def parts(pipeline: Any) -> tuple[FakeCoveo, InMemoryLedger, FakeDeadLetters]:
    return (
        cast(FakeCoveo, pipeline.coveo),
        cast(InMemoryLedger, pipeline.ledger),
        cast(FakeDeadLetters, pipeline.dead_letters),
    )


def record(message_id: str, event: dict[str, Any] | str) -> dict[str, Any]:
    body = event if isinstance(event, str) else json.dumps(event)
    return {
        "messageId": message_id,
        "receiptHandle": "rh",
        "body": body,
        "attributes": {},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ItemQueue",
        "awsRegion": "us-east-1",
    }


def upsert(event_id: str, document_id: str, version: int, text: str = "x") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "test",
        "type": "item.upserted",
        "data": {
            "documentId": document_id,
            "version": version,
            "document": {
                "data": text,
                "permissions": [{"allowedPermissions": [{"identity": "AlphaTeam", "identityType": "Group"}]}],
            },
        },
    }


class TestMixedBatch:
    """events/sqs/push_items-mixed-batch.json: three valid changes among nine kinds of bad input."""

    EXPECTED_REASONS: ClassVar[dict[str | None, str]] = {
        None: "message body is not JSON",
        "e-unknown-type": "unknown event type 'item.renamed'",
        "e-missing-documentid": "data.documentId: Field required",
        "e-not-a-uri": "data.documentId 'mytext.txt' is not a URI",
        "e-sub-object": "metadata 'owner' is an object",
        "e-reserved-key": "'Permissions' is the reserved key 'permissions' in another casing",
        "e-no-permissions": "has no permissions; a secured source never implies a permission model",
        "e-too-many-permissions": "has 5,001 permissions; Coveo allows at most 5,000",
        "e-bad-identity-type": "unknown identityType 'Team'",
    }

    def test_bad_input_is_dead_lettered_with_a_specific_reason_and_acknowledged(
        self, push_items: Handler
    ) -> None:
        pipeline = make_pipeline("item")
        _, _, dlq = parts(pipeline)
        response = push_items(
            sqs_event("push_items-mixed-batch.json"), FakeLambdaContext(), pipeline=pipeline
        )
        assert response == {"batchItemFailures": []}
        reasons = dlq.reasons()
        assert set(reasons) == set(self.EXPECTED_REASONS)
        for event_id, expected in self.EXPECTED_REASONS.items():
            assert expected in reasons[event_id], (event_id, reasons[event_id])
        kinds = {d.event_id: d.kind for d in dlq.sent}
        assert kinds["e-no-permissions"] == "refused"
        assert kinds["e-unknown-type"] == "invalid-event"
        # The body is dead-lettered as it came, so it can be fixed and redriven.
        assert next(d.body for d in dlq.sent if d.event_id is None) == "this is not json {"

    def test_valid_neighbours_are_pushed_in_one_batch(self, push_items: Handler) -> None:
        pipeline = make_pipeline("item")
        coveo, ledger, _ = parts(pipeline)
        push_items(sqs_event("push_items-mixed-batch.json"), FakeLambdaContext(), pipeline=pipeline)
        assert [c.name for c in coveo.calls] == ["push_items"]
        adds, deletes = coveo.calls[0].payload
        assert [a.document_id for a in adds] == ["file://folder/mytext.txt", "file://folder/public.txt"]
        assert [(d.document_id, d.delete_children) for d in deletes] == [("file://folder/old.txt", True)]
        assert {key: head.status for key, head in ledger.rows.items()} == {
            "item#file://folder/mytext.txt": Status.ACCEPTED,
            "item#file://folder/public.txt": Status.ACCEPTED,
            "item#file://folder/old.txt": Status.ACCEPTED,
        }
        accepted = ledger.accepted["item#file://folder/old.txt"]
        assert (accepted.operation, accepted.version, accepted.file_id, accepted.attempts) == (
            "item.deleted",
            2,
            "file-0",
            1,
        )
        assert accepted.change is not None


def test_worked_example_is_one_single_call(push_items: Handler) -> None:
    pipeline = make_pipeline("item")
    coveo, _, _ = parts(pipeline)
    assert push_items(
        sqs_event("push_items-worked-example.json"), FakeLambdaContext(), pipeline=pipeline
    ) == {"batchItemFailures": []}
    (call,) = coveo.calls
    assert (call.name, call.target) == ("push_item", "file://folder/mytext.txt")
    assert call.payload.metadata == {"title": "My text", "author": "Alice Smith"}
    assert call.ordering_id is not None


def test_sns_and_eventbridge_envelopes(push_items: Handler) -> None:
    pipeline = make_pipeline("item")
    coveo, _, dlq = parts(pipeline)
    push_items(sqs_event("push_items-envelopes.json"), FakeLambdaContext(), pipeline=pipeline)
    assert dlq.sent == []
    adds, _ = coveo.calls[0].payload
    assert [a.document_id for a in adds] == ["file://folder/sns.txt", "file://folder/eventbridge.txt"]


def test_coalescing_keeps_the_newest_change_per_document(push_items: Handler) -> None:
    pipeline = make_pipeline("item")
    coveo, ledger, _ = parts(pipeline)
    event = {
        "Records": [
            record("m2", upsert("e2", "file://a", 2, "two")),
            record("m3", upsert("e3", "file://a", 3, "three")),
            record("m1", upsert("e1", "file://a", 1, "one")),
        ]
    }
    assert push_items(event, FakeLambdaContext(), pipeline=pipeline) == {"batchItemFailures": []}
    (call,) = coveo.calls
    assert (call.name, call.payload.data) == ("push_item", "three")
    assert ledger.rows["item#file://a"].version == 3


def test_stale_change_is_skipped_not_pushed(push_items: Handler) -> None:
    pipeline = make_pipeline("item")
    coveo, ledger, _ = parts(pipeline)
    ledger.rows["item#file://a"] = Head("item#file://a", 5, 1, Status.ACCEPTED)
    assert push_items(
        {"Records": [record("m", upsert("e", "file://a", 4))]}, FakeLambdaContext(), pipeline=pipeline
    ) == {"batchItemFailures": []}
    assert coveo.calls == []
    assert ledger.rows["item#file://a"].version == 5


def test_duplicate_of_an_accepted_push_is_skipped(push_items: Handler) -> None:
    pipeline = make_pipeline("item")
    coveo, _, _ = parts(pipeline)
    event = {"Records": [record("m", upsert("e", "file://a", 4))]}
    push_items(event, FakeLambdaContext(), pipeline=pipeline)
    push_items(event, FakeLambdaContext(), pipeline=pipeline)
    assert len(coveo.calls) == 1


@pytest.mark.parametrize(
    ("versions", "prefetches"),
    [
        ({"file://a": 6, "file://b": 6, "file://c": 6}, 1),  # a batch push: its container is asked for early
        ({"file://a": 6}, 0),  # one change goes as a single call: no container
        ({"file://a": 4, "file://b": 3}, 0),  # all stale: nothing to push
        ({"file://a": 4, "file://b": 6}, 0),  # one fresh, one stale: a single call
    ],
)
def test_a_container_is_asked_for_while_the_claims_run_only_for_a_batch_push(
    push_items: Handler, versions: dict[str, int], prefetches: int
) -> None:
    pipeline = make_pipeline("item")
    coveo, ledger, _ = parts(pipeline)
    ledger.rows["item#file://a"] = Head("item#file://a", 5, 1, Status.ACCEPTED)
    ledger.rows["item#file://b"] = Head("item#file://b", 5, 1, Status.ACCEPTED)
    event = {"Records": [record(f"m{n}", upsert(f"e{n}", d, v)) for n, (d, v) in enumerate(versions.items())]}
    assert push_items(event, FakeLambdaContext(), pipeline=pipeline) == {"batchItemFailures": []}
    assert coveo.prefetches == prefetches
    assert [c.name for c in coveo.calls] == (
        ["push_items"] if prefetches else ["push_item"] * (len(coveo.calls))
    )


def test_transient_failure_is_retried_by_sqs_and_pushed_on_redelivery(push_items: Handler) -> None:
    pipeline = make_pipeline("item")
    coveo, ledger, dlq = parts(pipeline)
    coveo.failures["push_items"] = [transient()]
    event = {
        "Records": [record("m1", upsert("e1", "file://a", 1)), record("m2", upsert("e2", "file://b", 1))]
    }
    assert push_items(event, FakeLambdaContext(), pipeline=pipeline) == {
        "batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]
    }
    assert ledger.rows["item#file://a"].status is Status.CLAIMED
    # Redelivered: the guard lets an unpushed claim through, with a higher orderingId.
    first_ordering = ledger.rows["item#file://a"].ordering_id
    assert push_items(event, FakeLambdaContext(), pipeline=pipeline) == {"batchItemFailures": []}
    assert coveo.calls[0].ordering_id is not None and coveo.calls[0].ordering_id > first_ordering
    assert ledger.rows["item#file://a"].status is Status.ACCEPTED
    assert ledger.accepted["item#file://a"].attempts == 2
    assert dlq.sent == []


class LedgerDownAfterThePush(InMemoryLedger):
    """The ledger write that records Coveo's 202 fails (throttled, timed out) `failures` times."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def record_accepted(self, accepted: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise TimeoutError("DynamoDB did not answer")
        super().record_accepted(accepted)


@pytest.mark.parametrize("documents", [1, 3], ids=["single-call", "batch"])
def test_a_push_whose_ledger_write_fails_is_retried_not_reported_pushed(
    push_items: Handler, documents: int
) -> None:
    """Coveo took the change, but without its ACCEPTED row the validator would never check it:
    the message is not acknowledged, and its redelivery pushes again and records the row."""
    ledger = LedgerDownAfterThePush(failures=1)
    pipeline = dataclasses.replace(make_pipeline("item"), ledger=ledger)
    coveo, _, dlq = parts(pipeline)
    event = {"Records": [record(f"m{i}", upsert(f"e{i}", f"file://{i}", 1)) for i in range(documents)]}
    assert push_items(event, FakeLambdaContext(), pipeline=pipeline) == {
        "batchItemFailures": [{"itemIdentifier": f"m{i}"} for i in range(documents)]
    }
    assert len(coveo.calls) == 1
    assert {ledger.rows[f"item#file://{i}"].status for i in range(documents)} == {Status.CLAIMED}
    assert ledger.accepted == {}
    assert push_items(event, FakeLambdaContext(), pipeline=pipeline) == {"batchItemFailures": []}
    assert len(coveo.calls) == 2
    assert {ledger.rows[f"item#file://{i}"].status for i in range(documents)} == {Status.ACCEPTED}
    assert dlq.sent == []


def test_out_of_time_fails_what_was_not_pushed(push_items: Handler) -> None:
    pipeline = make_pipeline("item", safety_margin_s=10)
    coveo, _, dlq = parts(pipeline)
    event = {"Records": [record("m1", upsert("e1", "file://a", 1)), record("bad", "not json")]}
    response = push_items(event, FakeLambdaContext(remaining_ms=9_000), pipeline=pipeline)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert coveo.calls == []
    assert len(dlq.sent) == 1  # bad input still goes to the DLQ at once


def test_unreachable_dlq_keeps_the_message_on_its_queue(push_items: Handler) -> None:
    pipeline = make_pipeline("item")
    _, _, dlq = parts(pipeline)
    dlq.broken = True
    assert push_items({"Records": [record("bad", "not json")]}, FakeLambdaContext(), pipeline=pipeline) == {
        "batchItemFailures": [{"itemIdentifier": "bad"}]
    }


def test_a_batch_coveo_refuses_is_split_to_find_the_bad_item(push_items: Handler) -> None:
    pipeline = make_pipeline("item")
    coveo, ledger, dlq = parts(pipeline)
    coveo.failures["push_items"] = [
        CoveoBadRequestError("Invalid JSON.", status=400, error_code="INVALID_JSON")
    ]
    coveo.fail_document["file://bad"] = CoveoBadRequestError(
        "Invalid JSON.", status=400, error_code="INVALID_JSON"
    )
    event = {
        "Records": [
            record("m1", upsert("e1", "file://a", 1)),
            record("m2", upsert("e2", "file://bad", 1)),
            record("m3", upsert("e3", "file://c", 1)),
        ]
    }
    assert push_items(event, FakeLambdaContext(), pipeline=pipeline) == {"batchItemFailures": []}
    assert [c.target for c in coveo.calls] == ["file://a", "file://c"]
    (dead,) = dlq.sent
    assert dead.event_id == "e2"
    assert "Coveo refused 'file://bad'" in dead.reason and "INVALID_JSON" in dead.reason
    assert dead.kind == "rejected-by-coveo"
    assert ledger.rows["item#file://c"].status is Status.ACCEPTED


@pytest.mark.parametrize("status", [401, 403, 404, 412])
def test_configuration_errors_are_retried_not_blamed_on_the_change(push_items: Handler, status: int) -> None:
    pipeline = make_pipeline("item")
    coveo, _, dlq = parts(pipeline)
    coveo.failures["push_item"] = [
        CoveoAuthError("Token is invalid.", status=status, error_code="INVALID_TOKEN")
    ]
    response = push_items(
        {"Records": [record("m", upsert("e", "file://a", 1))]}, FakeLambdaContext(), pipeline=pipeline
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    assert dlq.sent == []


def test_identity_event_on_the_item_queue_is_refused(push_items: Handler) -> None:
    pipeline = make_pipeline("item")
    _, _, dlq = parts(pipeline)
    event = sqs_event("push_identities-worked-example.json")
    push_items(event, FakeLambdaContext(), pipeline=pipeline)
    assert all("belong on the identity queue" in d.reason for d in dlq.sent)
    assert len(dlq.sent) == 4


def test_content_ref_is_fetched_and_pushed_as_binary(push_items: Handler) -> None:
    import base64

    pipeline = make_pipeline("item")
    coveo, _, _ = parts(pipeline)
    cast(FakeContent, pipeline.content).objects["s3://bucket/big.pdf"] = b"%PDF-1.7 content"
    event = upsert("e", "file://big.pdf", 1)
    event["data"]["document"].pop("data")
    event["data"]["contentRef"] = "s3://bucket/big.pdf"
    push_items({"Records": [record("m", event)]}, FakeLambdaContext(), pipeline=pipeline)
    body = coveo.calls[0].payload
    assert base64.b64decode(body.compressed_binary_data) == b"%PDF-1.7 content"
    assert body.compressed_binary_data_file_id is None
    assert body.to_wire()["compressionType"] == "UNCOMPRESSED"


def test_content_ref_that_is_not_what_its_compression_type_says_is_dead_lettered(
    push_items: Handler,
) -> None:
    pipeline = make_pipeline("item")
    coveo, _, dlq = parts(pipeline)
    cast(FakeContent, pipeline.content).objects["s3://bucket/big.pdf"] = b"%PDF-1.7 not gzipped"
    event = upsert("e", "file://big.pdf", 1)
    event["data"]["document"].pop("data")
    event["data"]["document"]["compressionType"] = "GZIP"
    event["data"]["contentRef"] = "s3://bucket/big.pdf"
    neighbour = upsert("n", "file://fine", 1)
    response = push_items(
        {"Records": [record("m", event), record("ok", neighbour)]}, FakeLambdaContext(), pipeline=pipeline
    )
    assert response == {"batchItemFailures": []}
    assert [(d.event_id, d.reason) for d in dlq.sent] == [
        (
            "e",
            "item 'file://big.pdf': compressionType says GZIP but it is not valid GZIP data (Error -3 "
            "while decompressing data: incorrect header check); compress the content that way, or set "
            "compressionType to how it is encoded",
        )
    ]
    assert [call.target for call in coveo.calls] == ["file://fine"]


def test_missing_content_ref_object_is_retried(push_items: Handler) -> None:
    pipeline = make_pipeline("item")
    event = upsert("e", "file://big.pdf", 1)
    event["data"]["document"].pop("data")
    event["data"]["contentRef"] = "s3://bucket/missing.pdf"
    response = push_items({"Records": [record("m", event)]}, FakeLambdaContext(), pipeline=pipeline)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m"}]}


def test_allow_public_items_deployment_sends_an_explicit_public_model(push_items: Handler) -> None:
    pipeline = make_pipeline("item", allow_public_items=True)
    coveo, _, dlq = parts(pipeline)
    event = upsert("e", "file://a", 1)
    del event["data"]["document"]["permissions"]
    push_items({"Records": [record("m", event)]}, FakeLambdaContext(), pipeline=pipeline)
    assert dlq.sent == []
    assert coveo.calls[0].payload.to_wire()["permissions"] == [
        {"allowAnonymous": True, "allowedPermissions": [], "deniedPermissions": []}
    ]


def test_metrics_and_logs_are_emitted(
    push_items: Handler, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = make_pipeline("item")
    push_items(sqs_event("push_items-mixed-batch.json"), FakeLambdaContext(), pipeline=pipeline)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emf = next(line for line in lines if "_aws" in line)
    assert (emf["Pushed"], emf["DeadLettered"], emf["StaleSkipped"], emf["Retried"]) == (
        [3.0],
        [9.0],
        [0.0],
        [0.0],
    )
    assert emf["CoveoRequests"] == [3.0]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CoveoConnector"
    dead = [r for r in caplog.records if r.getMessage().startswith("dead-lettered")]
    assert len(dead) == 9
    assert {getattr(r, "event_id", None) for r in dead} >= {
        "e-no-permissions",
        "e-sub-object",
        "e-unknown-type",
    }
