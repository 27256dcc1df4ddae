"""The pipeline at its edges, each test pinned to behaviour a user or an operator sees: which Coveo
call a lone change makes, the orderingId, the stale guard's answers and their reasons, the time
budget, what the ledger keeps (TTL, stored change, file ids) and what the metrics report."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pytest

from connector.domain import pipeline as pipeline_module
from connector.domain import stored_change as stored_change_module
from connector.domain.errors import ContentNotFound
from connector.domain.events import parse_message
from connector.domain.ledger import Claim, ClaimResult, Head, Status
from connector.domain.pipeline import Disposition, Message, Pipeline, PipelineSettings, Repush
from connector.domain.stored_change import StoredChange
from coveo_push_api import BatchReceipt, ItemTooLargeError
from coveo_push_api.models import ItemBody
from tests import worked_example as wx
from tests.fakes import FakeContent, FakeCoveo, FakeDeadLetters, transient
from tests.in_memory_ledger import InMemoryLedger

from .conftest import make_pipeline

GROUP = {"identity": "AlphaTeam", "identityType": "Group", "securityProvider": wx.PROVIDER_ID}
NOW = 1_795_687_200_000


def event(n: int, event_type: str = "item.upserted", version: int = 1, **data: Any) -> str:
    body: dict[str, Any] = {"documentId": f"file://edge/{n}.txt", "version": version}
    if event_type == "item.upserted":
        body["document"] = {"data": f"doc {n}", "permissions": [{"allowedPermissions": [GROUP]}]}
    body.update(data)
    return json.dumps({"specversion": "1.0", "id": f"e-{n}", "source": "t", "type": event_type, "data": body})


def alias(n: int) -> str:
    data = {**wx.alias_wire("alice"), "version": n}
    return json.dumps(
        {"specversion": "1.0", "id": f"a-{n}", "source": "t", "type": "identity.aliased", "data": data}
    )


def run(pipeline: Pipeline, *bodies: str, remaining: float = 60.0) -> Any:
    return pipeline.process([Message(f"m{i}", b) for i, b in enumerate(bodies)], lambda: remaining)


def fixed(pipeline: Pipeline, now: int = NOW) -> Pipeline:
    pipeline.clock_ms = lambda: now
    return pipeline


# --- which call a lone change makes ----------------------------------------------------------------


def test_a_lone_delete_is_one_delete_call_with_its_options() -> None:
    pipeline = make_pipeline("item")
    report = run(pipeline, event(1, "item.deleted", deleteChildren=True))
    assert report.outcomes["m0"].disposition is Disposition.PUSHED
    [call] = pipeline.coveo.calls  # type: ignore[attr-defined]
    assert (call.name, call.target, call.payload) == ("delete_item", "file://edge/1.txt", True)


def test_a_lone_alias_is_one_alias_call() -> None:
    pipeline = make_pipeline("identity")
    report = run(pipeline, alias(1))
    assert report.outcomes["m0"].disposition is Disposition.PUSHED
    [call] = pipeline.coveo.calls  # type: ignore[attr-defined]
    assert call.name == "push_alias" and call.payload.identity.name == "alice"


# --- orderingId ------------------------------------------------------------------------------------


def test_the_default_clock_gives_milliseconds_since_the_epoch() -> None:
    settings = PipelineSettings(source_id=wx.SOURCE_ID, provider_id=wx.PROVIDER_ID, kind="item")
    pipeline = Pipeline(settings, FakeCoveo(), InMemoryLedger(), FakeDeadLetters(), FakeContent())
    before = int(time.time() * 1000)
    run(pipeline, event(1))
    after = int(time.time() * 1000)
    [call] = pipeline.coveo.calls  # type: ignore[attr-defined]
    assert before <= call.ordering_id <= after


def test_the_ordering_id_is_just_above_the_last_one_when_the_clock_is_behind() -> None:
    pipeline = fixed(make_pipeline("item"))
    ledger = pipeline.ledger
    assert isinstance(ledger, InMemoryLedger)
    ledger.rows["item#file://edge/1.txt"] = Head("item#file://edge/1.txt", 1, NOW + 5_000, Status.ACCEPTED)
    run(pipeline, event(1, version=2))
    [call] = pipeline.coveo.calls  # type: ignore[attr-defined]
    assert call.ordering_id == NOW + 5_001  # above every earlier push, and no further in the future


# --- the stale guard's answers ---------------------------------------------------------------------


def test_a_change_older_than_the_ledger_is_stale_with_the_versions_in_the_reason() -> None:
    pipeline = make_pipeline("item")
    run(pipeline, event(1, version=2))
    report = run(pipeline, event(1, version=1))
    outcome = report.outcomes["m0"]
    assert (outcome.disposition, outcome.reason) == (Disposition.STALE, "version 1 is not newer than 2")
    assert outcome.subject == "file://edge/1.txt"


class ScriptedLedger(InMemoryLedger):
    """Answers each claim as told, as concurrent invocations would make DynamoDB answer."""

    def __init__(self, answers: dict[str, ClaimResult]) -> None:
        super().__init__()
        self.answers = answers

    def claim_many(self, claims: Sequence[Claim]) -> list[Any]:
        return [self.answers.get(c.subject) or self.claim(c) for c in claims]


def test_claims_lost_to_other_invocations_are_stale_or_retried_and_the_rest_pushed() -> None:
    pipeline = make_pipeline("item")
    pipeline.ledger = ScriptedLedger(
        {"file://edge/1.txt": ClaimResult.STALE, "file://edge/2.txt": ClaimResult.CONFLICT}
    )
    report = run(pipeline, event(1), event(2), event(3))
    outcomes = [(o.disposition, o.reason) for _, o in sorted(report.outcomes.items())]
    assert outcomes == [
        (Disposition.STALE, "a newer version was applied meanwhile"),
        (Disposition.RETRY, "another invocation pushed this key meanwhile; retrying"),
        (Disposition.PUSHED, None),
    ]
    [call] = pipeline.coveo.calls  # type: ignore[attr-defined]
    assert call.target == "file://edge/3.txt"


# --- the time budget -------------------------------------------------------------------------------


def test_no_push_starts_without_time_left_beyond_the_safety_margin() -> None:
    margin = PipelineSettings(source_id="s", provider_id="p", kind="item").safety_margin_s
    pipeline = make_pipeline("item")
    report = run(pipeline, event(1), remaining=margin)
    assert report.outcomes["m0"].disposition is Disposition.RETRY
    assert report.outcomes["m0"].reason == "stopped before the Lambda timeout; SQS will redeliver"
    assert pipeline.coveo.calls == []  # type: ignore[attr-defined]
    # Half a second beyond the margin is enough to try.
    assert run(make_pipeline("item"), event(1), remaining=margin + 0.5).outcomes["m0"].disposition is (
        Disposition.PUSHED
    )


# --- what the ledger keeps, and what the metrics say ----------------------------------------------


def test_an_accepted_row_expires_after_the_ledger_ttl_thirty_days_by_default() -> None:
    pipeline = fixed(make_pipeline("item"))
    run(pipeline, event(1))
    accepted = pipeline.ledger.accepted["item#file://edge/1.txt"]  # type: ignore[attr-defined]
    assert accepted.expires_at == NOW // 1000 + 30 * 24 * 3600


@pytest.mark.parametrize(("size", "kept"), [(300_000, True), (300_001, False)])
def test_a_stored_change_is_kept_up_to_300_000_compressed_bytes(
    monkeypatch: pytest.MonkeyPatch, size: int, kept: bool
) -> None:
    monkeypatch.setattr(stored_change_module.zlib, "compress", lambda data: b"z" * size)
    pipeline = make_pipeline("item")
    run(pipeline, event(1))
    stored = pipeline.ledger.accepted["item#file://edge/1.txt"].change  # type: ignore[attr-defined]
    assert (stored is not None) is kept


class MultiFileCoveo(FakeCoveo):
    def push_items(self, *args: Any, **kwargs: Any) -> list[BatchReceipt]:
        super().push_items(*args, **kwargs)
        return [BatchReceipt("f-1", 700, {"addOrUpdate": 1}), BatchReceipt("f-2", 300, {"addOrUpdate": 1})]


def test_a_batch_reports_its_bytes_and_file_ids_and_the_ledger_keeps_every_file_id() -> None:
    pipeline = make_pipeline("item")
    pipeline.coveo = MultiFileCoveo()
    report = run(pipeline, event(1), event(2))
    assert (report.batch_bytes, report.file_ids) == (1000, ["f-1", "f-2"])
    accepted = pipeline.ledger.accepted  # type: ignore[attr-defined]
    assert {accepted[f"item#file://edge/{n}.txt"].file_id for n in (1, 2)} == {"f-1,f-2"}
    single = make_pipeline("item")
    report = run(single, event(1), event(2))
    assert single.ledger.accepted["item#file://edge/1.txt"].file_id == report.file_ids[0]  # type: ignore[attr-defined]


def test_a_single_push_reports_no_batch_bytes() -> None:
    report = run(make_pipeline("item"), event(1))
    assert (report.batch_bytes, report.file_ids, report.coveo_requests) == (0, [], 1)


# --- refusals at push time -------------------------------------------------------------------------


def test_content_by_reference_without_a_content_store_is_refused() -> None:
    pipeline = make_pipeline("item")
    pipeline.content = None
    body = json.loads(event(1))
    body["data"]["document"].pop("data")
    body["data"]["contentRef"] = "s3://bucket/key.bin"
    report = run(pipeline, json.dumps(body))
    assert report.outcomes["m0"].disposition is Disposition.DEAD_LETTERED
    assert report.outcomes["m0"].reason == "this deployment has no content store for data.contentRef"


def test_an_item_too_large_for_coveo_is_dead_lettered_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = make_pipeline("item")

    def too_large(*args: Any, **kwargs: Any) -> None:
        raise ItemTooLargeError("item 'file://edge/1.txt' is 7 MB; a request carries at most 6 MB")

    monkeypatch.setattr(pipeline.coveo, "push_item", too_large)
    outcome = run(pipeline, event(1)).outcomes["m0"]
    assert outcome.disposition is Disposition.DEAD_LETTERED
    assert outcome.reason is not None and "at most 6 MB" in outcome.reason


def test_a_dead_letter_keeps_the_subject_of_its_change() -> None:
    body = json.loads(event(1))
    body["data"]["document"].pop("permissions")
    outcome = run(make_pipeline("item"), json.dumps(body)).outcomes["m0"]
    assert outcome.disposition is Disposition.DEAD_LETTERED
    assert (outcome.subject, outcome.event_id) == ("file://edge/1.txt", "e-1")


def test_a_body_that_cannot_be_serialised_is_refused_before_it_is_claimed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = ItemBody.to_wire_json

    def to_wire_json(self: ItemBody) -> bytes:
        if self.data == "doc 2":
            raise ValueError("cannot be written as JSON")
        return original(self)

    monkeypatch.setattr(ItemBody, "to_wire_json", to_wire_json)
    pipeline = make_pipeline("item")
    report = run(pipeline, event(1), event(2), event(3))
    assert report.outcomes["m1"].disposition is Disposition.DEAD_LETTERED
    assert "ValueError: cannot be written as JSON" in (report.outcomes["m1"].reason or "")
    # Refused before the stale guard: no ledger row holds it, and Coveo never saw it.
    assert "item#file://edge/2.txt" not in pipeline.ledger.rows  # type: ignore[attr-defined]
    pushed = [b.document_id for call in pipeline.coveo.calls for b in call.payload[0]]  # type: ignore[attr-defined]
    assert pushed == ["file://edge/1.txt", "file://edge/3.txt"]


def test_a_message_built_without_a_receive_count_counts_as_a_first_delivery() -> None:
    """Re-pushes (validator, redrive) build messages themselves: missing content gets its retry."""

    class Missing:
        def fetch(self, uri: str) -> bytes:
            raise ContentNotFound(f"data.contentRef {uri!r} names no object (NoSuchKey)")

    pipeline = make_pipeline("item", max_receive_count=5)
    pipeline.content = Missing()
    body = json.loads(event(1))
    body["data"]["document"].pop("data")
    body["data"]["contentRef"] = "s3://bucket/late.bin"
    report = pipeline.process([Message("m", json.dumps(body))], lambda: 60.0)
    assert report.outcomes["m"].disposition is Disposition.RETRY
    assert (report.outcomes["m"].reason or "").endswith("trying once more")


def stored(body: str) -> StoredChange:
    return StoredChange.of(parse_message(body, provider_id=wx.PROVIDER_ID))


def test_a_re_push_is_never_given_up_on_by_receive_count() -> None:
    pipeline = make_pipeline("item", max_receive_count=1)
    pipeline.coveo.failures["push_item"] = [transient()]  # type: ignore[attr-defined]
    report = pipeline.repush([Repush("repush-0", stored(event(1)), "coveo-push/validator")], lambda: 60.0)
    assert report.outcomes["repush-0"].disposition is Disposition.RETRY  # back to the validator
    assert pipeline.dead_letters.sent == []  # type: ignore[attr-defined]


def test_a_re_push_goes_from_the_stored_change_to_coveo_without_a_message_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No CloudEvent string, no fake SQS message, no second parse of one."""
    change = stored(event(1))

    def no_body(*_: Any, **__: Any) -> Any:
        raise AssertionError("a re-push must not be read from a message body")

    monkeypatch.setattr(pipeline_module, "parse_message", no_body)
    monkeypatch.setattr(StoredChange, "to_event_json", no_body)
    pipeline = fixed(make_pipeline("item"))
    report = pipeline.repush([Repush("r", change, "coveo-push/validator")], lambda: 60.0)
    assert report.outcomes["r"].disposition is Disposition.PUSHED
    (call,) = pipeline.coveo.calls  # type: ignore[attr-defined]
    assert (call.name, call.target) == ("push_item", "file://edge/1.txt")
    assert pipeline.ledger.accepted["item#file://edge/1.txt"].change == change.encode()  # type: ignore[attr-defined]


def test_a_re_push_todays_policy_refuses_is_dead_lettered_as_an_event_a_redrive_can_send() -> None:
    public = json.loads(event(1))
    public["data"]["document"]["permissions"] = []  # pushed when public items were allowed
    change = stored(json.dumps(public))
    pipeline = make_pipeline("item")
    report = pipeline.repush([Repush("r", change, "coveo-push-redrive")], lambda: 60.0)
    assert report.outcomes["r"].disposition is Disposition.DEAD_LETTERED
    (letter,) = pipeline.dead_letters.sent  # type: ignore[attr-defined]
    assert letter.kind == "refused" and "has no permissions" in letter.reason
    assert (letter.event_id, letter.event_type) == ("e-1", "item.upserted")
    assert json.loads(letter.body)["source"] == "coveo-push-redrive"
    assert StoredChange.of(parse_message(letter.body, provider_id=wx.PROVIDER_ID)) == change


def test_content_by_reference_is_pushed_inline_and_no_placeholder_ever_names_a_file() -> None:
    body = json.loads(event(1))
    body["data"]["document"].pop("data")
    body["data"]["contentRef"] = "s3://bucket/a.bin"
    change = parse_message(json.dumps(body), provider_id=wx.PROVIDER_ID)
    item = change.payload.body  # type: ignore[union-attr]
    assert (item.data, item.compressed_binary_data, item.compressed_binary_data_file_id) == (None, None, None)
    pipeline = make_pipeline("item")
    pipeline.content = FakeContent({"s3://bucket/a.bin": b"hello"})
    assert run(pipeline, json.dumps(body)).outcomes["m0"].disposition is Disposition.PUSHED
    (call,) = pipeline.coveo.calls  # type: ignore[attr-defined]
    wire = json.loads(call.payload.to_wire_json())
    assert wire["compressedBinaryData"] == "aGVsbG8=" and wire["compressionType"] == "UNCOMPRESSED"
    assert not {"compressedBinaryDataFileId", "data"} & set(wire)


class ShortLedger(InMemoryLedger):
    """A ledger that answers one claim too few: no message may go without an outcome."""

    def claim_many(self, claims: Sequence[Claim]) -> list[Any]:
        return [self.claim(c) for c in claims][:-1]


def test_a_ledger_answering_too_few_claims_loses_no_message() -> None:
    pipeline = make_pipeline("item")
    pipeline.ledger = ShortLedger()
    report = run(pipeline, event(1), event(2), event(3))
    # Every message has an outcome: one missing would be deleted from the queue unprocessed.
    assert set(report.outcomes) == {"m0", "m1", "m2"}
    assert {o.disposition for o in report.outcomes.values()} == {Disposition.RETRY}


class ClaimsKept(InMemoryLedger):
    """Keeps every claim as the pipeline asked the ledger to write it."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[Claim] = []

    def claim_many(self, claims: Sequence[Claim]) -> list[Any]:
        self.claims += claims
        return super().claim_many(claims)


@pytest.mark.parametrize(("overrides", "days"), [({}, 30), ({"ledger_ttl_days": 9}, 9)])
def test_a_claim_expires_after_the_ledger_ttl_as_its_accepted_push_does(
    overrides: dict[str, Any], days: int
) -> None:
    """The claim writes the key's head: it carries the TTL too, so a key whose push Coveo never
    accepted does not stay in the table for ever."""
    pipeline = fixed(make_pipeline("item", **overrides))
    pipeline.ledger = ledger = ClaimsKept()
    assert run(pipeline, event(1), event(2)).count(Disposition.PUSHED) == 2
    assert [c.expires_at for c in ledger.claims] == [NOW // 1000 + days * 24 * 3600] * 2
