"""The ledger: per document or identity, the last version applied and what became of its push.

One row per key. The stale guard is a conditional write on that row, so "newer wins" holds across
concurrent invocations; the row also carries what the validator needs to verify or re-push.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .events import Kind


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
    event_id: str | None = None  # the claim's event, where the ledger reports it (whole-ledger reads)

    def supersedes(self, version: int, refresh_before: int | None = None) -> bool:
        """True when a change of `version` must not be pushed: it is older, or already pushed.

        `refresh_before`: the change belongs to a running full sync that began at this orderingId.
        The same version pushed before then is pushed again, so that the sync's deletion of what is
        older than its start keeps it (see `sync`)."""
        if self.version != version:
            return self.version > version
        if self.status is Status.CLAIMED:
            return False
        return refresh_before is None or self.ordering_id >= refresh_before


@dataclass(frozen=True)
class Claim:
    key: str
    version: int
    ordering_id: int
    event_id: str
    event_type: str
    subject: str
    attempts: int
    expires_at: int | None = None  # epoch seconds (DynamoDB TTL); None: kept until overwritten
    # A full sync's refresh: the same version may be claimed again while the row's orderingId is
    # below this (the sync's start). None: the ordinary guard.
    refresh_before: int | None = None


@dataclass(frozen=True)
class Accepted:
    """A push Coveo accepted: what the validator needs to verify it, and to re-push it."""

    key: str
    version: int
    ordering_id: int
    kind: Kind
    operation: str  # the event type, e.g. "item.upserted"
    subject: str
    event_id: str
    pushed_at_ms: int
    file_id: str | None
    attempts: int
    change: bytes | None  # zlib-compressed JSON of the event data; None when too large to keep
    expires_at: int  # epoch seconds (DynamoDB TTL)
    # The event's time (epoch ms; None when it had none): kept with the push time, in the entries
    # (S3), not in the table, so freshness costs no write unit.
    event_time_ms: int | None = None


@dataclass(frozen=True)
class Row:
    """A ledger row as the validator and the operator tools read it."""

    key: str
    version: int
    ordering_id: int
    status: Status
    kind: Kind
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
    event_time_ms: int | None = None  # the event's time; None when it had none, or an older entry


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_token: object | None  # pass back to read the next page; None at the end


def claimable(head: Head, version: int, ordering_id: int, refresh_before: int | None = None) -> bool:
    """The guard's condition (the DynamoDB adapter writes the same as a ConditionExpression)."""
    newer = head.version < version
    retry_of_unpushed = head.version == version and head.status is Status.CLAIMED
    refresh = refresh_before is not None and head.version == version and head.ordering_id < refresh_before
    return (newer or retry_of_unpushed or refresh) and head.ordering_id < ordering_id
