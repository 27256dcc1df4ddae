"""The DynamoDB ledger's reads, on moto and on a fake index: which consistency each read asks for,
and how the whole-ledger scan and the validator's pages walk the table (every row exactly once, oldest
push first, nothing pushed after the cutoff, a page that ends where it should).

Moto has no eventual consistency, so a read's consistency shows only in the request: the tests record
the BatchGetItem and Scan requests and assert, per ledger operation, what it asked for. The merge of
the index's shards is tested on a fake index, where a shard with more entries than one query returns
is easy to build. (Cases mutation testing of the adapter found unguarded.)"""

from __future__ import annotations

from typing import Any

import pytest

from aws_simulator.cloudformation import LocalResources
from aws_simulator.moto_server import MotoServer
from connector.adapters.dynamodb_ledger import (
    CLIENT_OPTIONS,
    PENDING_INDEX,
    DynamoDBLedger,
    _failed_queue,
    _next_token,
    _pending_shard_queue,
)
from connector.adapters.s3_ledger_entries import S3LedgerEntries
from connector.domain.ledger import Claim, ClaimResult, Row, Status
from tests import ledger_transitions as lt

from .stack import dynamodb_ledger as make_ledger

# Scan calls one whole-ledger read may make here before the test calls it a loop (a few rows, read
# two items a page, take well under this).
MAX_SCANS = 50


class Reads:
    """A DynamoDB client that records each read: per BatchGetItem, whether it read heads or
    acceptance parts and its ConsistentRead; every Scan request. `scan_limit` makes each scan return
    at most that many items, so that a small table takes several scan pages."""

    def __init__(self, client: Any, scan_limit: int | None = None) -> None:
        self._client = client
        self._scan_limit = scan_limit
        self.gets: list[tuple[str, bool]] = []
        self.part_keys: list[str] = []
        self.scans: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, **request: Any) -> Any:
        for spec in request["RequestItems"].values():
            parts = {key["pk"]["S"].startswith("acc#") for key in spec["Keys"]}
            assert len(parts) == 1, "a read of heads and parts together"
            self.gets.append(("part" if parts.pop() else "head", spec["ConsistentRead"]))
            self.part_keys += [key["pk"]["S"] for key in spec["Keys"] if key["pk"]["S"].startswith("acc#")]
        return self._client.batch_get_item(**request)

    def scan(self, **request: Any) -> Any:
        self.scans.append(dict(request))
        if len(self.scans) > MAX_SCANS:
            raise AssertionError(f"{len(self.scans)} scans of a table of a few items: a loop")
        if self._scan_limit is not None:
            request = {**request, "Limit": self._scan_limit}
        return self._client.scan(**request)

    def clear(self) -> None:
        self.gets.clear()
        self.part_keys.clear()
        self.scans.clear()


class S3Gets:
    """An S3 client that records the objects it reads."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.gets: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **request: Any) -> Any:
        self.gets.append(request["Key"])
        return self._client.get_object(**request)


def claim(key: str, version: int = 1, ordering: int = 10) -> Claim:
    return lt.claim(key, version, ordering)


@pytest.fixture
def db(moto_server: MotoServer) -> Reads:
    return Reads(moto_server.client("dynamodb", **CLIENT_OPTIONS))


@pytest.fixture
def ledger(moto_server: MotoServer, local_resources: LocalResources, db: Reads) -> DynamoDBLedger:
    return make_ledger(moto_server, local_resources, db)


def keys(rows: list[Row]) -> list[str]:
    return [row.key for row in rows]


# --- read consistency on the wire -----------------------------------------------------------------
# Reads a decision depends on right away are strongly consistent: a stale head or part there would
# claim over a newer push, record an acceptance on a claim that moved on, or give a verdict to a push
# already settled. The validator's page reads are eventually consistent (half the read units): what
# a page shows is re-checked by the conditional writes that follow it (mark, reopen, settle).


def test_the_stale_guard_reads_heads_and_their_parts_strongly_consistent(
    ledger: DynamoDBLedger, db: Reads
) -> None:
    lt.pushed(ledger, "item#guard", 1, 10)
    db.clear()
    assert ledger.heads(["item#guard"])["item#guard"].status is Status.ACCEPTED
    # The part says whether the same version was already pushed: a stale one would push it twice.
    assert db.gets == [("head", True), ("part", True)]


def test_an_acceptance_of_another_containers_claim_reads_its_head_strongly_consistent(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger, db: Reads
) -> None:
    c = claim("item#elsewhere")
    assert ledger.claim_many([c]) == [ClaimResult.CLAIMED]
    other = make_ledger(moto_server, local_resources, db)  # does not remember the claim's slot
    db.clear()
    other.record_accepted([lt.accepted(c)])
    # The claim was just written: an eventually consistent read may not see it yet, and the
    # acceptance would be dropped as "a newer claim owns the head".
    assert db.gets == [("head", True)]
    assert ledger.get("item#elsewhere") is not None


def test_the_whole_ledger_scan_and_its_part_reads_are_strongly_consistent(
    ledger: DynamoDBLedger, db: Reads
) -> None:
    lt.pushed(ledger, "item#report", 1, 10)
    db.clear()
    assert [state.key for state in ledger.all_rows()] == ["item#report"]
    # A report of every key's state (the local run, the reliability tiers) asserts what was just
    # written: it must not miss the last claim or acceptance.
    assert [scan["ConsistentRead"] for scan in db.scans] == [True]
    assert db.gets == [("part", True)]


def test_a_row_is_located_for_its_verdict_by_strongly_consistent_reads(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger, db: Reads
) -> None:
    row = lt.pushed(ledger, "item#locate", 1, 10)
    fresh = make_ledger(moto_server, local_resources, db)  # has not handed the row out: reads it
    db.clear()
    assert fresh.mark(row, Status.VERIFIED, reason=None, now_ms=5_000) is True
    # Which claim slot the verdict goes to: a stale head or part would settle another push.
    assert db.gets == [("head", True), ("part", True)]


def test_a_failure_verdict_reads_whether_the_push_is_still_open_strongly_consistent(
    ledger: DynamoDBLedger, db: Reads
) -> None:
    row = lt.pushed(ledger, "item#open", 1, 10)  # read back by `get`: the ledger knows its slot
    db.clear()
    assert ledger.mark(row, Status.FAILED, reason="REJECTED", now_ms=5_000) is True
    # Only an unsettled push gets a failure: a stale part would fail a push just verified.
    assert db.gets == [("part", True)]


def test_a_settle_reads_whether_its_push_was_accepted_strongly_consistent(
    ledger: DynamoDBLedger, db: Reads
) -> None:
    row = lt.pushed(ledger, "item#settle", 1, 10)
    assert ledger.reopen(row, reason="retriable", now_ms=2_000)
    db.clear()
    assert ledger.settle(row, Status.ACCEPTED, reason="re-push throttled", now_ms=3_000) is True
    # The part decides which push the head gets back: a stale part that misses the acceptance
    # would let settle give the head a claim Coveo never accepted in place of the push kept aside.
    assert db.gets == [("part", True)]


def test_the_validators_page_of_pending_pushes_reads_eventually_consistent(
    ledger: DynamoDBLedger, db: Reads
) -> None:
    lt.pushed(ledger, "item#pending", 1, 10)
    db.clear()
    assert keys(ledger.rows_with_status(Status.ACCEPTED).rows) == ["item#pending"]
    # Its parts, then its heads: half the read units; each verdict's write is conditional.
    assert db.gets == [("part", False), ("head", False)]


def test_the_page_of_failures_reads_eventually_consistent(ledger: DynamoDBLedger, db: Reads) -> None:
    row = lt.pushed(ledger, "item#failed", 1, 10)
    assert ledger.mark(row, Status.FAILED, reason="REJECTED", now_ms=5_000)
    ledger.flush()
    db.clear()
    assert keys(ledger.rows_with_status(Status.FAILED).rows) == ["item#failed"]
    # Its heads, then their parts: a listing for the operator and the redrive, whose reopen is
    # conditional on the head.
    assert db.gets == [("head", False), ("part", False)]


class PartsGone(Reads):
    """A client whose reads no longer find the acceptance parts the index lists (expired by their
    TTL between the index query and the read, or not yet visible to an eventually consistent
    read), and that records the updates the ledger sends."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.updates: list[str] = []

    def batch_get_item(self, **request: Any) -> Any:
        response = super().batch_get_item(**request)
        for table, items in response.get("Responses", {}).items():
            response["Responses"][table] = [i for i in items if not i["pk"]["S"].startswith("acc#")]
        return response

    def update_item(self, **request: Any) -> Any:
        self.updates.append(request["Key"]["pk"]["S"])
        return self._client.update_item(**request)


def test_a_part_the_index_lists_but_the_read_does_not_find_is_passed_over_without_a_write(
    moto_server: MotoServer, local_resources: LocalResources, ledger: DynamoDBLedger
) -> None:
    lt.pushed(ledger, "item#vanished", 1, 10)
    gone = PartsGone(moto_server.client("dynamodb", **CLIENT_OPTIONS))
    reader = make_ledger(moto_server, local_resources, gone)
    page = reader.rows_with_status(Status.ACCEPTED)
    assert (page.rows, page.next_token) == ([], None)
    reader.flush()
    # Nothing to settle or take out of the index: a write there would meet a missing item.
    assert gone.updates == []
    assert keys(ledger.rows_with_status(Status.ACCEPTED).rows) == ["item#vanished"]


# --- the whole-ledger scan ------------------------------------------------------------------------


def test_a_whole_ledger_read_of_several_scan_pages_gives_every_key_once(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    db = Reads(moto_server.client("dynamodb", **CLIENT_OPTIONS), scan_limit=2)
    ledger = make_ledger(moto_server, local_resources, db)
    pushed = [f"item#scan/{n}" for n in range(4)]
    for key in pushed:
        lt.pushed(ledger, key, 1, 10)
    assert ledger.claim_many([claim("item#scan/claimed")]) == [ClaimResult.CLAIMED]
    db.clear()
    states = [state.key for state in ledger.all_rows()]
    # 5 heads and 4 parts, two items a scan page: each page starts where the last one ended.
    assert sorted(states) == sorted([*pushed, "item#scan/claimed"])
    assert len(db.scans) >= 5


def test_a_whole_ledger_read_reads_each_part_and_s3_object_once_whatever_the_scan_pages_hold(
    moto_server: MotoServer, local_resources: LocalResources
) -> None:
    """Heads are spread by key, so a scan page holds heads of nearly every claim batch: reading
    parts and objects page by page read them again on every page (a 50,000-key report took a
    minute). Here 3 batches of 40 (2 parts each) over scan pages of 10 items, with an S3 cache of
    one object."""
    writer = make_ledger(moto_server, local_resources)
    batches = [[claim(f"item#batch{b}/{n}") for n in range(40)] for b in range(3)]
    for claims in batches:
        assert writer.claim_many(claims) == [ClaimResult.CLAIMED] * 40
        writer.record_accepted([lt.accepted(c) for c in claims])
    assert writer.claim_many([claim("item#claimed")]) == [ClaimResult.CLAIMED]
    db = Reads(moto_server.client("dynamodb", **CLIENT_OPTIONS), scan_limit=10)
    s3 = S3Gets(moto_server.client("s3"))
    entries = S3LedgerEntries(s3, local_resources.buckets["LedgerBucket"], cache_objects=1)
    reader = DynamoDBLedger(db, local_resources.tables["LedgerTable"], entries=entries)
    read = list(reader.all_rows())
    pushed = [c.key for claims in batches for c in claims]
    assert sorted(state.key for state in read) == sorted([*pushed, "item#claimed"])  # each once
    states = {state.key: state for state in read}
    assert all(isinstance(states[key], Row) and states[key].status is Status.ACCEPTED for key in pushed)
    assert not isinstance(states["item#claimed"], Row) and states["item#claimed"].status is Status.CLAIMED
    assert len(db.scans) > 10  # 127 items, 10 a page
    assert len(db.part_keys) == len(set(db.part_keys)) == 7  # 2 a batch, and the lone claim's
    assert len(s3.gets) == len(set(s3.gets)) == 3


# --- the validator's page of pending pushes -------------------------------------------------------


def test_pages_of_one_row_each_hold_a_row_and_end(ledger: DynamoDBLedger) -> None:
    for n in range(3):
        lt.pushed(ledger, f"item#one/{n}", 1, 10, pushed_at_ms=1_000 + n)
    pages: list[list[str]] = []
    token: object | None = None
    for _ in range(10):  # bounded: a page that takes nothing would be followed by itself forever
        page = ledger.rows_with_status(Status.ACCEPTED, limit=1, token=token)
        pages.append(keys(page.rows))
        token = page.next_token
        if token is None:
            break
    # A page holds at least one row, however small the limit: the validator always makes progress.
    assert pages == [["item#one/0"], ["item#one/1"], ["item#one/2"]]


def split_acceptances(ledger: DynamoDBLedger) -> None:
    """Two claims of one batch (one part) accepted apart, at 1,000 and 3,000, and another batch's
    push at 2,000 in between: the first part's time in the index is its first push, 1,000."""
    early, late = claim("item#split/early"), claim("item#split/late")
    assert ledger.claim_many([early, late]) == [ClaimResult.CLAIMED] * 2
    ledger.record_accepted([lt.accepted(early, 1_000)])
    middle = claim("item#split/middle")
    assert ledger.claim_many([middle]) == [ClaimResult.CLAIMED]
    ledger.record_accepted([lt.accepted(middle, 2_000)])
    ledger.record_accepted([lt.accepted(late, 3_000)])  # pushes split one by one: the same part


def test_rows_of_a_page_come_oldest_push_first_across_parts_accepted_apart(
    ledger: DynamoDBLedger,
) -> None:
    split_acceptances(ledger)
    rows = ledger.rows_with_status(Status.ACCEPTED).rows
    # Not part by part: the late push of the first part comes after the other part's push.
    assert [(r.key, r.pushed_at_ms) for r in rows] == [
        ("item#split/early", 1_000),
        ("item#split/middle", 2_000),
        ("item#split/late", 3_000),
    ]


def test_a_push_after_the_cutoff_is_not_listed_though_its_part_began_before(
    ledger: DynamoDBLedger,
) -> None:
    split_acceptances(ledger)
    page = ledger.rows_with_status(Status.ACCEPTED, pushed_before_ms=2_500)
    # The part is in the index at 1,000, before the cutoff; its push at 3,000 is too recent to check.
    assert keys(page.rows) == ["item#split/early", "item#split/middle"]


# --- the page of failures -------------------------------------------------------------------------


def failures(ledger: DynamoDBLedger, count: int) -> list[str]:
    """`count` failed pushes, each in its own index shard, pushed in key order."""
    failed = [f"item#failed/{n}" for n in range(count)]
    assert len({_failed_queue(key) for key in failed}) == count
    for n, key in enumerate(failed):
        row = lt.pushed(ledger, key, 1, 10, pushed_at_ms=1_000 + n)
        assert ledger.mark(row, Status.FAILED, reason="REJECTED", now_ms=5_000)
    ledger.flush()
    return failed


def failed_pages(ledger: DynamoDBLedger, limit: int) -> tuple[list[list[str]], object | None]:
    """The failures page by page (at most 10 pages), and the last page's token."""
    pages: list[list[str]] = []
    token: object | None = None
    for _ in range(10):  # bounded: a page whose token does not move on would come back forever
        page = ledger.rows_with_status(Status.FAILED, limit=limit, token=token)
        pages.append(keys(page.rows))
        token = page.next_token
        if token is None:
            break
    return pages, token


def test_failures_listed_page_by_page_come_each_once_and_the_last_page_ends_the_listing(
    ledger: DynamoDBLedger,
) -> None:
    failed = failures(ledger, 5)
    pages, token = failed_pages(ledger, limit=2)
    assert pages == [failed[0:2], failed[2:4], failed[4:5]]
    assert token is None


def test_exactly_a_page_of_failures_takes_one_page_with_no_token(ledger: DynamoDBLedger) -> None:
    failed = failures(ledger, 2)
    # `coveo-push failures` would otherwise ask for a page more, and show an empty one.
    assert failed_pages(ledger, limit=2) == ([failed], None)


# --- the merge of the index's shards, on a fake index -----------------------------------------------


class FakeIndex:
    """The `pending` index as DynamoDB answers a Query of it: per queue value, entries in push time
    order from after ExclusiveStartKey, at most Limit, with LastEvaluatedKey when it stopped at Limit
    with more left. Entries are given as push times per shard of the pending queues."""

    def __init__(self, shards: dict[int, list[int]]) -> None:
        self._entries = {
            _pending_shard_queue(shard): [
                {
                    "pk": {"S": f"acc#{shard:02d}/{at}"},
                    "queue": {"S": _pending_shard_queue(shard)},
                    "at": {"N": str(at)},
                }
                for at in sorted(times)
            ]
            for shard, times in shards.items()
        }
        self.limits: list[int] = []

    def query(self, **request: Any) -> dict[str, Any]:
        assert request["IndexName"] == PENDING_INDEX
        assert request["ScanIndexForward"] is True
        values = request["ExpressionAttributeValues"]
        entries = list(self._entries.get(values[":q"]["S"], []))
        if ":before" in values:
            entries = [e for e in entries if int(e["at"]["N"]) <= int(values[":before"]["N"])]
        start = request.get("ExclusiveStartKey")
        if start is not None:
            after = (int(start["at"]["N"]), start["pk"]["S"])
            entries = [e for e in entries if (int(e["at"]["N"]), e["pk"]["S"]) > after]
        self.limits.append(request["Limit"])
        taken = entries[: request["Limit"]]
        response: dict[str, Any] = {"Items": taken, "Count": len(taken)}
        if len(entries) > len(taken):
            response["LastEvaluatedKey"] = {k: taken[-1][k] for k in ("pk", "queue", "at")}
        return response


def merged_times(ledger: DynamoDBLedger, limit: int, token: object | None = None) -> tuple[list[int], bool]:
    merged, _, more = ledger._merged(_pending_shard_queue, None, limit, token)
    return [at for at, _, _, _ in merged], more


def test_the_merge_goes_no_further_than_the_last_entry_of_a_shard_that_had_more() -> None:
    # Shard 0 holds more than a query returns (3 for a limit of 2); its unseen entries (10, 11)
    # may be older than entries of other shards, so nothing after its last returned one (3) is
    # handed out yet, not even shard 1's 4 and 5.
    index = FakeIndex({0: [1, 2, 3, 10, 11], 1: [4, 5]})
    ledger = DynamoDBLedger(index, "ledger")
    assert merged_times(ledger, limit=2) == ([1, 2, 3], True)
    # One entry more than the limit per shard: enough to tell a shard that has more.
    assert set(index.limits) == {3}


def test_the_merge_of_shards_none_of_which_has_more_takes_them_all_and_says_so() -> None:
    ledger = DynamoDBLedger(FakeIndex({0: [1, 7], 3: [2, 5], 15: [4]}), "ledger")
    assert merged_times(ledger, limit=2) == ([1, 2, 4, 5, 7], False)


def test_pages_of_the_merge_give_every_entry_once_in_push_time_order() -> None:
    """Paged the way the page of failures pages it: take `limit` entries, move each shard's cursor
    to its last taken entry, ask again from the token."""
    times = {0: [1, 2, 3, 10, 11], 1: [4, 5], 5: [6, 12], 9: [8]}
    ledger = DynamoDBLedger(FakeIndex(times), "ledger")
    seen: list[int] = []
    token: object | None = None
    for _ in range(20):
        merged, cursors, more = ledger._merged(_pending_shard_queue, None, 2, token)
        taken = merged[:2]
        for _, shard, _, item in taken:
            cursors[shard] = item
        seen += [at for at, _, _, _ in taken]
        token = _next_token(cursors, len(merged) > 2 or more)
        if token is None:
            break
    assert seen == sorted(at for shard in times.values() for at in shard)
