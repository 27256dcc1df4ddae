"""The DynamoDB ledger's layout under a batch of 10,000 changes to distinct keys, as the pipeline
writes it: one conditional write per change, and the pending work spread over the index's
partition key values, none holding more than its share (a hot index partition throttles the table).

The DynamoDB client records what it is asked to write (moto would take minutes for 10,000 claims;
tests/pipeline/test_dynamodb_ledger.py reads a smaller batch back through moto's real index)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from connector.adapters.dynamodb_ledger import DynamoDBLedger
from connector.domain.pipeline import Disposition, Message
from tests import worked_example as wx

from .conftest import make_pipeline

COUNT = 10_000
# No index partition key value may hold more than this share of the pending rows.
MAX_SHARE = 0.10


class RecordingDynamoDB:
    """Answers like an empty table and keeps every write."""

    class exceptions:
        ClientError = ClientError

        class ConditionalCheckFailedException(Exception):
            pass

        class TransactionConflictException(Exception):
            pass

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.transactions: list[list[dict[str, Any]]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        return {"Responses": {}}

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.updates.append(request)
        return {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        self.transactions.append([action["Update"] for action in TransactItems])
        self.updates.extend(action["Update"] for action in TransactItems)
        return {}


class KeptEntries:
    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {}

    def put(self, batch: str, entries: list[dict[str, Any]]) -> str:
        name = f"ledger/{batch}/{len(self.objects)}"
        self.objects[name] = entries
        return name

    def get(self, name: str) -> list[dict[str, Any]]:
        return self.objects.get(name, [])


def body(n: int) -> str:
    data = {
        "documentId": f"file://layout/{n}.txt",
        "version": 1,
        "document": {"data": f"doc {n}", "permissions": wx.item_wire()["permissions"]},
    }
    return json.dumps(
        {"specversion": "1.0", "id": f"e-{n}", "source": "t", "type": "item.upserted", "data": data}
    )


def test_ten_thousand_changes_cost_one_conditional_write_each_and_spread_their_pending_work() -> None:
    db, entries = RecordingDynamoDB(), KeptEntries()
    pipeline = make_pipeline("item")
    pipeline.ledger = DynamoDBLedger(db, "ledger", entries=entries)
    report = pipeline.process([Message(f"m{n}", body(n)) for n in range(COUNT)], lambda: 600.0)
    assert report.count(Disposition.PUSHED) == COUNT

    heads = [u for u in db.updates if not u["Key"]["pk"]["S"].startswith("acc#")]
    parts = [u for u in db.updates if u["Key"]["pk"]["S"].startswith("acc#")]
    # One conditional write per change, on its own head, 100 to a transaction; no head joins the index.
    assert Counter(u["Key"]["pk"]["S"] for u in heads) == {
        f"item#file://layout/{n}.txt": 1 for n in range(COUNT)
    }
    assert [len(t) for t in db.transactions] == [100] * (COUNT // 100)
    assert all("ConditionExpression" in u for u in heads)
    assert all(":q" not in u["ExpressionAttributeValues"] for u in heads)
    # Acceptance: one object and 16 small part updates for the whole batch, on 16 index values
    # (docs/decisions.md, "The ledger at scale").
    assert len(entries.objects) == 1 and len(parts) == 16

    pending: Counter[str] = Counter()
    for update in parts:
        values = update["ExpressionAttributeValues"]
        pending[values[":q"]["S"]] += len(values[":slots"]["NS"])
    assert sum(pending.values()) == COUNT
    assert len(pending) == 16
    share = max(pending.values()) / COUNT
    assert share <= MAX_SHARE, pending


@pytest.mark.parametrize(("count", "parts"), [(1, 1), (6, 1), (32, 1), (33, 2), (100, 4), (600, 16)])
def test_a_batch_takes_a_part_per_32_changes_up_to_parts(count: int, parts: int) -> None:
    """Each part is a write and an index entry: six 1 MB items share one, a big batch spreads."""
    db = RecordingDynamoDB()
    pipeline = make_pipeline("item")
    pipeline.ledger = DynamoDBLedger(db, "ledger", entries=KeptEntries())
    pipeline.process([Message(f"m{n}", body(n)) for n in range(count)], lambda: 600.0)
    written = [u for u in db.updates if u["Key"]["pk"]["S"].startswith("acc#")]
    assert len(written) == parts
    assert len({u["ExpressionAttributeValues"][":q"]["S"] for u in written}) == parts  # on distinct shards
