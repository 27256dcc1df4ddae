"""The ledger on DynamoDB: one row per key; the stale guard is a conditional update."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..domain.errors import LedgerRefused, PermanentError, describe_exception
from ..domain.events import Kind
from ..domain.ledger import Accepted, Claim, ClaimResult, Head, Page, Row, Status

# Index the validator reads: ACCEPTED rows by push time. CLAIMED rows have no pushedAt, so they
# stay out of it until Coveo accepts them.
STATUS_INDEX = "byStatus"
# Concurrent conditional writes per invocation (the boto3 client is thread-safe; its connection
# pool is sized to match in runtime.py).
LEDGER_CONCURRENCY = 16

_CLAIM_CONDITION = (
    "attribute_not_exists(pk) OR "
    "(version < :v AND orderingId < :o) OR "
    "(version = :v AND #status = :claimed AND orderingId < :o)"
)


class DynamoDBLedger:
    def __init__(self, client: Any, table_name: str, concurrency: int = LEDGER_CONCURRENCY) -> None:
        self._db = client
        self._table = table_name
        self._concurrency = concurrency
        self._executor: ThreadPoolExecutor | None = None

    def heads(self, keys: Sequence[str]) -> dict[str, Head]:
        heads: dict[str, Head] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):  # BatchGetItem takes at most 100 keys
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"pk": {"S": key}} for key in unique[start : start + 100]],
                    "ProjectionExpression": "pk, version, orderingId, #status, attempts",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    head = _head(item)
                    heads[head.key] = head
                request = response.get("UnprocessedKeys") or {}
        return heads

    def claim(self, claim: Claim) -> ClaimResult:
        try:
            self._db.update_item(**self._claim_update(claim))
        except self._db.exceptions.ConditionalCheckFailedException:
            head = self.heads([claim.key]).get(claim.key)
            if head is not None and head.supersedes(claim.version):
                return ClaimResult.STALE
            return ClaimResult.CONFLICT
        return ClaimResult.CLAIMED

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | PermanentError]:
        """Each claim is its own conditional update; they run concurrently (keys are distinct), so
        a batch of 100 changes waits for about 100 / concurrency round trips, not 100."""
        return list(self._pool().map(self._claim_or_refusal, claims))

    def _claim_or_refusal(self, claim: Claim) -> ClaimResult | PermanentError:
        try:
            return self.claim(claim)
        except self._db.exceptions.ClientError as error:
            # ValidationException: DynamoDB will not store this row (a key or value past its
            # limits); the change goes to the DLQ. Anything else is the table's, and raises.
            if error.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            return LedgerRefused(f"the ledger cannot record {claim.subject!r}: {describe_exception(error)}")

    def _claim_update(self, claim: Claim) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": claim.key}},
            "UpdateExpression": (
                "SET version = :v, orderingId = :o, #status = :claimed, eventId = :e, eventType = :t, "
                "subject = :s, attempts = :a REMOVE pushedAt"
            ),
            "ConditionExpression": _CLAIM_CONDITION,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":v": {"N": str(claim.version)},
                ":o": {"N": str(claim.ordering_id)},
                ":claimed": {"S": Status.CLAIMED.value},
                ":e": {"S": claim.event_id},
                ":t": {"S": claim.event_type},
                ":s": {"S": claim.subject},
                ":a": {"N": str(claim.attempts)},
            },
        }

    def record_accepted(self, accepted: Iterable[Accepted]) -> None:
        list(self._pool().map(self._accept, accepted))

    def _accept(self, record: Accepted) -> None:
        # A failed condition means superseded: a newer claim owns the row now.
        with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
            self._db.update_item(**self._accepted_update(record))

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="ledger")
        return self._executor

    def _accepted_update(self, record: Accepted) -> dict[str, Any]:
        values: dict[str, Any] = {
            ":v": {"N": str(record.version)},
            ":o": {"N": str(record.ordering_id)},
            ":accepted": {"S": Status.ACCEPTED.value},
            ":at": {"N": str(record.pushed_at_ms)},
            ":kind": {"S": record.kind},
            ":op": {"S": record.operation},
            ":ttl": {"N": str(record.expires_at)},
            ":a": {"N": str(record.attempts)},
        }
        sets = [
            "#status = :accepted",
            "pushedAt = :at",
            "kind = :kind",
            "operation = :op",
            "expiresAt = :ttl",
            "attempts = :a",
        ]
        removes = ["failureReason"]
        if record.file_id:
            sets.append("fileId = :f")
            values[":f"] = {"S": record.file_id}
        else:
            removes.append("fileId")
        if record.change is not None:
            sets.append("change = :c")
            values[":c"] = {"B": record.change}
        else:
            removes.append("change")
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": record.key}},
            "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            # Only the push that holds the row: a newer claim since then owns it.
            "ConditionExpression": "version = :v AND orderingId = :o",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
        }

    # --- what the validator and the operator tools need ---------------------------------------------

    def get(self, key: str) -> Row | None:
        item = self._db.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get(
            "Item"
        )
        return _row(item) if item and "pushedAt" in item else None

    def rows_with_status(
        self,
        status: Status,
        *,
        pushed_before_ms: int | None = None,
        limit: int = 500,
        token: object | None = None,
    ) -> Page:
        condition = "#status = :s"
        values: dict[str, Any] = {":s": {"S": status.value}}
        if pushed_before_ms is not None:
            condition += " AND pushedAt <= :before"
            values[":before"] = {"N": str(pushed_before_ms)}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
            "Limit": limit,
            "ScanIndexForward": True,  # oldest first
        }
        if token is not None:
            request["ExclusiveStartKey"] = token
        response = self._db.query(**request)
        return Page([_row(item) for item in response.get("Items", [])], response.get("LastEvaluatedKey"))

    def mark(self, row: Row, status: Status, *, reason: str | None, now_ms: int) -> bool:
        values: dict[str, Any] = {
            ":s": {"S": status.value},
            ":v": {"N": str(row.version)},
            ":o": {"N": str(row.ordering_id)},
            ":accepted": {"S": Status.ACCEPTED.value},
            ":now": {"N": str(now_ms)},
        }
        update = "SET #status = :s, checkedAt = :now"
        if reason:
            update += ", failureReason = :r"
            values[":r"] = {"S": reason[:2000]}
        return self._conditional_update(
            row.key, update, "version = :v AND orderingId = :o AND #status = :accepted", values
        )

    def reopen(self, row: Row, *, reason: str, now_ms: int) -> bool:
        values: dict[str, Any] = {
            ":claimed": {"S": Status.CLAIMED.value},
            ":v": {"N": str(row.version)},
            ":o": {"N": str(row.ordering_id)},
            ":accepted": {"S": Status.ACCEPTED.value},
            ":failed": {"S": Status.FAILED.value},
            ":r": {"S": reason[:2000]},
            ":now": {"N": str(now_ms)},
            ":one": {"N": "1"},
            ":zero": {"N": "0"},
        }
        return self._conditional_update(
            row.key,
            "SET #status = :claimed, failureReason = :r, checkedAt = :now, "
            "repushes = if_not_exists(repushes, :zero) + :one REMOVE pushedAt",
            "version = :v AND orderingId = :o AND (#status = :accepted OR #status = :failed)",
            values,
        )

    def settle(self, row: Row, status: Status, *, reason: str, now_ms: int) -> bool:
        # The failed re-push's claim removed pushedAt; put the original back so the row is indexed.
        return self._conditional_update(
            row.key,
            "SET #status = :s, failureReason = :r, checkedAt = :now, pushedAt = :p",
            "version = :v AND #status = :claimed",
            {
                ":s": {"S": status.value},
                ":r": {"S": reason[:2000]},
                ":now": {"N": str(now_ms)},
                ":p": {"N": str(row.pushed_at_ms)},
                ":v": {"N": str(row.version)},
                ":claimed": {"S": Status.CLAIMED.value},
            },
        )

    def _conditional_update(self, key: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _row(item: dict[str, Any]) -> Row:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    def number(name: str, default: int = 0) -> int:
        return int(item[name]["N"]) if name in item else default

    checked = item.get("checkedAt")
    return Row(
        key=item["pk"]["S"],
        version=number("version"),
        ordering_id=number("orderingId"),
        status=Status(item["status"]["S"]),
        kind=Kind(item["kind"]["S"]),  # written with pushedAt, which every row read here has
        operation=text("operation") or "",
        subject=text("subject") or "",
        event_id=text("eventId") or "",
        pushed_at_ms=number("pushedAt"),
        file_id=text("fileId"),
        attempts=number("attempts"),
        change=bytes(item["change"]["B"]) if "change" in item else None,
        repushes=number("repushes"),
        failure_reason=text("failureReason"),
        checked_at_ms=int(checked["N"]) if checked else None,
    )


def _head(item: dict[str, Any]) -> Head:
    return Head(
        key=item["pk"]["S"],
        version=int(item["version"]["N"]),
        ordering_id=int(item["orderingId"]["N"]),
        status=Status(item["status"]["S"]),
        attempts=int(item.get("attempts", {}).get("N", "0")),
    )
