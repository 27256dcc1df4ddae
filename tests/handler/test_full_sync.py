"""Full syncs through the pipeline and the validator's closing step, with in-memory adapters: what
each sync event does to the sync's record and to Coveo, which pushes a sync keeps, and when (and
with which orderingId) the deletion is sent."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest

from connector.domain.events import Kind
from connector.domain.ledger import Status
from connector.domain.pipeline import Disposition, Message, Pipeline, PipelineSettings
from connector.domain.sync import MemberOutcome, SyncSettings, SyncState
from connector.domain.sync_closing import SyncCloser
from tests import worked_example as wx
from tests.fakes import FakeContent, FakeCoveo, FakeDeadLetters, transient
from tests.in_memory_ledger import InMemoryLedger
from tests.in_memory_syncs import InMemorySyncs

from .conftest import Clock

PERMISSIONS = [{"allowedPermissions": [{"identity": "AlphaTeam", "identityType": "Group"}]}]


class Rig:
    """One item queue and one identity queue sharing a ledger, sync records and Coveo."""

    def __init__(self) -> None:
        self.coveo = FakeCoveo()
        self.ledger = InMemoryLedger()
        self.syncs = InMemorySyncs()
        self.dead_letters = FakeDeadLetters()
        self.clock = Clock()
        self._sent = 0

    def pipeline(self, kind: Kind) -> Pipeline:
        settings = PipelineSettings(source_id=wx.SOURCE_ID, provider_id=wx.PROVIDER_ID, kind=kind)
        return Pipeline(
            settings,
            self.coveo,
            self.ledger,
            self.dead_letters,
            FakeContent(),
            clock_ms=self.clock,
            syncs=self.syncs,
        )

    def send(self, kind: Kind, *events: Any) -> dict[str, Any]:
        messages = []
        for event in events:
            self._sent += 1
            body = event if isinstance(event, str) else json.dumps(event)
            messages.append(Message(f"m{self._sent}", body))
        report = self.pipeline(kind).process(messages, lambda: 60.0)
        return {o.message_id: o for o in report.outcomes.values()} | {"report": report}

    def verify_all(self) -> None:
        """What the validator does once Coveo indexed every accepted push."""
        for key, head in list(self.ledger.rows.items()):
            if head.status is Status.ACCEPTED:
                row = self.ledger.get(key)
                assert row is not None
                self.ledger.mark(row, Status.VERIFIED, reason=None, now_ms=self.clock())

    def closer(self, **settings: Any) -> SyncCloser:
        values: dict[str, Any] = {
            "source_id": wx.SOURCE_ID,
            "provider_id": wx.PROVIDER_ID,
            "sync_queue_delay_minutes": 0,
            **settings,
        }
        return SyncCloser(SyncSettings(**values), self.syncs, self.ledger, self.coveo, clock_ms=self.clock)


def event(type_: str, data: dict[str, Any], event_id: str, **extra: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": "test", "type": type_, "data": data, **extra}


def upsert(doc: str, version: int, sync_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "documentId": doc,
        "version": version,
        "document": {"data": f"v{version}", "permissions": PERMISSIONS},
    }
    if sync_id:
        data["syncId"] = sync_id
    return event("item.upserted", data, f"{doc}@{version}{'#' + sync_id if sync_id else ''}")


def started(sync_id: str, scope: str = "items", **extra: Any) -> dict[str, Any]:
    return event("sync.started", {"syncId": sync_id, "scope": scope}, f"{sync_id}-started", **extra)


def completed(sync_id: str, count: int, **data: Any) -> dict[str, Any]:
    return event("sync.completed", {"syncId": sync_id, "count": count, **data}, f"{sync_id}-completed")


def pushes(rig: Rig) -> dict[str, int]:
    """documentId → orderingId of every item pushed, in batches or alone (the last push wins)."""
    found: dict[str, int] = {}
    for call in rig.coveo.calls:
        if call.name == "push_items":
            for body in call.payload[0]:
                found[body.document_id] = call.ordering_id
        elif call.name == "push_item":
            found[call.target] = call.ordering_id
    return found


DOCS = [f"file://d/{n}" for n in range(6)]


def loaded(rig: Rig) -> None:
    rig.send(Kind.ITEM, *(upsert(d, 1) for d in DOCS))
    rig.verify_all()


# --- sync events ------------------------------------------------------------------------------------


def test_sync_started_opens_the_sync_and_the_sources_rebuild() -> None:
    rig = Rig()
    outcome = rig.send(Kind.ITEM, started("s1"))["m1"]
    assert outcome.disposition is Disposition.RECORDED
    record = rig.syncs.records["s1"]
    assert (record.state, record.scope, record.announced) == (SyncState.RUNNING, Kind.ITEM, True)
    assert rig.syncs.current(Kind.ITEM) == "s1"
    assert [c.payload for c in rig.coveo.named("set_source_status")] == ["REBUILD"]


def test_an_identity_sync_opens_no_source_activity() -> None:
    rig = Rig()
    assert rig.send(Kind.IDENTITY, started("i1", "identities"))["m1"].disposition is Disposition.RECORDED
    assert rig.coveo.named("set_source_status") == []


def test_a_sync_event_on_the_other_scopes_queue_is_dead_lettered() -> None:
    rig = Rig()
    outcomes = rig.send(Kind.IDENTITY, started("s1", "items"), upsert("file://x", 1))
    assert outcomes["m1"].disposition is Disposition.DEAD_LETTERED
    assert (
        "belong on the item queue" in outcomes["m1"].reason and "queue of its scope" in outcomes["m1"].reason
    )
    assert "s1" not in rig.syncs.records


def test_a_change_sent_to_a_sync_of_the_other_scope_is_dead_lettered_alone() -> None:
    rig = Rig()
    rig.send(Kind.IDENTITY, started("i1", "identities"))
    outcomes = rig.send(Kind.ITEM, upsert("file://a", 1, "i1"), upsert("file://b", 1))
    assert outcomes["m2"].disposition is Disposition.DEAD_LETTERED
    assert "sync of identities" in outcomes["m2"].reason
    assert outcomes["m3"].disposition is Disposition.PUSHED


def test_a_second_sync_started_supersedes_the_unfinished_one() -> None:
    rig = Rig()
    rig.send(Kind.ITEM, started("s1"))
    rig.send(Kind.ITEM, started("s2"))
    assert "superseded by sync 's2'" in (rig.syncs.records["s1"].doomed or "")
    assert rig.syncs.current(Kind.ITEM) == "s2"
    # The validator ends it (so its alarm sees every failed sync); the new one runs on.
    assert rig.closer().run().failed == 1
    first = rig.syncs.records["s1"]
    assert first.state is SyncState.FAILED and "superseded by sync 's2'" in (first.reason or "")
    assert rig.syncs.records["s2"].state is SyncState.RUNNING


def test_a_sync_started_that_arrives_after_a_later_one_is_superseded_itself() -> None:
    rig = Rig()
    rig.send(Kind.ITEM, started("new", time="2026-12-01T10:00:00Z"))
    rig.send(Kind.ITEM, started("old", time="2026-12-01T09:00:00Z"))
    rig.closer().run()
    assert rig.syncs.records["new"].state is SyncState.RUNNING
    old = rig.syncs.records["old"]
    assert old.state is SyncState.FAILED and "which started later" in (old.reason or "")


def test_syncs_of_different_scopes_overlap() -> None:
    rig = Rig()
    rig.send(Kind.ITEM, started("s1"))
    rig.send(Kind.IDENTITY, started("i1", "identities"))
    assert {r.state for r in rig.syncs.records.values()} == {SyncState.RUNNING}


def test_a_sync_started_delivered_again_changes_nothing() -> None:
    rig = Rig()
    rig.send(Kind.ITEM, started("s1"))
    rig.send(Kind.ITEM, started("s1"))
    assert rig.syncs.records["s1"].state is SyncState.RUNNING


def test_sync_completed_records_the_count_once() -> None:
    rig = Rig()
    rig.send(Kind.ITEM, completed("s1", 3, allowMassDelete=True))  # before its sync.started
    record = rig.syncs.records["s1"]
    assert (record.expected, record.allow_mass_delete, record.state) == (3, True, SyncState.RUNNING)
    rig.send(Kind.ITEM, completed("s1", 3))  # delivered again
    assert rig.syncs.records["s1"].state is SyncState.RUNNING
    rig.send(Kind.ITEM, event("sync.completed", {"syncId": "s1", "count": 4}, "other"))
    rig.closer().run()
    failed = rig.syncs.records["s1"]
    assert failed.state is SyncState.FAILED and "(3 and 4)" in (failed.reason or "")


def test_a_coveo_failure_on_the_status_retries_only_the_sync_started() -> None:
    rig = Rig()
    rig.coveo.failures["set_source_status"] = [transient()]
    outcomes = rig.send(Kind.ITEM, started("s1"), upsert("file://a", 1), upsert("file://b", 1))
    assert outcomes["m1"].disposition is Disposition.RETRY
    assert outcomes["m2"].disposition is outcomes["m3"].disposition is Disposition.PUSHED
    assert rig.send(Kind.ITEM, started("s1"))["m4"].disposition is Disposition.RECORDED


def test_without_sync_records_sync_events_are_refused_with_a_reason() -> None:
    rig = Rig()
    pipeline = rig.pipeline(Kind.ITEM)
    pipeline.syncs = None
    report = pipeline.process([Message("m1", json.dumps(started("s1")))], lambda: 60.0)
    assert report.outcomes["m1"].disposition is Disposition.DEAD_LETTERED
    assert "no record of full syncs" in (report.outcomes["m1"].reason or "")


# --- which pushes a sync keeps ---------------------------------------------------------------------


def test_a_sync_pushes_again_what_it_repeats_unchanged_at_or_above_its_start() -> None:
    rig = Rig()
    loaded(rig)
    before = pushes(rig)
    rig.send(Kind.ITEM, started("s1"))
    start = rig.syncs.records["s1"].started_ms
    outcomes = rig.send(Kind.ITEM, *(upsert(d, 1, "s1") for d in DOCS[:4]))
    assert {o.disposition for k, o in outcomes.items() if k != "report"} == {Disposition.PUSHED}
    after = pushes(rig)
    assert all(after[d] >= start > before[d] for d in DOCS[:4])
    assert all(after[d] == before[d] for d in DOCS[4:])


def test_a_change_redelivered_during_its_sync_is_not_pushed_twice() -> None:
    rig = Rig()
    loaded(rig)
    rig.send(Kind.ITEM, started("s1"))
    rig.send(Kind.ITEM, upsert(DOCS[0], 1, "s1"))
    calls = len(rig.coveo.calls)
    again = rig.send(Kind.ITEM, upsert(DOCS[0], 1, "s1"))["m9"]
    assert again.disposition is Disposition.STALE and "already pushed during its sync" in (again.reason or "")
    assert len(rig.coveo.calls) == calls
    outcomes = [m.outcome for m in rig.syncs.members("s1")]
    assert outcomes == [MemberOutcome.PUSHED, MemberOutcome.STALE]


def test_without_a_sync_an_unchanged_change_stays_stale() -> None:
    rig = Rig()
    loaded(rig)
    assert rig.send(Kind.ITEM, upsert(DOCS[0], 1))["m7"].disposition is Disposition.STALE


@pytest.mark.parametrize("ended", [True, False])
def test_a_sync_that_ended_or_cannot_complete_no_longer_refreshes(ended: bool) -> None:
    rig = Rig()
    loaded(rig)
    rig.send(Kind.ITEM, started("s1"))
    if ended:
        rig.syncs.finish("s1", SyncState.FAILED, reason="test", now_ms=rig.clock())
    else:
        rig.send(Kind.ITEM, started("s2"))  # s1 superseded, not yet ended
    message = "m8" if ended else "m9"
    assert rig.send(Kind.ITEM, upsert(DOCS[0], 1, "s1"))[message].disposition is Disposition.STALE


def test_a_syncs_pushes_are_never_below_its_start_whatever_the_clock() -> None:
    rig = Rig()
    rig.syncs.open("s1", Kind.ITEM, rig.clock.now + 60_000)  # begun by a container whose clock runs ahead
    rig.send(Kind.ITEM, upsert("file://a", 1, "s1"), upsert("file://b", 1, "s1"))
    assert min(pushes(rig).values()) >= rig.syncs.records["s1"].started_ms


def test_the_first_change_of_a_sync_opens_it() -> None:
    rig = Rig()
    rig.send(Kind.ITEM, upsert("file://a", 1, "s1"))
    record = rig.syncs.records["s1"]
    assert (record.state, record.announced, record.settled) == (SyncState.RUNNING, False, 1)


def test_a_changes_outcome_is_counted_once_settled_and_not_while_it_retries() -> None:
    rig = Rig()
    rig.coveo.failures["push_items"] = [transient()]
    outcomes = rig.send(Kind.ITEM, upsert("file://a", 1, "s1"), upsert("file://b", 1, "s1"))
    assert {outcomes["m1"].disposition, outcomes["m2"].disposition} == {Disposition.RETRY}
    assert rig.syncs.members("s1") == []
    rig.send(Kind.ITEM, upsert("file://a", 1, "s1"), upsert("file://b", 1, "s1"))
    assert len(rig.syncs.members("s1")) == 2


def test_an_unreadable_change_still_counts_against_its_sync() -> None:
    rig = Rig()
    bad = event(
        "item.upserted", {"documentId": "not a uri", "syncId": "s1", "version": 1, "document": {}}, "bad"
    )
    outcome = rig.send(Kind.ITEM, bad)["m1"]
    assert outcome.disposition is Disposition.DEAD_LETTERED
    [member] = rig.syncs.members("s1")
    assert (member.event_id, member.outcome) == ("bad", MemberOutcome.DEAD_LETTERED)
    assert member.reason == outcome.reason


def test_when_the_sync_cannot_count_a_push_sqs_brings_it_back() -> None:
    rig = Rig()
    rig.syncs.fail_next = [OSError("S3 unavailable")]
    bad = event("item.deleted", {"documentId": "nope", "syncId": "s1", "version": 1}, "bad")
    outcomes = rig.send(Kind.ITEM, upsert("file://a", 1, "s1"), bad)
    assert outcomes["m1"].disposition is Disposition.RETRY and "could not count it" in (
        outcomes["m1"].reason or ""
    )
    assert outcomes["m2"].disposition is Disposition.DEAD_LETTERED  # a dead letter stays one
    again = rig.send(Kind.ITEM, upsert("file://a", 1, "s1"))["m3"]
    assert again.disposition is Disposition.STALE
    assert [m.outcome for m in rig.syncs.members("s1")] == [MemberOutcome.STALE]


# --- closing: the validator's step -----------------------------------------------------------------


def run_sync(rig: Rig, kept: list[str], new: list[str], **completion: Any) -> None:
    rig.send(Kind.ITEM, started("s1"))
    members = [upsert(d, 1, "s1") for d in kept] + [upsert(d, 1, "s1") for d in new]
    rig.send(Kind.ITEM, *members, completed("s1", len(members), **completion))


def test_a_complete_verified_sync_deletes_what_it_left_out_then_ends_the_rebuild() -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS[:5], ["file://d/new"])
    assert rig.closer().run().waiting == 1  # pushed, not yet verified
    assert rig.coveo.named("delete_items_older_than") == []
    rig.verify_all()
    rig.coveo.documents = 7  # six loaded and one new
    report = rig.closer().run()
    assert (report.completed, report.deleted) == (1, 1)
    [delete] = rig.coveo.named("delete_items_older_than")
    record = rig.syncs.records["s1"]
    assert delete.ordering_id == record.threshold == record.started_ms
    assert min(pushes(rig)[d] for d in [*DOCS[:5], "file://d/new"]) >= delete.ordering_id
    assert pushes(rig)[DOCS[5]] < delete.ordering_id
    assert delete.payload == 0  # the queue delay
    assert (record.state, record.settled, record.deleted) == (SyncState.COMPLETED, 6, 1)
    assert rig.coveo.named("set_source_status")[-1].payload == "IDLE"
    calls = len(rig.coveo.calls)
    assert rig.closer().run().completed == 0 and len(rig.coveo.calls) == calls  # once


def test_a_run_after_one_that_died_mid_deletion_sends_the_planned_deletion_again() -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS[:5], [])
    rig.verify_all()
    rig.coveo.documents = 6
    rig.coveo.failures["delete_items_older_than"] = [transient()]  # the run dies sending it
    rig.closer().run()
    planned = rig.syncs.records["s1"]
    assert (planned.state, planned.deleted) == (SyncState.RUNNING, 1)
    rig.coveo.documents = 5  # Coveo applied it meanwhile: a recount would say 0
    rig.send(Kind.ITEM, started("s2"))  # and a new sync began: too late to stop what was sent
    assert rig.closer().run().deleted == 1
    [*_, delete] = rig.coveo.named("delete_items_older_than")
    record = rig.syncs.records["s1"]
    assert (record.state, record.deleted, delete.ordering_id) == (SyncState.COMPLETED, 1, planned.threshold)


def test_a_sync_that_would_delete_too_much_is_refused_and_deletes_nothing() -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS[:2], [])
    rig.verify_all()
    rig.coveo.documents = 6
    report = rig.closer().run()
    assert report.refused == 1 and rig.coveo.named("delete_items_older_than") == []
    record = rig.syncs.records["s1"]
    assert record.state is SyncState.REFUSED and "4 of 6 documents (67%)" in (record.reason or "")
    assert rig.coveo.named("set_source_status")[-1].payload == "IDLE"


def test_allow_mass_delete_lets_a_large_deletion_through() -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS[:2], [], allowMassDelete=True)
    rig.verify_all()
    rig.coveo.documents = 6
    assert rig.closer().run().completed == 1
    assert len(rig.coveo.named("delete_items_older_than")) == 1


def test_the_share_is_a_setting() -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS[:4], [])
    rig.verify_all()
    rig.coveo.documents = 6
    assert rig.closer(max_delete_share=0.2).run().refused == 1


def test_a_sync_missing_a_change_fails_at_its_deadline_and_deletes_nothing() -> None:
    rig = Rig()
    loaded(rig)
    rig.send(Kind.ITEM, started("s1"), *(upsert(d, 1, "s1") for d in DOCS[:3]), completed("s1", 4))
    rig.verify_all()
    assert rig.closer(sync_deadline_s=3600).run().waiting == 1
    rig.clock.now += 3_600_001
    report = rig.closer(sync_deadline_s=3600).run()
    assert report.failed == 1 and rig.coveo.named("delete_items_older_than") == []
    assert "only 3 of the 4 changes" in (rig.syncs.records["s1"].reason or "")


def test_an_identity_sync_disables_what_it_left_out() -> None:
    rig = Rig()
    group = event("identity.upserted", {**wx.group_wire(), "version": 1, "syncId": "i1"}, "g")
    aliases = [
        event("identity.aliased", {**wx.alias_wire(m), "version": 1, "syncId": "i1"}, f"a-{m}")
        for m in ("alice", "david")
    ]
    rig.send(Kind.IDENTITY, started("i1", "identities"), group, *aliases, completed("i1", 3))
    rig.verify_all()
    rig.coveo.identities = 4  # the group, alice, bob and david
    assert rig.closer().run().completed == 1
    [disable] = rig.coveo.named("delete_identities_older_than")
    assert (disable.target, disable.ordering_id) == (wx.PROVIDER_ID, rig.syncs.records["i1"].threshold)
    assert rig.syncs.records["i1"].deleted == 1
    assert rig.coveo.named("delete_items_older_than") == [] and rig.coveo.named("set_source_status") == []


def test_coveo_unavailable_leaves_the_sync_running_for_the_next_run() -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS, [])
    rig.verify_all()
    rig.coveo.documents = 6
    rig.coveo.failures["delete_items_older_than"] = [transient()]
    report = rig.closer().run()
    assert report.completed == 0 and "left running" in report.notes[0]
    assert rig.syncs.records["s1"].state is SyncState.RUNNING
    assert rig.closer().run().completed == 1


@pytest.mark.parametrize("superseded_first", [True, False])
def test_a_superseded_sync_deletes_nothing(superseded_first: bool) -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS[:5], [])
    rig.verify_all()
    if superseded_first:
        rig.send(Kind.ITEM, started("s2"))
    rig.coveo.documents = 6
    rig.closer().run()
    deleted = bool(rig.coveo.named("delete_items_older_than"))
    assert deleted is not superseded_first


def test_the_validator_writes_the_exact_count_over_redeliveries() -> None:
    rig = Rig()
    rig.send(Kind.ITEM, started("s1"), upsert("file://a", 1, "s1"))
    rig.syncs.records["s1"] = dataclasses.replace(rig.syncs.records["s1"], settled=5)  # redeliveries counted
    rig.closer().run()
    assert rig.syncs.records["s1"].settled == 1


def test_a_sync_smaller_than_the_source_count_deletes_nothing_and_says_so() -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS, [])
    rig.verify_all()
    rig.coveo.documents = 3  # the index has not counted them all yet
    report = rig.closer().run()
    assert (report.completed, report.deleted, rig.syncs.records["s1"].deleted) == (1, 0, 0)


def test_a_sync_another_run_ended_meanwhile_is_not_counted_twice() -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS, [])
    rig.verify_all()
    rig.coveo.documents = 6
    rig.syncs.finish = lambda *a, **k: False  # type: ignore[method-assign]
    report = rig.closer().run()
    assert (report.completed, report.ended) == (0, [])
    assert rig.coveo.named("set_source_status")[-1].payload == "REBUILD"


def test_failed_and_refused_syncs_leave_a_note_with_their_reason() -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS[:1], [])
    rig.verify_all()
    rig.coveo.documents = 6
    report = rig.closer().run()
    assert report.ended == ["s1"]
    assert report.notes == [f"sync 's1' of items REFUSED: {rig.syncs.records['s1'].reason}"]
    completed_rig = Rig()
    loaded(completed_rig)
    run_sync(completed_rig, DOCS, [])
    completed_rig.verify_all()
    completed_rig.coveo.documents = 6
    assert completed_rig.closer().run().notes == []


def test_an_orphan_sync_failing_leaves_the_running_syncs_rebuild_alone() -> None:
    rig = Rig()
    rig.send(Kind.ITEM, started("s2"))
    rig.send(Kind.ITEM, upsert("file://a", 1, "orphan"))  # never announced: not the scope's sync
    rig.clock.now += 7_200_001
    report = rig.closer().run()
    assert report.failed == 2  # the orphan, and s2 which never got its sync.completed either
    statuses = [c.payload for c in rig.coveo.named("set_source_status")]
    assert statuses == ["REBUILD", "IDLE"]  # IDLE once, for s2, the scope's current sync


def test_a_status_coveo_refuses_at_the_end_is_noted() -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS, [])
    rig.verify_all()
    rig.coveo.documents = 6
    rig.coveo.failures["set_source_status"] = [transient()]
    report = rig.closer().run()
    assert report.completed == 1 and "could not be set back to IDLE" in report.notes[-1]


def test_the_closing_steps_own_clock_reads_epoch_milliseconds() -> None:
    rig = Rig()
    closer = SyncCloser(SyncSettings(wx.SOURCE_ID, wx.PROVIDER_ID), rig.syncs, rig.ledger, rig.coveo)
    assert abs(closer.clock_ms() - time.time() * 1000) < 1000  # its deadlines are compared with it


def test_an_older_version_in_a_sync_is_stale_for_being_older() -> None:
    rig = Rig()
    rig.send(Kind.ITEM, upsert("file://a", 2))
    outcome = rig.send(Kind.ITEM, started("s1"), upsert("file://a", 1, "s1"))["m3"]
    assert (outcome.disposition, outcome.reason) == (Disposition.STALE, "version 1 is not newer than 2")


def test_a_sync_started_delivered_again_after_its_sync_ended_leaves_the_source_idle() -> None:
    rig = Rig()
    loaded(rig)
    run_sync(rig, DOCS, [])
    rig.verify_all()
    rig.coveo.documents = 6
    rig.closer().run()
    statuses = len(rig.coveo.named("set_source_status"))
    outcomes = rig.send(Kind.ITEM, started("s1"))
    [outcome] = [o for k, o in outcomes.items() if k != "report"]
    assert outcome.disposition is Disposition.RECORDED
    assert len(rig.coveo.named("set_source_status")) == statuses  # no REBUILD for a finished sync


def test_a_sync_started_delivered_again_does_not_doom_its_own_sync() -> None:
    rig = Rig()
    rig.send(Kind.ITEM, started("s1"))
    rig.send(Kind.ITEM, started("s1"))
    assert rig.syncs.records["s1"].doomed is None
    assert rig.closer().run().failed == 0


class RacedSyncs(InMemorySyncs):
    """Another sync.started of the scope wins the pointer the first `losses` times."""

    def __init__(self, losses: int) -> None:
        super().__init__()
        self.losses = losses

    def make_current(self, scope: Kind, sync_id: str, *, replacing: str | None) -> bool:
        if self.losses:
            self.losses -= 1
            return False
        return super().make_current(scope, sync_id, replacing=replacing)


@pytest.mark.parametrize(("losses", "disposition"), [(2, Disposition.RECORDED), (3, Disposition.RETRY)])
def test_a_sync_started_racing_others_tries_three_times_then_waits_for_sqs(
    losses: int, disposition: Disposition
) -> None:
    rig = Rig()
    rig.syncs = RacedSyncs(losses)
    outcome = rig.send(Kind.ITEM, started("s1"))["m1"]
    assert outcome.disposition is disposition
    assert (rig.syncs.current(Kind.ITEM) == "s1") is (disposition is Disposition.RECORDED)
    if disposition is Disposition.RETRY:
        assert "kept racing" in (outcome.reason or "")
        assert rig.coveo.named("set_source_status") == []  # no rebuild for a sync not yet current


def test_changes_of_a_sync_that_ended_are_pushed_but_not_counted() -> None:
    rig = Rig()
    rig.send(Kind.ITEM, started("s1"), upsert("file://a", 1, "s1"))
    rig.syncs.finish("s1", SyncState.FAILED, reason="test", now_ms=rig.clock())
    outcome = rig.send(Kind.ITEM, upsert("file://b", 1, "s1"))["m3"]
    assert outcome.disposition is Disposition.PUSHED
    assert [m.event_id for m in rig.syncs.members("s1")] == ["file://a@1#s1"]


@pytest.mark.parametrize("step", ["_read", "_stored_change"])
def test_a_change_whose_reading_breaks_unexpectedly_is_dead_lettered_alone(
    step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig()
    pipeline = rig.pipeline(Kind.ITEM)
    original = getattr(pipeline, step)

    def breaks_on_b(given: Any) -> Any:  # a message (_read) or a change (_stored_change)
        if "file://b" in (getattr(given, "body", None) or getattr(given, "subject", "")):
            raise RuntimeError("boom")
        return original(given)

    monkeypatch.setattr(pipeline, step, breaks_on_b)
    messages = [Message(f"m{n}", json.dumps(upsert(f"file://{n}", 1, "s1"))) for n in "abc"]
    report = pipeline.process(messages, lambda: 60.0)
    dispositions = {m: o.disposition for m, o in report.outcomes.items()}
    assert dispositions == {
        "ma": Disposition.PUSHED,
        "mb": Disposition.DEAD_LETTERED,
        "mc": Disposition.PUSHED,
    }
    assert {c.target for c in rig.coveo.calls if c.name == "push_item"} | {
        body.document_id for c in rig.coveo.named("push_items") for body in c.payload[0]
    } == {"file://a", "file://c"}
    assert [m.outcome for m in rig.syncs.members("s1") if m.event_id.startswith("file://b")] == [
        MemberOutcome.DEAD_LETTERED
    ]
