"""The ledger on DynamoDB: one row per key; the stale guard is a conditional update."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ..ledger import Accepted, Claim, ClaimResult, Head, Page, Row, Status

# Index the validator reads: ACCEPTED rows by push time. CLAIMED rows have no pushedAt, so they
# stay out of it until Coveo accepts them.
STATUS_INDEX = "byStatus"
# DynamoDB transactions: at most 100 actions and 4 MB; stored changes can be 300 KB each.
TRANSACTION_MAX_ACTIONS = 100
TRANSACTION_MAX_BYTES = 3_500_000
TRANSACTION_ATTEMPTS = 5

_CLAIM_CONDITION = (
    "attribute_not_exists(pk) OR "
    "(version < :v AND orderingId < :o) OR "
    "(version = :v AND #status = :claimed AND orderingId < :o)"
)


class DynamoDBLedger:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

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
        return self.claim_many([claim])[0]

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult]:
        """Each claim is its own conditional update, written in transactions of up to 100 keys: one
        round trip per 100 changes instead of one per change. A key whose condition failed is read
        back to tell a stale change from a lost race on the orderingId."""
        refused = self._transact([(claim.key, self._claim_update(claim)) for claim in claims])
        heads = self.heads(sorted(refused)) if refused else {}
        results = []
        for claim in claims:
            if claim.key not in refused:
                results.append(ClaimResult.CLAIMED)
            elif (head := heads.get(claim.key)) is not None and head.supersedes(claim.version):
                results.append(ClaimResult.STALE)
            else:
                results.append(ClaimResult.CONFLICT)
        return results

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
        # A record whose condition fails was superseded by a newer claim, which owns the row now.
        self._transact([(record.key, self._accepted_update(record)) for record in accepted])

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

    def _transact(self, updates: Sequence[tuple[str, dict[str, Any]]]) -> set[str]:
        """Run the updates (distinct keys) in transactions; the keys whose condition failed.

        A transaction is all or nothing, so a refused condition cancels its neighbours: they are
        sent again without the refused ones. Conflicts and throttling are retried with backoff.
        """
        refused: set[str] = set()
        for chunk in _transaction_chunks(updates):
            pending = chunk
            for attempt in range(TRANSACTION_ATTEMPTS):
                if not pending:
                    break
                try:
                    self._db.transact_write_items(TransactItems=[{"Update": update} for _, update in pending])
                    break
                except self._db.exceptions.TransactionCanceledException as exc:
                    reasons = exc.response.get("CancellationReasons") or []
                    if len(reasons) != len(pending):
                        raise
                    codes = [str(reason.get("Code")) for reason in reasons]
                    refused.update(
                        key
                        for (key, _), code in zip(pending, codes, strict=True)
                        if code == "ConditionalCheckFailed"
                    )
                    pending = [
                        entry
                        for entry, code in zip(pending, codes, strict=True)
                        if code != "ConditionalCheckFailed"
                    ]
                    if any(code not in ("None", "ConditionalCheckFailed") for code in codes):
                        time.sleep(min(1.0, 0.05 * 2**attempt) * random.random())  # conflict or throttling
            else:
                if pending:
                    raise RuntimeError(
                        f"ledger transaction still conflicting after {TRANSACTION_ATTEMPTS} attempts"
                    )
        return refused

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


def _transaction_chunks(
    updates: Sequence[tuple[str, dict[str, Any]]],
) -> Iterable[list[tuple[str, dict[str, Any]]]]:
    chunk: list[tuple[str, dict[str, Any]]] = []
    size = 0
    for key, update in updates:
        values = update["ExpressionAttributeValues"].values()
        weight = 200 + sum(len(v.get("B", b"")) + len(v.get("S", "")) for v in values)
        if chunk and (len(chunk) == TRANSACTION_MAX_ACTIONS or size + weight > TRANSACTION_MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((key, update))
        size += weight
    if chunk:
        yield chunk


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
        kind=text("kind") or "",
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
