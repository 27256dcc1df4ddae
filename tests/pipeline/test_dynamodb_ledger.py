"""The DynamoDB ledger on moto: the guard's answers when claims are written in transactions."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from aws_simulator.cloudformation import LocalResources
from aws_simulator.moto_server import MotoServer
from connector.adapters.dynamodb_ledger import CLIENT_OPTIONS, PARTS, PENDING_INDEX, DynamoDBLedger
from connector.adapters.s3_ledger_entries import S3LedgerEntries
from connector.domain.ledger import Accepted, Claim, ClaimResult, Status

from .stack import dynamodb_ledger


def claim(key: str, version: int, ordering: int) -> Claim:
    return Claim(key, version, ordering, f"e-{key}-{version}", "item.upserted", key, 1)


def accepted(c: Claim) -> Accepted:
    return Accepted(
        c.key, c.version, c.ordering_id, "item", "item.upserted", c.key, c.event_id, 1, None, 1, b"x", 2
    )


def test_claims_in_one_transaction_get_their_own_answers(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    ledger = dynamodb_ledger(moto_server, local_resources)
    first = [claim(f"item#k{i}", 5, 100) for i in range(150)]  # two transactions
    assert ledger.claim_many(first) == [ClaimResult.CLAIMED] * 150
    ledger.record_accepted([accepted(c) for c in first[:100]])
    second = [
        claim("item#k0", 4, 200),  # older: stale
        # Same version, already accepted: heads() reads it as pushed, so the pipeline never claims
        # it; claimed anyway (a race past that read), it is a duplicate of the same version.
        claim("item#k1", 5, 200),
        claim("item#k120", 5, 200),  # same version, never accepted: a redelivery, claimed again
        claim("item#k2", 6, 50),  # newer, but below the row's orderingId: a lost race, retry
        claim("item#k3", 6, 200),  # newer: claimed
        claim("item#new", 1, 200),
    ]
    assert ledger.heads(["item#k1"], {"item#k1": 5})["item#k1"].status is Status.ACCEPTED
    assert ledger.claim_many(second) == [
        ClaimResult.STALE,
        ClaimResult.CLAIMED,
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
    ledger = dynamodb_ledger(moto_server, local_resources)
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
    ledger = dynamodb_ledger(moto_server, local_resources)
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


def test_pending_work_is_spread_over_the_index_and_leaves_it_once_verified(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    """Through moto's real index: small batches' parts are dealt round the PARTS partition key
    values, the validator reads them all back oldest first, and verified rows leave the index."""
    ledger = dynamodb_ledger(moto_server, local_resources)
    claims = [claim(f"item#spread/{n:03d}", 1, 100) for n in range(160)]
    for batch in range(20):  # twenty invocations of 8 changes (one part each), a second apart
        these = claims[batch * 8 : (batch + 1) * 8]
        assert ledger.claim_many(these) == [ClaimResult.CLAIMED] * 8
        ledger.record_accepted(
            [dataclasses.replace(accepted(c), pushed_at_ms=1_000 * (batch + 1)) for c in these]
        )

    db, table = moto_server.client("dynamodb"), local_resources.tables["LedgerTable"]

    def in_index() -> dict[str, int]:
        """Open (accepted, unsettled) rows per index partition key value."""
        counts: dict[str, int] = {}
        for shard in range(PARTS):
            queue = f"pending#{shard:02d}"
            found = db.query(
                TableName=table,
                IndexName=PENDING_INDEX,
                KeyConditionExpression="#q = :q",
                ExpressionAttributeNames={"#q": "queue"},
                ExpressionAttributeValues={":q": {"S": queue}},
            )["Items"]
            for item in found:
                part = db.get_item(TableName=table, Key={"pk": item["pk"]})["Item"]
                done = set(part.get("done", {}).get("NS", []))
                counts[queue] = counts.get(queue, 0) + len(set(part["accepted"]["NS"]) - done)
        return counts

    spread = in_index()
    assert sum(spread.values()) == 160 and len(spread) == PARTS
    assert max(spread.values()) / 160 <= 0.10, spread
    rows, token = [], None
    while True:
        page = ledger.rows_with_status(Status.ACCEPTED, limit=50, token=token)
        rows += page.rows
        token = page.next_token
        if token is None:
            break
    assert sorted(r.key for r in rows) == [c.key for c in claims]  # each once
    assert [r.pushed_at_ms for r in rows] == sorted(r.pushed_at_ms for r in rows)  # oldest first
    for row in rows:
        assert ledger.mark(row, Status.VERIFIED, reason=None, now_ms=9_000)
    ledger.flush()
    assert in_index() == {}
    assert ledger.get("item#spread/007").status is Status.VERIFIED  # type: ignore[union-attr]


def test_a_part_settled_but_left_in_the_index_by_a_crash_leaves_it_at_the_next_read(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    ledger = dynamodb_ledger(moto_server, local_resources)
    c = claim("item#healed", 1, 10)
    ledger.claim_many([c])
    ledger.record_accepted([accepted(c)])
    db, table = moto_server.client("dynamodb"), local_resources.tables["LedgerTable"]
    (part,) = db.scan(
        TableName=table,
        FilterExpression="begins_with(pk, :a)",
        ExpressionAttributeValues={":a": {"S": "acc#"}},
    )["Items"]
    # The flush wrote the verdicts, then the function died before the part left the index.
    db.update_item(
        TableName=table,
        Key={"pk": part["pk"]},
        UpdateExpression="ADD done :d",
        ExpressionAttributeValues={":d": part["accepted"]},
    )
    entries = CountedEntries(
        S3LedgerEntries(moto_server.client("s3"), local_resources.buckets["LedgerBucket"])
    )
    reader = DynamoDBLedger(moto_server.client("dynamodb", **CLIENT_OPTIONS), table, entries=entries)
    assert reader.rows_with_status(Status.ACCEPTED).rows == []
    after = db.get_item(TableName=table, Key={"pk": part["pk"]})["Item"]
    assert "queue" not in after
    assert entries.gets == []  # nothing open in the part: its entries in S3 are not read


class CountedEntries:
    """The S3 entries store, recording which objects are read."""

    def __init__(self, inner: S3LedgerEntries) -> None:
        self._inner = inner
        self.gets: list[str] = []

    def put(self, batch: str, entries: list[dict[str, Any]]) -> str:
        return self._inner.put(batch, entries)

    def get(self, name: str) -> list[dict[str, Any]]:
        self.gets.append(name)
        return self._inner.get(name)
