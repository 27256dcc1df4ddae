"""Full syncs' records in memory: the `SyncLedger` port as the DynamoDB adapter implements it, for
the unit and handler tiers (the pipeline tier runs the adapter itself on moto)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from connector.adapters.dynamodb_syncs import REASON_LIMIT
from connector.domain.events import Kind
from connector.domain.sync import Member, MemberOutcome, SyncRecord, SyncState


class InMemorySyncs:
    def __init__(self) -> None:
        self.records: dict[str, SyncRecord] = {}
        self.pointers: dict[Kind, str] = {}
        self.batches: dict[str, list[list[Member]]] = {}  # what record_members kept, per call
        self.fail_next: list[Exception] = []  # raised by the next record_members calls

    def get(self, sync_ids: Sequence[str]) -> dict[str, SyncRecord]:
        return {i: self.records[i] for i in sync_ids if i in self.records}

    def open(self, sync_id: str, scope: Kind, now_ms: int) -> SyncRecord:
        if sync_id not in self.records:
            self.records[sync_id] = SyncRecord(sync_id, scope, SyncState.RUNNING, now_ms, now_ms)
        return self.records[sync_id]

    def _update(self, sync_id: str, **changes: object) -> SyncRecord:
        self.records[sync_id] = dataclasses.replace(self.records[sync_id], **changes)  # type: ignore[arg-type]
        return self.records[sync_id]

    def announce(self, sync_id: str, *, event_ms: int | None, now_ms: int) -> None:
        record = self.records[sync_id]
        started = record.started_event_ms if record.started_event_ms is not None else event_ms
        self._update(sync_id, announced=True, started_event_ms=started, progress_ms=now_ms)

    def current(self, scope: Kind) -> str | None:
        return self.pointers.get(scope)

    def make_current(self, scope: Kind, sync_id: str, *, replacing: str | None) -> bool:
        if self.pointers.get(scope) != replacing:
            return False
        self.pointers[scope] = sync_id
        return True

    def expect(self, sync_id: str, count: int, *, allow_mass_delete: bool, now_ms: int) -> int:
        record = self.records[sync_id]
        if record.expected is None:
            record = self._update(
                sync_id, expected=count, allow_mass_delete=allow_mass_delete, completed_ms=now_ms
            )
        self._update(sync_id, progress_ms=now_ms)
        assert record.expected is not None
        return record.expected

    def record_members(self, sync_id: str, members: Sequence[Member], *, now_ms: int) -> None:
        if not members:
            return  # as the adapter: no object, no write
        if self.fail_next:
            raise self.fail_next.pop(0)
        record = self.records[sync_id]  # a sync never opened: KeyError, and nothing kept
        self.batches.setdefault(sync_id, []).append(list(members))
        settled = sum(1 for m in members if m.outcome is not MemberOutcome.DEAD_LETTERED)
        self._update(sync_id, settled=record.settled + settled, progress_ms=now_ms)

    def members(self, sync_id: str) -> list[Member]:
        return [m for batch in self.batches.get(sync_id, []) for m in batch]

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
        record = self.records.get(sync_id)
        if record is None or record.state is not SyncState.RUNNING:
            return False
        self._update(
            sync_id,
            state=state,
            reason=None if reason is None else reason[:REASON_LIMIT],
            finished_ms=now_ms,
            settled=record.settled if settled is None else settled,
            deleted=deleted,
            threshold=threshold,
        )
        return True

    def plan_deletion(self, sync_id: str, *, threshold: int, deleted: int) -> tuple[int, int]:
        record = self.records[sync_id]
        if record.state is not SyncState.RUNNING:
            raise ValueError(f"sync {sync_id!r} has ended")  # the adapter's condition fails
        if record.threshold is None or record.deleted is None:
            record = self._update(sync_id, threshold=threshold, deleted=deleted)
        assert record.threshold is not None and record.deleted is not None
        return record.threshold, record.deleted

    def doom(self, sync_id: str, reason: str, *, now_ms: int) -> None:
        record = self.records.get(sync_id)
        if record is None or record.state is not SyncState.RUNNING:
            return
        doomed = record.doomed if record.doomed is not None else reason[:REASON_LIMIT]
        self._update(sync_id, doomed=doomed, progress_ms=now_ms)

    def count_settled(self, sync_id: str, settled: int) -> None:
        self._update(sync_id, settled=settled)

    def running(self) -> list[SyncRecord]:
        return [r for r in self.records.values() if r.state is SyncState.RUNNING]

    def recent(self, limit: int = 100) -> list[SyncRecord]:
        return sorted(self.records.values(), key=lambda r: r.started_ms, reverse=True)[:limit]
