"""The validator's verdicts and their reasons, at their edges: what makes a row VERIFIED, FAILED (and
why, in words an operator reads) or still pending; what a run reports; what it asks Coveo and the
ledger; and what a re-push that is not accepted leaves behind.

Rows are written straight into an in-memory ledger; Coveo is a fake that filters log entries as the
Logs API does and records every request.
"""

from __future__ import annotations

import json
import os
import random
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.domain.freshness import FreshnessSample
from connector.domain.ledger import Accepted, Claim, ClaimResult, Row, Status
from connector.domain.pipeline import BatchReport, Disposition, Outcome, Repush
from connector.domain.validator import (
    Finding,
    ValidationReport,
    Validator,
    ValidatorSettings,
    repush_stored_changes,
)
from coveo_push_api import CoveoNotFoundError, CoveoServerError
from coveo_push_api.models import DocumentPermissionModel, LogEntry, LogsRequest, SecurityCacheEntity
from tests.fakes import filtered_logs
from tests.in_memory_ledger import InMemoryLedger

T0 = 1_795_687_200_000  # 2026-11-26T10:00:00Z
MINUTE = 60_000
SOURCE, PROVIDER = "source-1", "provider-1"


# --- fakes ----------------------------------------------------------------------------------------


@dataclass
class Reader:
    """Coveo as the validator reads it; every call counts as one request, and is recorded."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    cache: dict[str, SecurityCacheEntity | Exception] = field(default_factory=dict)  # "GROUP g" →
    members: dict[str, list[tuple[str, str]] | Exception] = field(default_factory=dict)
    indexes: list[str] | Exception = field(default_factory=lambda: ["idx"])
    permissions: dict[str, DocumentPermissionModel | Exception] = field(default_factory=dict)
    requests_sent: int = 0
    log_calls: list[tuple[datetime, datetime, int]] = field(default_factory=list)
    member_calls: list[str] = field(default_factory=list)
    permission_calls: list[tuple[str, str]] = field(default_factory=list)

    def iter_logs(
        self, request: LogsRequest, *, start: datetime, end: datetime, per_page: int = 100
    ) -> Iterable[LogEntry]:
        self.requests_sent += 1
        self.log_calls.append((start, end, per_page))
        return filtered_logs(self.entries, request)

    def list_indexes(self) -> list[str]:
        self.requests_sent += 1
        if isinstance(self.indexes, Exception):
            raise self.indexes
        return self.indexes

    def get_item_permissions(self, index_id: str, document_id: str) -> DocumentPermissionModel:
        self.requests_sent += 1
        self.permission_calls.append((index_id, document_id))
        model = self.permissions.get(document_id, DocumentPermissionModel(state="VALID"))
        if isinstance(model, Exception):
            raise model
        return model

    def get_security_cache_entity(
        self, provider_id: str, name: str, identity_type: str
    ) -> SecurityCacheEntity:
        self.requests_sent += 1
        entity = self.cache.get(f"{identity_type} {name}", SecurityCacheEntity(state="UNKNOWN"))
        if isinstance(entity, Exception):
            raise entity
        return entity

    def iter_security_cache_members(
        self, provider_id: str, name: str, identity_type: str
    ) -> list[SecurityCacheEntity]:
        self.requests_sent += 1
        self.member_calls.append(f"{identity_type} {name}")
        members = self.members.get(f"{identity_type} {name}", [])
        if isinstance(members, Exception):
            raise members
        return [SecurityCacheEntity(type=t, name=n) for t, n in members]


@dataclass
class Repusher:
    """A pipeline that answers every re-pushed message with one disposition, and records them."""

    disposition: Disposition = Disposition.PUSHED
    reason: str | None = None
    batches: list[list[dict[str, Any]]] = field(default_factory=list)

    def repush(self, repushes: Sequence[Repush], remaining_s: Callable[[], float]) -> BatchReport:
        # Each as its dead letter would hold it: the event a redrive sends again.
        self.batches.append([json.loads(r.body) for r in repushes])
        return BatchReport(
            outcomes={r.message_id: Outcome(r.message_id, self.disposition, self.reason) for r in repushes}
        )


# --- rows -----------------------------------------------------------------------------------------


def stored(event_type: str, data: dict[str, Any], version: int = 1, event_id: str = "e-1") -> bytes:
    event = {"id": event_id, "type": event_type, "version": version, "data": data}
    return zlib.compress(json.dumps(event).encode())


def accept(
    ledger: InMemoryLedger,
    key: str,
    subject: str,
    *,
    kind: str = "item",
    operation: str = "item.upserted",
    change: bytes | None = None,
    pushed_at: int = T0,
    attempts: int = 1,
) -> Row:
    claim = Claim(key, 1, 10, f"e-{subject}", operation, subject, attempts)
    assert ledger.claim(claim) is ClaimResult.CLAIMED
    ledger.record_accepted(
        [Accepted(key, 1, 10, kind, operation, subject, claim.event_id, pushed_at, None, attempts, change, 0)]
    )
    row = ledger.get(key)
    assert row is not None
    return row


def item(ledger: InMemoryLedger, doc: str, *, pushed_at: int = T0, keep_change: bool = True) -> Row:
    data = {"documentId": doc, "document": {"data": "text", "permissions": [{"allowAnonymous": False}]}}
    change = stored("item.upserted", data) if keep_change else None
    return accept(ledger, f"item#{doc}", doc, change=change, pushed_at=pushed_at)


def identity(
    ledger: InMemoryLedger,
    type_: str,
    name: str,
    operation: str = "identity.upserted",
    *,
    members: list[str] | None = None,
    pushed_at: int = T0,
) -> Row:
    data: dict[str, Any] = {"identity": {"name": name, "type": type_}}
    if members is not None:
        data["members"] = [{"name": m, "type": "USER"} for m in members]
    return accept(
        ledger,
        f"identity#{PROVIDER}#{type_}#{name}",
        f"{type_} {name}",
        kind="identity",
        operation=operation,
        change=stored(operation, data),
        pushed_at=pushed_at,
    )


def log(doc: str, task: str, result: str, ms: int, **meta: Any) -> dict[str, Any]:
    when = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
    return {"datetime": when, "id": doc, "task": task, "result": result, "operation": "ADD", "meta": meta}


def validator(
    ledger: InMemoryLedger,
    reader: Reader,
    *,
    now: int = T0 + MINUTE,
    repush: Repusher | None = None,
    **settings: Any,
) -> Validator:
    values: dict[str, Any] = {"processing_delay_s": 0, "deadline_s": 3600} | settings
    return Validator(
        ValidatorSettings(SOURCE, PROVIDER, **values),
        ledger,
        reader,
        repush=lambda kind: repush,
        clock_ms=lambda: now,
        rng=random.Random(7),
    )


def status(ledger: InMemoryLedger, key: str) -> tuple[Status, str | None]:
    row = ledger.get(key)
    assert row is not None
    return row.status, row.failure_reason


# --- items ----------------------------------------------------------------------------------------


def test_a_quiet_run_reports_exactly_what_it_did() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://a")
    reader.entries = [log("file://a", "INDEXING", "COMPLETED", T0 + 1_000)]
    report = validator(ledger, reader).run()
    # The one verified push, its times (no event time: the row was recorded without one).
    fresh = [FreshnessSample(pushed_at_ms=T0, indexed_at_ms=T0 + 1_000)]
    assert report == ValidationReport(verified=1, logs_api_calls=2, coveo_requests=4, freshness=fresh)
    assert status(ledger, "item#file://a") == (Status.VERIFIED, None)
    assert reader.permission_calls == [("idx", "file://a")]


def test_an_entry_logged_at_the_very_millisecond_of_the_push_counts() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://a")
    reader.entries = [log("file://a", "INDEXING", "COMPLETED", T0)]
    assert validator(ledger, reader).run().verified == 1


def test_an_indexing_entry_that_was_skipped_does_not_verify_the_push() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://a")
    reader.entries = [log("file://a", "INDEXING", "SKIPPED", T0 + 1_000)]
    report = validator(ledger, reader).run()
    assert (report.verified, report.failed, report.pending) == (0, 0, 1)
    assert status(ledger, "item#file://a") == (Status.ACCEPTED, None)


def test_the_logs_api_is_read_once_per_run_whatever_the_number_of_pages_of_rows() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    for n in range(3):
        item(ledger, f"file://{n}", pushed_at=T0 + n)
    reader.entries = [log(f"file://{n}", "INDEXING", "COMPLETED", T0 + 1_000) for n in range(3)]
    report = validator(ledger, reader, page_size=1).run()
    assert (report.verified, report.logs_api_calls) == (3, 2)
    assert len(reader.log_calls) == 2


def test_the_logs_window_reaches_back_seven_days_at_most() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    now = T0 + 10 * 24 * 60 * MINUTE
    item(ledger, "file://old")
    validator(ledger, reader, now=now, deadline_s=30 * 24 * 3600).run()
    start, end, _ = reader.log_calls[0]
    assert end - start == timedelta(days=7)


def test_the_validator_reads_the_ledger_and_the_logs_in_pages_of_1000() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://a")
    limits: list[int] = []
    read = ledger.rows_with_status

    def spy(status: Status, **kwargs: Any) -> Any:
        limits.append(kwargs["limit"])
        return read(status, **kwargs)

    ledger.rows_with_status = spy  # type: ignore[method-assign]
    Validator(
        ValidatorSettings(SOURCE, PROVIDER, processing_delay_s=0), ledger, reader, clock_ms=lambda: T0
    ).run()
    assert limits == [1_000]
    assert {per_page for _, _, per_page in reader.log_calls} == {1_000}


def test_rows_are_read_once_the_processing_delay_has_passed_to_the_millisecond() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://due", pushed_at=T0)
    item(ledger, "file://early", pushed_at=T0 + 1)
    report = validator(ledger, reader, now=T0 + 300_000, processing_delay_s=300).run()
    assert report.pending == 1  # file://due only: file://early is not old enough to ask about


def test_the_default_clock_is_the_wall_clock_in_milliseconds() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://a", pushed_at=int(time.time() * 1000) - 400_000)  # 6 min 40 s ago
    report = Validator(
        ValidatorSettings(SOURCE, PROVIDER, processing_delay_s=300, deadline_s=3600), ledger, reader
    ).run()
    assert (report.pending, report.failed, report.repushed) == (1, 0, 0)
    assert 400 <= report.oldest_pending_age_s < 460


@pytest.mark.parametrize(("left_s", "reads"), [(5.0, False), (5.5, True)])
def test_a_run_with_five_seconds_or_less_left_reads_nothing(left_s: float, reads: bool) -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://a")
    report = validator(ledger, reader).run(lambda: left_s)
    assert report.pending == (1 if reads else 0)
    assert bool(reader.log_calls) is reads


# --- pending, deadlines and the words of a failure -------------------------------------------------


def test_a_push_is_pending_up_to_its_deadline_and_past_it_is_re_pushed() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://a")
    at_deadline = validator(ledger, reader, now=T0 + 3_600_000, repush=Repusher()).run()
    assert (at_deadline.pending, at_deadline.repushed) == (1, 0)
    assert at_deadline.oldest_pending_age_s == 3_600.0
    past = validator(ledger, reader, now=T0 + 3_600_001, repush=Repusher()).run()
    assert past.repushed == 1


@pytest.mark.parametrize(
    ("deadline_s", "words"), [(120, "within 2 minutes of the push"), (119, "within 119 seconds of the push")]
)
def test_a_push_never_processed_fails_with_the_deadline_in_words(deadline_s: int, words: str) -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://a")
    report = validator(ledger, reader, now=T0 + 200_000, deadline_s=deadline_s, max_repushes=0).run()
    assert status(ledger, "item#file://a") == (Status.FAILED, f"no indexing log entry {words}")
    assert report.failures == [
        {
            "key": "item#file://a",
            "subject": "file://a",
            "reason": f"no indexing log entry {words}",
            "attempts": 1,
            "repushes": 0,
        }
    ]


def test_a_retriable_failure_with_no_stored_change_is_marked_failed_with_its_reason() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://big", keep_change=False)
    reader.entries = [
        log("file://big", "INDEXING", "REJECTED", T0 + 1_000, error="Unknown security identity AlphaTeam")
    ]
    repusher = Repusher()
    report = validator(ledger, reader, repush=repusher).run()
    assert status(ledger, "item#file://big") == (Status.FAILED, "Unknown security identity AlphaTeam")
    assert (report.failed, report.repushed) == (1, 0)
    assert repusher.batches == []  # nothing to re-push: no empty batch either


def test_a_re_push_not_accepted_yet_stays_pending_and_back_as_it_was() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://a")
    reader.entries = [log("file://a", "INDEXING", "REJECTED", T0 + 1_000, error="Unknown security identity")]
    report = validator(ledger, reader, repush=Repusher(Disposition.RETRY, "Coveo 503")).run()
    assert (report.pending, report.repushed, report.failed) == (1, 0, 0)
    assert status(ledger, "item#file://a") == (Status.ACCEPTED, "re-push not accepted yet: Coveo 503")


def test_a_re_push_refused_fails_the_row_and_counts_the_re_push() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://a")
    reader.entries = [log("file://a", "INDEXING", "REJECTED", T0 + 1_000, error="Unknown security identity")]
    report = validator(ledger, reader, repush=Repusher(Disposition.DEAD_LETTERED, "bad permissions")).run()
    assert (report.failed, report.pending, report.repushed) == (1, 0, 0)
    assert report.failures == [
        {
            "key": "item#file://a",
            "subject": "file://a",
            "reason": "re-push refused: bad permissions",
            "attempts": 1,
            "repushes": 1,
        }
    ]
    assert status(ledger, "item#file://a") == (Status.FAILED, "re-push refused: bad permissions")


def test_a_run_that_crashed_leaves_no_queued_re_push_to_the_next_run() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://lost")
    identity(ledger, "USER", "alice")
    reader.cache = {"USER alice": RuntimeError("bug")}
    repusher = Repusher()
    late = validator(ledger, reader, now=T0 + 3_700_000, repush=repusher)
    with pytest.raises(RuntimeError):
        late.run()  # file://lost was queued for a re-push when alice's check crashed
    reader.cache = {"USER alice": SecurityCacheEntity(state="UP_TO_DATE")}
    assert late.run().repushed == 1
    assert [len(batch) for batch in repusher.batches] == [1]


def test_a_row_whose_stored_change_is_not_an_event_is_not_re_pushed() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    accept(ledger, "item#file://odd", "file://odd", change=zlib.compress(b"[1, 2]"))
    reader.entries = [
        log("file://odd", "INDEXING", "REJECTED", T0 + 1_000, error="Unknown security identity")
    ]
    repusher = Repusher()
    report = validator(ledger, reader, repush=repusher).run()
    assert status(ledger, "item#file://odd") == (Status.FAILED, "Unknown security identity")
    assert (report.failed, repusher.batches) == (1, [])


def test_repushing_answers_none_for_a_row_with_nothing_to_re_push() -> None:
    ledger = InMemoryLedger()
    big = item(ledger, "file://big", keep_change=False)
    fine = item(ledger, "file://fine")
    repusher = Repusher()
    outcomes = repush_stored_changes(
        [(big, "why"), (fine, "why")], ledger, repusher, now_ms=T0, source="coveo-push/test"
    )
    assert outcomes["item#file://big"] is None
    assert outcomes["item#file://fine"] is not None
    assert [[e["data"]["documentId"] for e in batch] for batch in repusher.batches] == [["file://fine"]]


def test_repushing_re_pushes_exactly_the_rows_the_ledger_reopens_each_with_its_own_outcome() -> None:
    """The rows are reopened together (`reopen_many`); each answer belongs to its own row: a row the
    ledger will not reopen (verified meanwhile) is not re-pushed, whatever its neighbours."""
    ledger = InMemoryLedger()
    a, verified, c, d = (item(ledger, f"file://{name}") for name in ("a", "verified", "c", "d"))
    ledger.mark(verified, Status.VERIFIED, reason=None, now_ms=T0 + 1)
    repusher = Repusher()
    outcomes = repush_stored_changes(
        [(a, "why"), (verified, "why"), (c, "why"), (d, "why")],
        ledger,
        repusher,
        now_ms=T0 + MINUTE,
        source="coveo-push/test",
    )
    assert [[e["data"]["documentId"] for e in batch] for batch in repusher.batches] == [
        ["file://a", "file://c", "file://d"]
    ]
    assert outcomes["item#file://verified"] is None
    assert all(outcomes[f"item#file://{name}"] is not None for name in ("a", "c", "d"))
    assert status(ledger, "item#file://verified") == (Status.VERIFIED, None)


# --- identities -----------------------------------------------------------------------------------


def test_a_deleted_identity_the_cache_never_knew_is_verified() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    identity(ledger, "GROUP", "Gone", "identity.deleted")
    reader.cache = {"GROUP Gone": CoveoNotFoundError("no such entity", status=404)}
    report = validator(ledger, reader).run()
    assert report.verified == 1
    assert status(ledger, f"identity#{PROVIDER}#GROUP#Gone") == (Status.VERIFIED, None)


def test_an_upserted_identity_the_cache_does_not_know_is_pending_then_fails_with_why() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    identity(ledger, "USER", "alice")
    reader.cache = {"USER alice": CoveoNotFoundError("no such entity", status=404)}
    assert validator(ledger, reader).run().pending == 1
    validator(ledger, reader, now=T0 + 3_700_000, max_repushes=0).run()
    _, reason = status(ledger, f"identity#{PROVIDER}#USER#alice")
    assert reason is not None
    assert reason.startswith("security cache does not know the identity: ")
    assert reason.endswith(" within 60 minutes of the push")


def test_an_unavailable_security_cache_is_a_warning_and_the_identity_stays_pending() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    identity(ledger, "USER", "alice")
    reader.cache = {"USER alice": CoveoServerError("Service Unavailable", status=503)}
    report = validator(ledger, reader).run()
    assert (report.pending, report.verified, report.failed) == (1, 0, 0)
    assert len(report.warnings) == 1
    assert report.warnings[0].text.startswith("security cache unavailable for USER alice: ")
    validator(ledger, reader, now=T0 + 3_700_000, max_repushes=0).run()
    assert status(ledger, f"identity#{PROVIDER}#USER#alice")[1].startswith(  # type: ignore[union-attr]
        "security cache unavailable: "
    )


def test_an_identity_disabled_after_an_upsert_fails_with_why() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    identity(ledger, "USER", "alice")
    reader.cache = {"USER alice": SecurityCacheEntity(state="DISABLED")}
    report = validator(ledger, reader).run()
    assert report.failed == 1
    assert status(ledger, f"identity#{PROVIDER}#USER#alice") == (
        Status.FAILED,
        "security cache shows the identity DISABLED after it was pushed",
    )


def test_a_cache_updated_at_the_very_millisecond_of_the_push_has_seen_it() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    identity(ledger, "USER", "alice")
    reader.cache = {"USER alice": SecurityCacheEntity(state="UP_TO_DATE", last_update_date=T0)}
    assert validator(ledger, reader).run().verified == 1
    assert reader.member_calls == []  # a user holds no members: none are listed


@pytest.fixture(params=["Asia/Tokyo", "America/New_York"])
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The machine's local time zone set to one east and one west of UTC (a developer's machine;
    Lambda's is UTC), restored after."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.parametrize(
    ("updated", "verified"),
    [
        ("2026-11-26T09:59:59.999", False),
        ("2026-11-26T10:00:00", True),
        ("2026-11-26T10:00:00Z", True),
        ("2026-11-26T11:59:59.999+02:00", False),  # an offset of its own is kept
        ("2026-11-26T12:00:00+02:00", True),
    ],
)
def test_a_cache_date_without_an_offset_is_utc_whatever_the_machines_zone(
    local_zone: str, updated: str, verified: bool
) -> None:
    ledger, reader = InMemoryLedger(), Reader()
    identity(ledger, "USER", "alice")  # pushed at T0, 10:00:00 UTC
    reader.cache = {"USER alice": SecurityCacheEntity(state="UP_TO_DATE", last_update_date=updated)}
    report = validator(ledger, reader).run()
    assert (report.verified, report.pending) == ((1, 0) if verified else (0, 1))


def test_an_identity_in_another_cache_state_is_pending_then_fails_naming_the_state() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    identity(ledger, "USER", "alice")
    reader.cache = {"USER alice": SecurityCacheEntity(state="OUT_OF_DATE")}
    assert validator(ledger, reader).run().pending == 1
    validator(ledger, reader, now=T0 + 3_700_000, max_repushes=0).run()
    assert status(ledger, f"identity#{PROVIDER}#USER#alice") == (
        Status.FAILED,
        "security cache state OUT_OF_DATE within 60 minutes of the push",
    )


def test_group_members_the_cache_cannot_list_leave_the_group_pending_with_a_warning() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    identity(ledger, "GROUP", "team", members=["alice"])
    reader.cache = {"GROUP team": SecurityCacheEntity(state="UP_TO_DATE", last_update_date=T0 + 1)}
    reader.members = {"GROUP team": CoveoServerError("Service Unavailable", status=503)}
    report = validator(ledger, reader).run()
    assert (report.pending, report.verified) == (1, 0)
    assert report.warnings[0].text.startswith("security cache members unavailable for GROUP team: ")


@pytest.mark.parametrize(
    ("members", "listed"),
    [
        (5, "USER m0, USER m1, USER m2, USER m3, USER m4)"),
        (6, "USER m0, USER m1, USER m2, USER m3, USER m4 and 1 more)"),
    ],
)
def test_members_missing_from_the_cache_are_named_five_at_most(members: int, listed: str) -> None:
    ledger, reader = InMemoryLedger(), Reader()
    identity(ledger, "GROUP", "team", members=[f"m{n}" for n in range(members)])
    reader.cache = {"GROUP team": SecurityCacheEntity(state="UP_TO_DATE", last_update_date=T0 + 1)}
    validator(ledger, reader, now=T0 + 3_700_000, max_repushes=0).run()
    _, reason = status(ledger, f"identity#{PROVIDER}#GROUP#team")
    assert reason == (
        f"security cache members differ from the pushed version (not in the cache: {listed} "
        "within 60 minutes of the push"
    )


# --- the permission sample ------------------------------------------------------------------------


@pytest.mark.parametrize(("sample", "asked"), [(0, 0), (1, 1)])
def test_a_sample_of_zero_asks_nothing_about_permissions(sample: int, asked: int) -> None:
    ledger, reader = InMemoryLedger(), Reader()
    for doc in ("file://a", "file://b"):
        item(ledger, doc)
        reader.entries.append(log(doc, "INDEXING", "COMPLETED", T0 + 1_000))
    report = validator(ledger, reader, permission_sample=sample).run()
    assert len(reader.permission_calls) == asked
    assert report.coveo_requests == 2 + (1 + asked if asked else 0)  # logs, the index list, permissions


def test_permissions_are_read_from_the_first_index_only() -> None:
    ledger, reader = InMemoryLedger(), Reader(indexes=["first", "second"])
    item(ledger, "file://a")
    reader.entries = [log("file://a", "INDEXING", "COMPLETED", T0 + 1_000)]
    validator(ledger, reader).run()
    assert reader.permission_calls == [("first", "file://a")]


def test_an_unavailable_index_list_is_a_warning() -> None:
    ledger, reader = InMemoryLedger(), Reader(indexes=CoveoServerError("Service Unavailable", status=503))
    item(ledger, "file://a")
    reader.entries = [log("file://a", "INDEXING", "COMPLETED", T0 + 1_000)]
    report = validator(ledger, reader).run()
    assert report.verified == 1
    assert report.warnings == [Finding("index list unavailable: HTTP 503: Service Unavailable")]


def test_permissions_that_cannot_be_read_are_a_warning_and_the_rest_are_still_checked() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    for doc in ("file://a", "file://b"):
        item(ledger, doc)
        reader.entries.append(log(doc, "INDEXING", "COMPLETED", T0 + 1_000))
    reader.permissions = {
        "file://a": CoveoServerError("Service Unavailable", status=503),
        "file://b": DocumentPermissionModel(state="IN_ERROR"),
    }
    report = validator(ledger, reader).run()
    assert sorted(w.text for w in report.warnings if not w.security) == [
        "file://b permission state IN_ERROR",
        "permissions of file://a unavailable: HTTP 503: Service Unavailable",
    ]
    assert (report.permission_errors, report.permission_warnings) == (1, 0)


@pytest.mark.parametrize("state", ["IN_ERROR", "INCOMPLETE"])
def test_an_item_whose_permissions_are_in_error_or_incomplete_is_counted(state: str) -> None:
    ledger, reader = InMemoryLedger(), Reader()
    item(ledger, "file://a")
    reader.entries = [log("file://a", "INDEXING", "COMPLETED", T0 + 1_000)]
    reader.permissions = {"file://a": DocumentPermissionModel(state=state)}
    report = validator(ledger, reader).run()
    assert report.permission_errors == 1
    assert report.warnings == [Finding(f"file://a permission state {state}")]


def test_an_item_open_to_anonymous_users_with_an_unreadable_stored_change_is_a_finding() -> None:
    ledger, reader = InMemoryLedger(), Reader()
    accept(ledger, "item#file://a", "file://a", change=zlib.compress(b"not json"))
    reader.entries = [log("file://a", "INDEXING", "COMPLETED", T0 + 1_000)]
    reader.permissions = {
        "file://a": DocumentPermissionModel.model_validate(
            {"state": "VALID", "permissionLevels": [{"permissionSets": [{"anonymousAllowed": True}]}]}
        )
    }
    report = validator(ledger, reader).run()
    assert report.unexpected_public == 1
    assert report.warnings[0].security
    assert report.warnings[0].text.startswith("SECURITY: file://a lets anonymous users in")


# --- found by mutation testing (issue 14) ----------------------------------------------------------


def test_an_identity_disabled_after_an_upsert_is_not_re_pushed_even_with_re_pushes_left() -> None:
    """A DISABLED cache entry is not a cause that passes by itself: pushing the same upsert again
    would not change it, so the row fails at once even where a re-push pipeline is at hand."""
    ledger, reader = InMemoryLedger(), Reader()
    identity(ledger, "USER", "alice")
    reader.cache = {"USER alice": SecurityCacheEntity(state="DISABLED")}
    repusher = Repusher()
    report = validator(ledger, reader, repush=repusher).run()
    assert (report.failed, report.repushed, report.pending) == (1, 0, 0)
    assert repusher.batches == []
    assert status(ledger, f"identity#{PROVIDER}#USER#alice") == (
        Status.FAILED,
        "security cache shows the identity DISABLED after it was pushed",
    )


@pytest.mark.parametrize(
    ("error_detail", "result", "reason"),
    [
        ("Member bob is unknown.", "ERROR", "security cache IN_ERROR: Member bob is unknown."),
        (None, "Could not expand the group.", "security cache IN_ERROR: Could not expand the group."),
        (None, None, "security cache IN_ERROR: no detail"),
    ],
)
def test_an_identity_in_error_fails_with_the_caches_most_precise_words(
    error_detail: str | None, result: str | None, reason: str
) -> None:
    """The row's reason (what `coveo-push failures` shows) is the cache's error detail, else its last
    update result, else says there was none."""
    ledger, reader = InMemoryLedger(), Reader()
    identity(ledger, "USER", "alice")
    reader.cache = {
        "USER alice": SecurityCacheEntity(
            state="IN_ERROR", last_update_error_detail=error_detail, last_update_result=result
        )
    }
    report = validator(ledger, reader).run()
    assert (report.failed, report.identities_in_error) == (1, 1)
    assert status(ledger, f"identity#{PROVIDER}#USER#alice") == (Status.FAILED, reason)
    assert report.failures[0]["reason"] == reason


class HoldingLedger(InMemoryLedger):
    """Holds back what the DynamoDB ledger holds back until `flush`: VERIFIED marks, and the part's
    record that a push settled FAILED is done (both written per acceptance part, together)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[Callable[[], object]] = []
        self.done: set[str] = set()  # keys whose acceptance part records them settled

    def mark(self, row: Row, status: Status, *, reason: str | None, now_ms: int) -> bool:
        if status is not Status.VERIFIED:
            return super().mark(row, status, reason=reason, now_ms=now_ms)
        self.held.append(lambda: InMemoryLedger.mark(self, row, status, reason=reason, now_ms=now_ms))
        return True

    def settle(self, row: Row, status: Status, *, reason: str, now_ms: int) -> bool:
        settled = super().settle(row, status, reason=reason, now_ms=now_ms)
        if settled and status is Status.FAILED:
            self.held.append(lambda: self.done.add(row.key))
        return settled

    def flush(self) -> None:
        held, self.held = self.held, []
        for write in held:
            write()


def test_a_run_writes_the_verdicts_a_ledger_held_back() -> None:
    ledger, reader = HoldingLedger(), Reader()
    item(ledger, "file://a")
    reader.entries = [log("file://a", "INDEXING", "COMPLETED", T0 + 1_000)]
    assert validator(ledger, reader).run().verified == 1
    assert ledger.held == []
    assert status(ledger, "item#file://a") == (Status.VERIFIED, None)


def test_a_re_push_refused_outside_a_validator_run_leaves_nothing_held_back() -> None:
    """`coveo-push redrive --repush` calls repush_stored_changes with no validator run around it:
    what the ledger held back (the refused push's part recording it done, so the part leaves the
    pending index) is written before it returns."""
    ledger = HoldingLedger()
    row = item(ledger, "file://a")
    outcomes = repush_stored_changes(
        [(row, "why")],
        ledger,
        Repusher(Disposition.DEAD_LETTERED, "bad permissions"),
        now_ms=T0 + MINUTE,
        source="coveo-push/operator",
    )
    assert outcomes["item#file://a"].disposition is Disposition.DEAD_LETTERED  # type: ignore[union-attr]
    assert (ledger.held, ledger.done) == ([], {"item#file://a"})
    assert status(ledger, "item#file://a") == (Status.FAILED, "re-push refused: bad permissions")
