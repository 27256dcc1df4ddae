"""The ledger: per document or identity, the last version applied and what became of its push.

One row per key. The stale guard is a conditional write on that row, so "newer wins" holds across
concurrent invocations; the row also carries what the validator needs to verify or re-push.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from .errors import PermanentError


class Status(StrEnum):
    CLAIMED = "CLAIMED"  # passed the stale guard; push not yet accepted by Coveo
    ACCEPTED = "ACCEPTED"  # Coveo answered 202
    VERIFIED = "VERIFIED"  # the validator saw it indexed
    FAILED = "FAILED"  # the validator saw it rejected, or never indexed


class ClaimResult(StrEnum):
    CLAIMED = "CLAIMED"
    STALE = "STALE"  # a newer (or the same, already pushed) version holds the row
    CONFLICT = "CONFLICT"  # another invocation took a higher orderingId meanwhile: retry later


@dataclass(frozen=True)
class Head:
    key: str
    version: int
    ordering_id: int
    status: Status
    attempts: int = 0

    def supersedes(self, version: int) -> bool:
        """True when a change of `version` must not be pushed: it is older, or already pushed."""
        return self.version > version or (self.version == version and self.status is not Status.CLAIMED)


@dataclass(frozen=True)
class Claim:
    key: str
    version: int
    ordering_id: int
    event_id: str
    event_type: str
    subject: str
    attempts: int


@dataclass(frozen=True)
class Accepted:
    """A push Coveo accepted: what the validator needs to verify it, and to re-push it."""

    key: str
    version: int
    ordering_id: int
    kind: str  # "item" or "identity"
    operation: str  # the event type, e.g. "item.upserted"
    subject: str
    event_id: str
    pushed_at_ms: int
    file_id: str | None
    attempts: int
    change: bytes | None  # zlib-compressed JSON of the event data; None when too large to keep
    expires_at: int  # epoch seconds (DynamoDB TTL)


@dataclass(frozen=True)
class Row:
    """A ledger row as the validator and the operator tools read it."""

    key: str
    version: int
    ordering_id: int
    status: Status
    kind: str
    operation: str
    subject: str
    event_id: str
    pushed_at_ms: int
    file_id: str | None
    attempts: int
    change: bytes | None
    repushes: int = 0
    failure_reason: str | None = None
    checked_at_ms: int | None = None


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_token: object | None  # pass back to read the next page; None at the end


class Ledger(Protocol):
    def heads(self, keys: Sequence[str]) -> dict[str, Head]: ...

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

    def settle(self, row: Row, status: Status, *, reason: str, now_ms: int) -> bool:
        """A reopened row whose re-push was not accepted: back to `status` (with its push time), so
        it stays visible to the validator and the operator instead of sitting CLAIMED."""
        ...

    def get(self, key: str) -> Row | None: ...


class InMemoryLedger:
    """The same semantics as the DynamoDB ledger, for tests and the domain's own checks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: dict[str, Head] = {}
        self.accepted: dict[str, Accepted] = {}
        self.outcomes: dict[str, tuple[Status, str | None, int, int]] = {}  # status, reason, at, repushes

    def heads(self, keys: Sequence[str]) -> dict[str, Head]:
        with self._lock:
            return {key: self.rows[key] for key in keys if key in self.rows}

    def claim(self, claim: Claim) -> ClaimResult:
        with self._lock:
            head = self.rows.get(claim.key)
            if head is not None and not claimable(head, claim.version, claim.ordering_id):
                return ClaimResult.STALE if head.supersedes(claim.version) else ClaimResult.CONFLICT
            self.rows[claim.key] = Head(
                claim.key, claim.version, claim.ordering_id, Status.CLAIMED, claim.attempts
            )
            return ClaimResult.CLAIMED

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | PermanentError]:
        return [self.claim(claim) for claim in claims]

    def record_accepted(self, accepted: Iterable[Accepted]) -> None:
        with self._lock:
            for record in accepted:
                head = self.rows.get(record.key)
                # A newer claim since this push owns the row now; leave it alone.
                if head and head.version == record.version and head.ordering_id == record.ordering_id:
                    self.rows[record.key] = replace(head, status=Status.ACCEPTED)
                    self.accepted[record.key] = record

    # --- what the validator and the operator tools need ---------------------------------------------

    def _row(self, key: str) -> Row | None:
        head, accepted = self.rows.get(key), self.accepted.get(key)
        if head is None or accepted is None or accepted.version != head.version:
            return None
        _, reason, checked, repushes = self.outcomes.get(key, (head.status, None, None, 0))
        return Row(
            key=key,
            version=head.version,
            ordering_id=head.ordering_id,
            status=head.status,
            kind=accepted.kind,
            operation=accepted.operation,
            subject=accepted.subject,
            event_id=accepted.event_id,
            pushed_at_ms=accepted.pushed_at_ms,
            file_id=accepted.file_id,
            attempts=head.attempts,
            change=accepted.change,
            repushes=repushes,
            failure_reason=reason,
            checked_at_ms=checked,
        )

    def get(self, key: str) -> Row | None:
        with self._lock:
            return self._row(key)

    def rows_with_status(
        self,
        status: Status,
        *,
        pushed_before_ms: int | None = None,
        limit: int = 500,
        token: object | None = None,
    ) -> Page:
        with self._lock:
            rows = [row for key in self.rows if (row := self._row(key)) and row.status is status]
        rows = [r for r in rows if pushed_before_ms is None or r.pushed_at_ms <= pushed_before_ms]
        rows.sort(key=lambda r: (r.pushed_at_ms, r.key))
        # The token is the last row's sort key, as DynamoDB's LastEvaluatedKey: rows marked
        # meanwhile leave the status without shifting the next page.
        if isinstance(token, tuple):
            rows = [r for r in rows if (r.pushed_at_ms, r.key) > token]
        page = rows[:limit]
        more = len(rows) > limit
        return Page(page, (page[-1].pushed_at_ms, page[-1].key) if more else None)

    def mark(self, row: Row, status: Status, *, reason: str | None, now_ms: int) -> bool:
        with self._lock:
            head = self.rows.get(row.key)
            if not head or (head.version, head.ordering_id, head.status) != (
                row.version,
                row.ordering_id,
                Status.ACCEPTED,
            ):
                return False
            self.rows[row.key] = replace(head, status=status)
            self.outcomes[row.key] = (status, reason, now_ms, row.repushes)
            return True

    def settle(self, row: Row, status: Status, *, reason: str, now_ms: int) -> bool:
        with self._lock:
            head = self.rows.get(row.key)
            if not head or head.version != row.version or head.status is not Status.CLAIMED:
                return False
            self.rows[row.key] = replace(head, status=status)
            self.outcomes[row.key] = (status, reason, now_ms, self.outcomes.get(row.key, (0, 0, 0, 0))[3])
            return True

    def reopen(self, row: Row, *, reason: str, now_ms: int) -> bool:
        with self._lock:
            head = self.rows.get(row.key)
            if not head or (head.version, head.ordering_id) != (row.version, row.ordering_id):
                return False
            if head.status not in (Status.ACCEPTED, Status.FAILED):
                return False
            self.rows[row.key] = replace(head, status=Status.CLAIMED)
            self.outcomes[row.key] = (Status.CLAIMED, reason, now_ms, row.repushes + 1)
            return True


def claimable(head: Head, version: int, ordering_id: int) -> bool:
    """The guard's condition (the DynamoDB adapter writes the same as a ConditionExpression)."""
    newer = head.version < version
    retry_of_unpushed = head.version == version and head.status is Status.CLAIMED
    return (newer or retry_of_unpushed) and head.ordering_id < ordering_id
