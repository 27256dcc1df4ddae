"""The bench's DynamoDB billing arithmetic (bench/capacity.py): sizes and units as AWS documents them."""

from __future__ import annotations

from typing import Any

import pytest

from bench.capacity import (
    Index,
    Meter,
    TableShape,
    bill_failed_write,
    bill_item_read,
    bill_query,
    bill_write,
    item_size,
    kind_of,
    number_size,
    storage,
    value_size,
)
from bench.cost import PRICES, metered_between, per_million

# A table keyed on pk with a GSI on (status, pushedAt) projecting ALL, as the ledger's was.
TABLE = TableShape.from_description(
    {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "byStatus",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "pushedAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
)
KEYS_ONLY = TableShape(keys=("pk",), indexes=(Index("byQueue", ("queue", "at"), projection="KEYS_ONLY"),))


def s(text: str) -> dict[str, str]:
    return {"S": text}


def n(number: int | str) -> dict[str, str]:
    return {"N": str(number)}


def padded(size: int, **attrs: Any) -> dict[str, Any]:
    """An item of exactly `size` bytes: `attrs` plus a string attribute `pad` filling the rest."""
    item = {"pk": s("item#doc-1"), **attrs}
    item["pad"] = s("")
    item["pad"] = s("x" * (size - item_size(item)))
    assert item_size(item) == size
    return item


def test_an_item_of_known_size() -> None:
    # names + values: pk (2 + 10), status (6 + 7), version (7 + 2), flag (4 + 1), data (4 + 3 raw bytes)
    item = {
        "pk": s("item#doc-1"),
        "status": s("CLAIMED"),
        "version": n(42),
        "flag": {"BOOL": True},
        "data": {"B": "AAEC"},  # base64 of 3 bytes: the raw length counts
    }
    assert item_size(item) == 12 + 13 + 9 + 5 + 7
    assert item_size({"é": s("ü")}) == 4  # UTF-8 bytes, names and values


def test_number_list_and_map_sizes() -> None:
    assert number_size("1778000000000") == 3  # trailing zeros trimmed: 4 digits, 2 bytes + 1
    assert number_size("-0012.50") == 3  # 125: 3 digits -> 2 bytes + 1
    assert number_size("0") == 1
    # 3 bytes of overhead, 1 per element, then the elements (a map's names count)
    assert value_size({"L": [s("ab"), n(7)]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"k": s("v")}}) == 3 + 1 + 1 + 1
    assert value_size({"SS": ["a", "bc"]}) == 3


def test_an_update_that_grows_the_item_across_1kb_bills_the_larger_image() -> None:
    before, after = padded(900), padded(1500)
    assert bill_write(TABLE, before, after).wru == 2
    assert bill_write(TABLE, after, before).wru == 2  # shrinking bills the larger (before) too
    assert bill_write(TABLE, None, padded(1024)).wru == 1
    assert bill_write(TABLE, None, padded(1025)).wru == 2
    assert bill_write(TABLE, padded(3000), None).wru == 3  # a delete: the deleted item's size
    assert bill_write(TABLE, None, None).wru == 1  # deleting nothing still costs a unit


def test_index_writes_follow_the_item_into_out_of_and_across_the_index() -> None:
    claimed = padded(300, status=s("CLAIMED"))  # no pushedAt: not in the sparse index
    accepted = padded(1500, status=s("ACCEPTED"), pushedAt=n(1778000000000))
    verified = {**accepted, "status": s("VERIFIED")}

    # claim of a new key: the table only
    assert bill_write(TABLE, None, claimed).index_wru == {}
    # enters the index: one put of the whole (ALL) entry
    assert bill_write(TABLE, claimed, accepted).index_wru == {"byStatus": 2}
    # an index key changes: a delete of the old entry and a put of the new one
    key_change = bill_write(TABLE, accepted, verified)
    assert key_change.wru == 2
    assert key_change.index_wru == {"byStatus": 2 + 2}
    # leaves the index (REMOVE pushedAt): one delete
    assert bill_write(TABLE, accepted, claimed).index_wru == {"byStatus": 2}
    # a projected non-key attribute changes: one write of the larger entry
    assert bill_write(TABLE, accepted, {**accepted, "checkedAt": n(5)}).index_wru == {"byStatus": 2}
    # nothing changes: no index write
    assert bill_write(TABLE, accepted, dict(accepted)).index_wru == {}


def test_a_keys_only_index_is_not_written_by_a_non_key_update() -> None:
    before = padded(2000, queue=s("failed#03"), at=n(1))
    after = {**before, "pad": s("y" * 50)}  # a non-key attribute only
    bill = bill_write(KEYS_ONLY, before, after)
    assert bill.wru == 2
    assert bill.index_wru == {}
    # its key changes: delete + put of keys-only entries (pk + queue + at: well under 1 KB each)
    moved = bill_write(KEYS_ONLY, before, {**before, "at": n(2)})
    assert moved.index_wru == {"byQueue": 2}
    entry = KEYS_ONLY.indexes[0].entry(before, KEYS_ONLY.keys)
    assert entry is not None and set(entry) == {"pk", "queue", "at"}


def test_an_include_projection_carries_only_its_attributes() -> None:
    index = Index("inc", ("status",), projection="INCLUDE", non_key=("subject",))
    item = {"pk": s("item#1"), "status": s("A"), "subject": s("x"), "other": s("y" * 2000)}
    assert index.entry(item, ("pk",)) == {"pk": s("item#1"), "status": s("A"), "subject": s("x")}
    table = TableShape(keys=("pk",), indexes=(index,))
    assert bill_write(table, item, {**item, "other": s("z")}).index_wru == {}
    assert bill_write(table, item, {**item, "subject": s("w")}).index_wru == {"inc": 1}


def test_a_failed_condition_still_bills_the_existing_item() -> None:
    bill = bill_failed_write(padded(2500, status=s("ACCEPTED"), pushedAt=n(1)))
    assert (bill.wru, bill.index_wru, bill.failed) == (3, {}, True)
    assert bill_failed_write(None).wru == 1  # nothing there: at least one unit
    assert bill_failed_write(padded(100), transactional=True).wru == 2


def test_reads_in_4kb_units_by_consistency() -> None:
    big = padded(9000)
    assert bill_item_read(big, consistent=True) == 3
    assert bill_item_read(big, consistent=False) == 1.5
    assert bill_item_read(big, consistent=True, transactional=True) == 6
    assert bill_item_read(None, consistent=True) == 1  # a missing item still costs a unit
    # Query/Scan: summed, then rounded once per request
    assert bill_query([1500, 1500, 1500], consistent=True) == 2
    assert bill_query([1500, 1500, 1500], consistent=False) == 1
    assert bill_query([], consistent=False) == 0.5


def test_transactional_writes_cost_twice() -> None:
    bill = bill_write(TABLE, None, padded(1500, status=s("A"), pushedAt=n(1)), transactional=True)
    assert bill.wru == 4
    assert bill.index_wru == {"byStatus": 4}


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        (s("item#file://a#b"), "item"),
        (s("identity#g"), "identity"),
        ("alias#x", "alias"),
        (s("plain"), "-"),
        (None, "-"),
    ],
)
def test_kind_is_the_partition_key_up_to_its_first_hash(key: Any, kind: str) -> None:
    assert kind_of(key) == kind


def test_storage_counts_the_overhead_and_only_indexed_items() -> None:
    rows = [
        padded(400, status=s("CLAIMED"), expiresAt=n(86400 * 31)),
        padded(600, status=s("ACCEPTED"), pushedAt=n(1), expiresAt=n(86400 * 31)),
    ]
    held = storage(TABLE, rows, ttl_attribute="expiresAt", now_s=86400)
    assert held["items"] == 2
    assert held["table_bytes"] == 400 + 600 + 2 * 100
    assert held["indexes"]["byStatus"] == {"global": True, "projection": "ALL", "items": 1, "bytes": 700}
    assert held["pitr_bytes"] == held["table_bytes"]  # GSIs are not in PITR's size
    assert held["ttl_days_mean"] == 30


def test_the_meter_keeps_totals_per_table_operation_and_kind() -> None:
    meter = Meter()
    meter.write("t", "UpdateItem", "item", bill_write(TABLE, None, padded(100)))
    meter.write("t", "UpdateItem", "item", bill_failed_write(padded(2000)))
    meter.read("t", "BatchGetItem", "item", rru=3.0, items=3, read_bytes=10)
    meter.s3("b", "PutObject", 5)
    snap = meter.snapshot()
    update, batch = sorted(snap["tables"]["t"]["operations"], key=lambda o: o["operation"], reverse=True)
    assert (update["requests"], update["wru"], update["failed_conditions"]) == (2, 3.0, 1)
    assert (batch["items"], batch["rru"]) == (3, 3.0)
    assert snap["buckets"]["b"]["operations"]["PutObject"] == {"requests": 1, "bytes": 5}
    meter.reset()
    assert meter.snapshot() == {"tables": {}, "buckets": {}}


# --- the validator's share (bench/cost.py): what was metered between two answers -------------------


def test_what_the_validator_consumed_is_the_meter_after_it_less_before_it() -> None:
    meter = Meter()
    meter.write("t", "UpdateItem", "item", bill_write(TABLE, None, padded(100, status=s("A"), pushedAt=n(1))))
    meter.s3("b", "PutObject", 500)
    before = meter.snapshot()
    # The validator: a query of the index, a verdict that moves the row in the index, a read of S3.
    meter.read("t", "Query", "item", rru=0.5, items=2, read_bytes=40, index="byStatus")
    after_image = padded(100, status=s("V"), pushedAt=n(1))
    meter.write(
        "t", "UpdateItem", "item", bill_write(TABLE, padded(100, status=s("A"), pushedAt=n(1)), after_image)
    )
    meter.s3("b", "GetObject", 500)
    metered = metered_between(before, meter.snapshot())

    (query, update) = sorted(metered["tables"]["t"]["operations"], key=lambda o: o["operation"])
    assert (query["operation"], query["index"], query["requests"], query["rru"]) == (
        "Query",
        "byStatus",
        1,
        0.5,
    )
    assert (update["requests"], update["wru"], update["index_wru"]) == (1, 1.0, {"byStatus": 2.0})
    assert metered["buckets"] == {"b": {"operations": {"GetObject": {"requests": 1, "bytes": 500}}}}
    assert metered_between(before, before) == {"tables": {}, "buckets": {}}


def test_the_validator_is_billed_apart_and_added_to_the_total() -> None:
    def table(operations: list[dict[str, Any]], items: int) -> dict[str, Any]:
        return {
            "operations": operations,
            "storage": {
                "items": items,
                "table_bytes": 200 * items,
                "indexes": {"byStatus": {"global": True, "projection": "ALL", "items": items, "bytes": 100}},
                "pitr": False,
                "pitr_bytes": 200 * items,
                "ttl_days_mean": None,
            },
        }

    def op(
        operation: str, requests: int, *, wru: float = 0.0, rru: float = 0.0, index: str | None = None
    ) -> dict[str, Any]:
        return {
            "operation": operation,
            "index": index,
            "kind": "item",
            "requests": requests,
            "items": requests,
            "wru": wru,
            "index_wru": {"byStatus": wru} if wru else {},
            "rru": rru,
            "failed_conditions": 0,
            "bytes_written": 0,
            "bytes_read": 0,
        }

    pushed = {"tables": {"t": table([op("UpdateItem", 10, wru=10.0)], 10)}, "buckets": {}}
    validated = {
        "tables": {
            "t": table([op("UpdateItem", 12, wru=12.0), op("Query", 1, rru=0.5, index="byStatus")], 10)
        },
        "buckets": {},
    }
    run = {
        "items": 10,
        "aws": {"sqsBilledRequests": 3},
        "send": {"sqsBilledRequests": 1},
        "handler_seconds": 1.0,
        "invocations": 1,
        "stdout_bytes": 0,
        "requests": 2,
        "resources": {"tables": {"LedgerTable": "t"}, "buckets": {}},
        "validator": {
            "capacity": validated,
            "function": {"memory_mb": 512},
            "handler_seconds": 0.5,
            "stdout_bytes": 0,
            "requests": 3,
            "requests_by_route": {},
            "invocations": 1,
            "verified": 10,
            "failed": 0,
            "repushed": 0,
            "pending": 0,
        },
    }
    billed = per_million(run, pushed, 1024)
    alone = per_million({k: v for k, v in run.items() if k != "validator"}, pushed, 1024)

    assert billed["total_without_validator"] == alone["total"]
    assert billed["units_per_change"]["validator"] == {
        "UpdateItem item": {"calls": 0.2, "wru": 0.2, "index_wru": 0.2},
        "Query byStatus item": {"calls": 0.1, "rru": 0.05},
    }
    assert billed["units_per_change"]["UpdateItem item"] == alone["units_per_change"]["UpdateItem item"]
    validator = billed["validator"]
    # 4 write units and 0.5 read units for 10 changes, per million; 0.5 s at 512 MB.
    assert billed["usd"]["validator_dynamodb_writes"] == round(
        4 / 10 * 1e6 * PRICES["dynamodb_on_demand_wru"], 4
    )
    assert billed["usd"]["validator_dynamodb_reads"] == round(
        0.5 / 10 * 1e6 * PRICES["dynamodb_on_demand_rru"], 4
    )
    assert billed["usd"]["validator_lambda_compute"] == round(
        0.5 * 0.5 / 10 * 1e6 * PRICES["lambda_arm64_gb_second"], 4
    )
    assert validator["storage_change_usd"] == 0
    assert validator["dynamodb_per_change"] == {
        "wru": 0.2,
        "index_wru": {"byStatus": 0.2},
        "rru": 0.05,
        "failed_conditions": 0.0,
    }
    assert billed["total"] == pytest.approx(alone["total"] + validator["usd"], abs=1e-3)
    assert billed["total"] == pytest.approx(sum(billed["usd"].values()), abs=1e-3)
