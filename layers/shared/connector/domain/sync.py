"""Full syncs: the records, and the rules that decide when a sync may delete what it left out.

A sync of a scope (items, or identities) is `sync.started`, changes carrying `data.syncId`, and
`sync.completed` with the number of changes the producer sent. Coveo's recipe ends it with "delete
everything older than the orderingId the sync began at". Three rules make that safe here:

- **A sync begins when the connector first sees one of its events** (`started_ms`, whatever the
  order they arrive in). Every change pushed after that, in the sync or not, gets an orderingId at
  least that high, so the deletion cannot reach it.
- **A change the sync repeats unchanged is pushed again** (a *refresh*) when its last push is older
  than the sync: the stale guard would skip it, its old orderingId would stay, and "older than"
  would delete it. A refresh of one already pushed during the sync (a redelivery) is skipped.
- **The deletion's orderingId is never above a member's**: the threshold is the lower of the sync's
  start and every member's last orderingId (`judge`), and it is sent only when every change the
  producer counted is settled and every member's push is verified in the index. So a member is
  never deleted, not even for a moment, whatever the clocks or the order of delivery did.

Everything here is pure; `sync_closing` runs it against the ledger and Coveo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .events import IDENTITY_DELETED, ITEM_DELETED, SCOPE_NAMES, Kind
from .ledger import Head, Status

DELETE_TYPES = (ITEM_DELETED, IDENTITY_DELETED)
# How far before the connector saw a sync begin its sync.started's own time may lie and still be
# believed: changes pushed since then are kept (they may have overtaken sync.started in the queue).
# Further back is a replayed file or a wrong clock, and the connector's own start is used.
START_SKEW_MS = 15 * 60_000


class SyncState(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"  # complete, verified, and the deletion sent
    FAILED = "FAILED"  # incomplete (deadline, dead letters, superseded, a push not indexed): nothing deleted
    REFUSED = "REFUSED"  # complete, but the deletion would remove more than the allowed share


class MemberOutcome(StrEnum):
    """What became of one change of a sync, as its function settled it."""

    PUSHED = "pushed"  # pushed (or refreshed) with an orderingId of the sync
    STALE = "stale"  # skipped: a newer version, or the same one already pushed during the sync
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class SyncRecord:
    sync_id: str
    scope: Kind
    state: SyncState
    started_ms: int  # when the connector first saw one of its events: the deletion's upper bound
    progress_ms: int  # the last sign of life: an event of the sync settled
    announced: bool = False  # sync.started seen
    started_event_ms: int | None = None  # sync.started's own time, to order two syncs of a scope
    expected: int | None = None  # sync.completed's count
    allow_mass_delete: bool = False
    completed_ms: int | None = None  # when sync.completed was seen
    settled: int = 0  # changes settled: counted as they come, exact once the validator counts
    deleted: int | None = None
    reason: str | None = None
    threshold: int | None = None  # the orderingId the deletion was sent with
    finished_ms: int | None = None
    # Why the sync cannot complete (superseded, two different counts): a push function notes it,
    # the validator ends the sync FAILED with it, so that every ending is the validator's (one
    # metric, one alarm). A doomed sync no longer refreshes and never deletes.
    doomed: str | None = None

    @property
    def scope_name(self) -> str:
        return SCOPE_NAMES[self.scope]

    def to_report(self) -> dict[str, Any]:
        """The local report's `syncs` entry (and `coveo-push syncs --json`)."""
        return {
            "scope": self.scope_name,
            "state": self.state.value,
            "expected": self.expected,
            "settled": self.settled,
            "deleted": self.deleted,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Member:
    """One change of a sync, as its function settled it (kept in S3 with its batch's others)."""

    event_id: str
    key: str | None  # the ledger key; None for a change that could not be read
    operation: str | None  # the event type
    outcome: MemberOutcome
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "key": self.key,
            "operation": self.operation,
            "outcome": self.outcome.value,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Member:
        return cls(
            event_id=str(value["eventId"]),
            key=value.get("key"),
            operation=value.get("operation"),
            outcome=MemberOutcome(value["outcome"]),
            reason=value.get("reason"),
        )


@dataclass(frozen=True)
class SyncSettings:
    source_id: str
    provider_id: str
    # A sync still short of its count this long after its last sign of life ends FAILED.
    sync_deadline_s: float = 7200.0
    # The largest share of the source (or the provider) a sync may delete without allowMassDelete.
    max_delete_share: float = 0.5
    # Coveo's grace period before it applies a deletion (minutes). Members are verified before the
    # deletion is sent, so this only covers pushes of others still in Coveo's queue.
    sync_queue_delay_minutes: int = 15
    # The ledger's retention: a sync must end before its record and members expire.
    ledger_ttl_days: int = 30

    @property
    def max_age_s(self) -> float:
        """How long a sync may run: a day less than the ledger keeps its record and members."""
        return max(1, self.ledger_ttl_days - 1) * 24 * 3600.0


# --- which pushes a sync keeps --------------------------------------------------------------------


def refresh_before(record: SyncRecord | None) -> int | None:
    """The orderingId below which a member's unchanged version is pushed again; None for a change
    that belongs to no running sync (the ordinary stale guard applies)."""
    if record is None or record.state is not SyncState.RUNNING or record.doomed is not None:
        return None
    return record.started_ms


# --- when a sync may delete -----------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """A sync's members, by event: each event counts once, however often it was delivered."""

    settled: dict[str, Member]  # event id → its settled outcome (pushed or stale)
    dead_lettered: dict[str, Member]  # event id → its dead letter, for events never settled otherwise

    @classmethod
    def of(cls, members: Iterable[Member]) -> Tally:
        settled: dict[str, Member] = {}
        dead: dict[str, Member] = {}
        for member in members:
            if member.outcome is MemberOutcome.DEAD_LETTERED:
                dead.setdefault(member.event_id, member)
            else:
                settled.setdefault(member.event_id, member)
        # A dead letter redriven and then pushed counts as settled.
        return cls(settled, {e: m for e, m in dead.items() if e not in settled})

    def keys(self) -> list[str]:
        return list(dict.fromkeys(m.key for m in self.settled.values() if m.key is not None))

    def kept(self) -> int:
        """Distinct documents (or identities) the sync keeps: its upserts. An identity's upsert
        and its alias are one entity in the provider."""
        return len(
            {
                m.key.split("#", 1)[1] if m.key.startswith(("identity#", "alias#")) else m.key
                for m in self.settled.values()
                if m.key is not None and m.operation not in DELETE_TYPES
            }
        )


@dataclass(frozen=True)
class Wait:
    reason: str


@dataclass(frozen=True)
class Fail:
    reason: str


@dataclass(frozen=True)
class Delete:
    threshold: int  # delete what is older than this orderingId
    kept: int  # documents (or identities) the sync keeps


Judgement = Wait | Fail | Delete


def judge(
    record: SyncRecord,
    tally: Tally,
    heads_of: Callable[[Sequence[str]], Mapping[str, Head]],
    *,
    now_ms: int,
    deadline_s: float,
    max_age_s: float = float("inf"),
) -> Judgement:
    """Whether a running sync may delete now, must wait, or has failed. `heads_of`: the ledger's
    heads of the members' keys, read only once the count is reached."""
    if record.doomed is not None:
        return Fail(record.doomed)
    if (now_ms - record.started_ms) / 1000 > max_age_s:
        return Fail(
            f"ran for more than {max_age_s / 86400:g} days, longer than the ledger keeps a sync's record "
            "and changes; nothing was deleted (a sync must end within LedgerTtlDays)"
        )
    if tally.dead_lettered:
        sample = next(iter(tally.dead_lettered.values()))
        return Fail(
            f"{len(tally.dead_lettered)} change(s) of the sync were dead-lettered, e.g. event "
            f"{sample.event_id!r}: {sample.reason or 'no reason given'}; nothing was deleted"
        )
    idle_s = (now_ms - max(record.progress_ms, record.completed_ms or 0)) / 1000
    overdue = idle_s > deadline_s
    settled = len(tally.settled)
    if record.expected is None:
        if overdue:
            return Fail(
                f"no sync.completed within {_duration(deadline_s)} of the sync's last event "
                f"({settled} change(s) settled); nothing was deleted"
            )
        return Wait(f"waiting for sync.completed ({settled} change(s) settled)")
    if settled > record.expected:
        return Fail(
            f"{settled} changes carry this syncId but sync.completed counted {record.expected}; "
            "the count does not describe the sync, so nothing was deleted"
        )
    if settled < record.expected:
        if overdue:
            return Fail(
                f"only {settled} of the {record.expected} changes sync.completed counted arrived within "
                f"{_duration(deadline_s)} of the last one; nothing was deleted"
            )
        return Wait(f"{settled} of {record.expected} changes settled")
    keys = tally.keys()
    heads = heads_of(keys)
    missing = [key for key in keys if key not in heads]
    if missing:
        return Fail(
            f"the ledger has no record of {missing[0]!r} (and {len(missing) - 1} more); nothing was deleted"
        )
    failed = [key for key in keys if heads[key].status is Status.FAILED]
    if failed:
        return Fail(
            f"{len(failed)} change(s) of the sync were not indexed, e.g. {failed[0]!r} "
            "(`coveo-push failures` says why); nothing was deleted"
        )
    unverified = [key for key in keys if heads[key].status is not Status.VERIFIED]
    if unverified:
        # Bounded by the validator's own deadline: each push ends VERIFIED or FAILED.
        return Wait(f"{len(unverified)} change(s) not yet verified in the index")
    return Delete(min([start_of(record), *(heads[key].ordering_id for key in keys)]), tally.kept())


def start_of(record: SyncRecord) -> int:
    """Where "older than the sync" begins: when the connector first saw the sync, or the producer's
    own time for sync.started when that is earlier by at most START_SKEW_MS (a change sent after
    sync.started but pushed before it was read is then kept)."""
    event_ms = record.started_event_ms
    if event_ms is not None and record.started_ms - START_SKEW_MS <= event_ms < record.started_ms:
        return event_ms
    return record.started_ms


def refusal(
    *, to_delete: int, total: int, allow_mass_delete: bool, max_share: float, noun: str
) -> str | None:
    """Why the deletion must not run (the mass-delete guard), or None."""
    if allow_mass_delete or total <= 0 or to_delete / total <= max_share:
        return None
    return (
        f"would delete {to_delete} of {total} {noun} ({to_delete / total:.0%}), more than the "
        f"{max_share:.0%} a sync may delete; nothing was deleted. If upstream really dropped them, run "
        'the sync again with "allowMassDelete": true in its sync.completed'
    )


def older_start(incoming_event_ms: int | None, current: SyncRecord) -> bool:
    """Whether a `sync.started` began before the scope's current sync, by the events' own times:
    it arrived late, and the current one supersedes it. Without both times, arrival order decides."""
    return (
        incoming_event_ms is not None
        and current.started_event_ms is not None
        and incoming_event_ms < current.started_event_ms
    )


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 120 else f"{seconds:g} seconds"


@dataclass
class SyncRunReport:
    """What one validator run did with the syncs."""

    completed: int = 0
    failed: int = 0
    refused: int = 0
    deleted: int = 0
    waiting: int = 0
    ended: list[str] = field(default_factory=list)  # sync ids
    notes: list[str] = field(default_factory=list)  # for the operator: why a sync failed or waits


def scope_noun(scope: Kind) -> str:
    return "documents" if scope is Kind.ITEM else "identities"
