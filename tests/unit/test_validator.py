"""The validator against fakes: verdicts from log entries and cache states, deadlines, re-pushes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connector.domain.ledger import Status
from connector.domain.pipeline import Pipeline, PipelineSettings
from connector.domain.validator import Validator, ValidatorSettings
from coveo_push_api.models import DocumentPermissionModel, LogEntry, LogsRequest, SecurityCacheEntity
from tests import worked_example as wx
from tests.fakes import FakeContent, FakeCoveo, FakeDeadLetters, filtered_logs
from tests.in_memory_ledger import InMemoryLedger

T0 = 1_795_687_200_000  # 2026-11-26T10:00:00Z


@dataclass
class FakeReader:
    entries: list[dict[str, Any]] = field(default_factory=list)
    cache: dict[str, str] = field(default_factory=dict)
    # When the cache last updated an identity ("USER alice" → epoch ms or ISO text); absent: unknown.
    updated: dict[str, int | str] = field(default_factory=dict)
    members: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # (cache type, name)
    permission_state: str = "VALID"
    requests_sent: int = 0
    log_windows: list[tuple[datetime, datetime]] = field(default_factory=list)

    def iter_logs(
        self, request: LogsRequest, *, start: datetime, end: datetime, per_page: int = 100
    ) -> Iterable[LogEntry]:
        self.requests_sent += 1
        self.log_windows.append((start, end))
        assert request.sources_ids == [wx.SOURCE_ID]
        return filtered_logs(self.entries, request)

    def list_indexes(self) -> list[str]:
        self.requests_sent += 1
        return ["idx"]

    def get_item_permissions(self, index_id: str, document_id: str) -> DocumentPermissionModel:
        self.requests_sent += 1
        return DocumentPermissionModel(state=self.permission_state)

    def get_security_cache_entity(
        self, provider_id: str, name: str, identity_type: str
    ) -> SecurityCacheEntity:
        self.requests_sent += 1
        return SecurityCacheEntity(
            state=self.cache.get(f"{identity_type} {name}", "UNKNOWN"),
            last_update_date=self.updated.get(f"{identity_type} {name}"),
            last_update_error_detail="bad member",
        )

    def iter_security_cache_members(
        self, provider_id: str, name: str, identity_type: str
    ) -> list[SecurityCacheEntity]:
        self.requests_sent += 1
        return [
            SecurityCacheEntity(type=t, name=n) for t, n in self.members.get(f"{identity_type} {name}", [])
        ]


def at(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def entry(doc: str, task: str, result: str, ms: int, **meta: Any) -> dict[str, Any]:
    return {"datetime": at(ms), "id": doc, "task": task, "result": result, "operation": "ADD", "meta": meta}


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def pushed(ledger_pipeline: Pipeline, *events: dict[str, Any]) -> None:
    from connector.domain.pipeline import Message

    messages = [Message(f"m{i}", json.dumps(e)) for i, e in enumerate(events)]
    report = ledger_pipeline.process(messages, lambda: 300.0)
    assert all(o.disposition.value == "pushed" for o in report.outcomes.values()), report.outcomes


def item_event(doc: str, version: int = 1) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"e-{doc}-{version}",
        "source": "s",
        "type": "item.upserted",
        "data": {"documentId": doc, "version": version, "document": wx.item_wire()},
    }


def identity_event(event_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": "s", "type": event_type, "data": data}


def setup(clock: Clock, kind: str = "item") -> tuple[InMemoryLedger, Pipeline, FakeReader, Validator]:
    ledger = InMemoryLedger()
    pipeline = Pipeline(
        PipelineSettings(wx.SOURCE_ID, wx.PROVIDER_ID, kind),
        FakeCoveo(),
        ledger,
        FakeDeadLetters(),
        FakeContent(),
        clock_ms=clock,
    )
    reader = FakeReader()
    validator = Validator(
        ValidatorSettings(wx.SOURCE_ID, wx.PROVIDER_ID, processing_delay_s=0, deadline_s=3600),
        ledger,
        reader,
        repush=lambda k: pipeline,
        clock_ms=clock,
    )
    return ledger, pipeline, reader, validator


def test_indexing_completed_verifies_and_rejection_fails_with_coveo_reason() -> None:
    clock = Clock(T0)
    ledger, pipeline, reader, validator = setup(clock)
    pushed(pipeline, item_event("file://good"), item_event("file://bad"))
    clock.now = T0 + 60_000
    reader.entries = [
        entry("file://good", "CONSUMING_BATCH", "COMPLETED", T0 + 1_000),
        entry("file://good", "INDEXING", "COMPLETED", T0 + 2_000),
        entry("file://bad", "MAPPING", "REJECTED", T0 + 2_000, error="metadata 'x' is a sub-object"),
        entry("file://old", "INDEXING", "COMPLETED", T0 + 2_000),
    ]
    report = validator.run()
    assert (report.verified, report.failed, report.pending) == (1, 1, 0)
    assert ledger.rows["item#file://good"].status is Status.VERIFIED
    assert ledger.rows["item#file://bad"].status is Status.FAILED
    assert ledger.outcomes["item#file://bad"][1] == "metadata 'x' is a sub-object"
    assert len(reader.log_windows) == 2  # two filtered queries for the whole run, not one per item


def test_entries_older_than_the_push_do_not_count() -> None:
    clock = Clock(T0)
    _, pipeline, reader, validator = setup(clock)
    pushed(pipeline, item_event("file://a"))
    clock.now = T0 + 120_000
    reader.entries = [entry("file://a", "INDEXING", "COMPLETED", T0 - 3_600_000)]
    assert validator.run().pending == 1


def test_no_log_entry_past_the_deadline_is_pushed_again() -> None:
    """Coveo answered 202 and never processed it: the stored change is pushed again."""
    clock = Clock(T0)
    _, pipeline, _, validator = setup(clock)
    pushed(pipeline, item_event("file://lost"))
    clock.now = T0 + 3_601_000
    report = validator.run()
    assert (report.repushed, report.failed) == (1, 0)
    assert [c.name for c in pipeline.coveo.calls] == ["push_item", "push_item"]  # type: ignore[attr-defined]


def test_no_log_entry_past_the_deadline_fails_once_repushes_are_spent() -> None:
    clock = Clock(T0)
    ledger, pipeline, reader, _ = setup(clock)
    validator = Validator(
        ValidatorSettings(
            wx.SOURCE_ID, wx.PROVIDER_ID, processing_delay_s=0, deadline_s=3600, max_repushes=0
        ),
        ledger,
        reader,
        repush=lambda k: pipeline,
        clock_ms=clock,
    )
    pushed(pipeline, item_event("file://lost"))
    clock.now = T0 + 3_601_000
    assert validator.run().failed == 1
    assert ledger.outcomes["item#file://lost"][1] == "no indexing log entry within 60 minutes of the push"


def test_a_verdict_about_another_push_of_the_item_does_not_count() -> None:
    """A late, older push skipped (or rejected) after this one was applied says nothing about it."""
    clock = Clock(T0)
    ledger, pipeline, reader, validator = setup(clock)
    pushed(pipeline, item_event("file://a", version=2))
    ordering = ledger.rows["item#file://a"].ordering_id
    clock.now = T0 + 60_000
    reader.entries = [
        entry("file://a", "INDEXING", "COMPLETED", T0 + 1_000, orderingId=ordering),
        entry(
            "file://a", "CONSUMING", "SKIPPED", T0 + 2_000, orderingId=ordering - 5, reason="lower orderingId"
        ),
        entry("file://a", "PROCESSING", "REJECTED", T0 + 2_000, orderingId=ordering - 5, error="old push"),
    ]
    assert validator.run().verified == 1


def test_unknown_identity_is_repushed_then_verified() -> None:
    clock = Clock(T0)
    ledger, pipeline, reader, validator = setup(clock)
    pushed(pipeline, item_event("file://a"))
    clock.now = T0 + 60_000
    reader.entries = [
        entry(
            "file://a",
            "PROCESSING",
            "REJECTED",
            T0 + 1_000,
            error="unknown security identity: Group 'AlphaTeam'",
        )
    ]
    report = validator.run()
    assert (report.repushed, report.failed, report.pending) == (1, 0, 1)
    coveo = pipeline.coveo
    assert isinstance(coveo, FakeCoveo) and [c.name for c in coveo.calls] == ["push_item", "push_item"]
    assert ledger.rows["item#file://a"].status is Status.ACCEPTED  # pushed again, waiting for its verdict
    clock.now = T0 + 120_000
    reader.entries.append(entry("file://a", "INDEXING", "COMPLETED", T0 + 61_000))
    assert validator.run().verified == 1


def test_repushes_are_bounded() -> None:
    clock = Clock(T0)
    ledger, pipeline, reader, validator = setup(clock)
    pushed(pipeline, item_event("file://a"))
    for round_ in range(1, 6):
        clock.now = T0 + round_ * 60_000
        reader.entries = [
            entry("file://a", "PROCESSING", "REJECTED", clock.now - 1, error="unknown security identity: X")
        ]
        validator.run()
    assert ledger.rows["item#file://a"].status is Status.FAILED
    assert len(pipeline.coveo.calls) == 4  # type: ignore[attr-defined]  # the push and 3 re-pushes


def test_permission_warning_is_a_security_alarm() -> None:
    clock = Clock(T0)
    _, pipeline, reader, validator = setup(clock)
    pushed(pipeline, item_event("file://a"))
    clock.now = T0 + 60_000
    reader.entries = [entry("file://a", "INDEXING", "COMPLETED", T0 + 1_000)]
    reader.permission_state = "WARNING"
    report = validator.run()
    assert report.permission_warnings == 1
    assert any(w.security and w.text.startswith("SECURITY: file://a") for w in report.warnings)


def test_identities_are_checked_in_the_security_cache() -> None:
    clock = Clock(T0)
    ledger, pipeline, reader, validator = setup(clock, kind="identity")
    group = identity_event("g", "identity.upserted", {**wx.group_wire(), "version": 1})
    alias = identity_event("a", "identity.aliased", {**wx.alias_wire("alice"), "version": 1})
    gone = identity_event(
        "d", "identity.deleted", {"identity": {"name": "Old", "type": "GROUP"}, "version": 1}
    )
    pushed(pipeline, group, alias, gone)
    clock.now = T0 + 60_000
    reader.cache = {"GROUP AlphaTeam": "IN_ERROR", "USER alice": "UP_TO_DATE", "GROUP Old": "DISABLED"}
    report = validator.run()
    assert (report.verified, report.failed, report.identities_in_error) == (2, 1, 1)
    assert (
        "security cache IN_ERROR: bad member"
        in ledger.outcomes[f"identity#{wx.PROVIDER_ID}#GROUP#AlphaTeam"][1]
    )  # type: ignore[operator]


def test_an_identity_the_cache_last_updated_before_the_push_stays_pending() -> None:
    """UP_TO_DATE describes the cache's last update: when that update is older than the push, it
    was an earlier push's and this one has not reached the cache yet (here the members match, so
    only the date can tell)."""
    clock = Clock(T0)
    ledger, pipeline, reader, validator = setup(clock, kind="identity")
    pushed(pipeline, identity_event("g", "identity.upserted", {**wx.group_wire(), "version": 2}))
    key = f"identity#{wx.PROVIDER_ID}#GROUP#AlphaTeam"
    (row,) = ledger.rows_with_status(Status.ACCEPTED).rows
    assert (row.key, row.pushed_at_ms) == (key, T0)
    clock.now = T0 + 60_000
    reader.cache = {"GROUP AlphaTeam": "UP_TO_DATE"}
    reader.members = {"GROUP AlphaTeam": [("User", name) for name in wx.MEMBERS]}
    for before in (T0 - 1, at(T0 - 1_000)):  # epoch ms, or the ISO text the REST API may give
        reader.updated = {"GROUP AlphaTeam": before}
        report = validator.run()
        assert (report.verified, report.failed, report.pending) == (0, 0, 1)
        assert key not in ledger.outcomes
    reader.updated = {"GROUP AlphaTeam": at(T0 + 30_000)}
    assert validator.run().verified == 1
    assert ledger.outcomes[key][0] is Status.VERIFIED


def test_a_group_is_verified_only_when_the_cache_holds_the_members_it_was_pushed_with() -> None:
    clock = Clock(T0)
    ledger, pipeline, reader, validator = setup(clock, kind="identity")
    group = identity_event("g", "identity.upserted", {**wx.group_wire(), "version": 2})
    pushed(pipeline, group)
    key = f"identity#{wx.PROVIDER_ID}#GROUP#AlphaTeam"
    clock.now = T0 + 60_000
    reader.cache = {"GROUP AlphaTeam": "UP_TO_DATE"}  # updated, but by an older push of the group
    reader.members = {"GROUP AlphaTeam": [("User", "alice"), ("User", "bob"), ("User", "carol")]}
    report = validator.run()
    assert (report.verified, report.pending) == (0, 1)
    clock.now = T0 + 3_700_000  # past the deadline: FAILED, re-pushed from the stored change
    report = validator.run()
    assert report.repushed == 1
    assert ledger.outcomes[key][1] == (
        "re-pushed after: security cache members differ from the pushed version (not in the cache: USER david; "
        "in the cache only: USER carol) within 60 minutes of the push"
    )
    reader.members = {"GROUP AlphaTeam": [("User", name) for name in wx.MEMBERS]}
    clock.now += 60_000
    assert validator.run().verified == 1
    assert ledger.outcomes[key][0] is Status.VERIFIED


def test_a_group_pushed_by_a_full_sync_is_compared_by_its_members_too() -> None:
    """Its stored data carries data.syncId, which is the contract's, not the identity body's: reading
    the members must not trip on it (it once stopped every validator run)."""
    clock = Clock(T0)
    _, pipeline, reader, validator = setup(clock, kind="identity")
    group = identity_event("g", "identity.upserted", {**wx.group_wire(), "version": 2, "syncId": "nightly"})
    pushed(pipeline, group)
    clock.now = T0 + 60_000
    reader.cache = {"GROUP AlphaTeam": "UP_TO_DATE"}
    reader.members = {"GROUP AlphaTeam": [("User", "alice"), ("User", "carol")]}
    assert (validator.run().pending, validator.run().verified) == (1, 0)
    reader.members = {"GROUP AlphaTeam": [("User", name) for name in wx.MEMBERS]}
    assert validator.run().verified == 1


def test_processing_delay_is_respected() -> None:
    clock = Clock(T0)
    ledger, pipeline, reader, _ = setup(clock)
    validator = Validator(
        ValidatorSettings(wx.SOURCE_ID, wx.PROVIDER_ID, processing_delay_s=300),
        ledger,
        reader,
        clock_ms=clock,
    )
    pushed(pipeline, item_event("file://a"))
    clock.now = T0 + 60_000
    report = validator.run()
    assert (report.verified, report.pending, reader.requests_sent) == (0, 0, 0)


def test_a_repush_not_accepted_goes_back_to_the_validator_not_stuck_claimed() -> None:
    from tests.fakes import transient

    clock = Clock(T0)
    ledger, pipeline, reader, validator = setup(clock)
    pushed(pipeline, item_event("file://a"))
    clock.now = T0 + 60_000
    reader.entries = [
        entry("file://a", "PROCESSING", "REJECTED", T0 + 1_000, error="unknown security identity: X")
    ]
    coveo = pipeline.coveo
    assert isinstance(coveo, FakeCoveo)
    coveo.failures["push_item"] = [transient()]
    report = validator.run()
    assert report.repushed == 0
    row = ledger.get("item#file://a")
    assert row is not None and row.status is Status.ACCEPTED and row.repushes == 1
    assert (row.failure_reason or "").startswith("re-push not accepted yet: transient")
    clock.now = T0 + 120_000
    assert validator.run().repushed == 1  # the next run tries again


def test_retriable_rejections_of_one_run_are_re_pushed_as_one_batch() -> None:
    clock = Clock(T0)
    ledger, pipeline, reader, validator = setup(clock)
    documents = [f"file://late-group/{n}" for n in range(5)]
    pushed(pipeline, *(item_event(doc) for doc in documents))
    coveo = pipeline.coveo
    assert isinstance(coveo, FakeCoveo)
    coveo.calls.clear()
    clock.now = T0 + 60_000
    reader.entries = [
        entry(doc, "INDEXING", "REJECTED", T0 + 1_000, error="unknown security identity: GROUP 'Late'")
        for doc in documents
    ]
    report = validator.run()
    assert (report.repushed, report.pending, report.failed) == (5, 5, 0)
    [batch] = coveo.calls  # one batch request, not five single pushes
    assert batch.name == "push_items"
    adds, deletes = batch.payload
    assert sorted(item.document_id for item in adds) == documents and deletes == []
    assert all(ledger.get(f"item#{doc}").repushes == 1 for doc in documents)  # type: ignore[union-attr]


def test_a_delete_is_verified_only_when_the_identity_is_disabled() -> None:
    clock = Clock(T0)
    ledger, pipeline, reader, validator = setup(clock, kind="identity")
    gone = identity_event(
        "d", "identity.deleted", {"identity": {"name": "Old", "type": "GROUP"}, "version": 1}
    )
    pushed(pipeline, gone)
    clock.now = T0 + 60_000
    reader.cache = {"GROUP Old": "UP_TO_DATE"}  # an older upsert landed; the delete has not
    assert (validator.run().pending, ledger.rows[f"identity#{wx.PROVIDER_ID}#GROUP#Old"].status) == (
        1,
        Status.ACCEPTED,
    )
    reader.cache = {"GROUP Old": "DISABLED"}
    assert validator.run().verified == 1


def test_a_run_reports_what_its_sync_closer_did() -> None:
    """The sync closer runs after the run's verdicts; its counts, requests and notes are the run's."""
    import dataclasses
    from types import SimpleNamespace

    from connector.domain.sync import SyncRunReport

    class Closer:
        coveo = SimpleNamespace(requests_sent=0)

        def run(self) -> SyncRunReport:
            self.coveo.requests_sent += 4
            return SyncRunReport(
                completed=1,
                failed=2,
                refused=3,
                deleted=40,
                waiting=5,
                notes=["sync s-1 waits for 2 changes"],
            )

    clock = Clock(T0)
    _, _, _, validator = setup(clock)
    report = dataclasses.replace(validator, syncs=Closer()).run()  # type: ignore[arg-type]
    counts = (report.syncs_completed, report.syncs_failed, report.syncs_refused, report.sync_deleted)
    assert counts == (1, 2, 3, 40) and report.syncs_running == 5
    assert report.coveo_requests == 4  # nothing was pending: the closer's requests are all of them
    assert [(w.text, w.security) for w in report.warnings] == [("sync s-1 waits for 2 changes", False)]


def test_a_group_too_large_to_keep_is_verified_by_its_update_date_alone() -> None:
    """No stored change: the members it was pushed with are unknown, so the cache's are not compared."""
    import dataclasses

    clock = Clock(T0)
    ledger, pipeline, reader, validator = setup(clock, kind="identity")
    pushed(pipeline, identity_event("g", "identity.upserted", {**wx.group_wire(), "version": 1}))
    key = f"identity#{wx.PROVIDER_ID}#GROUP#AlphaTeam"
    ledger.accepted[key] = dataclasses.replace(ledger.accepted[key], change=None)
    clock.now = T0 + 60_000
    reader.cache = {"GROUP AlphaTeam": "UP_TO_DATE"}
    reader.updated = {"GROUP AlphaTeam": T0 + 1_000}
    reader.members = {"GROUP AlphaTeam": [("User", "someone else")]}
    assert validator.run().verified == 1
