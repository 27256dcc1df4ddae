"""The DynamoDB ledger's layout at its edges, on moto: what a superseded or re-pushed push leaves
behind, which pushes `settle` may give back, what expires, and what a whole-ledger read shows.
(Cases mutation testing of the rewritten adapter found unguarded.)"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from aws_simulator.cloudformation import LocalResources
from aws_simulator.moto_server import MotoServer
from connector.adapters.dynamodb_ledger import PENDING_INDEX, DynamoDBLedger
from connector.domain.ledger import Accepted, Claim, ClaimResult, Head, Row, Status
from tests import ledger_transitions as lt

from .stack import dynamodb_ledger


def claim(key: str, version: int, ordering: int, expires_at: int | None = 2_000_000_000) -> Claim:
    return Claim(key, version, ordering, f"e-{key}-{version}", "item.upserted", key, 1, expires_at)


def accepted(c: Claim, pushed_at_ms: int = 1_000) -> Accepted:
    return Accepted(
        c.key,
        c.version,
        c.ordering_id,
        "item",
        "item.upserted",
        c.key,
        c.event_id,
        pushed_at_ms,
        "f",
        1,
        b"x",
        2_000_000_100,
    )


def raw(moto_server: MotoServer, resources: LocalResources, pk: str) -> dict[str, Any]:
    table = resources.tables["LedgerTable"]
    return moto_server.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": pk}}).get("Item", {})


def indexed(moto_server: MotoServer, resources: LocalResources, prefix: str) -> list[str]:
    """The pk of every item the `pending` index holds under a queue value starting with `prefix`."""
    db, table = moto_server.client("dynamodb"), resources.tables["LedgerTable"]
    found = []
    for shard in range(16):
        query = db.query(
            TableName=table,
            IndexName=PENDING_INDEX,
            KeyConditionExpression="#q = :q",
            ExpressionAttributeNames={"#q": "queue"},
            ExpressionAttributeValues={":q": {"S": f"{prefix}#{shard:02d}"}},
        )
        found += [item["pk"]["S"] for item in query["Items"]]
    return found


@pytest.fixture
def ledger(moto_server: MotoServer, local_resources: LocalResources) -> DynamoDBLedger:
    return dynamodb_ledger(moto_server, local_resources)


def test_a_superseded_push_is_settled_at_the_next_read_and_its_part_leaves_the_index(
    ledger: DynamoDBLedger, moto_server: MotoServer, local_resources: LocalResources
) -> None:
    lt.pushed(ledger, "item#sup", 1, 10)
    newer = lt.pushed(ledger, "item#sup", 2, 20, pushed_at_ms=2_000)
    assert len(indexed(moto_server, local_resources, "pending")) == 2
    rows = ledger.rows_with_status(Status.ACCEPTED).rows
    assert [(r.key, r.version) for r in rows] == [("item#sup", 2)]  # the older push is not checked
    assert ledger.mark(rows[0], Status.VERIFIED, reason=None, now_ms=3_000)
    ledger.flush()
    assert indexed(moto_server, local_resources, "pending") == []  # both parts settled
    assert ledger.get("item#sup") == dataclasses.replace(newer, status=Status.VERIFIED, checked_at_ms=3_000)


def test_a_failure_is_listed_from_the_failed_index_and_leaves_it_when_a_newer_version_is_claimed(
    ledger: DynamoDBLedger, moto_server: MotoServer, local_resources: LocalResources
) -> None:
    row = lt.pushed(ledger, "item#fail", 1, 10, pushed_at_ms=1_500)
    assert ledger.mark(row, Status.FAILED, reason="REJECTED", now_ms=2_000)
    ledger.flush()
    assert indexed(moto_server, local_resources, "failed") == ["item#fail"]
    assert indexed(moto_server, local_resources, "pending") == []
    (listed,) = ledger.rows_with_status(Status.FAILED).rows
    assert (listed.key, listed.status, listed.failure_reason, listed.pushed_at_ms) == (
        "item#fail",
        Status.FAILED,
        "REJECTED",
        1_500,
    )
    # The same version is not claimed again over its failure (only a reopen lets it through).
    assert ledger.claim_many([claim("item#fail", 1, 30)]) == [ClaimResult.STALE]
    assert ledger.claim_many([claim("item#fail", 2, 30)]) == [ClaimResult.CLAIMED]
    assert indexed(moto_server, local_resources, "failed") == []
    assert "failureReason" not in raw(moto_server, local_resources, "item#fail")


def test_settle_gives_back_only_the_push_the_reopen_kept_aside(
    ledger: DynamoDBLedger, moto_server: MotoServer, local_resources: LocalResources
) -> None:
    first = lt.pushed(ledger, "item#s/a", 1, 10)
    assert ledger.reopen(first, reason="retriable", now_ms=5_000)
    # The re-push claims (a new batch) but is not accepted: settle restores the first push.
    assert ledger.claim_many([claim("item#s/a", 1, 11)]) == [ClaimResult.CLAIMED]
    assert ledger.settle(first, Status.ACCEPTED, reason="re-push throttled", now_ms=6_000) is True
    again = ledger.get("item#s/a")
    assert again is not None
    assert (again.status, again.ordering_id, again.pushed_at_ms, again.repushes) == (
        Status.ACCEPTED,
        10,
        1_000,
        1,
    )
    item = raw(moto_server, local_resources, "item#s/a")
    assert "prevBatch" not in item and "prevSlot" not in item
    assert ledger.settle(first, Status.ACCEPTED, reason="twice", now_ms=7_000) is False


def test_a_settled_failure_is_listed_and_its_part_leaves_the_pending_index(
    ledger: DynamoDBLedger, moto_server: MotoServer, local_resources: LocalResources
) -> None:
    row = lt.pushed(ledger, "item#sf", 1, 10, pushed_at_ms=1_200)
    ledger.reopen(row, reason="retriable", now_ms=5_000)
    assert ledger.settle(row, Status.FAILED, reason="re-push refused", now_ms=6_000) is True
    ledger.flush()
    assert indexed(moto_server, local_resources, "pending") == []
    assert indexed(moto_server, local_resources, "failed") == ["item#sf"]
    (listed,) = ledger.rows_with_status(Status.FAILED).rows
    assert (listed.status, listed.failure_reason, listed.pushed_at_ms) == (
        Status.FAILED,
        "re-push refused",
        1_200,
    )


def test_heads_and_parts_expire_with_the_ledger_ttl(
    ledger: DynamoDBLedger, moto_server: MotoServer, local_resources: LocalResources
) -> None:
    c = claim("item#ttl", 1, 10)
    ledger.claim_many([c])
    ledger.record_accepted([accepted(c)])
    assert raw(moto_server, local_resources, "item#ttl")["expiresAt"] == {"N": "2000000000"}
    (part,) = [pk for pk in indexed(moto_server, local_resources, "pending")]
    assert raw(moto_server, local_resources, part)["expiresAt"] == {"N": "2000000100"}
    ledger.claim_many([claim("item#ttl-none", 1, 10, expires_at=None)])
    assert "expiresAt" not in raw(moto_server, local_resources, "item#ttl-none")


def test_the_whole_ledger_reads_as_rows_and_heads(ledger: DynamoDBLedger) -> None:
    lt.pushed(ledger, "item#all/pushed", 1, 10)
    ledger.claim_many([claim("item#all/claimed", 3, 30)])
    states = {state.key: state for state in ledger.all_rows()}
    assert isinstance(states["item#all/pushed"], Row) and states["item#all/pushed"].status is Status.ACCEPTED
    claimed = states["item#all/claimed"]
    assert isinstance(claimed, Head)
    assert (claimed.version, claimed.status, claimed.event_id) == (3, Status.CLAIMED, "e-item#all/claimed-3")
    assert not any(key.startswith("acc#") for key in states)


def test_the_ledger_lists_accepted_and_failed_rows_only(ledger: DynamoDBLedger) -> None:
    with pytest.raises(ValueError, match="ACCEPTED and FAILED rows, not VERIFIED"):
        ledger.rows_with_status(Status.VERIFIED)


def test_a_ledger_without_its_bucket_says_so_when_it_must_record(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    bare = DynamoDBLedger(moto_server.client("dynamodb"), local_resources.tables["LedgerTable"])
    c = claim("item#bare", 1, 10)
    assert bare.claim_many([c]) == [ClaimResult.CLAIMED]  # the guard needs no bucket
    with pytest.raises(RuntimeError, match="no entries store: pass the ledger bucket"):
        bare.record_accepted([accepted(c)])


def test_pages_of_more_parts_than_one_read_hold_every_row_once(ledger: DynamoDBLedger) -> None:
    """Parts are read 100 to a request: 130 batches, read 7 rows a page."""
    keys = []
    for n in range(130):
        c = claim(f"item#many-parts/{n:03d}", 1, 10)
        ledger.claim_many([c])
        ledger.record_accepted([accepted(c, 1_000 + n)])
        keys.append(c.key)
    seen: list[str] = []
    token: object | None = None
    while True:
        page = ledger.rows_with_status(Status.ACCEPTED, limit=7, token=token)
        assert 1 <= len(page.rows) <= 7
        seen += [r.key for r in page.rows]
        token = page.next_token
        if token is None:
            break
    assert seen == keys
    everything = ledger.rows_with_status(Status.ACCEPTED, limit=500).rows
    assert [r.key for r in everything] == keys


def test_a_push_whose_s3_entries_are_gone_reads_as_its_head_not_an_error(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    """S3's lifecycle rule and the table's TTL expire a push's entries and its rows on their own
    clocks: the part may still list a push whose entry object has gone. Readers skip it; a
    whole-ledger read shows its head, with the status `heads` gives it: as Coveo answered (ACCEPTED),
    as the validator found it (VERIFIED, kept on the part; FAILED, kept on the head)."""
    first = dynamodb_ledger(moto_server, local_resources)
    lt.pushed(first, "item#no-entries", 1, 10)
    first.mark(
        lt.pushed(first, "item#no-entries/verified", 1, 10), Status.VERIFIED, reason=None, now_ms=2_000
    )
    first.mark(lt.pushed(first, "item#no-entries/failed", 1, 10), Status.FAILED, reason="no", now_ms=2_000)
    first.flush()
    s3, bucket = moto_server.client("s3"), local_resources.buckets["LedgerBucket"]
    objects = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert len(objects) == 3
    for obj in objects:
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    ledger = dynamodb_ledger(moto_server, local_resources)  # a fresh entries cache
    assert ledger.get("item#no-entries") is None
    states = {state.key: state for state in ledger.all_rows()}
    expected = {
        "item#no-entries": Status.ACCEPTED,
        "item#no-entries/verified": Status.VERIFIED,
        "item#no-entries/failed": Status.FAILED,
    }
    assert all(isinstance(state, Head) for state in states.values())
    assert {key: (s.version, s.ordering_id) for key, s in states.items()} == dict.fromkeys(expected, (1, 10))
    assert {key: state.status for key, state in states.items()} == expected
    assert {key: head.status for key, head in ledger.heads(list(expected)).items()} == expected
    assert ledger.rows_with_status(Status.ACCEPTED).rows == []


def test_a_reopen_aws_refuses_reads_false_and_leaves_its_row_while_the_others_reopen(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    """The validator reopens its re-pushes together: one write DynamoDB throttles (or cannot be
    reached for) must not abort the others (they would sit CLAIMED with no re-push coming). Those
    rows stay ACCEPTED, for the next run."""
    client = moto_server.client("dynamodb")

    def not_now(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == {"pk": {"S": "item#reopen/1"}}:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "throttled"}},
                "UpdateItem",
            )
        if params.get("Key") == {"pk": {"S": "item#reopen/2"}}:
            raise EndpointConnectionError(endpoint_url="https://dynamodb.example")

    rows = [
        lt.pushed(dynamodb_ledger(moto_server, local_resources), f"item#reopen/{n}", 1, 10) for n in range(4)
    ]
    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", not_now)
    ledger = dynamodb_ledger(moto_server, local_resources, client)
    assert ledger.reopen_many([(row, "lost") for row in rows], now_ms=5_000) == [True, False, False, True]
    assert [lt.head(ledger, row.key)[2] for row in rows] == [
        Status.CLAIMED,
        Status.ACCEPTED,
        Status.ACCEPTED,
        Status.CLAIMED,
    ]
    assert [r.key for r in ledger.rows_with_status(Status.ACCEPTED).rows] == [
        "item#reopen/1",
        "item#reopen/2",
    ]


def test_a_reopen_dynamodb_refuses_as_malformed_is_raised_not_taken_for_a_throttle(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    """Only "not now" answers read False (tried again next run); a refusal that would come back at
    every run (a ValidationException) surfaces, so the validator's run fails where someone sees it."""
    client = moto_server.client("dynamodb")

    def refuse(params: dict[str, Any], **_: Any) -> None:
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "malformed"}}, "UpdateItem")

    row = lt.pushed(dynamodb_ledger(moto_server, local_resources), "item#reopen-refused", 1, 10)
    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", refuse)
    with pytest.raises(ClientError, match="malformed"):
        dynamodb_ledger(moto_server, local_resources, client).reopen_many([(row, "lost")], now_ms=5_000)
