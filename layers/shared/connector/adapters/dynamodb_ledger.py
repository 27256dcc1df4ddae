"""The ledger on DynamoDB (and S3), laid out so that a change costs one small conditional write
(its claim: by default one action of a transaction of up to 100 claims, `claims_per_transaction`).

Items of the table (one partition key, `pk`):

- **head** `pk = <key>` (`item#…`, `identity#…`, `alias#…`): the stale guard. version, orderingId,
  status (CLAIMED or FAILED), attempts, the event id, and `batch`/`slot`: which claim holds it.
  Written once per change, by the claim; the validator writes it only for a failure or a re-push
  (`repushes`, the count of `repushedVersion`'s re-pushes).
- **acceptance part** `pk = acc#<batch>#<part>`: of one claim batch, the slots Coveo accepted
  (`accepted`), those the validator settled (`done`) and verified (`verified`), and the S3 objects
  with their entries. A batch's slots are dealt over up to PARTS parts (one per 32 slots), so a
  batch of 10,000 changes is 16 small items and one of 6 is one. While a part has unsettled slots
  it carries `queue = pending#<shard>` and `at` (its first push time): the sparse, keys-only index
  `pending` lists the work, spread over PARTS partition key values (each container deals its
  batches' parts round the shards), oldest first in each.
- **entries** in S3 (`S3LedgerEntries`): per accepted change its subject, event id, operation,
  event time, push time, file ids and stored change, one object per acceptance.

A head whose slot its part accepted is ACCEPTED, VERIFIED once verified. A FAILED head carries its
reason and `queue = failed#<shard>`, which `coveo-push failures` reads. Every count and the reasons
are in docs/decisions.md (2026-12-01, "The ledger at scale").
"""

from __future__ import annotations

import base64
import heapq
import random
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..domain.errors import LedgerRefused, PermanentError, describe_exception
from ..domain.events import Kind
from ..domain.ledger import Accepted, Claim, ClaimResult, Head, Page, Row, Status
from ..ports import LedgerEntries

PENDING_INDEX = "pending"
# Items of the table that are not a key's head: acceptance parts, and full syncs' records
# (`dynamodb_syncs`); a head's key is `item#…`, `identity#…` or `alias#…`.
NOT_HEADS = ("acc#", "sync#", "syncscope#")
# Index partition key values the pending work (and the failures) are spread over: a batch of any
# size writes at most PARTS part items, one per value, so no value takes more than its share.
PARTS = 16
# Slots per part before a batch takes another part: each part costs a write and an index entry, so
# a small batch (six 1 MB items) takes one; a batch of 512 or more takes all PARTS.
SLOTS_PER_PART = 32
# Claim batches whose parts and S3 objects a whole-ledger report reads at once: their objects (one
# per acceptance, rarely more) stay in the S3 entries' cache of 64 while their parts are read.
_BATCHES_PER_REPORT_READ = 16
# Concurrent requests per invocation (the boto3 client is thread-safe; its connection pool is sized
# to match in runtime.py).
LEDGER_CONCURRENCY = 16
# The ledger's DynamoDB client (botocore Config fields; runtime.py builds it, tests use the same):
# a connection per concurrent request (boto3's default pool holds 10), and no client-side parameter
# validation. That check was 45% of botocore's CPU for a transaction of 100 claims, and it checks
# only the shapes this module builds: an event's data reaches DynamoDB as strings and numbers that
# cannot be mistyped, and DynamoDB validates every request itself (docs/decisions.md).
CLIENT_OPTIONS: dict[str, int | bool] = {
    "max_pool_connections": LEDGER_CONCURRENCY,
    "parameter_validation": False,
}
# BatchGetItems in flight at once for one read of more than 100 keys (a batch's heads: 5 for 500).
READ_CONCURRENCY = 8
# Claims per TransactWriteItems (DynamoDB's limit is 100 actions).
TRANSACTION_CLAIMS = 100
# A write that meets a claim transaction in flight on its item is tried this many times in all.
CONFLICT_ATTEMPTS = 4
CONFLICT_BACKOFF_S = 0.02
# Claim batches whose slots this container remembers (record_accepted finds them without a read).
_REMEMBERED_BATCHES = 64
# DynamoDB's answers that say "not now", and S3's (a reopen may read a push's entries), once
# botocore's own retries gave up on them: a reopen that gets one is tried again at the validator's
# next run. Any other error is a fault to surface.
_NOT_NOW = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "InternalServerError",
        "ServiceUnavailable",
        "SlowDown",
        "InternalError",
    }
)

_CLAIM_CONDITION = (
    "attribute_not_exists(pk) OR "
    "(version < :v AND orderingId < :o) OR "
    "(version = :v AND #status = :claimed AND orderingId < :o)"
)
_NAMES = {"#status": "status", "#batch": "batch", "#queue": "queue", "#at": "at"}
_HEAD_ATTRIBUTES = "pk, version, orderingId, #status, attempts, #batch, slot"


@dataclass(frozen=True)
class _Slot:
    """Where one claim sits: its claim batch, its slot, and so its acceptance part. The batch id
    says how many parts the batch has and the shard of its first part: `<id>.<parts>.<shard>`."""

    batch: str
    slot: int

    @property
    def part(self) -> str:
        parts = int(self.batch.split(".")[1])
        return f"acc#{self.batch}#{self.slot % parts:02d}"


class DynamoDBLedger:
    def __init__(
        self,
        client: Any,
        table_name: str,
        concurrency: int = LEDGER_CONCURRENCY,
        *,
        entries: LedgerEntries | None = None,
        claims_per_transaction: int = TRANSACTION_CLAIMS,
    ) -> None:
        """`entries`: where accepted changes are kept (S3); without it the ledger can guard and
        claim but not record acceptances or read rows back (a read-only operator without a bucket
        gets a clear error). `claims_per_transaction`: 1 makes each claim its own conditional write
        (1 write unit); up to 100, claims go in transactions (2 units each, far less CPU)."""
        if not 1 <= claims_per_transaction <= TRANSACTION_CLAIMS:
            raise ValueError(
                f"claims_per_transaction must be 1 to {TRANSACTION_CLAIMS}, not {claims_per_transaction}"
            )
        self._claims_per_transaction = claims_per_transaction
        self._db = client
        self._table = table_name
        self._concurrency = concurrency
        self._entries = entries
        self._executor: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # (key, version, orderingId) → slot, for the claim batches this container made.
        self._claimed: OrderedDict[str, dict[tuple[str, int, int], _Slot]] = OrderedDict()
        # The shard this container gives its next batch's first part: dealt round, from a random
        # start so that containers do not all begin on the same one.
        self._next_shard = random.randrange(PARTS)
        # Validator marks waiting for `flush`: part → (done slots, verified slots, when checked).
        self._marks: dict[str, tuple[set[int], set[int], int]] = {}
        # Where the rows this ledger handed out sit (mark, reopen and settle need it).
        self._located: dict[tuple[str, int, int], _Slot] = {}

    # --- the stale guard ----------------------------------------------------------------------------

    def heads(self, keys: Sequence[str], versions: Mapping[str, int] | None = None) -> dict[str, Head]:
        """Strongly consistent heads. Whether a CLAIMED head's push was accepted takes one more read
        (its acceptance part); with `versions` (the version each key's change would push) it is
        read only where it matters, a head of the same version."""
        items = self._batch_get(list(dict.fromkeys(keys)), _HEAD_ATTRIBUTES, consistent=True)
        resolve = {
            key: _slot_of(item)
            for key, item in items.items()
            if item["status"]["S"] == Status.CLAIMED
            and "batch" in item
            and (versions is None or versions.get(key) == int(item["version"]["N"]))
        }
        parts = self._parts({slot.part for slot in resolve.values()}, consistent=True)
        heads = {}
        for key, item in items.items():
            status = Status(item["status"]["S"])
            if key in resolve:
                status = _derived(resolve[key], parts.get(resolve[key].part)) or Status.CLAIMED
            heads[key] = Head(
                key=key,
                version=int(item["version"]["N"]),
                ordering_id=int(item["orderingId"]["N"]),
                status=status,
                attempts=int(item.get("attempts", {}).get("N", "0")),
            )
        return heads

    def claim(self, claim: Claim) -> ClaimResult:
        return self._claim(claim, self._new_batch([claim])[claim.key, claim.version, claim.ordering_id])

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | PermanentError]:
        """One claim batch. Claims go in transactions of up to `claims_per_transaction` distinct keys, run
        concurrently: one request per 100 changes instead of 100 (a tenth of the client's CPU per
        change, the product's largest cost; DynamoDB bills a transactional write 2 units per KB
        instead of 1, see docs/decisions.md). A transaction is all or nothing: when DynamoDB cancels
        one (a condition failed: a newer version arrived since the heads were read; or an item it will
        not store), each of its claims is made alone, so each gets exactly the outcome it would have
        had alone. A lone claim is a plain conditional update."""
        slots = self._new_batch(claims)
        chunks = _transaction_chunks(claims, self._claims_per_transaction)
        results: dict[int, ClaimResult | PermanentError] = {}

        def run(chunk: list[int]) -> None:
            wanted = [claims[i] for i in chunk]
            if len(chunk) > 1 and self._claim_together(wanted, slots):
                results.update(dict.fromkeys(chunk, ClaimResult.CLAIMED))
                return
            for i in chunk:
                claim = claims[i]
                results[i] = self._claim_or_refusal(claim, slots[claim.key, claim.version, claim.ordering_id])

        list(self._pool().map(run, chunks))
        return [results[i] for i in range(len(claims))]

    def _claim_together(self, claims: Sequence[Claim], slots: Mapping[tuple[str, int, int], _Slot]) -> bool:
        """One transaction of these claims (distinct keys); False when DynamoDB cancelled or refused
        it as a whole, so that nothing of it was written."""
        first = slots[claims[0].key, claims[0].version, claims[0].ordering_id]
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {"Update": self._claim_update(c, slots[c.key, c.version, c.ordering_id])} for c in claims
                ],
                # Idempotent for 10 minutes: a retry of a transaction whose answer was lost succeeds
                # instead of failing its own conditions.
                ClientRequestToken=f"{first.batch}/{first.slot}"[:36],
            )
        except self._db.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("TransactionCanceledException", "ValidationException"):
                return False
            raise
        return True

    def _new_batch(self, claims: Sequence[Claim]) -> dict[tuple[str, int, int], _Slot]:
        parts = min(PARTS, max(1, -(-len(claims) // SLOTS_PER_PART)))
        with self._lock:
            shard, self._next_shard = self._next_shard, (self._next_shard + parts) % PARTS
        batch = f"{uuid.uuid4().hex[:16]}.{parts}.{shard}"
        slots = {(c.key, c.version, c.ordering_id): _Slot(batch, i) for i, c in enumerate(claims)}
        with self._lock:
            self._claimed[batch] = slots
            while len(self._claimed) > _REMEMBERED_BATCHES:
                self._claimed.popitem(last=False)
        return slots

    def _claim_or_refusal(self, claim: Claim, slot: _Slot) -> ClaimResult | PermanentError:
        try:
            return self._claim(claim, slot)
        except self._db.exceptions.ClientError as error:
            # ValidationException: DynamoDB will not store this row (a key or value past its
            # limits); the change goes to the DLQ. Anything else is the table's, and raises.
            if error.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            return LedgerRefused(f"the ledger cannot record {claim.subject!r}: {describe_exception(error)}")

    def _claim(self, claim: Claim, slot: _Slot) -> ClaimResult:
        try:
            self._retrying_conflicts(lambda: self._db.update_item(**self._claim_update(claim, slot)))
        except self._db.exceptions.ConditionalCheckFailedException:
            head = self.heads([claim.key], {claim.key: claim.version}).get(claim.key)
            if head is not None and head.supersedes(claim.version, claim.refresh_before):
                return ClaimResult.STALE
            return ClaimResult.CONFLICT
        except self._db.exceptions.TransactionConflictException:
            return ClaimResult.CONFLICT  # another invocation's transaction holds this key still
        return ClaimResult.CLAIMED

    def _claim_update(self, claim: Claim, slot: _Slot) -> dict[str, Any]:
        """The conditional update that claims a head: alone, or as one action of a transaction."""
        values = {
            ":v": {"N": str(claim.version)},
            ":o": {"N": str(claim.ordering_id)},
            ":claimed": {"S": Status.CLAIMED.value},
            ":e": {"S": claim.event_id},
            ":a": {"N": str(claim.attempts)},
            ":b": {"S": slot.batch},
            ":s": {"N": str(slot.slot)},
        }
        sets = "version = :v, orderingId = :o, #status = :claimed, eventId = :e, attempts = :a, #batch = :b, slot = :s"
        if claim.expires_at is not None:
            sets += ", expiresAt = :ttl"
            values[":ttl"] = {"N": str(claim.expires_at)}
        condition = _CLAIM_CONDITION
        if claim.refresh_before is not None:
            # A full sync's refresh: the same version, last pushed before the sync began.
            condition += " OR (version = :v AND orderingId < :t)"
            values[":t"] = {"N": str(min(claim.refresh_before, claim.ordering_id))}
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": claim.key}},
            # A newer claim leaves the failures index and forgets the last push's verdict.
            # (prevBatch/prevSlot stay: a re-push's claim must leave `settle` the push it replaces.)
            "UpdateExpression": f"SET {sets} REMOVE #queue, #at, failureReason",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": _NAMES,
            "ExpressionAttributeValues": values,
        }

    # --- acceptance: one S3 object and a few part updates per batch --------------------------------

    def record_accepted(self, accepted: Iterable[Accepted]) -> None:
        records = list(accepted)
        if not records:
            return
        located = self._slots_of(records)
        by_batch: dict[str, list[tuple[Accepted, _Slot]]] = {}
        for record in records:
            slot = located.get((record.key, record.version, record.ordering_id))
            if slot is not None:  # None: a newer claim owns the head now; nothing to record
                by_batch.setdefault(slot.batch, []).append((record, slot))
        for batch, entries in by_batch.items():
            obj = self._store().put(batch, [_entry(record, slot) for record, slot in entries])
            by_part: dict[str, list[tuple[Accepted, _Slot]]] = {}
            for record, slot in entries:
                by_part.setdefault(slot.part, []).append((record, slot))
            list(self._pool().map(self._accept_part, by_part, by_part.values(), [obj] * len(by_part)))

    def _accept_part(self, part: str, entries: list[tuple[Accepted, _Slot]], obj: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": part}},
            # if_not_exists: a second acceptance of the same batch (pushes split one by one) keeps
            # the part's first push time and its place in the index.
            UpdateExpression=(
                "ADD accepted :slots, objects :obj "
                "SET #queue = if_not_exists(#queue, :q), #at = if_not_exists(#at, :at), kind = :k, expiresAt = :ttl"
            ),
            ExpressionAttributeNames={"#queue": "queue", "#at": "at"},
            ExpressionAttributeValues={
                ":slots": {"NS": [str(slot.slot) for _, slot in entries]},
                ":obj": {"SS": [obj]},
                ":q": {"S": _pending_queue_of(part)},
                ":at": {"N": str(min(record.pushed_at_ms for record, _ in entries))},
                ":k": {"S": str(entries[0][0].kind)},
                ":ttl": {"N": str(max(record.expires_at for record, _ in entries))},
            },
        )

    def _slots_of(self, records: Sequence[Accepted]) -> dict[tuple[str, int, int], _Slot]:
        """Each record's claim slot: remembered from the claim, else read from its head (a claim made
        by another container, or forgotten), and only if the head still holds that claim."""
        found: dict[tuple[str, int, int], _Slot] = {}
        with self._lock:
            for record in records:
                ident = (record.key, record.version, record.ordering_id)
                for slots in reversed(self._claimed.values()):
                    if ident in slots:
                        found[ident] = slots[ident]
                        break
        missing = [r.key for r in records if (r.key, r.version, r.ordering_id) not in found]
        if missing:
            items = self._batch_get(list(dict.fromkeys(missing)), _HEAD_ATTRIBUTES, consistent=True)
            for record in records:
                item = items.get(record.key)
                ident = (record.key, record.version, record.ordering_id)
                if ident in found or item is None or "batch" not in item:
                    continue
                if (int(item["version"]["N"]), int(item["orderingId"]["N"])) == ident[1:]:
                    found[ident] = _slot_of(item)
        return found

    # --- what the validator and the operator tools need ---------------------------------------------

    def get(self, key: str) -> Row | None:
        """The row of the key's last push Coveo accepted; None when its claim is not accepted
        (not pushed yet, or being re-pushed)."""
        item = self._batch_get([key], _ROW_ATTRIBUTES, consistent=True).get(key)
        if item is None or "batch" not in item:
            return None
        slot = _slot_of(item)
        part = self._parts({slot.part}, consistent=True).get(slot.part)
        return self._rows([(item, slot)], {slot.part: part} if part else {}).get(key)

    def rows_with_status(
        self,
        status: Status,
        *,
        pushed_before_ms: int | None = None,
        limit: int = 500,
        token: object | None = None,
    ) -> Page:
        """Oldest first. ACCEPTED rows come from the pending parts (a page ends at a part, so it may
        hold a few more than `limit`); FAILED rows from the failed heads. Both are spread over PARTS
        index partitions, queried in parallel and merged by push time."""
        if status is Status.ACCEPTED:
            return self._pending_page(pushed_before_ms, limit, token)
        if status is Status.FAILED:
            return self._failed_page(pushed_before_ms, limit, token)
        raise ValueError(f"the ledger lists ACCEPTED and FAILED rows, not {status.value}")

    def mark(self, row: Row, status: Status, *, reason: str | None, now_ms: int) -> bool:
        """VERIFIED is recorded with the part's other verdicts at `flush` (one small write per part,
        not one per row); FAILED at once, on the head, which then lists it as a failure."""
        slot = self._locate(row)
        if slot is None:
            return False
        if status is Status.VERIFIED:
            self._settled(slot, verified=True, now_ms=now_ms)
            return True
        if not self._open(slot):  # verified or failed already: only an ACCEPTED push gets a verdict
            return False
        values: dict[str, Any] = {
            ":failed": {"S": Status.FAILED.value},
            ":v": {"N": str(row.version)},
            ":b": {"S": slot.batch},
            ":s": {"N": str(slot.slot)},
            ":claimed": {"S": Status.CLAIMED.value},
            ":now": {"N": str(now_ms)},
            ":q": {"S": _failed_queue(row.key)},
            ":at": {"N": str(row.pushed_at_ms)},
        }
        update = "SET #status = :failed, checkedAt = :now, #queue = :q, #at = :at"
        if reason:
            update += ", failureReason = :r"
            values[":r"] = {"S": reason[:2000]}
        marked = self._conditional_update(
            row.key,
            update,
            # The claim batch and slot name the push; the orderingId may have moved on (a re-push that
            # was not accepted leaves its higher orderingId on the head).
            "version = :v AND #batch = :b AND slot = :s AND #status = :claimed",
            values,
        )
        if marked:
            self._settled(slot, verified=False, now_ms=now_ms)
        return marked

    def flush(self) -> None:
        """Write the buffered verdicts: per part, the settled slots; a part with none left leaves
        the pending index. A crash before this loses only verdicts the next run gives again."""
        with self._lock:
            marks, self._marks = self._marks, {}
        list(self._pool().map(lambda item: self._settle_part(item[0], *item[1]), marks.items()))

    def _settle_part(self, part: str, done: set[int], verified: set[int], now_ms: int) -> None:
        values: dict[str, Any] = {":done": {"NS": [str(s) for s in sorted(done)]}}
        update = "ADD done :done"
        if verified:
            update += ", verified :verified"
            values[":verified"] = {"NS": [str(s) for s in sorted(verified)]}
        if now_ms:  # when the verdicts were given (a superseded push settles without one)
            update += " SET checkedAt = :now"
            values[":now"] = {"N": str(now_ms)}
        try:
            after = self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": part}},
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            ).get("Attributes", {})
        except self._db.exceptions.ConditionalCheckFailedException:
            return  # expired meanwhile: nothing left to settle
        if _numbers(after, "accepted") <= _numbers(after, "done"):
            self._leave_index(part, after)

    def _leave_index(self, part: str, item: dict[str, Any]) -> None:
        """Every slot settled: out of the index. Conditional, in case an acceptance of the same
        batch (pushes split one by one) added slots meanwhile."""
        accepted = len(_numbers(item, "accepted"))
        self._conditional_update(part, "REMOVE #queue", "size(accepted) = :n", {":n": {"N": str(accepted)}})

    def reopen(self, row: Row, *, reason: str, now_ms: int) -> bool:
        """ACCEPTED or FAILED → CLAIMED with no accepted push, so the same version may be claimed and
        pushed again; the push it had is kept aside (`settle` puts it back)."""
        slot = self._locate(row)
        if slot is None or (row.status is not Status.FAILED and not self._open(slot)):
            return False
        # The count is the version's (repushedVersion names it): a newer version starts at 0. The
        # head must still hold the count the row was read with, so two reopens cannot count once.
        counted = (
            "repushes = :was AND (attribute_not_exists(repushedVersion) OR repushedVersion = :v)"
            if row.repushes
            else "(attribute_not_exists(repushes) OR repushes = :was "
            "OR (attribute_exists(repushedVersion) AND repushedVersion <> :v))"
        )
        return self._conditional_update(
            row.key,
            "SET #status = :claimed, failureReason = :r, checkedAt = :now, "
            "repushes = :n, repushedVersion = :v, prevBatch = :b, prevSlot = :s "
            "REMOVE #batch, slot, #queue, #at",
            "version = :v AND #batch = :b AND slot = :s AND (#status = :claimed OR #status = :failed) "
            f"AND {counted}",
            {
                ":claimed": {"S": Status.CLAIMED.value},
                ":failed": {"S": Status.FAILED.value},
                ":v": {"N": str(row.version)},
                ":b": {"S": slot.batch},
                ":s": {"N": str(slot.slot)},
                ":r": {"S": reason[:2000]},
                ":now": {"N": str(now_ms)},
                ":was": {"N": str(row.repushes)},
                ":n": {"N": str(row.repushes + 1)},
            },
        )

    def reopen_many(self, rows: Sequence[tuple[Row, str]], *, now_ms: int) -> list[bool]:
        """`reopen` of each row, side by side on the ledger's threads (two calls each: its part,
        then its head); each reopen is one conditional write, so a row listed twice reopens once.

        A row whose reopen DynamoDB will not take now (throttled, unreachable) reads False: not
        reopened, it stays as the validator read it, for its next run. The others go on and are
        re-pushed; raising instead would leave the rows reopened beside it CLAIMED with no re-push
        coming. Any other error (a request DynamoDB refuses as malformed) is raised."""

        def reopen(pair: tuple[Row, str]) -> bool:
            try:
                return self.reopen(pair[0], reason=pair[1], now_ms=now_ms)
            except BotoCoreError:
                return False
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _NOT_NOW:
                    return False
                raise

        return list(self._pool().map(reopen, rows))

    def settle(self, row: Row, status: Status, *, reason: str, now_ms: int) -> bool:
        """A reopened row whose re-push was not accepted: its original push is its again, ACCEPTED
        (the validator reads it next run) or FAILED (listed as a failure)."""
        slot = self._locate(row)
        if slot is None:
            return False
        values: dict[str, Any] = {
            ":v": {"N": str(row.version)},
            ":claimed": {"S": Status.CLAIMED.value},
            ":b": {"S": slot.batch},
            ":s": {"N": str(slot.slot)},
            ":r": {"S": reason[:2000]},
            ":now": {"N": str(now_ms)},
        }
        update = "SET #batch = :b, slot = :s, failureReason = :r, checkedAt = :now"
        if status is Status.FAILED:
            update += ", #status = :failed, #queue = :q, #at = :at"
            values |= {
                ":failed": {"S": Status.FAILED.value},
                ":q": {"S": _failed_queue(row.key)},
                ":at": {"N": str(row.pushed_at_ms)},
            }
        # Its push kept aside by a reopen; or, for a claim Coveo never accepted, the claim itself
        # (an accepted push that holds the head has nothing to settle).
        kept_aside = "prevBatch = :b AND prevSlot = :s"
        part = self._parts({slot.part}, consistent=True).get(slot.part)
        which = (
            kept_aside
            if slot.slot in _numbers(part, "accepted")
            else f"(({kept_aside}) OR (#batch = :b AND slot = :s))"
        )
        settled = self._conditional_update(
            row.key,
            update + " REMOVE prevBatch, prevSlot",
            f"version = :v AND #status = :claimed AND {which}",
            values,
        )
        if settled and status is Status.FAILED:
            self._settled(slot, verified=False, now_ms=now_ms)
        elif settled and slot.slot in _numbers(part, "accepted"):
            self._reopen_slot(slot, row.pushed_at_ms)
        return settled

    def _reopen_slot(self, slot: _Slot, pushed_at_ms: int) -> None:
        """An accepted push given back by `settle` is the validator's again. While its re-push was
        in flight its head held no claim of it, so a reader may have settled its slot as superseded
        (buffered here, or flushed already): undo both, and put its part back in the index."""
        with self._lock:
            marked = self._marks.get(slot.part)
            if marked is not None:
                marked[0].discard(slot.slot)
                if not marked[0]:  # nothing else to settle there (an empty set is no DynamoDB value)
                    del self._marks[slot.part]
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": slot.part}},
                UpdateExpression="DELETE done :slot SET #queue = if_not_exists(#queue, :q), #at = if_not_exists(#at, :at)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#queue": "queue", "#at": "at"},
                ExpressionAttributeValues={
                    ":slot": {"NS": [str(slot.slot)]},
                    ":q": {"S": _pending_queue_of(slot.part)},
                    ":at": {"N": str(pushed_at_ms)},
                },
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return  # expired meanwhile: nothing left to check

    def all_rows(self) -> Iterator[Row | Head]:
        """Every key's state, for a whole-ledger report (the local run, the reliability tiers): its
        last accepted push as a Row, or its Head while a claim awaits Coveo's answer.

        The heads are scanned first, then read with their acceptance parts and S3 objects a few claim
        batches at a time, so each part and each object is read once. (Heads are spread by key, so a
        scan page holds heads of nearly every batch: read page by page, every page read every
        batch's parts and objects again, and a 50,000-key report took a minute.) The pushed heads are
        held in memory meanwhile, a few hundred bytes each: this reads a local or test ledger."""
        pushed: dict[str, list[tuple[dict[str, Any], _Slot]]] = {}
        request: dict[str, Any] = {"TableName": self._table, "ConsistentRead": True}
        while True:
            page = self._db.scan(**request)
            for item in page.get("Items", []):
                if item["pk"]["S"].startswith(NOT_HEADS):
                    continue
                if "batch" in item:
                    slot = _slot_of(item)
                    pushed.setdefault(slot.batch, []).append((item, slot))
                else:
                    yield _head(item)
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        batches = sorted(pushed)
        for start in range(0, len(batches), _BATCHES_PER_REPORT_READ):
            heads = [
                head for batch in batches[start : start + _BATCHES_PER_REPORT_READ] for head in pushed[batch]
            ]
            parts = self._parts({slot.part for _, slot in heads}, consistent=True)
            rows = self._rows(heads, parts)
            for item, slot in heads:
                # No row to show (its S3 entries expired first): the head, with the status `heads`
                # gives it, so a report counts the push as Coveo answered it, not as CLAIMED.
                yield rows.get(item["pk"]["S"]) or _head(item, parts.get(slot.part))

    # --- pages --------------------------------------------------------------------------------------

    def _pending_page(self, before: int | None, limit: int, token: object | None) -> Page:
        merged, cursors, more = self._merged(_pending_shard_queue, before, limit, token)
        taken: list[tuple[str, dict[str, Any]]] = []
        count, stopped = 0, False
        for start in range(0, len(merged), 100):
            chunk = merged[start : start + 100]
            parts = self._parts({pk for _, _, pk, _ in chunk}, consistent=False)
            for _, shard, pk, item in chunk:
                if count >= limit:
                    stopped = True
                    break
                cursors[shard] = item
                part = parts.get(pk)
                if part is None:
                    continue
                open_slots = _numbers(part, "accepted") - _numbers(part, "done")
                if not open_slots:  # settled, but a crash kept it from leaving the index
                    self._leave_index(pk, part)
                    continue
                taken.append((pk, part))
                count += len(open_slots)
            if stopped:
                break
        return Page(self._pending_rows(taken, before), _next_token(cursors, stopped or more))

    def _pending_rows(self, parts: list[tuple[str, dict[str, Any]]], before: int | None) -> list[Row]:
        """The unsettled entries of these parts that still hold their key's head; the superseded
        ones (a newer claim took the head, or a failure was marked but not yet flushed) are settled
        on the way."""
        wanted: list[tuple[_Slot, dict[str, Any]]] = []
        for pk, part in parts:
            batch, entries = pk.split("#")[1], self._entries_of(part)
            for number in sorted(_numbers(part, "accepted") - _numbers(part, "done")):
                if number in entries:
                    wanted.append((_Slot(batch, number), entries[number]))
        heads = self._batch_get(list({e["key"]: None for _, e in wanted}), _ROW_ATTRIBUTES, consistent=False)
        part_items = dict(parts)
        rows = []
        for slot, entry in wanted:
            head = heads.get(entry["key"])
            if head is None or "batch" not in head or _slot_of(head) != slot:
                self._settled(slot, verified=False, now_ms=None)  # superseded, or being re-pushed
                continue
            if before is not None and entry["pushedAt"] > before:
                continue
            row = _row(head, slot, part_items[slot.part], entry)
            if row.status is not Status.ACCEPTED:
                self._settled(slot, verified=False, now_ms=None)  # a FAILED mark whose flush was lost
                continue
            self._remember(row, slot)
            rows.append(row)
        rows.sort(key=lambda r: (r.pushed_at_ms, r.key))
        return rows

    def _failed_page(self, before: int | None, limit: int, token: object | None) -> Page:
        merged, cursors, more = self._merged(_failed_shard_queue, before, limit, token)
        taken = merged[:limit]
        for _, shard, _, item in taken:
            cursors[shard] = item
        items = self._batch_get([pk for _, _, pk, _ in taken], _ROW_ATTRIBUTES, consistent=False)
        pushed = [(item, _slot_of(item)) for item in items.values() if "batch" in item]
        rows_by_key = self._rows(pushed, self._parts({slot.part for _, slot in pushed}, consistent=False))
        rows = [rows_by_key[pk] for _, _, pk, _ in taken if pk in rows_by_key]
        return Page(rows, _next_token(cursors, len(merged) > limit or more))

    def _merged(
        self, queue: Any, before: int | None, limit: int, token: object | None
    ) -> tuple[list[tuple[int, int, str, dict[str, Any]]], dict[int, dict[str, Any] | None], bool]:
        """Index entries of every shard after the token's place, merged by push time, as far as the
        merge is certain (a shard with more than it returned bounds what can be taken); whether any
        shard has more."""
        starts: dict[int, dict[str, Any] | None] = (
            dict(token) if isinstance(token, dict) else dict.fromkeys(range(PARTS))
        )
        per_shard = min(limit, 200) + 1

        def query(shard: int) -> tuple[list[tuple[int, int, str, dict[str, Any]]], bool]:
            condition = "#queue = :q"
            names = {"#queue": "queue"}
            values: dict[str, Any] = {":q": {"S": queue(shard)}}
            if before is not None:
                condition += " AND #at <= :before"
                names["#at"] = "at"
                values[":before"] = {"N": str(before)}
            request: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": PENDING_INDEX,
                "KeyConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "Limit": per_shard,
                "ScanIndexForward": True,
            }
            if starts[shard] is not None:
                request["ExclusiveStartKey"] = starts[shard]
            response = self._db.query(**request)
            items = response.get("Items", [])
            found = [(int(i["at"]["N"]), shard, i["pk"]["S"], i) for i in items]
            return found, "LastEvaluatedKey" in response

        answers = list(self._pool().map(query, list(starts)))
        # A shard that returned only its first entries may hold older ones than another shard's
        # later entries: the merge goes no further than the earliest of those shards' last entry.
        bounds = [found[-1][0] for found, truncated in answers if truncated and found]
        bound = min(bounds) if bounds else None
        merged = [e for e in heapq.merge(*(found for found, _ in answers)) if bound is None or e[0] <= bound]
        more = any(truncated for _, truncated in answers)
        return merged, starts, more

    # --- reading helpers ----------------------------------------------------------------------------

    def _rows(
        self, heads: list[tuple[dict[str, Any], _Slot]], parts: Mapping[str, dict[str, Any] | None]
    ) -> dict[str, Row]:
        # Sorted: a batch's parts one after the other, so its S3 objects are read from the cache.
        entries = {pk: self._entries_of(parts.get(pk)) for pk in sorted({slot.part for _, slot in heads})}
        rows = {}
        for item, slot in heads:
            part, stored = parts.get(slot.part), entries[slot.part].get(slot.slot)
            if part is None or stored is None or slot.slot not in _numbers(part, "accepted"):
                continue
            if stored["key"] != item["pk"]["S"]:
                continue
            row = _row(item, slot, part, stored)
            self._remember(row, slot)
            rows[row.key] = row
        return rows

    def _parts(self, keys: set[str], *, consistent: bool) -> dict[str, dict[str, Any]]:
        return self._batch_get(
            sorted(keys), "pk, accepted, done, verified, objects, checkedAt", consistent=consistent
        )

    def _batch_get(self, keys: list[str], projection: str, *, consistent: bool) -> dict[str, dict[str, Any]]:
        """The items of `keys`, 100 to a BatchGetItem (its limit), the requests side by side."""
        names = {name: value for name, value in _NAMES.items() if name in projection}
        chunks = [keys[start : start + 100] for start in range(0, len(keys), 100)]

        def get(chunk: list[str]) -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"pk": {"S": key}} for key in chunk],
                    "ProjectionExpression": projection,
                    "ConsistentRead": consistent,
                    **({"ExpressionAttributeNames": names} if names else {}),
                }
            }
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                items += response.get("Responses", {}).get(self._table, [])
                request = response.get("UnprocessedKeys") or {}
            return items

        # The readers are a pool of their own: a read made from a claim thread never waits for one.
        results = map(get, chunks) if len(chunks) < 2 else self._readers().map(get, chunks)
        return {item["pk"]["S"]: item for items in results for item in items}

    # --- bookkeeping --------------------------------------------------------------------------------

    def _locate(self, row: Row) -> _Slot | None:
        """The claim slot of the push `row` describes (its key, version and orderingId): remembered
        from the read that handed it out, else found from its head; None if the head holds no such
        push any more."""
        with self._lock:
            slot = self._located.get((row.key, row.version, row.ordering_id))
        if slot is not None:
            return slot
        item = self._batch_get([row.key], _ROW_ATTRIBUTES, consistent=True).get(row.key)
        if item is None or int(item["version"]["N"]) != row.version:
            return None
        candidates = []
        if "batch" in item:
            candidates.append(_slot_of(item))
        if "prevBatch" in item:  # reopened: its push is kept aside
            candidates.append(_Slot(item["prevBatch"]["S"], int(item["prevSlot"]["N"])))
        parts = self._parts({c.part for c in candidates}, consistent=True)
        for candidate in candidates:
            entry = self._entry(candidate, parts.get(candidate.part))
            if entry is not None and entry["orderingId"] == row.ordering_id:
                return candidate
            current = "batch" in item and candidate == _slot_of(item)
            if entry is None and current and int(item["orderingId"]["N"]) == row.ordering_id:
                return candidate  # a claim Coveo has not accepted: the head is all there is
        return None

    def _entry(self, slot: _Slot, part: dict[str, Any] | None) -> dict[str, Any] | None:
        if part is None or slot.slot not in _numbers(part, "accepted"):
            return None
        return self._entries_of(part).get(slot.slot)

    def _entries_of(self, part: dict[str, Any] | None) -> dict[int, dict[str, Any]]:
        """What S3 keeps of a part's pushes, by slot (an object may hold other parts' slots of its
        batch too: slots are numbered across the batch, so they do not collide)."""
        return {
            entry["slot"]: entry
            for obj in (part or {}).get("objects", {}).get("SS", [])
            for entry in self._store().get(obj)
        }

    def _open(self, slot: _Slot) -> bool:
        """Accepted and not yet settled (verified, failed, superseded), as far as this ledger knows."""
        with self._lock:
            if slot.slot in self._marks.get(slot.part, (set(), set(), 0))[0]:
                return False
        part = self._parts({slot.part}, consistent=True).get(slot.part)
        return slot.slot in _numbers(part, "accepted") - _numbers(part, "done")

    def _remember(self, row: Row, slot: _Slot) -> None:
        with self._lock:
            if len(self._located) > 100_000:  # a long-lived operator process: start afresh
                self._located.clear()
            self._located[row.key, row.version, row.ordering_id] = slot

    def _settled(self, slot: _Slot, *, verified: bool, now_ms: int | None) -> None:
        with self._lock:
            done, verified_slots, checked = self._marks.get(slot.part, (set(), set(), 0))
            done.add(slot.slot)
            if verified:
                verified_slots.add(slot.slot)
            self._marks[slot.part] = (done, verified_slots, max(checked, now_ms or 0))

    def _store(self) -> LedgerEntries:
        if self._entries is None:
            raise RuntimeError(
                "this ledger has no entries store: pass the ledger bucket (LEDGER_BUCKET) to read or "
                "record pushes"
            )
        return self._entries

    def _readers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._reader is None:
                self._reader = ThreadPoolExecutor(
                    max_workers=READ_CONCURRENCY, thread_name_prefix="ledger-read"
                )
            return self._reader

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="ledger")
        return self._executor

    def _retrying_conflicts(self, call: Callable[[], Any]) -> Any:
        """`call`, tried again while a claim transaction holds its item (TransactionConflictException,
        which botocore does not retry; a transaction holds its items for milliseconds)."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return call()
            except self._db.exceptions.TransactionConflictException:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                time.sleep(CONFLICT_BACKOFF_S * attempt * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def _conditional_update(self, key: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        names = {name: value for name, value in _NAMES.items() if name in update or name in condition}
        try:
            self._retrying_conflicts(
                lambda: self._db.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": key}},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True


_ROW_ATTRIBUTES = (
    "pk, version, orderingId, #status, attempts, #batch, slot, eventId, repushes, repushedVersion, "
    "failureReason, checkedAt, prevBatch, prevSlot"
)


def _transaction_chunks(claims: Sequence[Claim], size: int = TRANSACTION_CLAIMS) -> list[list[int]]:
    """The claims' indexes in groups of at most `size` distinct keys (a transaction may not name an
    item twice), in order."""
    chunks: list[list[int]] = []
    keys: list[set[str]] = []
    for i, claim in enumerate(claims):
        for chunk, taken in zip(chunks, keys, strict=True):
            if len(chunk) < size and claim.key not in taken:
                chunk.append(i)
                taken.add(claim.key)
                break
        else:
            chunks.append([i])
            keys.append({claim.key})
    return chunks


def _head(item: dict[str, Any], part: dict[str, Any] | None = None) -> Head:
    """A head read whole (a scan), as the ledger's state of a key with no accepted push to show;
    with its claim's acceptance `part`, a CLAIMED head's status as that part settles it."""
    status = Status(item["status"]["S"])
    if status is Status.CLAIMED and part is not None:
        status = _derived(_slot_of(item), part) or Status.CLAIMED
    return Head(
        key=item["pk"]["S"],
        version=int(item["version"]["N"]),
        ordering_id=int(item["orderingId"]["N"]),
        status=status,
        attempts=int(item.get("attempts", {}).get("N", "0")),
        event_id=item["eventId"]["S"] if "eventId" in item else None,
    )


def _slot_of(item: dict[str, Any]) -> _Slot:
    return _Slot(item["batch"]["S"], int(item["slot"]["N"]))


def _numbers(item: dict[str, Any] | None, name: str) -> set[int]:
    return {int(n) for n in (item or {}).get(name, {}).get("NS", [])}


def _derived(slot: _Slot, part: dict[str, Any] | None) -> Status | None:
    """A CLAIMED head's status from its part: None while Coveo has not accepted its push."""
    if slot.slot not in _numbers(part, "accepted"):
        return None
    return Status.VERIFIED if slot.slot in _numbers(part, "verified") else Status.ACCEPTED


def _pending_shard_queue(shard: int) -> str:
    return f"pending#{shard:02d}"


def _pending_queue_of(part: str) -> str:
    """`acc#<id>.<parts>.<shard>#<n>` → the shard of part n: its batch's first shard, plus n."""
    batch, number = part.split("#")[1:3]
    first = int(batch.split(".")[2])
    return _pending_shard_queue((first + int(number)) % PARTS)


def _failed_shard_queue(shard: int) -> str:
    return f"failed#{shard:02d}"


def _failed_queue(key: str) -> str:
    return _failed_shard_queue(zlib.crc32(key.encode()) % PARTS)


def _next_token(
    cursors: dict[int, dict[str, Any] | None], more: bool
) -> dict[int, dict[str, Any] | None] | None:
    """Where each shard's next page starts (DynamoDB's LastEvaluatedKey form: rows marked meanwhile
    leave the index without shifting it); None when every shard's entries were taken."""
    if not more:
        return None
    return {
        shard: None if item is None else {k: item[k] for k in ("pk", "queue", "at")}
        for shard, item in cursors.items()
    }


def _entry(record: Accepted, slot: _Slot) -> dict[str, Any]:
    return {
        "slot": slot.slot,
        "key": record.key,
        "version": record.version,
        "orderingId": record.ordering_id,
        "eventId": record.event_id,
        "operation": record.operation,
        "kind": str(record.kind),
        "subject": record.subject,
        "attempts": record.attempts,
        "pushedAt": record.pushed_at_ms,
        "eventTime": record.event_time_ms,
        "fileId": record.file_id,
        "change": base64.b64encode(record.change).decode() if record.change is not None else None,
    }


def _row(head: dict[str, Any], slot: _Slot, part: dict[str, Any], entry: dict[str, Any]) -> Row:
    failed = head["status"]["S"] == Status.FAILED
    status = Status.FAILED if failed else (_derived(slot, part) or Status.CLAIMED)
    # A verdict of VERIFIED is the part's (written with its others); any other, the head's.
    checked = part.get("checkedAt") if status is Status.VERIFIED else head.get("checkedAt")
    return Row(
        key=entry["key"],
        version=entry["version"],
        ordering_id=entry["orderingId"],
        status=status,
        kind=Kind(entry["kind"]),
        operation=entry["operation"],
        subject=entry["subject"],
        event_id=entry["eventId"],
        pushed_at_ms=entry["pushedAt"],
        file_id=entry["fileId"],
        attempts=entry["attempts"],
        change=base64.b64decode(entry["change"]) if entry["change"] is not None else None,
        repushes=_repushes(head, entry["version"]),
        failure_reason=head["failureReason"]["S"] if "failureReason" in head else None,
        checked_at_ms=int(checked["N"]) if checked else None,
        event_time_ms=entry.get("eventTime"),  # absent from entries written before it was kept
    )


def _repushes(head: dict[str, Any], version: int) -> int:
    """The re-pushes of this version: `repushes` counts those of `repushedVersion` (a head written
    before it was kept counts for whatever version it holds)."""
    counted = head.get("repushedVersion")
    if counted is not None and int(counted["N"]) != version:
        return 0
    return int(head.get("repushes", {}).get("N", "0"))
