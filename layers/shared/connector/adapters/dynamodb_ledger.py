"""The ledger on DynamoDB: one row per key; the stale guard is a conditional update."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..ledger import Accepted, Claim, ClaimResult, Head, Status

# Index the validator reads: ACCEPTED rows by push time. CLAIMED rows have no pushedAt, so they
# stay out of it until Coveo accepts them.
STATUS_INDEX = "byStatus"

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
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": claim.key}},
                UpdateExpression=(
                    "SET version = :v, orderingId = :o, #status = :claimed, eventId = :e, eventType = :t, "
                    "subject = :s, attempts = :a REMOVE pushedAt"
                ),
                ConditionExpression=_CLAIM_CONDITION,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":v": {"N": str(claim.version)},
                    ":o": {"N": str(claim.ordering_id)},
                    ":claimed": {"S": Status.CLAIMED.value},
                    ":e": {"S": claim.event_id},
                    ":t": {"S": claim.event_type},
                    ":s": {"S": claim.subject},
                    ":a": {"N": str(claim.attempts)},
                },
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            head = self.heads([claim.key]).get(claim.key)
            if head is not None and head.supersedes(claim.version):
                return ClaimResult.STALE
            return ClaimResult.CONFLICT
        return ClaimResult.CLAIMED

    def record_accepted(self, accepted: Iterable[Accepted]) -> None:
        for record in accepted:
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
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": record.key}},
                    UpdateExpression=f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
                    # Only the push that holds the row: a newer claim since then owns it.
                    ConditionExpression="version = :v AND orderingId = :o",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=values,
                )
            except self._db.exceptions.ConditionalCheckFailedException:
                continue


def _head(item: dict[str, Any]) -> Head:
    return Head(
        key=item["pk"]["S"],
        version=int(item["version"]["N"]),
        ordering_id=int(item["orderingId"]["N"]),
        status=Status(item["status"]["S"]),
        attempts=int(item.get("attempts", {}).get("N", "0")),
    )
