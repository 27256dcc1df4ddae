"""The rules that decide when a full sync may delete, pure: no ledger, no Coveo."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest

from connector.domain.events import Kind
from connector.domain.ledger import Head, Status, claimable
from connector.domain.sync import (
    START_SKEW_MS,
    Delete,
    Fail,
    Member,
    MemberOutcome,
    SyncRecord,
    SyncSettings,
    SyncState,
    Tally,
    Wait,
    judge,
    older_start,
    refresh_before,
    refusal,
)

START = 1_000_000
DEADLINE_S = 60.0


def record(**changes: object) -> SyncRecord:
    values: dict[str, object] = {
        "sync_id": "s",
        "scope": Kind.ITEM,
        "state": SyncState.RUNNING,
        "started_ms": START,
        "progress_ms": START,
        "expected": 2,
    }
    return SyncRecord(**{**values, **changes})  # type: ignore[arg-type]


def pushed(event_id: str, key: str, operation: str = "item.upserted") -> Member:
    return Member(event_id, key, operation, MemberOutcome.PUSHED)


def heads_of(heads: Mapping[str, Head]):  # type: ignore[no-untyped-def]
    asked: list[Sequence[str]] = []

    def read(keys: Sequence[str]) -> Mapping[str, Head]:
        asked.append(keys)
        return {k: heads[k] for k in keys if k in heads}

    read.asked = asked  # type: ignore[attr-defined]
    return read


def verified(key: str, ordering_id: int) -> Head:
    return Head(key, 1, ordering_id, Status.VERIFIED)


TWO = [pushed("e1", "item#a"), pushed("e2", "item#b")]
VERIFIED = {"item#a": verified("item#a", START + 5), "item#b": verified("item#b", START + 9)}


def test_a_complete_verified_sync_deletes_below_its_start() -> None:
    verdict = judge(record(), Tally.of(TWO), heads_of(VERIFIED), now_ms=START + 10, deadline_s=DEADLINE_S)
    assert verdict == Delete(threshold=START, kept=2)


def test_the_threshold_never_rises_above_a_members_ordering_id() -> None:
    # A member whose newest push predates the sync (a newer version pushed just before it began,
    # the sync repeating an older one): the deletion must not reach it.
    heads = {**VERIFIED, "item#b": verified("item#b", START - 700)}
    verdict = judge(record(), Tally.of(TWO), heads_of(heads), now_ms=START + 10, deadline_s=DEADLINE_S)
    assert verdict == Delete(threshold=START - 700, kept=2)


@pytest.mark.parametrize(
    ("event_ms", "threshold"),
    [
        (START - 60_000, START - 60_000),  # sent a minute before the connector read it: believed
        (START - START_SKEW_MS, START - START_SKEW_MS),
        (START - START_SKEW_MS - 1, START),  # a replayed file or a wrong clock: the connector's own
        (START + 5_000, START),  # a clock ahead: never above the connector's start
        (None, START),
    ],
)
def test_sync_started_own_time_keeps_changes_that_overtook_it(event_ms: int | None, threshold: int) -> None:
    verdict = judge(
        record(started_event_ms=event_ms),
        Tally.of(TWO),
        heads_of(VERIFIED),
        now_ms=START,
        deadline_s=DEADLINE_S,
    )
    assert verdict == Delete(threshold=threshold, kept=2)


def test_redeliveries_count_once_and_duplicates_do_not_fill_the_count() -> None:
    members = [pushed("e1", "item#a"), Member("e1", "item#a", "item.upserted", MemberOutcome.STALE)]
    verdict = judge(record(), Tally.of(members), heads_of(VERIFIED), now_ms=START, deadline_s=DEADLINE_S)
    assert verdict == Wait("1 of 2 changes settled")


def test_short_of_the_count_past_the_deadline_fails_and_names_the_counts() -> None:
    members = [pushed("e1", "item#a")]
    late = START + int(DEADLINE_S * 1000) + 1
    verdict = judge(record(), Tally.of(members), heads_of(VERIFIED), now_ms=late, deadline_s=DEADLINE_S)
    assert isinstance(verdict, Fail) and "only 1 of the 2 changes" in verdict.reason
    on_time = judge(record(), Tally.of(members), heads_of(VERIFIED), now_ms=late - 1, deadline_s=DEADLINE_S)
    assert isinstance(on_time, Wait)


def test_the_deadline_runs_from_the_last_sign_of_life() -> None:
    late = START + int(DEADLINE_S * 1000) + 1
    alive = record(progress_ms=late - 1000)
    verdict = judge(alive, Tally.of(TWO[:1]), heads_of(VERIFIED), now_ms=late, deadline_s=DEADLINE_S)
    assert isinstance(verdict, Wait)


def test_more_changes_than_counted_fails_at_once() -> None:
    members = [*TWO, pushed("e3", "item#c")]
    verdict = judge(record(), Tally.of(members), heads_of(VERIFIED), now_ms=START, deadline_s=DEADLINE_S)
    assert (
        isinstance(verdict, Fail)
        and "3 changes carry this syncId but sync.completed counted 2" in verdict.reason
    )


def test_a_dead_letter_fails_the_sync_with_its_reason() -> None:
    dead = Member("e2", None, None, MemberOutcome.DEAD_LETTERED, "data.documentId: field required")
    verdict = judge(
        record(), Tally.of([TWO[0], dead]), heads_of(VERIFIED), now_ms=START, deadline_s=DEADLINE_S
    )
    assert isinstance(verdict, Fail)
    assert (
        "'e2': data.documentId: field required" in verdict.reason and "nothing was deleted" in verdict.reason
    )


def test_a_dead_letter_redriven_and_pushed_no_longer_fails_the_sync() -> None:
    dead = Member("e2", "item#b", "item.upserted", MemberOutcome.DEAD_LETTERED, "Coveo was down")
    tally = Tally.of([TWO[0], dead, TWO[1]])
    assert not tally.dead_lettered
    assert judge(record(), tally, heads_of(VERIFIED), now_ms=START, deadline_s=DEADLINE_S) == Delete(START, 2)


def test_no_completion_waits_then_fails() -> None:
    open_ended = record(expected=None)
    assert isinstance(
        judge(open_ended, Tally.of(TWO), heads_of(VERIFIED), now_ms=START, deadline_s=DEADLINE_S), Wait
    )
    late = START + int(DEADLINE_S * 1000) + 1
    verdict = judge(open_ended, Tally.of(TWO), heads_of(VERIFIED), now_ms=late, deadline_s=DEADLINE_S)
    assert isinstance(verdict, Fail) and "no sync.completed" in verdict.reason


@pytest.mark.parametrize("status", [Status.ACCEPTED, Status.CLAIMED])
def test_a_member_not_yet_verified_holds_the_deletion(status: Status) -> None:
    heads = {**VERIFIED, "item#b": Head("item#b", 1, START + 9, status)}
    far_later = START + 10 * int(DEADLINE_S * 1000)  # the validator's own deadline bounds this wait
    verdict = judge(record(), Tally.of(TWO), heads_of(heads), now_ms=far_later, deadline_s=DEADLINE_S)
    assert verdict == Wait("1 change(s) not yet verified in the index")


def test_a_member_coveo_did_not_index_fails_the_sync() -> None:
    heads = {**VERIFIED, "item#b": Head("item#b", 1, START + 9, Status.FAILED)}
    verdict = judge(record(), Tally.of(TWO), heads_of(heads), now_ms=START, deadline_s=DEADLINE_S)
    assert isinstance(verdict, Fail) and "'item#b'" in verdict.reason


def test_a_member_the_ledger_forgot_fails_the_sync() -> None:
    verdict = judge(
        record(), Tally.of(TWO), heads_of({"item#a": VERIFIED["item#a"]}), now_ms=START, deadline_s=DEADLINE_S
    )
    assert isinstance(verdict, Fail) and "no record of 'item#b'" in verdict.reason


def test_heads_are_read_only_once_the_count_is_reached() -> None:
    read = heads_of(VERIFIED)
    judge(record(), Tally.of(TWO[:1]), read, now_ms=START, deadline_s=DEADLINE_S)
    assert read.asked == []  # type: ignore[attr-defined]


def test_kept_counts_entities_not_rows() -> None:
    members = [
        pushed("g", "identity#p#GROUP#AlphaTeam", "identity.upserted"),
        pushed("a1", "alias#p#USER#alice", "identity.aliased"),
        pushed("a2", "identity#p#USER#alice", "identity.upserted"),  # the same entity as its alias
        pushed("d", "identity#p#USER#zed", "identity.deleted"),  # a delete keeps nothing
    ]
    assert Tally.of(members).kept() == 2


@pytest.mark.parametrize(
    ("to_delete", "total", "allowed", "refused"),
    [
        (50, 100, False, False),  # exactly the share: allowed
        (51, 100, False, True),
        (90, 100, False, True),
        (90, 100, True, False),  # the producer said yes
        (0, 0, False, False),  # an empty source
        (5, 5, False, True),  # everything
    ],
)
def test_the_mass_delete_guard(to_delete: int, total: int, allowed: bool, refused: bool) -> None:
    reason = refusal(
        to_delete=to_delete, total=total, allow_mass_delete=allowed, max_share=0.5, noun="documents"
    )
    assert (reason is not None) is refused
    if reason:
        assert f"{to_delete} of {total} documents" in reason and "allowMassDelete" in reason


def test_the_later_started_sync_wins_by_event_time_else_by_arrival() -> None:
    current = record(started_event_ms=2_000)
    assert older_start(1_999, current)
    assert not older_start(2_000, current) and not older_start(2_001, current)
    assert not older_start(None, current) and not older_start(1, record(started_event_ms=None))


def test_only_a_running_sync_refreshes() -> None:
    assert refresh_before(record()) == START
    assert refresh_before(record(state=SyncState.FAILED)) is None
    assert refresh_before(None) is None


@pytest.mark.parametrize(
    ("head", "version", "refresh", "superseded"),
    [
        (Head("k", 3, START - 1, Status.VERIFIED), 3, START, False),  # unchanged since before: push again
        (Head("k", 3, START, Status.VERIFIED), 3, START, True),  # pushed during the sync: done
        (Head("k", 3, START - 1, Status.VERIFIED), 3, None, True),  # no sync: the ordinary guard
        (Head("k", 3, START - 1, Status.FAILED), 3, START, False),  # failed before the sync: again
        (Head("k", 4, START - 1, Status.VERIFIED), 3, START, True),  # older: never
        (Head("k", 2, START + 9, Status.VERIFIED), 3, START, False),  # newer: always
        (Head("k", 3, START + 9, Status.CLAIMED), 3, START, False),  # claimed, not pushed: retry
    ],
)
def test_the_stale_guard_with_a_sync(head: Head, version: int, refresh: int | None, superseded: bool) -> None:
    assert head.supersedes(version, refresh) is superseded
    # The ledger's condition agrees for an orderingId at or above the sync's start.
    if head.status is not Status.CLAIMED:
        assert claimable(head, version, max(START, head.ordering_id + 1), refresh) is not superseded


def test_a_record_knows_no_consent_and_coveo_default_delay_until_told() -> None:
    assert record().allow_mass_delete is False  # a mass deletion needs sync.completed's explicit yes
    assert SyncSettings("src", "prov").sync_queue_delay_minutes == 15  # Coveo's own default


def test_the_skew_believed_is_a_quarter_of_an_hour() -> None:
    def threshold(ms_before: int) -> int:
        event_ms = START - ms_before
        verdict = judge(
            record(started_event_ms=event_ms), Tally.of(TWO), heads_of(VERIFIED), now_ms=START, deadline_s=1
        )
        assert isinstance(verdict, Delete)
        return verdict.threshold

    assert threshold(14 * 60_000) == START - 14 * 60_000
    assert threshold(900_000) == START - 900_000  # 15 minutes: still believed
    assert threshold(900_001) == START
    assert threshold(16 * 60_000) == START


def test_a_one_document_source_is_weighed_like_any_other() -> None:
    assert refusal(to_delete=1, total=1, allow_mass_delete=False, max_share=0.5, noun="documents")


@pytest.mark.parametrize(
    ("seconds", "text"), [(119, "119 seconds"), (120, "2 minutes"), (7200, "120 minutes")]
)
def test_deadlines_read_in_the_unit_a_person_expects(seconds: int, text: str) -> None:
    late = START + seconds * 1000 + 1
    verdict = judge(record(expected=None), Tally.of(TWO), heads_of(VERIFIED), now_ms=late, deadline_s=seconds)
    assert isinstance(verdict, Fail) and f"within {text} of" in verdict.reason


def test_what_is_kept_of_members_and_reported_of_syncs_round_trips() -> None:
    member = Member("e", "item#a", "item.upserted", MemberOutcome.DEAD_LETTERED, "why")
    assert Member.from_json(json.loads(json.dumps(member.to_json()))) == member
    report = record(settled=2, deleted=1, reason=None).to_report()
    assert report == {
        "scope": "items",
        "state": "RUNNING",
        "expected": 2,
        "settled": 2,
        "deleted": 1,
        "reason": None,
    }


def test_a_doomed_sync_fails_with_its_reason_and_no_longer_refreshes() -> None:
    doomed = record(doomed="superseded by sync 's2' before it completed; nothing was deleted")
    verdict = judge(doomed, Tally.of(TWO), heads_of(VERIFIED), now_ms=START, deadline_s=DEADLINE_S)
    assert verdict == Fail("superseded by sync 's2' before it completed; nothing was deleted")
    assert refresh_before(doomed) is None


def test_a_sync_may_not_outlive_what_the_ledger_keeps_of_it() -> None:
    settings = SyncSettings("src", "prov", ledger_ttl_days=30)
    assert settings.max_age_s == 29 * 86400
    assert SyncSettings("src", "prov", ledger_ttl_days=1).max_age_s == 86400  # never less than a day
    trickling = record(expected=None, progress_ms=START + 29 * 86_400_000)  # alive, but for too long
    late = START + 29 * 86_400_000 + 1
    verdict = judge(
        trickling,
        Tally.of(TWO),
        heads_of(VERIFIED),
        now_ms=late,
        deadline_s=3600,
        max_age_s=settings.max_age_s,
    )
    assert isinstance(verdict, Fail) and "more than 29 days" in verdict.reason
    on_time = judge(
        trickling,
        Tally.of(TWO),
        heads_of(VERIFIED),
        now_ms=late - 1,
        deadline_s=3600,
        max_age_s=settings.max_age_s,
    )
    assert isinstance(on_time, Wait)
