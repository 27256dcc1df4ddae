"""Full syncs' records in the ledger's table, and their members in its bucket.

- **record** `pk = sync#<syncId>`: scope, state, when it began (`startedAt`, the first of its events
  the connector saw), sync.started's own time, sync.completed's count, counts, the deletion's
  orderingId, the reason it ended. `queue = sync#running` or `sync#ended` and `at = startedAt` put
  it in the ledger's keys-only `pending` index, which lists the running ones for the validator and
  the latest ones for `coveo-push syncs` (a handful of items: no hot spot).
- **scope pointer** `pk = syncscope#<scope>`: the scope's latest started sync, changed with a
  condition so that two sync.started events racing cannot both win.
- **members** in S3, `syncs/<syncId>/<uuid>.json.gz`: per settled batch, what became of each of its
  changes of the sync (event id, key, outcome). A redelivered change comes again; the validator
  counts events, not objects. One PUT per batch, where a row per change would cost a write each.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..domain.events import SCOPE_NAMES, SCOPES, Kind, sync_key
from ..domain.sync import Member, SyncRecord, SyncState

PREFIX = "syncs/"
PENDING_INDEX = "pending"
RUNNING, ENDED = "sync#running", "sync#ended"
_NAMES = {"#state": "state", "#queue": "queue", "#at": "at"}
REASON_LIMIT = 2_000  # characters of the reason a sync ended with that its record keeps


class DynamoDBSyncs:
    def __init__(self, client: Any, table_name: str, s3: Any, bucket: str, *, ttl_days: int = 30) -> None:
        self._db = client
        self._table = table_name
        self._s3 = s3
        self._bucket = bucket
        self._ttl_s = ttl_days * 24 * 3600

    # --- records ------------------------------------------------------------------------------------

    def get(self, sync_ids: Sequence[str]) -> dict[str, SyncRecord]:
        ids = list(dict.fromkeys(sync_ids))
        found: dict[str, SyncRecord] = {}
        for start in range(0, len(ids), 100):
            request = {
                self._table: {
                    "Keys": [{"pk": {"S": sync_key(i)}} for i in ids[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    record = _record(item)
                    found[record.sync_id] = record
                request = response.get("UnprocessedKeys") or {}
        return found

    def open(self, sync_id: str, scope: Kind, now_ms: int) -> SyncRecord:
        values = {
            ":scope": {"S": SCOPE_NAMES[scope]},
            ":running": {"S": SyncState.RUNNING.value},
            ":now": {"N": str(now_ms)},
            ":zero": {"N": "0"},
            ":queue": {"S": RUNNING},
            ":ttl": {"N": str(now_ms // 1000 + self._ttl_s)},
            ":id": {"S": sync_id},
        }
        response = self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": sync_key(sync_id)}},
            UpdateExpression=(
                "SET syncId = if_not_exists(syncId, :id), #scope = if_not_exists(#scope, :scope), "
                "#state = if_not_exists(#state, :running), startedAt = if_not_exists(startedAt, :now), "
                "progressAt = if_not_exists(progressAt, :now), settled = if_not_exists(settled, :zero), "
                "#queue = if_not_exists(#queue, :queue), #at = if_not_exists(#at, :now), "
                "expiresAt = if_not_exists(expiresAt, :ttl)"
            ),
            ExpressionAttributeNames={**_NAMES, "#scope": "scope"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return _record(response["Attributes"])

    def announce(self, sync_id: str, *, event_ms: int | None, now_ms: int) -> None:
        sets = "announced = :true, progressAt = :now"
        values: dict[str, Any] = {":true": {"BOOL": True}, ":now": {"N": str(now_ms)}}
        if event_ms is not None:
            sets += ", startedEventAt = if_not_exists(startedEventAt, :e)"
            values[":e"] = {"N": str(event_ms)}
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": sync_key(sync_id)}},
            UpdateExpression=f"SET {sets}",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values,
        )

    def current(self, scope: Kind) -> str | None:
        item = self._db.get_item(
            TableName=self._table, Key={"pk": {"S": _pointer(scope)}}, ConsistentRead=True
        ).get("Item")
        return item["syncId"]["S"] if item else None

    def make_current(self, scope: Kind, sync_id: str, *, replacing: str | None) -> bool:
        condition = "attribute_not_exists(pk)" if replacing is None else "syncId = :replacing"
        values = {} if replacing is None else {":replacing": {"S": replacing}}
        try:
            self._db.put_item(
                TableName=self._table,
                Item={"pk": {"S": _pointer(scope)}, "syncId": {"S": sync_id}},
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def expect(self, sync_id: str, count: int, *, allow_mass_delete: bool, now_ms: int) -> int:
        response = self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": sync_key(sync_id)}},
            UpdateExpression=(
                "SET expected = if_not_exists(expected, :c), "
                "allowMassDelete = if_not_exists(allowMassDelete, :a), "
                "completedAt = if_not_exists(completedAt, :now), progressAt = :now"
            ),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                ":c": {"N": str(count)},
                ":a": {"BOOL": allow_mass_delete},
                ":now": {"N": str(now_ms)},
            },
            ReturnValues="ALL_NEW",
        )
        return int(response["Attributes"]["expected"]["N"])

    def record_members(self, sync_id: str, members: Sequence[Member], *, now_ms: int) -> None:
        if not members:
            return
        body = gzip.compress(
            json.dumps([m.to_json() for m in members], separators=(",", ":")).encode(), compresslevel=6
        )
        key = f"{PREFIX}{sync_id}/{uuid.uuid4().hex}.json.gz"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        settled = sum(1 for m in members if m.outcome.value != "dead_lettered")
        try:
            # Only a record `open` made: an unconditional ADD would create a half record (no scope, no
            # state) that `get` cannot read.
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": sync_key(sync_id)}},
                UpdateExpression="ADD settled :n SET progressAt = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":n": {"N": str(settled)}, ":now": {"N": str(now_ms)}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            self._s3.delete_object(Bucket=self._bucket, Key=key)  # no members of a sync never opened
            raise

    def members(self, sync_id: str) -> list[Member]:
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=f"{PREFIX}{sync_id}/"):
            keys += [entry["Key"] for entry in page.get("Contents", [])]

        def read(key: str) -> list[Member]:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            return [Member.from_json(value) for value in json.loads(gzip.decompress(body))]

        with ThreadPoolExecutor(max_workers=8) as pool:
            return [member for batch in pool.map(read, keys) for member in batch]

    def finish(
        self,
        sync_id: str,
        state: SyncState,
        *,
        reason: str | None,
        now_ms: int,
        settled: int | None = None,
        deleted: int | None = None,
        threshold: int | None = None,
    ) -> bool:
        sets = ["#state = :state", "finishedAt = :now", "#queue = :ended"]
        values: dict[str, Any] = {
            ":state": {"S": state.value},
            ":now": {"N": str(now_ms)},
            ":ended": {"S": ENDED},
            ":running": {"S": SyncState.RUNNING.value},
        }
        for name, value in (("settled", settled), ("deleted", deleted), ("threshold", threshold)):
            if value is not None:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = {"N": str(value)}
        if reason is not None:
            sets.append("reason = :reason")
            values[":reason"] = {"S": reason[:REASON_LIMIT]}
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": sync_key(sync_id)}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#state = :running",
                ExpressionAttributeNames={"#state": "state", "#queue": "queue"},
                ExpressionAttributeValues=values,
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def plan_deletion(self, sync_id: str, *, threshold: int, deleted: int) -> tuple[int, int]:
        response = self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": sync_key(sync_id)}},
            UpdateExpression="SET threshold = if_not_exists(threshold, :t), deleted = if_not_exists(deleted, :d)",
            ConditionExpression="#state = :running",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":t": {"N": str(threshold)},
                ":d": {"N": str(deleted)},
                ":running": {"S": SyncState.RUNNING.value},
            },
            ReturnValues="ALL_NEW",
        )
        stored = response["Attributes"]
        return int(stored["threshold"]["N"]), int(stored["deleted"]["N"])

    def doom(self, sync_id: str, reason: str, *, now_ms: int) -> None:
        # A sync that has ended (or was never opened) has nothing left to stop.
        with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": sync_key(sync_id)}},
                UpdateExpression="SET doomed = if_not_exists(doomed, :reason), progressAt = :now",
                ConditionExpression="#state = :running",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":reason": {"S": reason[:REASON_LIMIT]},
                    ":now": {"N": str(now_ms)},
                    ":running": {"S": SyncState.RUNNING.value},
                },
            )

    def count_settled(self, sync_id: str, settled: int) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": sync_key(sync_id)}},
            UpdateExpression="SET settled = :n",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":n": {"N": str(settled)}},
        )

    # --- lists --------------------------------------------------------------------------------------

    def running(self) -> list[SyncRecord]:
        # The index is eventually consistent, the records are read consistently: a sync the index
        # still lists as running may have ended (and must not be judged, nor deleted for, again).
        return [r for r in self._listed(RUNNING, limit=None) if r.state is SyncState.RUNNING]

    def recent(self, limit: int = 100) -> list[SyncRecord]:
        # A sync that ends between the two reads (or that the index lags on) is listed by both.
        records = {r.sync_id: r for r in self._listed(RUNNING, limit=None) + self._listed(ENDED, limit=limit)}
        return sorted(records.values(), key=lambda r: r.started_ms, reverse=True)[:limit]

    def _listed(self, queue: str, *, limit: int | None) -> list[SyncRecord]:
        ids: list[str] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": PENDING_INDEX,
            "KeyConditionExpression": "#queue = :q",
            "ExpressionAttributeNames": {"#queue": "queue"},
            "ExpressionAttributeValues": {":q": {"S": queue}},
            "ScanIndexForward": False,
        }
        while limit is None or len(ids) < limit:
            response = self._db.query(**query)
            ids += [item["pk"]["S"].removeprefix("sync#") for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        records = self.get(ids[:limit] if limit is not None else ids)
        return [records[i] for i in ids if i in records]


def _pointer(scope: Kind) -> str:
    return f"syncscope#{SCOPE_NAMES[scope]}"


def _number(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value is not None else None


def _record(item: dict[str, Any]) -> SyncRecord:
    return SyncRecord(
        sync_id=item["syncId"]["S"],
        scope=SCOPES[item["scope"]["S"]],
        state=SyncState(item["state"]["S"]),
        started_ms=int(item["startedAt"]["N"]),
        progress_ms=int(item["progressAt"]["N"]),
        announced=item.get("announced", {}).get("BOOL", False),
        started_event_ms=_number(item, "startedEventAt"),
        expected=_number(item, "expected"),
        allow_mass_delete=item.get("allowMassDelete", {}).get("BOOL", False),
        completed_ms=_number(item, "completedAt"),
        settled=_number(item, "settled") or 0,
        deleted=_number(item, "deleted"),
        reason=item.get("reason", {}).get("S"),
        threshold=_number(item, "threshold"),
        finished_ms=_number(item, "finishedAt"),
        doomed=item.get("doomed", {}).get("S"),
    )
