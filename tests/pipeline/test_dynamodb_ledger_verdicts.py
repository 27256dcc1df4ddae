"""The DynamoDB ledger's verdicts on moto: what a FAILED mark, a reopen, a settle and a superseded
push leave for the readers (the status a row reads back with, what the validator lists, what the
pending index holds), including when a flush is lost or another reader settles a push first.
(Cases mutation testing of the adapter's validator side found unguarded.)"""

from __future__ import annotations

from typing import Any

import pytest

from aws_simulator.cloudformation import LocalResources
from aws_simulator.moto_server import MotoServer
from connector.adapters.dynamodb_ledger import DynamoDBLedger, _numbers, _slot_of
from connector.domain.ledger import Claim, ClaimResult, Status
from tests import ledger_transitions as lt

from .stack import dynamodb_ledger as make_ledger
from .test_dynamodb_ledger_edges import indexed


def raw(moto_server: MotoServer, resources: LocalResources, pk: str) -> dict[str, Any]:
    table = resources.tables["LedgerTable"]
    item: dict[str, Any] = (
        moto_server.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": pk}}).get("Item", {})
    )
    return item


def pending_parts(moto_server: MotoServer, resources: LocalResources) -> list[str]:
    """The acceptance parts the `pending` index still lists as work for the validator."""
    return indexed(moto_server, resources, "pending")


def status_of(ledger: DynamoDBLedger, key: str) -> tuple[Status | None, Status]:
    """The status a reader sees: the row's (get) and the stale guard's (heads)."""
    row = ledger.get(key)
    return (row.status if row else None), ledger.heads([key])[key].status


def pushed_together(ledger: DynamoDBLedger, prefix: str) -> tuple[Claim, Claim]:
    """Two pushes of one claim batch, both accepted: slots 0 and 1 of one acceptance part."""
    a, b = lt.claim(f"{prefix}/a", 1, 10), lt.claim(f"{prefix}/b", 1, 10)
    assert ledger.claim_many([a, b]) == [ClaimResult.CLAIMED] * 2
    ledger.record_accepted([lt.accepted(a), lt.accepted(b)])
    return a, b


@pytest.fixture
def ledger(moto_server: MotoServer, local_resources: LocalResources) -> DynamoDBLedger:
    return make_ledger(moto_server, local_resources)


def test_a_failure_reopened_and_settled_back_accepted_reads_accepted_not_verified(
    ledger: DynamoDBLedger,
) -> None:
    row = lt.pushed(ledger, "item#fail-back", 1, 10)
    assert ledger.mark(row, Status.FAILED, reason="REJECTED", now_ms=2_000)
    ledger.flush()
    failed = ledger.get("item#fail-back")
    assert failed is not None and failed.status is Status.FAILED
    assert ledger.reopen(failed, reason="operator redrive", now_ms=3_000)
    assert ledger.settle(failed, Status.ACCEPTED, reason="re-push throttled", now_ms=4_000)
    # The failure settled its slot in the part, but Coveo never indexed the push: not VERIFIED.
    assert status_of(ledger, "item#fail-back") == (Status.ACCEPTED, Status.ACCEPTED)


def test_a_settle_of_a_push_the_ledger_no_longer_holds_returns_false_and_changes_nothing(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger
) -> None:
    row = lt.pushed(ledger, "item#gone", 1, 10)
    assert ledger.reopen(row, reason="retriable", now_ms=2_000)
    assert ledger.claim_many([lt.claim("item#gone", 2, 20)]) == [ClaimResult.CLAIMED]
    before = raw(moto_server, local_resources, "item#gone")
    # A ledger that never handed the row out finds it from the head, which holds version 2 now.
    other = make_ledger(moto_server, local_resources)
    for verdict in (Status.ACCEPTED, Status.FAILED):
        assert other.settle(row, verdict, reason="re-push throttled", now_ms=3_000) is False
    other.flush()
    assert raw(moto_server, local_resources, "item#gone") == before
    assert lt.head(other, "item#gone") == (2, 20, Status.CLAIMED)


def test_a_failed_settle_that_does_not_apply_leaves_the_push_for_the_validator(
    ledger: DynamoDBLedger,
) -> None:
    row = lt.pushed(ledger, "item#not-reopened", 1, 10)
    # Never reopened: nothing was kept aside, so there is nothing to settle.
    assert ledger.settle(row, Status.FAILED, reason="re-push refused", now_ms=2_000) is False
    ledger.flush()
    listed = ledger.rows_with_status(Status.ACCEPTED).rows
    assert [(r.key, r.status) for r in listed] == [("item#not-reopened", Status.ACCEPTED)]
    assert ledger.rows_with_status(Status.FAILED).rows == []


def test_a_reopened_push_settled_back_after_another_reader_passed_it_reads_accepted(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger
) -> None:
    row = lt.pushed(ledger, "item#reread", 1, 10)
    assert ledger.reopen(row, reason="retriable", now_ms=2_000)
    # Another validator run reads the pending work while the re-push is in flight: it skips the
    # push being re-pushed, and settles its slot.
    reader = make_ledger(moto_server, local_resources)
    assert reader.rows_with_status(Status.ACCEPTED).rows == []
    reader.flush()
    assert ledger.settle(row, Status.ACCEPTED, reason="re-push throttled", now_ms=3_000)
    assert status_of(ledger, "item#reread") == (Status.ACCEPTED, Status.ACCEPTED)


def test_a_push_settled_back_accepted_after_another_reader_passed_it_is_read_by_the_validator(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger
) -> None:
    row = lt.pushed(ledger, "item#lost", 1, 10)
    assert ledger.reopen(row, reason="retriable", now_ms=2_000)
    reader = make_ledger(moto_server, local_resources)
    assert reader.rows_with_status(Status.ACCEPTED).rows == []
    reader.flush()
    assert ledger.settle(row, Status.ACCEPTED, reason="re-push throttled", now_ms=3_000)
    # ports.ValidationLedger.settle: back to ACCEPTED "so it stays visible to the validator".
    listed = make_ledger(moto_server, local_resources).rows_with_status(Status.ACCEPTED).rows
    assert [r.key for r in listed] == ["item#lost"]


def test_a_push_settled_back_accepted_after_its_own_reader_passed_it_is_read_by_the_validator(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger
) -> None:
    """The same, with the settling ledger itself the reader: its unflushed verdict on the slot is
    dropped, so its flush neither settles the push again nor writes an empty set."""
    row = lt.pushed(ledger, "item#own-reader", 1, 10)
    assert ledger.reopen(row, reason="retriable", now_ms=2_000)
    assert ledger.rows_with_status(Status.ACCEPTED).rows == []  # being re-pushed: settled, buffered
    assert ledger.settle(row, Status.ACCEPTED, reason="re-push throttled", now_ms=3_000)
    ledger.flush()
    listed = make_ledger(moto_server, local_resources).rows_with_status(Status.ACCEPTED).rows
    assert [(r.key, r.status, r.ordering_id) for r in listed] == [("item#own-reader", Status.ACCEPTED, 10)]


def test_a_failure_whose_flush_was_lost_is_settled_by_the_next_reader_and_stays_listed(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger
) -> None:
    row = lt.pushed(ledger, "item#lost-flush", 1, 10, pushed_at_ms=1_500)
    assert ledger.mark(row, Status.FAILED, reason="REJECTED", now_ms=2_000)
    # The run dies before its flush: the head says FAILED, the part still lists the push as pending.
    assert pending_parts(moto_server, local_resources) != []
    nxt = make_ledger(moto_server, local_resources)
    assert nxt.rows_with_status(Status.ACCEPTED).rows == []  # a failure is not checked again
    nxt.flush()
    assert pending_parts(moto_server, local_resources) == []
    (listed,) = nxt.rows_with_status(Status.FAILED).rows
    assert (listed.key, listed.status, listed.failure_reason, listed.pushed_at_ms) == (
        "item#lost-flush",
        Status.FAILED,
        "REJECTED",
        1_500,
    )
    # Settled as a failure, not as verified: reopened and settled back, it reads ACCEPTED.
    assert nxt.reopen(listed, reason="operator redrive", now_ms=3_000)
    assert nxt.settle(listed, Status.ACCEPTED, reason="re-push throttled", now_ms=4_000)
    assert status_of(nxt, "item#lost-flush") == (Status.ACCEPTED, Status.ACCEPTED)


def test_a_push_marked_failed_takes_no_second_verdict_before_the_flush(ledger: DynamoDBLedger) -> None:
    row = lt.pushed(ledger, "item#twice", 1, 10)
    assert ledger.mark(row, Status.FAILED, reason="REJECTED", now_ms=2_000)
    # The row as read is ACCEPTED; this ledger knows its push is failed already.
    assert ledger.reopen(row, reason="retriable", now_ms=2_500) is False
    assert ledger.mark(row, Status.FAILED, reason="again", now_ms=2_600) is False
    ledger.flush()
    after = ledger.get("item#twice")
    assert after is not None
    assert (after.status, after.failure_reason, after.checked_at_ms, after.repushes) == (
        Status.FAILED,
        "REJECTED",
        2_000,
        0,
    )
    assert [r.key for r in ledger.rows_with_status(Status.FAILED).rows] == ["item#twice"]


def test_settling_a_superseded_push_keeps_the_verified_time_of_its_parts_other_push(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger
) -> None:
    a, b = pushed_together(ledger, "item#part")
    (part,) = pending_parts(moto_server, local_resources)
    rows = {r.key: r for r in ledger.rows_with_status(Status.ACCEPTED).rows}
    assert ledger.mark(rows[a.key], Status.VERIFIED, reason=None, now_ms=5_000)
    ledger.flush()
    assert pending_parts(moto_server, local_resources) == [part]  # b is still to be checked
    # A newer version of b supersedes its push; the next read settles it, with no verdict time.
    assert ledger.claim_many([lt.claim(b.key, 2, 20)]) == [ClaimResult.CLAIMED]
    assert ledger.rows_with_status(Status.ACCEPTED).rows == []
    ledger.flush()
    assert pending_parts(moto_server, local_resources) == []
    verified = ledger.get(a.key)
    assert verified is not None
    assert (verified.status, verified.checked_at_ms) == (Status.VERIFIED, 5_000)


def part_of(moto_server: MotoServer, resources: LocalResources, key: str) -> str:
    """The acceptance part of the push the key's head holds."""
    return _slot_of(raw(moto_server, resources, key)).part


def done(moto_server: MotoServer, resources: LocalResources, part: str) -> set[int]:
    return _numbers(raw(moto_server, resources, part), "done")


def test_a_settle_that_does_not_apply_leaves_a_superseded_push_settled_and_out_of_the_index(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger
) -> None:
    row = lt.pushed(ledger, "item#moved-on", 1, 10)
    part = part_of(moto_server, local_resources, "item#moved-on")
    assert ledger.reopen(row, reason="retriable", now_ms=2_000)
    # A newer version is claimed while the re-push is in flight; a validator run passes the old
    # push and settles it as superseded.
    assert ledger.claim_many([lt.claim("item#moved-on", 2, 20)]) == [ClaimResult.CLAIMED]
    assert ledger.rows_with_status(Status.ACCEPTED).rows == []
    ledger.flush()
    assert pending_parts(moto_server, local_resources) == []
    # The re-push's outcome comes back late: the head holds version 2, so nothing is given back,
    # and the old push stays settled (it is not the validator's work again).
    assert ledger.settle(row, Status.ACCEPTED, reason="re-push throttled", now_ms=3_000) is False
    ledger.flush()
    assert pending_parts(moto_server, local_resources) == []
    assert done(moto_server, local_resources, part) == {0}
    assert lt.head(ledger, "item#moved-on") == (2, 20, Status.CLAIMED)


def test_a_push_settled_back_keeps_the_buffered_verdicts_of_its_parts_other_pushes(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger
) -> None:
    a, b = pushed_together(ledger, "item#pair")
    part = part_of(moto_server, local_resources, a.key)
    row_b = ledger.get(b.key)
    assert row_b is not None
    assert ledger.reopen(row_b, reason="retriable", now_ms=2_000)
    assert ledger.claim_many([lt.claim(a.key, 2, 20)]) == [ClaimResult.CLAIMED]
    # One validator run: its page passes a (superseded) and b (being re-pushed), settling both,
    # buffered; then b's re-push is not accepted and b is given back before the run flushes.
    assert ledger.rows_with_status(Status.ACCEPTED).rows == []
    assert ledger.settle(row_b, Status.ACCEPTED, reason="re-push throttled", now_ms=3_000) is True
    ledger.flush()
    # a's verdict was written with the flush; b is open again, and the only work left.
    assert done(moto_server, local_resources, part) == {0}
    assert pending_parts(moto_server, local_resources) == [part]
    listed = make_ledger(moto_server, local_resources).rows_with_status(Status.ACCEPTED).rows
    assert [(r.key, r.status) for r in listed] == [(b.key, Status.ACCEPTED)]


def test_a_head_counted_before_re_pushes_were_per_version_keeps_its_count(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger
) -> None:
    row = lt.pushed(ledger, "item#legacy", 1, 10)
    assert ledger.reopen(row, reason="lost", now_ms=2_000)
    assert ledger.settle(row, Status.ACCEPTED, reason="re-push throttled", now_ms=3_000)
    # As a head written before `repushedVersion` existed: its count stands for its version.
    moto_server.client("dynamodb").update_item(
        TableName=local_resources.tables["LedgerTable"],
        Key={"pk": {"S": "item#legacy"}},
        UpdateExpression="REMOVE repushedVersion",
    )
    reader = make_ledger(moto_server, local_resources)
    legacy = reader.get("item#legacy")
    assert legacy is not None and legacy.repushes == 1
    assert reader.reopen(legacy, reason="lost again", now_ms=4_000)
    assert reader.settle(legacy, Status.FAILED, reason="re-push refused", now_ms=5_000)
    after = reader.get("item#legacy")
    assert after is not None and (after.status, after.repushes) == (Status.FAILED, 2)
