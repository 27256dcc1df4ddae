"""Every interface the connector's domain depends on, in one place: what it needs from Coveo, the
ledger, the dead-letter queue, content storage, and what Lambda hands a function.

The domain is written against these; `connector.adapters` implements them on AWS, the Coveo client
(`coveo_push_api.CoveoClient`) implements the Coveo ones, and tests pass fakes (`tests/fakes.py`,
`tests/in_memory_ledger.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from coveo_push_api import BatchReceipt, Deadline
from coveo_push_api.models import (
    BaseIdentityBody,
    BatchDelete,
    IdentityBody,
    ItemBody,
    LogEntry,
    LogsRequest,
    MappedIdentityBody,
    SecurityCacheEntity,
)

from .domain.errors import PermanentError
from .domain.events import Kind
from .domain.ledger import Accepted, Claim, ClaimResult, Head, Page, Row, Status
from .domain.sync import Member, SyncRecord, SyncState

# --- Coveo -----------------------------------------------------------------------------------------


class CoveoPush(Protocol):
    requests_sent: int

    def set_source_status(self, source_id: str, status: str, *, deadline: Deadline | None = ...) -> None:
        """REBUILD while a full sync of items runs, IDLE after it."""
        ...

    def push_item(
        self,
        source_id: str,
        document_id: str,
        item: ItemBody,
        *,
        ordering_id: int | None = ...,
        deadline: Deadline | None = ...,
    ) -> None: ...

    def delete_item(
        self,
        source_id: str,
        document_id: str,
        *,
        delete_children: bool = ...,
        ordering_id: int | None = ...,
        deadline: Deadline | None = ...,
    ) -> None: ...

    def prefetch_file_container(self, *, deadline: Deadline | None = ...) -> None:
        """Start creating the file container the next batch push fills, in the background."""
        ...

    def push_items(
        self,
        source_id: str,
        add_or_update: Iterable[ItemBody] = ...,
        delete: Iterable[BatchDelete] = ...,
        *,
        ordering_id: int | None = ...,
        deadline: Deadline | None = ...,
    ) -> list[BatchReceipt]: ...

    def push_identity(
        self,
        provider_id: str,
        body: IdentityBody,
        *,
        ordering_id: int | None = ...,
        deadline: Deadline | None = ...,
    ) -> None: ...

    def push_alias(
        self,
        provider_id: str,
        body: MappedIdentityBody,
        *,
        ordering_id: int | None = ...,
        deadline: Deadline | None = ...,
    ) -> None: ...

    def delete_identity(
        self,
        provider_id: str,
        body: BaseIdentityBody,
        *,
        ordering_id: int | None = ...,
        deadline: Deadline | None = ...,
    ) -> None: ...

    def push_identities(
        self,
        provider_id: str,
        members: Iterable[IdentityBody] = ...,
        mappings: Iterable[MappedIdentityBody] = ...,
        deleted: Iterable[BaseIdentityBody] = ...,
        *,
        ordering_id: int | None = ...,
        deadline: Deadline | None = ...,
    ) -> list[BatchReceipt]: ...


class CoveoSync(Protocol):
    """What a full sync asks of Coveo beyond pushes: the source's status, its size, and the
    deletion of what the sync left out."""

    requests_sent: int

    def set_source_status(self, source_id: str, status: str, *, deadline: Deadline | None = ...) -> None: ...

    def count_documents(self, source_id: str) -> int: ...

    def count_identities(self, provider_id: str) -> int:
        """Identities of the provider the security cache holds that are not disabled."""
        ...

    def delete_items_older_than(
        self,
        source_id: str,
        ordering_id: int,
        *,
        queue_delay_minutes: int | None = ...,
        deadline: Deadline | None = ...,
    ) -> None: ...

    def delete_identities_older_than(
        self,
        provider_id: str,
        ordering_id: int,
        *,
        queue_delay_minutes: int | None = ...,
        deadline: Deadline | None = ...,
    ) -> None: ...


class CoveoReader(Protocol):
    requests_sent: int

    def iter_logs(
        self, request: LogsRequest, *, start: datetime, end: datetime, per_page: int = ...
    ) -> Iterable[LogEntry]: ...

    def list_indexes(self) -> list[str]: ...

    def get_item_permissions(self, index_id: str, document_id: str) -> Any: ...

    def get_security_cache_entity(
        self, provider_id: str, name: str, identity_type: str
    ) -> SecurityCacheEntity: ...

    def iter_security_cache_members(
        self, provider_id: str, name: str, identity_type: str
    ) -> Iterable[SecurityCacheEntity]: ...


# --- the ledger ------------------------------------------------------------------------------------


class Ledger(Protocol):
    def heads(self, keys: Sequence[str], versions: Mapping[str, int] | None = None) -> dict[str, Head]:
        """The ledger's head of each key that has one. `versions`, the version each key's change
        would push, lets a ledger skip what the guard does not need: whether a claim of another
        version than the change's was accepted (its status may then read CLAIMED)."""
        ...

    def claim(self, claim: Claim) -> ClaimResult: ...

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | PermanentError]:
        """`claim` for each (distinct keys), results in order; the DynamoDB ledger runs them
        concurrently instead of one round trip after another. A claim the ledger refuses for that
        change alone (a value DynamoDB will not store) comes back as a `PermanentError`; the
        ledger being unavailable raises."""
        ...

    def record_accepted(self, accepted: Iterable[Accepted]) -> None: ...


class ValidationLedger(Protocol):
    def rows_with_status(
        self,
        status: Status,
        *,
        pushed_before_ms: int | None = None,
        limit: int = 500,
        token: object | None = None,
    ) -> Page: ...

    def mark(self, row: Row, status: Status, *, reason: str | None, now_ms: int) -> bool:
        """Set an ACCEPTED row's outcome; False when a newer push owns the row now."""
        ...

    def reopen(self, row: Row, *, reason: str, now_ms: int) -> bool:
        """ACCEPTED or FAILED → CLAIMED, so the same version may be pushed again (a re-push)."""
        ...

    def reopen_many(self, rows: Sequence[tuple[Row, str]], *, now_ms: int) -> list[bool]:
        """`reopen` of each (row, reason), answers in order; the DynamoDB ledger runs them side by
        side (a re-push of a thousand rows is two thousand calls, not to be made one by one). A row
        the ledger could not reopen for an error of its own reads False, like one it refused: the
        others are re-pushed all the same."""
        ...

    def settle(self, row: Row, status: Status, *, reason: str, now_ms: int) -> bool:
        """A reopened row whose re-push was not accepted: back to `status` (with its push time), so
        it stays visible to the validator and the operator instead of sitting CLAIMED."""
        ...

    def get(self, key: str) -> Row | None: ...

    def flush(self) -> None:
        """Write the verdicts `mark` may hold back to write them together (a crash before this
        loses only verdicts the next run gives again)."""
        ...


class SyncLedger(Protocol):
    """Full syncs' records (in the ledger's table) and their members (in its bucket). Every write
    but `open` and `make_current` is to a sync already opened, and raises otherwise."""

    def get(self, sync_ids: Sequence[str]) -> dict[str, SyncRecord]: ...

    def open(self, sync_id: str, scope: Kind, now_ms: int) -> SyncRecord:
        """The sync's record; created RUNNING, begun at `now_ms`, when none of its events was seen before."""
        ...

    def announce(self, sync_id: str, *, event_ms: int | None, now_ms: int) -> None:
        """Its sync.started was seen (idempotent)."""
        ...

    def current(self, scope: Kind) -> str | None:
        """The scope's latest started sync."""
        ...

    def make_current(self, scope: Kind, sync_id: str, *, replacing: str | None) -> bool:
        """Point the scope at `sync_id` if it still points at `replacing`; False if another
        sync.started got there first."""
        ...

    def expect(self, sync_id: str, count: int, *, allow_mass_delete: bool, now_ms: int) -> int:
        """Record sync.completed's count, if none is recorded yet; the count recorded."""
        ...

    def record_members(self, sync_id: str, members: Sequence[Member], *, now_ms: int) -> None:
        """Keep what became of these changes of the sync (a redelivered one may come again), and
        add those not dead-lettered to its running `settled` count."""
        ...

    def members(self, sync_id: str) -> list[Member]: ...

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
        """End a RUNNING sync; False when it had ended already."""
        ...

    def plan_deletion(self, sync_id: str, *, threshold: int, deleted: int) -> tuple[int, int]:
        """Record, before it is sent, the deletion a RUNNING sync will send (orderingId, count);
        the first plan stays, and is returned, so that a run that dies after sending it ends the
        sync the same way."""
        ...

    def doom(self, sync_id: str, reason: str, *, now_ms: int) -> None:
        """Note why a RUNNING sync cannot complete (the first reason stays); the validator ends it
        FAILED. Nothing happens to a sync that has ended."""
        ...

    def count_settled(self, sync_id: str, settled: int) -> None:
        """The validator's exact count of settled changes."""
        ...

    def running(self) -> list[SyncRecord]:
        """The syncs whose record, read consistently, is RUNNING."""
        ...

    def recent(self, limit: int = 100) -> list[SyncRecord]:
        """The latest syncs, newest first."""
        ...


class LedgerEntries(Protocol):
    """Where the DynamoDB ledger keeps what it records of each accepted change (S3)."""

    def put(self, batch: str, entries: list[dict[str, Any]]) -> str:
        """Store one acceptance's entries; the object's name."""
        ...

    def get(self, name: str) -> list[dict[str, Any]]:
        """The entries of an object `put` stored; none once it has expired."""
        ...


# --- AWS around a batch: content, dead letters, Lambda ----------------------------------------------


class ContentStore(Protocol):
    def fetch(self, uri: str) -> bytes:
        """The object's bytes; `ContentNotFound` when it does not exist, anything else when the
        store cannot be reached."""
        ...


class DeadLetters(Protocol):
    def send(
        self, body: str, *, reason: str, kind: str, event_id: str | None, event_type: str | None
    ) -> None: ...


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...
