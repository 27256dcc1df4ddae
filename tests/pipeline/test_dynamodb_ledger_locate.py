"""The validator's verdicts from another container, on moto: a row handed out by one ledger
instance is marked, reopened or settled by another (a new Lambda container, or the next scheduled
run) that remembers nothing of it, so the push the row names is found from its head, its kept-aside
push and its part. (Cases mutation testing of the adapter found unguarded.)"""

from __future__ import annotations

from aws_simulator.cloudformation import LocalResources
from aws_simulator.moto_server import MotoServer
from connector.adapters.dynamodb_ledger import DynamoDBLedger
from connector.domain.ledger import Claim, ClaimResult, Status
from tests import ledger_transitions as lt

from .stack import dynamodb_ledger


def claim(key: str, version: int, ordering: int) -> Claim:
    return Claim(key, version, ordering, f"e-{key}-{version}", "item.upserted", key, 1, 2_000_000_000)


def another(moto_server: MotoServer, resources: LocalResources) -> DynamoDBLedger:
    """A ledger instance that saw nothing: what a new container starts with."""
    return dynamodb_ledger(moto_server, resources)


def test_another_container_marks_a_row_it_did_not_read(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    first = dynamodb_ledger(moto_server, local_resources)
    row = lt.pushed(first, "item#loc/mark", 1, 10)
    assert (
        another(moto_server, local_resources).mark(row, Status.FAILED, reason="rejected", now_ms=5_000)
        is True
    )
    failed = first.get("item#loc/mark")
    assert failed is not None
    assert (failed.status, failed.failure_reason, failed.ordering_id) == (Status.FAILED, "rejected", 10)


def test_another_container_gives_back_the_push_a_reopen_kept_aside(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    first = dynamodb_ledger(moto_server, local_resources)
    row = lt.pushed(first, "item#loc/settle", 1, 10)
    assert first.reopen(row, reason="retriable", now_ms=5_000)
    # The re-push claims (a new batch, a new orderingId) but Coveo never accepts it.
    assert first.claim_many([claim("item#loc/settle", 1, 11)]) == [ClaimResult.CLAIMED]
    # The next run, in another container: the row it hands back is the first push (orderingId
    # 10), found through the head's kept-aside push, not the re-push the head now holds.
    assert another(moto_server, local_resources).settle(
        row, Status.ACCEPTED, reason="throttled", now_ms=6_000
    )
    back = first.get("item#loc/settle")
    assert back is not None
    assert (back.status, back.ordering_id, back.pushed_at_ms) == (Status.ACCEPTED, 10, 1_000)


def test_another_container_settles_a_reopened_row_whose_re_push_never_claimed(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    first = dynamodb_ledger(moto_server, local_resources)
    row = lt.pushed(first, "item#loc/unclaimed", 1, 10)
    assert first.reopen(row, reason="retriable", now_ms=5_000)
    # The head holds no claim now (only the kept-aside push): settle finds it there.
    settled = another(moto_server, local_resources).settle(row, Status.FAILED, reason="gave up", now_ms=6_000)
    assert settled is True
    back = first.get("item#loc/unclaimed")
    assert back is not None
    assert (back.status, back.ordering_id, back.failure_reason) == (Status.FAILED, 10, "gave up")


def test_a_verdict_on_a_row_whose_head_has_expired_is_refused_not_an_error(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    first = dynamodb_ledger(moto_server, local_resources)
    row = lt.pushed(first, "item#loc/expired", 1, 10)
    # DynamoDB's TTL deleted the head meanwhile.
    moto_server.client("dynamodb").delete_item(
        TableName=local_resources.tables["LedgerTable"], Key={"pk": {"S": "item#loc/expired"}}
    )
    later = another(moto_server, local_resources)
    assert later.mark(row, Status.FAILED, reason="rejected", now_ms=5_000) is False
    assert later.reopen(row, reason="retriable", now_ms=5_000) is False
    assert later.settle(row, Status.ACCEPTED, reason="throttled", now_ms=5_000) is False


def test_a_verdict_on_a_row_superseded_by_a_newer_version_is_refused(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    first = dynamodb_ledger(moto_server, local_resources)
    row = lt.pushed(first, "item#loc/newer", 1, 10)
    assert first.claim_many([claim("item#loc/newer", 2, 20)]) == [ClaimResult.CLAIMED]
    later = another(moto_server, local_resources)
    assert later.mark(row, Status.FAILED, reason="rejected", now_ms=5_000) is False
    head = first.heads(["item#loc/newer"])["item#loc/newer"]
    assert (head.version, head.ordering_id, head.status) == (2, 20, Status.CLAIMED)


def test_a_verdict_on_a_push_a_re_push_of_the_same_version_replaced_is_refused(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    first = dynamodb_ledger(moto_server, local_resources)
    old = lt.pushed(first, "item#loc/replaced", 1, 10)
    assert first.reopen(old, reason="retriable", now_ms=5_000)
    # Re-pushed and accepted at orderingId 11, then reopened in its turn: the head keeps only that
    # push aside, and an answer about the one at 10 no longer names anything.
    assert first.claim_many([claim("item#loc/replaced", 1, 11)]) == [ClaimResult.CLAIMED]
    first.record_accepted([lt.accepted(claim("item#loc/replaced", 1, 11), 2_000)])
    newer = first.get("item#loc/replaced")
    assert newer is not None and newer.ordering_id == 11
    assert first.reopen(newer, reason="retriable", now_ms=6_000)
    later = another(moto_server, local_resources)
    assert later.mark(old, Status.FAILED, reason="rejected", now_ms=7_000) is False
    assert later.settle(old, Status.ACCEPTED, reason="throttled", now_ms=7_000) is False
    assert later.settle(newer, Status.ACCEPTED, reason="throttled", now_ms=7_000) is True
