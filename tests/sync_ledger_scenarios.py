"""The `SyncLedger` port (connector.ports) as scenarios any implementation must pass: the in-memory
twin (tests/unit/test_sync_ledger.py) and the DynamoDB + S3 adapter on moto
(tests/pipeline/test_dynamodb_syncs.py) run the same ones, so the unit and handler tiers test the
domain against what the deployed adapter really does.

Each scenario takes a sync ledger no one else writes syncs to (`running()` and `recent()` read them
all) and asserts what a person reading it would see: the records field by field, the scope
pointers, the members. The order of members across batches is not part of the port (S3 lists its
objects by name), so members are compared as multisets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from connector.domain.events import Kind
from connector.domain.sync import Member, MemberOutcome, SyncRecord, SyncState
from connector.ports import SyncLedger

Scenario = Callable[[SyncLedger], None]


def pushed(event_id: str, key: str | None = None) -> Member:
    return Member(event_id, key or f"item#file://{event_id}", "item.upserted", MemberOutcome.PUSHED)


def stale(event_id: str) -> Member:
    return Member(event_id, f"item#file://{event_id}", "item.upserted", MemberOutcome.STALE)


def dead(event_id: str, reason: str = "no permissions") -> Member:
    # A change that could not be read has no key nor type.
    return Member(event_id, None, None, MemberOutcome.DEAD_LETTERED, reason)


def record(syncs: SyncLedger, sync_id: str) -> SyncRecord:
    found = syncs.get([sync_id])
    assert list(found) == [sync_id]
    return found[sync_id]


def ids(records: list[SyncRecord]) -> list[str]:
    return [r.sync_id for r in records]


# --- open and get ---------------------------------------------------------------------------------


def open_creates_a_running_record_once_the_first_callers_start_wins(syncs: SyncLedger) -> None:
    first = syncs.open("s-a", Kind.ITEM, 1_000)
    assert first == SyncRecord("s-a", Kind.ITEM, SyncState.RUNNING, started_ms=1_000, progress_ms=1_000)
    assert (first.announced, first.expected, first.settled, first.finished_ms) == (False, None, 0, None)
    # Opened again (its other events), later and even by the other scope's function: nothing changes.
    assert syncs.open("s-a", Kind.ITEM, 2_000) == first
    assert syncs.open("s-a", Kind.IDENTITY, 3_000) == first
    assert record(syncs, "s-a") == first
    identities = syncs.open("s-b", Kind.IDENTITY, 4_000)
    assert (identities.scope, identities.started_ms) == (Kind.IDENTITY, 4_000)


def open_of_an_ended_sync_returns_it_ended(syncs: SyncLedger) -> None:
    syncs.open("s-a", Kind.ITEM, 1_000)
    assert syncs.finish("s-a", SyncState.FAILED, reason="superseded", now_ms=2_000)
    again = syncs.open("s-a", Kind.ITEM, 3_000)
    assert (again.state, again.started_ms, again.reason, again.finished_ms) == (
        SyncState.FAILED,
        1_000,
        "superseded",
        2_000,
    )
    assert syncs.running() == []


def get_answers_only_the_syncs_it_knows(syncs: SyncLedger) -> None:
    assert syncs.get([]) == {}
    assert syncs.get(["s-unknown"]) == {}
    a = syncs.open("s-a", Kind.ITEM, 1_000)
    b = syncs.open("s-b", Kind.IDENTITY, 2_000)
    assert syncs.get(["s-a", "s-unknown", "s-a"]) == {"s-a": a}
    assert syncs.get(["s-b", "s-a"]) == {"s-a": a, "s-b": b}
    assert syncs.get(["s-unknown"]) == {}  # reading does not create


# --- sync.started ---------------------------------------------------------------------------------


def announce_is_idempotent_and_keeps_the_first_event_time(syncs: SyncLedger) -> None:
    syncs.open("s-a", Kind.ITEM, 1_000)
    syncs.announce("s-a", event_ms=500, now_ms=1_100)
    after = record(syncs, "s-a")
    assert (after.announced, after.started_event_ms, after.progress_ms) == (True, 500, 1_100)
    syncs.announce("s-a", event_ms=400, now_ms=1_200)  # delivered again, or another sync.started
    syncs.announce("s-a", event_ms=None, now_ms=1_300)
    again = record(syncs, "s-a")
    assert (again.announced, again.started_event_ms, again.progress_ms) == (True, 500, 1_300)
    assert (again.started_ms, again.state) == (1_000, SyncState.RUNNING)

    # A sync.started without a time of its own takes the first time a later one gives.
    syncs.open("s-b", Kind.ITEM, 2_000)
    syncs.announce("s-b", event_ms=None, now_ms=2_100)
    assert (record(syncs, "s-b").announced, record(syncs, "s-b").started_event_ms) == (True, None)
    syncs.announce("s-b", event_ms=700, now_ms=2_200)
    assert record(syncs, "s-b").started_event_ms == 700


def make_current_points_a_scope_only_from_what_it_replaces(syncs: SyncLedger) -> None:
    assert syncs.current(Kind.ITEM) is None
    assert syncs.make_current(Kind.ITEM, "s-a", replacing=None) is True
    assert syncs.current(Kind.ITEM) == "s-a"
    # A second "first" sync.started lost the race; so does one replacing what never was current.
    assert syncs.make_current(Kind.ITEM, "s-b", replacing=None) is False
    assert syncs.make_current(Kind.ITEM, "s-b", replacing="s-other") is False
    assert syncs.current(Kind.ITEM) == "s-a"
    assert syncs.make_current(Kind.ITEM, "s-b", replacing="s-a") is True
    assert syncs.current(Kind.ITEM) == "s-b"
    # Replacing what it read before another sync.started moved the pointer: too late.
    assert syncs.make_current(Kind.ITEM, "s-c", replacing="s-a") is False
    assert syncs.current(Kind.ITEM) == "s-b"
    # Each scope has its own pointer.
    assert syncs.current(Kind.IDENTITY) is None
    assert syncs.make_current(Kind.IDENTITY, "s-i", replacing="s-b") is False
    assert syncs.make_current(Kind.IDENTITY, "s-i", replacing=None) is True
    assert (syncs.current(Kind.ITEM), syncs.current(Kind.IDENTITY)) == ("s-b", "s-i")


# --- sync.completed -------------------------------------------------------------------------------


def expect_keeps_the_first_count_and_returns_it(syncs: SyncLedger) -> None:
    syncs.open("s-a", Kind.ITEM, 1_000)
    assert syncs.expect("s-a", 10, allow_mass_delete=False, now_ms=2_000) == 10
    first = record(syncs, "s-a")
    assert (first.expected, first.allow_mass_delete, first.completed_ms, first.progress_ms) == (
        10,
        False,
        2_000,
        2_000,
    )
    # Another sync.completed (a redelivery, or one that counts otherwise) changes none of it.
    assert syncs.expect("s-a", 12, allow_mass_delete=True, now_ms=3_000) == 10
    second = record(syncs, "s-a")
    assert (second.expected, second.allow_mass_delete, second.completed_ms, second.progress_ms) == (
        10,
        False,
        2_000,
        3_000,
    )
    assert second.state is SyncState.RUNNING

    syncs.open("s-b", Kind.IDENTITY, 1_000)
    assert syncs.expect("s-b", 0, allow_mass_delete=True, now_ms=2_000) == 0
    assert syncs.expect("s-b", 5, allow_mass_delete=False, now_ms=3_000) == 0
    assert (record(syncs, "s-b").expected, record(syncs, "s-b").allow_mass_delete) == (0, True)


# --- members --------------------------------------------------------------------------------------


def members_come_back_as_recorded_duplicates_included(syncs: SyncLedger) -> None:
    syncs.open("s-a", Kind.ITEM, 1_000)
    syncs.open("s-b", Kind.ITEM, 1_000)
    assert syncs.members("s-a") == []
    first = [pushed("e1"), stale("e2"), dead("e3", "data.permissions: missing " + "é" * 50)]
    # A redelivered change comes again: the ledger keeps both, the validator counts events.
    second = [pushed("e1"), pushed("e4", key="identity#alice@example.com")]
    syncs.record_members("s-a", first, now_ms=2_000)
    syncs.record_members("s-a", second, now_ms=3_000)
    syncs.record_members("s-b", [pushed("e9")], now_ms=3_000)
    assert Counter(syncs.members("s-a")) == Counter(first + second)
    assert syncs.members("s-b") == [pushed("e9")]
    assert syncs.members("s-unknown") == []


def the_settled_counter_adds_what_was_not_dead_lettered(syncs: SyncLedger) -> None:
    syncs.open("s-a", Kind.ITEM, 1_000)
    syncs.record_members("s-a", [pushed("e1"), stale("e2"), dead("e3")], now_ms=2_000)
    after = record(syncs, "s-a")
    assert (after.settled, after.progress_ms) == (2, 2_000)
    # Counting is the caller's: the same event again adds again (the validator sets it exact).
    syncs.record_members("s-a", [pushed("e1")], now_ms=3_000)
    syncs.record_members("s-a", [dead("e4")], now_ms=4_000)
    after = record(syncs, "s-a")
    assert (after.settled, after.progress_ms) == (3, 4_000)


def recording_no_members_changes_nothing(syncs: SyncLedger) -> None:
    before = syncs.open("s-a", Kind.ITEM, 1_000)
    syncs.record_members("s-a", [], now_ms=5_000)
    assert record(syncs, "s-a") == before
    assert syncs.members("s-a") == []


def count_settled_sets_the_validators_exact_count(syncs: SyncLedger) -> None:
    syncs.open("s-a", Kind.ITEM, 1_000)
    syncs.record_members("s-a", [pushed("e1"), pushed("e1"), pushed("e2")], now_ms=2_000)
    assert record(syncs, "s-a").settled == 3
    syncs.count_settled("s-a", 2)
    after = record(syncs, "s-a")
    assert (after.settled, after.progress_ms, after.state) == (2, 2_000, SyncState.RUNNING)
    syncs.record_members("s-a", [pushed("e3")], now_ms=3_000)
    assert record(syncs, "s-a").settled == 3


def writes_to_a_sync_never_opened_fail_and_create_nothing(syncs: SyncLedger) -> None:
    """Every event of a sync opens it first; a write that finds no record (a bug, or a record the
    TTL removed) must not leave a half record behind that `get` and the lists cannot read."""
    with pytest.raises(Exception):  # noqa: B017 - the port names no error type
        syncs.record_members("s-ghost", [pushed("e1")], now_ms=1_000)
    with pytest.raises(Exception):  # noqa: B017
        syncs.announce("s-ghost", event_ms=1, now_ms=1_000)
    with pytest.raises(Exception):  # noqa: B017
        syncs.expect("s-ghost", 3, allow_mass_delete=False, now_ms=1_000)
    with pytest.raises(Exception):  # noqa: B017
        syncs.count_settled("s-ghost", 3)
    assert syncs.finish("s-ghost", SyncState.FAILED, reason="x", now_ms=1_000) is False
    assert syncs.get(["s-ghost"]) == {}
    assert syncs.members("s-ghost") == []
    assert (syncs.running(), syncs.recent()) == ([], [])
    # Opened afterwards, it begins clean.
    opened = syncs.open("s-ghost", Kind.ITEM, 2_000)
    assert (opened.state, opened.settled, opened.started_ms) == (SyncState.RUNNING, 0, 2_000)


# --- the end --------------------------------------------------------------------------------------


def finish_ends_a_running_sync_once_with_what_it_did(syncs: SyncLedger) -> None:
    syncs.open("s-a", Kind.ITEM, 1_000)
    syncs.record_members("s-a", [pushed("e1")], now_ms=2_000)
    ended = syncs.finish(
        "s-a", SyncState.COMPLETED, reason=None, now_ms=9_000, settled=5, deleted=3, threshold=1_234
    )
    assert ended is True
    after = record(syncs, "s-a")
    assert (after.state, after.reason, after.finished_ms) == (SyncState.COMPLETED, None, 9_000)
    assert (after.settled, after.deleted, after.threshold) == (5, 3, 1_234)
    assert (after.started_ms, after.progress_ms) == (1_000, 2_000)
    # The second end (another validator run, a superseding sync.started) changes nothing.
    assert syncs.finish("s-a", SyncState.FAILED, reason="late", now_ms=10_000, settled=0, deleted=9) is False
    assert record(syncs, "s-a") == after


def finish_without_counts_keeps_the_counted_settled(syncs: SyncLedger) -> None:
    syncs.open("s-a", Kind.IDENTITY, 1_000)
    syncs.record_members("s-a", [pushed("e1"), pushed("e2"), dead("e3")], now_ms=2_000)
    assert syncs.finish("s-a", SyncState.FAILED, reason="superseded by sync 's-b'", now_ms=3_000) is True
    after = record(syncs, "s-a")
    assert (after.state, after.reason, after.finished_ms) == (
        SyncState.FAILED,
        "superseded by sync 's-b'",
        3_000,
    )
    assert (after.settled, after.deleted, after.threshold) == (2, None, None)
    syncs.open("s-r", Kind.ITEM, 1_000)
    assert syncs.finish("s-r", SyncState.REFUSED, reason="would delete 90 %", now_ms=3_000, settled=4)
    refused = record(syncs, "s-r")
    assert (refused.state, refused.settled, refused.deleted) == (SyncState.REFUSED, 4, None)


def a_long_reason_is_kept_to_its_first_2000_characters(syncs: SyncLedger) -> None:
    syncs.open("s-a", Kind.ITEM, 1_000)
    reason = "dead-lettered: " + "x" * 5_000
    assert syncs.finish("s-a", SyncState.FAILED, reason=reason, now_ms=2_000)
    assert record(syncs, "s-a").reason == reason[:2_000]


# --- the lists ------------------------------------------------------------------------------------


def the_first_planned_deletion_stays_and_is_returned(syncs: SyncLedger) -> None:
    syncs.open("p", Kind.ITEM, 1_000)
    assert syncs.plan_deletion("p", threshold=900, deleted=20) == (900, 20)
    assert syncs.plan_deletion("p", threshold=950, deleted=0) == (900, 20)  # a run after a kill
    planned = record(syncs, "p")
    assert (planned.state, planned.threshold, planned.deleted) == (SyncState.RUNNING, 900, 20)
    syncs.finish("p", SyncState.COMPLETED, reason=None, now_ms=2_000)
    with pytest.raises(Exception):  # noqa: B017 - each implementation raises its own kind
        syncs.plan_deletion("p", threshold=1, deleted=1)


def doom_keeps_the_first_reason_and_touches_no_ended_sync(syncs: SyncLedger) -> None:
    syncs.open("d", Kind.ITEM, 1_000)
    syncs.doom("d", "superseded by sync 'e'", now_ms=2_000)
    syncs.doom("d", "two counts", now_ms=3_000)
    doomed = record(syncs, "d")
    assert (doomed.state, doomed.doomed, doomed.progress_ms) == (
        SyncState.RUNNING,
        "superseded by sync 'e'",
        3_000,
    )
    syncs.open("f", Kind.ITEM, 1_000)
    syncs.finish("f", SyncState.COMPLETED, reason=None, now_ms=2_000)
    syncs.doom("f", "too late", now_ms=3_000)
    assert record(syncs, "f").doomed is None
    syncs.doom("never-opened", "nothing to stop", now_ms=3_000)
    assert syncs.get(["never-opened"]) == {}


def running_lists_only_running_syncs(syncs: SyncLedger) -> None:
    assert syncs.running() == []
    a = syncs.open("s-a", Kind.ITEM, 1_000)
    syncs.open("s-b", Kind.ITEM, 2_000)
    c = syncs.open("s-c", Kind.IDENTITY, 3_000)
    syncs.open("s-d", Kind.ITEM, 4_000)
    syncs.finish("s-b", SyncState.FAILED, reason="superseded", now_ms=5_000)
    syncs.finish("s-d", SyncState.COMPLETED, reason=None, now_ms=5_000, deleted=0, threshold=1)
    running = syncs.running()
    assert sorted(running, key=lambda r: r.sync_id) == [a, c]
    assert syncs.finish("s-a", SyncState.REFUSED, reason="too many", now_ms=6_000)
    assert syncs.running() == [c]


def recent_lists_the_newest_first_and_at_most_limit(syncs: SyncLedger) -> None:
    for n in (3, 1, 5, 2, 4):  # opened out of order: ordered by when each began, not by arrival
        syncs.open(f"s-{n}", Kind.ITEM if n % 2 else Kind.IDENTITY, n * 1_000)
    syncs.finish("s-5", SyncState.COMPLETED, reason=None, now_ms=9_000, deleted=1, threshold=5_000)
    syncs.finish("s-3", SyncState.FAILED, reason="deadline", now_ms=9_000)
    syncs.finish("s-1", SyncState.REFUSED, reason="too many", now_ms=9_000)
    recent = syncs.recent()
    assert ids(recent) == ["s-5", "s-4", "s-3", "s-2", "s-1"]
    assert [r.state for r in recent] == [
        SyncState.COMPLETED,
        SyncState.RUNNING,
        SyncState.FAILED,
        SyncState.RUNNING,
        SyncState.REFUSED,
    ]
    assert recent == [record(syncs, i) for i in ids(recent)]
    assert ids(syncs.recent(3)) == ["s-5", "s-4", "s-3"]
    assert ids(syncs.recent(1)) == ["s-5"]
    assert syncs.recent(0) == []


SCENARIOS: tuple[Scenario, ...] = (
    open_creates_a_running_record_once_the_first_callers_start_wins,
    open_of_an_ended_sync_returns_it_ended,
    get_answers_only_the_syncs_it_knows,
    announce_is_idempotent_and_keeps_the_first_event_time,
    make_current_points_a_scope_only_from_what_it_replaces,
    expect_keeps_the_first_count_and_returns_it,
    members_come_back_as_recorded_duplicates_included,
    the_settled_counter_adds_what_was_not_dead_lettered,
    recording_no_members_changes_nothing,
    count_settled_sets_the_validators_exact_count,
    writes_to_a_sync_never_opened_fail_and_create_nothing,
    finish_ends_a_running_sync_once_with_what_it_did,
    finish_without_counts_keeps_the_counted_settled,
    a_long_reason_is_kept_to_its_first_2000_characters,
    the_first_planned_deletion_stays_and_is_returned,
    doom_keeps_the_first_reason_and_touches_no_ended_sync,
    running_lists_only_running_syncs,
    recent_lists_the_newest_first_and_at_most_limit,
)
