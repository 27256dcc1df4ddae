"""The DynamoDB ledger on moto: the guard's answers when claims are written in transactions."""

from __future__ import annotations

import dataclasses

import pytest

from aws_simulator.cloudformation import LocalResources
from aws_simulator.moto_server import MotoServer
from connector.adapters.dynamodb_ledger import DynamoDBLedger
from connector.domain.ledger import Accepted, Claim, ClaimResult, Status


def claim(key: str, version: int, ordering: int) -> Claim:
    return Claim(key, version, ordering, f"e-{key}-{version}", "item.upserted", key, 1)


def accepted(c: Claim) -> Accepted:
    return Accepted(
        c.key, c.version, c.ordering_id, "item", "item.upserted", c.key, c.event_id, 1, None, 1, b"x", 2
    )


def test_claims_in_one_transaction_get_their_own_answers(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    ledger = DynamoDBLedger(moto_server.client("dynamodb"), local_resources.tables["LedgerTable"])
    first = [claim(f"item#k{i}", 5, 100) for i in range(150)]  # two transactions
    assert ledger.claim_many(first) == [ClaimResult.CLAIMED] * 150
    ledger.record_accepted([accepted(c) for c in first[:100]])
    second = [
        claim("item#k0", 4, 200),  # older: stale
        claim("item#k1", 5, 200),  # same version, already accepted: stale
        claim("item#k120", 5, 200),  # same version, never accepted: a redelivery, claimed again
        claim("item#k2", 6, 50),  # newer, but below the row's orderingId: a lost race, retry
        claim("item#k3", 6, 200),  # newer: claimed
        claim("item#new", 1, 200),
    ]
    assert ledger.claim_many(second) == [
        ClaimResult.STALE,
        ClaimResult.STALE,
        ClaimResult.CLAIMED,
        ClaimResult.CONFLICT,
        ClaimResult.CLAIMED,
        ClaimResult.CLAIMED,
    ]
    heads = ledger.heads(["item#k0", "item#k3", "item#k120"])
    assert (heads["item#k0"].version, heads["item#k0"].status) == (5, Status.ACCEPTED)
    assert (heads["item#k3"].version, heads["item#k3"].status) == (6, Status.CLAIMED)
    assert heads["item#k120"].ordering_id == 200


def test_an_acceptance_superseded_by_a_newer_claim_leaves_the_row_alone(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    ledger = DynamoDBLedger(moto_server.client("dynamodb"), local_resources.tables["LedgerTable"])
    old, new = claim("item#a", 1, 10), claim("item#a", 2, 20)
    ledger.claim_many([old])
    ledger.claim_many([new])
    ledger.record_accepted([accepted(old), accepted(claim("item#b", 1, 10))])  # b was never claimed
    head = ledger.heads(["item#a"])["item#a"]
    assert (head.version, head.status) == (2, Status.CLAIMED)


@pytest.mark.parametrize("verdict", [Status.ACCEPTED, Status.FAILED])
def test_a_repush_that_is_not_accepted_leaves_its_row_where_the_validator_reads(
    moto_server: MotoServer, local_resources: LocalResources, verdict: Status
) -> None:
    """The validator reopens a row to re-push it (the claim removes pushedAt, so the row leaves the
    byStatus index); when the re-push is not accepted, settling it must put the original push time
    back, or the row is CLAIMED-invisible: never checked again, never reported."""
    ledger = DynamoDBLedger(moto_server.client("dynamodb"), local_resources.tables["LedgerTable"])
    pushed_at = 1_764_000_000_000
    first = claim("item#repush", 3, 30)
    ledger.claim_many([first])
    ledger.record_accepted([dataclasses.replace(accepted(first), pushed_at_ms=pushed_at)])
    row = ledger.get("item#repush")
    assert row is not None and (row.status, row.pushed_at_ms) == (Status.ACCEPTED, pushed_at)

    assert ledger.reopen(row, reason="rejected: unknown identity", now_ms=pushed_at + 10) is True
    assert ledger.get("item#repush") is None  # being re-pushed: no verdict to read
    assert ledger.settle(row, verdict, reason="re-push throttled", now_ms=pushed_at + 20) is True

    settled = ledger.get("item#repush")
    assert settled is not None
    assert (settled.status, settled.pushed_at_ms, settled.failure_reason) == (
        verdict,
        pushed_at,
        "re-push throttled",
    )
    listed = ledger.rows_with_status(verdict, pushed_before_ms=pushed_at).rows
    assert [(r.key, r.pushed_at_ms, r.version) for r in listed] == [("item#repush", pushed_at, 3)]
