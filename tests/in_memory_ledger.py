"""The ledger's semantics in memory, for the domain's tests (and the validator-cost benchmark); the
shared scenarios in tests/ledger_transitions.py hold it to the DynamoDB ledger's behaviour."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from connector.domain.errors import PermanentError
from connector.domain.ledger import Accepted, Claim, ClaimResult, Head, Page, Row, Status, claimable


class InMemoryLedger:
    """The same semantics as the DynamoDB ledger, for tests and the domain's own checks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: dict[str, Head] = {}
        self.accepted: dict[str, Accepted] = {}
        self.outcomes: dict[str, tuple[Status, str | None, int, int]] = {}  # status, reason, at, repushes

    def heads(self, keys: Sequence[str], versions: Mapping[str, int] | None = None) -> dict[str, Head]:
        with self._lock:
            return {key: self.rows[key] for key in keys if key in self.rows}

    def claim(self, claim: Claim) -> ClaimResult:
        with self._lock:
            head = self.rows.get(claim.key)
            if head is not None and not claimable(
                head, claim.version, claim.ordering_id, claim.refresh_before
            ):
                stale = head.supersedes(claim.version, claim.refresh_before)
                return ClaimResult.STALE if stale else ClaimResult.CONFLICT
            if claim.key in self.outcomes and (head is None or claim.version > head.version):
                status, reason, at, _ = self.outcomes[claim.key]  # re-pushes count per version
                self.outcomes[claim.key] = (status, reason, at, 0)
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
            event_time_ms=accepted.event_time_ms,
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
            if self.outcomes.get(row.key, (None, None, 0, 0))[3] != row.repushes:
                return False  # read before another reopen: its count is stale
            self.rows[row.key] = replace(head, status=Status.CLAIMED)
            self.outcomes[row.key] = (Status.CLAIMED, reason, now_ms, row.repushes + 1)
            return True

    def reopen_many(self, rows: Sequence[tuple[Row, str]], *, now_ms: int) -> list[bool]:
        return [self.reopen(row, reason=reason, now_ms=now_ms) for row, reason in rows]

    def flush(self) -> None:
        """Every mark is written at once here."""
