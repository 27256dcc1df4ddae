"""The ledger's state transitions as scenarios any ledger must pass: the in-memory one
(tests/unit/test_ledger_transitions.py) and the DynamoDB one on moto
(tests/pipeline/test_dynamodb_ledger_conditions.py) run the same ones.

Each scenario takes a ledger and a key prefix its keys alone start with (so several can share one
table; what they read back is filtered by it) and asserts
what a person reading the ledger would see: the row's status, version, orderingId, reason, repushes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from connector.domain.ledger import Accepted, Claim, ClaimResult, Row, Status

Ledger = Any  # Ledger and ValidationLedger: both protocols, one object


def claim(key: str, version: int, ordering: int, attempts: int = 1) -> Claim:
    return Claim(
        key, version, ordering, f"e-{version}-{ordering}", "item.upserted", f"file://{key}", attempts
    )


def accepted(
    c: Claim, pushed_at_ms: int = 1_000, *, file_id: str | None = "file-1", event_time_ms: int | None = 400
) -> Accepted:
    return Accepted(
        key=c.key,
        version=c.version,
        ordering_id=c.ordering_id,
        kind="item",
        operation=c.event_type,
        subject=c.subject,
        event_id=c.event_id,
        pushed_at_ms=pushed_at_ms,
        file_id=file_id,
        attempts=c.attempts,
        change=b"stored change",
        expires_at=2_000_000_000,
        event_time_ms=event_time_ms,
    )


def pushed(ledger: Ledger, key: str, version: int, ordering: int, pushed_at_ms: int = 1_000) -> Row:
    """A row Coveo accepted: claimed, then recorded ACCEPTED."""
    c = claim(key, version, ordering)
    assert ledger.claim_many([c]) == [ClaimResult.CLAIMED]
    ledger.record_accepted([accepted(c, pushed_at_ms)])
    row = ledger.get(key)
    assert row is not None and row.status is Status.ACCEPTED
    return row


def head(ledger: Ledger, key: str) -> tuple[int, int, Status]:
    h = ledger.heads([key])[key]
    return h.version, h.ordering_id, h.status


# --- the stale guard ------------------------------------------------------------------------------


def a_first_claim_takes_the_row(ledger: Ledger, p: str) -> None:
    assert ledger.claim_many([claim(f"{p}a", 3, 30, attempts=2)]) == [ClaimResult.CLAIMED]
    h = ledger.heads([f"{p}a"])[f"{p}a"]
    assert (h.version, h.ordering_id, h.status, h.attempts) == (3, 30, Status.CLAIMED, 2)
    assert ledger.get(f"{p}a") is None  # not pushed yet: nothing for the validator


def the_same_version_once_accepted_reads_as_pushed(ledger: Ledger, p: str) -> None:
    """The guard reads heads before it claims: a change of a version already accepted is stale
    there (the pipeline claims nothing for it). A claim written past that read, racing the
    acceptance, may take the row for the same version: a duplicate push, never an older one."""
    pushed(ledger, f"{p}a", 5, 50)
    seen = ledger.heads([f"{p}a"], {f"{p}a": 5})[f"{p}a"]
    assert (seen.version, seen.ordering_id, seen.status) == (5, 50, Status.ACCEPTED)
    assert seen.supersedes(5) and not seen.supersedes(6)


def an_older_version_is_stale_whatever_its_ordering(ledger: Ledger, p: str) -> None:
    pushed(ledger, f"{p}a", 5, 50)
    assert ledger.claim_many([claim(f"{p}a", 4, 60)]) == [ClaimResult.STALE]
    assert head(ledger, f"{p}a") == (5, 50, Status.ACCEPTED)


def a_newer_version_needs_a_higher_ordering_id(ledger: Ledger, p: str) -> None:
    pushed(ledger, f"{p}a", 5, 50)
    # The same orderingId is not higher: another invocation took it; retry later.
    assert ledger.claim_many([claim(f"{p}a", 6, 50)]) == [ClaimResult.CONFLICT]
    assert head(ledger, f"{p}a") == (5, 50, Status.ACCEPTED)
    assert ledger.claim_many([claim(f"{p}a", 6, 51)]) == [ClaimResult.CLAIMED]
    assert head(ledger, f"{p}a") == (6, 51, Status.CLAIMED)


def a_redelivery_of_an_unpushed_claim_is_claimed_again_with_a_higher_ordering_id(
    ledger: Ledger, p: str
) -> None:
    assert ledger.claim_many([claim(f"{p}a", 5, 50)]) == [ClaimResult.CLAIMED]
    assert ledger.claim_many([claim(f"{p}a", 5, 50)]) == [ClaimResult.CONFLICT]
    assert ledger.claim_many([claim(f"{p}a", 5, 51)]) == [ClaimResult.CLAIMED]
    assert head(ledger, f"{p}a") == (5, 51, Status.CLAIMED)


def claims_of_several_keys_get_their_own_answers_in_order(ledger: Ledger, p: str) -> None:
    pushed(ledger, f"{p}old", 5, 50)
    results = ledger.claim_many([claim(f"{p}new", 1, 10), claim(f"{p}old", 4, 60), claim(f"{p}x", 2, 20)])
    assert results == [ClaimResult.CLAIMED, ClaimResult.STALE, ClaimResult.CLAIMED]
    assert set(ledger.heads([f"{p}new", f"{p}x", f"{p}missing"])) == {f"{p}new", f"{p}x"}


# --- accepted -------------------------------------------------------------------------------------


def an_accepted_push_is_readable_with_what_the_validator_needs(ledger: Ledger, p: str) -> None:
    c = claim(f"{p}a", 7, 70, attempts=3)
    ledger.claim_many([c])
    ledger.record_accepted([accepted(c, 1_234, file_id="file-9")])
    row = ledger.get(f"{p}a")
    assert row is not None
    assert (row.status, row.version, row.ordering_id, row.attempts) == (Status.ACCEPTED, 7, 70, 3)
    assert (row.kind, row.operation, row.subject, row.event_id) == (
        "item",
        "item.upserted",
        f"file://{p}a",
        "e-7-70",
    )
    assert (row.pushed_at_ms, row.file_id, row.change) == (1_234, "file-9", b"stored change")
    assert (row.repushes, row.failure_reason, row.checked_at_ms) == (0, None, None)
    assert row.event_time_ms == 400  # the event's time, for freshness: event → pushed → indexed


def an_event_time_is_read_back_as_given_or_as_none(ledger: Ledger, p: str) -> None:
    """Per change, also in one batch: each row gets its own event's time, None where it had none."""
    timed, untimed = claim(f"{p}t", 1, 10), claim(f"{p}u", 1, 10)
    ledger.claim_many([timed, untimed])
    ledger.record_accepted([accepted(timed, event_time_ms=123), accepted(untimed, event_time_ms=None)])
    assert ledger.get(f"{p}t").event_time_ms == 123  # type: ignore[union-attr]
    assert ledger.get(f"{p}u").event_time_ms is None  # type: ignore[union-attr]
    rows = ledger.rows_with_status(Status.ACCEPTED).rows
    assert {r.key: r.event_time_ms for r in rows if r.key.startswith(p)} == {
        f"{p}t": 123,
        f"{p}u": None,
    }


def an_acceptance_of_a_superseded_claim_leaves_the_newer_claim(ledger: Ledger, p: str) -> None:
    old = claim(f"{p}a", 1, 10)
    ledger.claim_many([old])
    ledger.claim_many([claim(f"{p}a", 2, 20)])
    ledger.record_accepted([accepted(old)])
    assert head(ledger, f"{p}a") == (2, 20, Status.CLAIMED)
    assert ledger.get(f"{p}a") is None


def an_acceptance_with_another_ordering_id_leaves_the_row(ledger: Ledger, p: str) -> None:
    ledger.claim_many([claim(f"{p}a", 1, 11)])  # a redelivery re-claimed version 1 with 11
    ledger.record_accepted([accepted(claim(f"{p}a", 1, 10))])  # the first delivery's push lands late
    assert head(ledger, f"{p}a") == (1, 11, Status.CLAIMED)


def a_re_push_accepted_without_a_file_or_a_stored_change_drops_the_old_ones(ledger: Ledger, p: str) -> None:
    first = pushed(ledger, f"{p}a", 1, 10)
    assert (first.file_id, first.change) == ("file-1", b"stored change")
    ledger.reopen(first, reason="retriable", now_ms=5_000)
    again = claim(f"{p}a", 1, 11)
    ledger.claim_many([again])
    ledger.record_accepted([replace(accepted(again, 6_000, file_id=None), change=None)])
    row = ledger.get(f"{p}a")
    assert row is not None
    assert (row.status, row.file_id, row.change) == (Status.ACCEPTED, None, None)


# --- the validator's outcomes ---------------------------------------------------------------------


def marking_verified_records_when(ledger: Ledger, p: str) -> None:
    row = pushed(ledger, f"{p}a", 1, 10)
    assert ledger.mark(row, Status.VERIFIED, reason=None, now_ms=5_000) is True
    ledger.flush()
    after = ledger.get(f"{p}a")
    assert after is not None
    assert (after.status, after.failure_reason, after.checked_at_ms) == (Status.VERIFIED, None, 5_000)
    assert ledger.mark(row, Status.FAILED, reason="late", now_ms=6_000) is False  # only ACCEPTED rows
    assert ledger.get(f"{p}a").status is Status.VERIFIED


def marking_failed_keeps_the_reason(ledger: Ledger, p: str) -> None:
    row = pushed(ledger, f"{p}a", 1, 10)
    assert ledger.mark(row, Status.FAILED, reason="REJECTED: bad permissions", now_ms=5_000) is True
    after = ledger.get(f"{p}a")
    assert after is not None
    assert (after.status, after.failure_reason, after.checked_at_ms) == (
        Status.FAILED,
        "REJECTED: bad permissions",
        5_000,
    )


def a_mark_for_a_superseded_push_changes_nothing(ledger: Ledger, p: str) -> None:
    row = pushed(ledger, f"{p}a", 1, 10)
    newer = pushed(ledger, f"{p}a", 2, 20)
    assert ledger.mark(row, Status.FAILED, reason="old news", now_ms=5_000) is False
    assert head(ledger, f"{p}a") == (2, 20, Status.ACCEPTED)
    # Same version, another push of it (a re-push took a new orderingId): not this row's verdict.
    stale_copy = replace(newer, ordering_id=19)
    assert ledger.mark(stale_copy, Status.VERIFIED, reason=None, now_ms=5_000) is False
    assert head(ledger, f"{p}a") == (2, 20, Status.ACCEPTED)


def a_failure_mark_for_a_push_being_re_pushed_changes_nothing(ledger: Ledger, p: str) -> None:
    """The validator reopened the push and its re-push of the same version is claimed: a late
    failure verdict on the push as first read must not fail the re-push in flight."""
    row = pushed(ledger, f"{p}a", 1, 10)
    assert ledger.reopen(row, reason="unknown security identity", now_ms=5_000) is True
    assert ledger.claim_many([claim(f"{p}a", 1, 11)]) == [ClaimResult.CLAIMED]
    assert ledger.mark(row, Status.FAILED, reason="late verdict", now_ms=6_000) is False
    ledger.flush()
    assert head(ledger, f"{p}a") == (1, 11, Status.CLAIMED)
    ledger.record_accepted([accepted(claim(f"{p}a", 1, 11), 7_000)])
    again = ledger.get(f"{p}a")
    assert again is not None
    assert (again.status, again.ordering_id, again.repushes) == (Status.ACCEPTED, 11, 1)


def a_reopened_row_lets_the_same_version_be_pushed_again(ledger: Ledger, p: str) -> None:
    row = pushed(ledger, f"{p}a", 1, 10)
    assert ledger.reopen(row, reason="unknown security identity", now_ms=5_000) is True
    assert head(ledger, f"{p}a") == (1, 10, Status.CLAIMED)
    assert ledger.claim_many([claim(f"{p}a", 1, 11)]) == [ClaimResult.CLAIMED]
    ledger.record_accepted([accepted(claim(f"{p}a", 1, 11), 6_000)])
    again = ledger.get(f"{p}a")
    assert again is not None
    assert (again.status, again.ordering_id, again.repushes) == (Status.ACCEPTED, 11, 1)


def a_newer_version_starts_with_no_re_pushes(ledger: Ledger, p: str) -> None:
    """MAX_REPUSHES bounds the re-pushes of one change: a key whose earlier version was re-pushed
    must not hand its count to the next version (a long-lived key would run out of re-pushes and
    fail its later pushes at the first lost one)."""
    row = pushed(ledger, f"{p}a", 1, 10)
    for n, ordering in enumerate((11, 12), start=1):
        assert ledger.reopen(row, reason="lost", now_ms=5_000 + n) is True
        c = claim(f"{p}a", 1, ordering)
        assert ledger.claim_many([c]) == [ClaimResult.CLAIMED]
        ledger.record_accepted([accepted(c, 6_000 + n)])
        row = ledger.get(f"{p}a")
        assert (row.version, row.repushes) == (1, n)
    newer = pushed(ledger, f"{p}a", 2, 20, pushed_at_ms=7_000)
    assert (newer.version, newer.repushes) == (2, 0)
    assert ledger.reopen(newer, reason="lost", now_ms=8_000) is True
    c = claim(f"{p}a", 2, 21)
    assert ledger.claim_many([c]) == [ClaimResult.CLAIMED]
    ledger.record_accepted([accepted(c, 9_000)])
    again = ledger.get(f"{p}a")
    assert again is not None
    assert (again.version, again.ordering_id, again.repushes) == (2, 21, 1)


def a_reopen_with_a_count_read_before_another_reopen_changes_nothing(ledger: Ledger, p: str) -> None:
    """A row read, then reopened, re-pushed and settled back (the same push again): the count it
    was read with is stale, and a reopen from it must not count that re-push once instead of twice."""
    row = pushed(ledger, f"{p}a", 1, 10)
    for count, ordering in ((1, 11), (2, 12)):
        assert ledger.reopen(row, reason="lost", now_ms=5_000) is True
        assert ledger.claim_many([claim(f"{p}a", 1, ordering)]) == [ClaimResult.CLAIMED]
        assert ledger.settle(row, Status.ACCEPTED, reason="re-push throttled", now_ms=6_000) is True
        assert ledger.reopen(row, reason="lost again", now_ms=7_000) is False  # read before
        row = ledger.get(f"{p}a")
        assert row.repushes == count
    assert ledger.reopen(row, reason="lost again", now_ms=8_000) is True
    assert ledger.settle(row, Status.FAILED, reason="re-push refused", now_ms=9_000) is True
    assert ledger.get(f"{p}a").repushes == 3


def a_failed_row_can_be_reopened_a_verified_or_claimed_one_cannot(ledger: Ledger, p: str) -> None:
    failed = pushed(ledger, f"{p}f", 1, 10)
    ledger.mark(failed, Status.FAILED, reason="x", now_ms=5_000)
    failed = ledger.get(f"{p}f")
    assert ledger.reopen(failed, reason="operator redrive", now_ms=6_000) is True
    assert head(ledger, f"{p}f")[2] is Status.CLAIMED

    verified = pushed(ledger, f"{p}v", 1, 10)
    ledger.mark(verified, Status.VERIFIED, reason=None, now_ms=5_000)
    ledger.flush()
    assert ledger.reopen(ledger.get(f"{p}v"), reason="no", now_ms=6_000) is False
    assert head(ledger, f"{p}v")[2] is Status.VERIFIED

    claimed = pushed(ledger, f"{p}c", 1, 10)
    ledger.reopen(claimed, reason="first", now_ms=5_000)
    assert ledger.reopen(claimed, reason="twice", now_ms=6_000) is False  # already CLAIMED


def a_reopen_for_another_push_changes_nothing(ledger: Ledger, p: str) -> None:
    row = pushed(ledger, f"{p}a", 1, 10)
    pushed(ledger, f"{p}a", 2, 20)
    assert ledger.reopen(row, reason="old", now_ms=5_000) is False
    assert head(ledger, f"{p}a") == (2, 20, Status.ACCEPTED)
    same_version = pushed(ledger, f"{p}b", 1, 10)
    other_push = replace(same_version, ordering_id=9)
    assert ledger.reopen(other_push, reason="old", now_ms=5_000) is False
    assert head(ledger, f"{p}b") == (1, 10, Status.ACCEPTED)


def reopening_many_answers_each_row_in_order_as_reopen_would(ledger: Ledger, p: str) -> None:
    """The validator's re-pushes reopen their rows together: each answer is the one `reopen` gives
    that row, in order, and the same row twice (read once, listed twice) is reopened once."""
    rows = [pushed(ledger, f"{p}{n}", 1, 10) for n in range(24)]
    verified = pushed(ledger, f"{p}verified", 1, 10)
    ledger.mark(verified, Status.VERIFIED, reason=None, now_ms=5_000)
    ledger.flush()
    superseded = pushed(ledger, f"{p}superseded", 1, 10)
    pushed(ledger, f"{p}superseded", 2, 20)
    listed = [*rows[:12], verified, rows[12], rows[12], superseded, *rows[13:]]
    answers = ledger.reopen_many([(row, f"lost {row.key}") for row in listed], now_ms=6_000)
    assert len(answers) == len(listed)
    assert answers[:12] == [True] * 12
    assert answers[12] is False  # verified: nothing to re-push
    assert sorted(answers[13:15]) == [False, True]  # one reopen of the row, whichever came first
    assert answers[15] is False  # a newer push holds the key
    assert answers[16:] == [True] * 11
    assert all(head(ledger, row.key)[2] is Status.CLAIMED for row in rows)
    assert head(ledger, f"{p}verified")[2] is Status.VERIFIED
    assert head(ledger, f"{p}superseded") == (2, 20, Status.ACCEPTED)
    assert ledger.reopen_many([], now_ms=7_000) == []


def a_re_push_not_accepted_settles_back_readable_with_its_reason(ledger: Ledger, p: str) -> None:
    row = pushed(ledger, f"{p}a", 1, 10, pushed_at_ms=1_500)
    ledger.reopen(row, reason="retriable", now_ms=5_000)
    assert ledger.settle(row, Status.FAILED, reason="re-push refused: bad", now_ms=6_000) is True
    after = ledger.get(f"{p}a")
    assert after is not None
    assert (after.status, after.failure_reason, after.checked_at_ms) == (
        Status.FAILED,
        "re-push refused: bad",
        6_000,
    )
    assert (after.pushed_at_ms, after.repushes) == (1_500, 1)  # still indexed by push time; counted
    # Only a CLAIMED row settles: a second settle finds it FAILED.
    assert ledger.settle(row, Status.ACCEPTED, reason="again", now_ms=7_000) is False
    assert ledger.get(f"{p}a").status is Status.FAILED


def a_re_push_settled_failed_then_redriven_and_settled_back_reads_accepted(ledger: Ledger, p: str) -> None:
    """A failure is not a verification: a push failed by `settle`, redriven, and whose second
    re-push is not accepted either, is the validator's to check again, ACCEPTED, never VERIFIED."""
    row = pushed(ledger, f"{p}a", 1, 10)
    assert ledger.reopen(row, reason="retriable", now_ms=5_000) is True
    assert ledger.settle(row, Status.FAILED, reason="re-push refused", now_ms=6_000) is True
    ledger.flush()
    failed = ledger.get(f"{p}a")
    assert failed is not None and failed.status is Status.FAILED
    assert ledger.reopen(failed, reason="operator redrive", now_ms=7_000) is True
    assert ledger.settle(failed, Status.ACCEPTED, reason="re-push throttled", now_ms=8_000) is True
    ledger.flush()
    back = ledger.get(f"{p}a")
    assert back is not None
    assert (back.status, back.ordering_id, back.failure_reason) == (Status.ACCEPTED, 10, "re-push throttled")
    assert head(ledger, f"{p}a") == (1, 10, Status.ACCEPTED)
    listed = [r.key for r in ledger.rows_with_status(Status.ACCEPTED).rows if r.key.startswith(p)]
    assert listed == [f"{p}a"]


def a_settled_claim_counts_no_re_push_it_never_had(ledger: Ledger, p: str) -> None:
    """settle() needs only a CLAIMED row of that version; one that was never re-pushed settles, and
    once its push is recorded, shows no re-push (the in-memory ledger must not invent one)."""
    c = claim(f"{p}a", 1, 10)
    ledger.claim_many([c])
    as_read = Row(
        key=c.key,
        version=c.version,
        ordering_id=c.ordering_id,
        status=Status.CLAIMED,
        kind="item",
        operation=c.event_type,
        subject=c.subject,
        event_id=c.event_id,
        pushed_at_ms=1_000,
        file_id=None,
        attempts=c.attempts,
        change=None,
    )
    assert ledger.settle(as_read, Status.FAILED, reason="push lost", now_ms=6_000) is True
    assert head(ledger, f"{p}a") == (1, 10, Status.FAILED)
    ledger.record_accepted([accepted(c, 7_000)])
    row = ledger.get(f"{p}a")
    assert row is not None
    assert (row.version, row.repushes) == (1, 0)


def a_settle_for_another_version_changes_nothing(ledger: Ledger, p: str) -> None:
    row = pushed(ledger, f"{p}a", 1, 10)
    ledger.reopen(row, reason="retriable", now_ms=5_000)
    ledger.claim_many([claim(f"{p}a", 2, 20)])  # a newer change claimed the row meanwhile
    assert ledger.settle(row, Status.ACCEPTED, reason="late", now_ms=6_000) is False
    assert head(ledger, f"{p}a") == (2, 20, Status.CLAIMED)


# --- what the validator reads ---------------------------------------------------------------------


def rows_with_status_reads_pushes_old_enough_oldest_first(ledger: Ledger, p: str) -> None:
    pushed(ledger, f"{p}late", 1, 10, pushed_at_ms=3_000)
    pushed(ledger, f"{p}early", 1, 10, pushed_at_ms=1_000)
    pushed(ledger, f"{p}edge", 1, 10, pushed_at_ms=2_000)
    verified = pushed(ledger, f"{p}done", 1, 10, pushed_at_ms=500)
    ledger.mark(verified, Status.VERIFIED, reason=None, now_ms=600)
    ledger.flush()
    ledger.claim_many([claim(f"{p}claimed", 1, 10)])

    def keys(page_rows: list[Row]) -> list[str]:
        return [r.key for r in page_rows if r.key.startswith(p)]

    page = ledger.rows_with_status(Status.ACCEPTED, pushed_before_ms=2_000)
    assert keys(page.rows) == [f"{p}early", f"{p}edge"]  # pushed at the cutoff counts
    assert keys(ledger.rows_with_status(Status.ACCEPTED).rows) == [f"{p}early", f"{p}edge", f"{p}late"]
    assert ledger.get(f"{p}done").status is Status.VERIFIED  # type: ignore[union-attr]


def failures_are_read_by_push_time_up_to_the_cutoff(ledger: Ledger, p: str) -> None:
    for name, at in (("late", 3_000), ("early", 1_000), ("edge", 2_000)):
        row = pushed(ledger, f"{p}{name}", 1, 10, pushed_at_ms=at)
        assert ledger.mark(row, Status.FAILED, reason=f"rejected {name}", now_ms=5_000) is True
    ledger.flush()

    def keys(page_rows: list[Row]) -> list[str]:
        return [r.key for r in page_rows if r.key.startswith(p)]

    cut = ledger.rows_with_status(Status.FAILED, pushed_before_ms=2_000).rows
    assert keys(cut) == [f"{p}early", f"{p}edge"]  # pushed at the cutoff counts
    every = ledger.rows_with_status(Status.FAILED).rows
    assert keys(every) == [f"{p}early", f"{p}edge", f"{p}late"]


def pages_together_hold_every_row_once(ledger: Ledger, p: str) -> None:
    for i in range(5):
        pushed(ledger, f"{p}{i}", 1, 10, pushed_at_ms=1_000 + i)
    seen: list[str] = []
    token: object | None = None
    for _ in range(1_000):
        page = ledger.rows_with_status(Status.ACCEPTED, limit=2, token=token)
        # Only this scenario's rows are bounded: the ledger may be shared with other scenarios, and
        # the DynamoDB ledger ends a page at a part, so another scenario's part of several rows
        # (pushed in one batch) can take a page past `limit` (dynamodb_ledger.rows_with_status).
        # Each row here is a part of its own, so a page never holds more than `limit` of them.
        mine = [r.key for r in page.rows if r.key.startswith(p)]
        assert len(mine) <= 2
        seen += mine
        token = page.next_token
        if token is None:
            break
    assert seen == [f"{p}{i}" for i in range(5)]


SCENARIOS: tuple[Callable[[Ledger, str], None], ...] = (
    a_first_claim_takes_the_row,
    the_same_version_once_accepted_reads_as_pushed,
    an_older_version_is_stale_whatever_its_ordering,
    a_newer_version_needs_a_higher_ordering_id,
    a_redelivery_of_an_unpushed_claim_is_claimed_again_with_a_higher_ordering_id,
    claims_of_several_keys_get_their_own_answers_in_order,
    an_accepted_push_is_readable_with_what_the_validator_needs,
    an_event_time_is_read_back_as_given_or_as_none,
    an_acceptance_of_a_superseded_claim_leaves_the_newer_claim,
    an_acceptance_with_another_ordering_id_leaves_the_row,
    a_re_push_accepted_without_a_file_or_a_stored_change_drops_the_old_ones,
    marking_verified_records_when,
    marking_failed_keeps_the_reason,
    a_mark_for_a_superseded_push_changes_nothing,
    a_failure_mark_for_a_push_being_re_pushed_changes_nothing,
    a_reopened_row_lets_the_same_version_be_pushed_again,
    a_newer_version_starts_with_no_re_pushes,
    a_reopen_with_a_count_read_before_another_reopen_changes_nothing,
    a_failed_row_can_be_reopened_a_verified_or_claimed_one_cannot,
    a_reopen_for_another_push_changes_nothing,
    reopening_many_answers_each_row_in_order_as_reopen_would,
    a_re_push_not_accepted_settles_back_readable_with_its_reason,
    a_re_push_settled_failed_then_redriven_and_settled_back_reads_accepted,
    a_settled_claim_counts_no_re_push_it_never_had,
    a_settle_for_another_version_changes_nothing,
    rows_with_status_reads_pushes_old_enough_oldest_first,
    failures_are_read_by_push_time_up_to_the_cutoff,
    pages_together_hold_every_row_once,
)
