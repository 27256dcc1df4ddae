"""Poison isolation: whatever one message holds, only its own disposition changes. Only the ledger,
S3 or Coveo being unavailable may send a batch back, and then nothing is dead-lettered twice."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from connector.adapters.sqs_dead_letters import MAX_MESSAGE_BYTES, SqsDeadLetters
from connector.domain.errors import ContentNotFound, LedgerRefused, PermanentError
from connector.domain.ledger import Claim, ClaimResult
from connector.domain.pipeline import Disposition, Message
from tests import worked_example as wx
from tests.fakes import FakeLambdaContext
from tests.in_memory_ledger import InMemoryLedger

from .conftest import make_pipeline
from .test_push_items import record

GROUP = {"identity": "AlphaTeam", "identityType": "Group", "securityProvider": wx.PROVIDER_ID}


def item(n: int, **document: Any) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"e-{n}",
            "source": "urn:test",
            "type": "item.upserted",
            "data": {
                "documentId": f"file://folder/{n}.txt",
                "version": 1,
                "document": {"data": "x", "permissions": [{"allowedPermissions": [GROUP]}], **document},
            },
        }
    )


POISON = {
    "deep": item(90, x=0).replace('"x": 0', '"x": ' + "[" * 3000 + "]" * 3000),
    "surrogate": item(91, title="\ud800"),
    "duplicate": item(92).replace('"version": 1', '"version": 1, "version": 2'),
    "nan": item(93).replace('"data": "x"', '"data": "x", "n": NaN'),
    "huge-version": item(94).replace('"version": 1', '"version": ' + "9" * 40),
}


def test_each_poison_message_goes_alone_to_the_dlq_and_its_neighbours_are_pushed() -> None:
    pipeline = make_pipeline("item")
    good = [Message(f"g{n}", item(n)) for n in range(4)]
    bad = [Message(name, body) for name, body in POISON.items()]
    report = pipeline.process([*good[:2], *bad, *good[2:]], lambda: 60.0)
    assert {m.message_id: report.outcomes[m.message_id].disposition for m in good} == {
        m.message_id: Disposition.PUSHED for m in good
    }
    assert all(report.outcomes[m.message_id].disposition is Disposition.DEAD_LETTERED for m in bad)
    assert len(pipeline.dead_letters.sent) == len(bad)  # type: ignore[attr-defined]
    reasons = {m.message_id: report.outcomes[m.message_id].reason or "" for m in bad}
    assert "deeper than 32" in reasons["deep"]
    assert "surrogate at data.document.title" in reasons["surrogate"]
    assert "'version' twice" in reasons["duplicate"]
    assert "NaN" in reasons["nan"]
    assert "orderingId range" in reasons["huge-version"]


def test_an_unforeseen_exception_in_one_message_is_its_own_dead_letter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline = make_pipeline("item")
    original = pipeline._check

    def check(change: Any) -> Any:
        if change.subject.endswith("/1.txt"):
            raise RuntimeError("a bug that only this message trips")
        return original(change)

    monkeypatch.setattr(pipeline, "_check", check)
    report = pipeline.process([Message(f"m{n}", item(n)) for n in range(3)], lambda: 60.0)
    assert report.outcomes["m1"].disposition is Disposition.DEAD_LETTERED
    assert report.outcomes["m1"].reason == (
        "could not read or check this event: RuntimeError: a bug that only this message trips"
    )
    assert report.outcomes["m0"].disposition is report.outcomes["m2"].disposition is Disposition.PUSHED


class RefusingLedger(InMemoryLedger):
    """DynamoDB refuses one row (a ValidationException), the rest are claimed."""

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | PermanentError]:
        return [
            LedgerRefused(f"the ledger cannot record {c.subject!r}: ValidationException: too big")
            if c.subject.endswith("/1.txt")
            else self.claim(c)
            for c in claims
        ]


def test_a_row_the_ledger_refuses_dead_letters_that_change_only() -> None:
    pipeline = make_pipeline("item")
    pipeline.ledger = RefusingLedger()
    report = pipeline.process([Message(f"m{n}", item(n)) for n in range(3)], lambda: 60.0)
    assert report.outcomes["m1"].disposition is Disposition.DEAD_LETTERED
    assert "ValidationException" in (report.outcomes["m1"].reason or "")
    assert [o.disposition for k, o in sorted(report.outcomes.items()) if k != "m1"] == [
        Disposition.PUSHED
    ] * 2


class DownLedger(InMemoryLedger):
    def heads(self, keys: Sequence[str], versions: Any = None) -> Any:
        raise ConnectionError("DynamoDB endpoint unreachable")


def test_infrastructure_down_retries_the_rest_and_never_dead_letters_twice() -> None:
    pipeline = make_pipeline("item")
    pipeline.ledger = DownLedger()
    messages = [Message("bad", POISON["duplicate"]), Message("g0", item(0)), Message("g1", item(1))]
    report = pipeline.process(messages, lambda: 60.0)
    assert report.outcomes["bad"].disposition is Disposition.DEAD_LETTERED
    assert {report.outcomes[k].disposition for k in ("g0", "g1")} == {Disposition.RETRY}
    assert "ConnectionError: DynamoDB endpoint unreachable" in (report.outcomes["g0"].reason or "")
    # SQS redelivers only what the batch response names: the dead-lettered one is settled.
    assert report.retry_ids() == ["g0", "g1"]
    assert len(pipeline.dead_letters.sent) == 1  # type: ignore[attr-defined]


def test_the_handler_answers_a_partial_batch_response_when_the_ledger_is_down(push_items: Any) -> None:
    pipeline = make_pipeline("item")
    pipeline.ledger = DownLedger()
    event = {"Records": [record("bad", POISON["nan"]), record("good", item(0))]}
    response = push_items(event, FakeLambdaContext(), pipeline=pipeline)
    assert response == {"batchItemFailures": [{"itemIdentifier": "good"}]}


def test_a_batch_request_that_fails_to_build_finds_its_culprit(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = make_pipeline("item")
    coveo = pipeline.coveo

    def push_items(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("cannot serialise one of them")

    def push_item(source_id: str, document_id: str, item: Any, **kwargs: Any) -> None:
        if document_id.endswith("/1.txt"):
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")
        coveo.calls.append(type("Call", (), {"target": document_id})())  # type: ignore[attr-defined]

    monkeypatch.setattr(coveo, "push_items", push_items)
    monkeypatch.setattr(coveo, "push_item", push_item)
    report = pipeline.process([Message(f"m{n}", item(n)) for n in range(3)], lambda: 60.0)
    assert report.outcomes["m1"].disposition is Disposition.DEAD_LETTERED
    assert "could not push 'file://folder/1.txt': UnicodeEncodeError" in (report.outcomes["m1"].reason or "")
    assert report.outcomes["m0"].disposition is report.outcomes["m2"].disposition is Disposition.PUSHED


# --- contentRef to a missing object ------------------------------------------------------------


class MissingContent:
    def fetch(self, uri: str) -> bytes:
        raise ContentNotFound(f"data.contentRef {uri!r} names no object (NoSuchKey)")


def content_ref_event() -> str:
    event = json.loads(item(5))
    event["data"]["document"].pop("data")
    event["data"]["contentRef"] = "s3://bucket/missing.bin"
    return json.dumps(event)


def test_missing_content_is_tried_once_more_then_dead_lettered_naming_the_object() -> None:
    pipeline = make_pipeline("item")
    pipeline.content = MissingContent()
    first = pipeline.process([Message("m", content_ref_event(), receive_count=1)], lambda: 60.0)
    assert first.outcomes["m"].disposition is Disposition.RETRY
    second = pipeline.process([Message("m", content_ref_event(), receive_count=2)], lambda: 60.0)
    assert second.outcomes["m"].disposition is Disposition.DEAD_LETTERED
    assert "s3://bucket/missing.bin" in (second.outcomes["m"].reason or "")


# --- the DLQ send itself ------------------------------------------------------------------------


class RecordingSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **request: Any) -> None:
        for name, attribute in request["MessageAttributes"].items():
            value = attribute["StringValue"]
            value.encode("utf-8")  # what botocore does: a lone surrogate raises here
            assert value and all(
                c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD or ord(c) >= 0x10000
                for c in value
            ), name
        request["MessageBody"].encode("utf-8")
        self.sent.append(request)


def test_dlq_attributes_are_always_sendable() -> None:
    sqs = RecordingSqs()
    dead_letters = SqsDeadLetters(sqs, "url", "push_items")
    dead_letters.send(
        '{"id": "\ud800"}',
        reason="bad \x00 \ud800",
        kind="invalid-event",
        event_id="e-\ud800\x07",
        event_type="t",
    )
    attributes = sqs.sent[0]["MessageAttributes"]
    assert attributes["eventId"]["StringValue"] == "e-\\ud800\\x07"
    assert "\\u" in sqs.sent[0]["MessageBody"] and "bodyEscaped" in attributes


def test_a_dead_letter_fits_sqs_size_limit_with_its_body() -> None:
    sqs = RecordingSqs()
    body = "x" * (MAX_MESSAGE_BYTES - 600)
    SqsDeadLetters(sqs, "url", "push_items").send(
        body, reason="r" * 5000, kind="refused", event_id="e" * 5000, event_type="item.upserted"
    )
    request = sqs.sent[0]
    size = len(request["MessageBody"].encode()) + sum(
        len(n) + len(a["DataType"]) + len(a["StringValue"].encode())
        for n, a in request["MessageAttributes"].items()
    )
    assert size <= MAX_MESSAGE_BYTES
    assert request["MessageAttributes"]["reason"]["StringValue"].startswith("rrrr")


# --- the last delivery --------------------------------------------------------------------------


class DownCoveo:
    requests_sent = 0

    def __getattr__(self, name: str) -> Any:
        from tests.fakes import transient

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise transient()

        return fail


def test_on_the_last_delivery_a_failing_message_is_dead_lettered_with_its_last_error() -> None:
    outcomes = {}
    for receive_count, limit in ((4, 5), (5, 5), (9, None)):
        pipeline = make_pipeline("item", max_receive_count=limit)
        pipeline.coveo = DownCoveo()  # type: ignore[assignment]
        report = pipeline.process([Message("m", item(1), receive_count=receive_count)], lambda: 60.0)
        outcomes[(receive_count, limit)] = report.outcomes["m"]
    assert outcomes[(4, 5)].disposition is Disposition.RETRY
    assert outcomes[(9, None)].disposition is Disposition.RETRY  # no limit known: left to SQS
    last = outcomes[(5, 5)]
    assert last.disposition is Disposition.DEAD_LETTERED
    assert last.reason is not None and last.reason.startswith("gave up after 5 deliveries")
    assert "transient" in last.reason and last.subject == "file://folder/1.txt"
