"""The scheduled validator: ask Coveo what became of every accepted push.

A 202 only means "queued". Items are checked in the Logs API (one time window per page of ledger
rows, never one call per item), identities in the security cache; a sample of items gets its
permission state checked. Rejections that later succeed on their own (an identity not yet known)
are re-pushed from the stored change a bounded number of times.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from coveo_push_api import CoveoError, CoveoNotFoundError
from coveo_push_api.models import (
    IdentityBody,
    LogEntry,
    LogResult,
    LogsRequest,
    LogTask,
    PermissionState,
    permission_sets,
)
from coveo_push_api.models.identities import MEMBER_HOLDING_TYPES

from ..ports import CoveoReader, ValidationLedger
from .errors import InvalidEvent
from .events import (
    IDENTITY_ALIASED,
    IDENTITY_DELETED,
    IDENTITY_UPSERTED,
    ITEM_DELETED,
    Change,
    IdentityAlias,
    ItemUpsert,
    Kind,
    identity_body_fields,
)
from .freshness import FreshnessSample
from .ledger import Row, Status
from .pipeline import Disposition, Outcome, Pipeline, Repush
from .stored_change import StoredChange, UnreadableStoredChange, declared_public_in
from .sync_closing import SyncCloser

LOGS_WINDOW = timedelta(days=7)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REPUSH_BUDGET_S = 300.0
# Coveo's rejections that a later push fixes by itself: the identity arrives, a transient fault
# clears. Its log entries and cache errors carry no error code, only text: that text is read here,
# once, where Coveo's answer comes in (`coveo_says_retriable`), and a typed verdict goes on from there.
RETRIABLE_MARKERS = (
    "unknown security identity",
    "not yet known",
    "temporarily",
    "internal error",
    "timed out",
)
# Of those, the ones that say the item names an identity Coveo does not know (yet).
IDENTITY_UNKNOWN_MARKERS = ("unknown security identity", "not yet known")


@dataclass(frozen=True)
class ValidatorSettings:
    source_id: str
    provider_id: str
    processing_delay_s: float = 300.0  # Coveo takes minutes to index; do not ask before then
    deadline_s: float = 3600.0  # still no log entry after this: FAILED
    max_repushes: int = 3
    permission_sample: int = 20
    allow_public_items: bool = False  # when true, items without permissions are public by design
    page_size: int = 1000
    logs_per_page: int = 1000


def coveo_says_retriable(detail: str) -> bool:
    """Whether Coveo's own words for a rejection name a cause that passes without a change."""
    return any(marker in detail.lower() for marker in RETRIABLE_MARKERS)


def coveo_says_identity_unknown(detail: str) -> bool:
    """Whether Coveo's own words for a rejection say the item names an identity it does not know."""
    return any(marker in detail.lower() for marker in IDENTITY_UNKNOWN_MARKERS)


@dataclass(frozen=True)
class Finding:
    """Something a run saw that an operator should know; `security` ones are logged as errors and
    raise the security alarms."""

    text: str
    security: bool = False


@dataclass(frozen=True)
class Verdict:
    """What Coveo's logs say of one push."""

    status: Status  # VERIFIED or FAILED
    reason: str = ""
    retriable: bool = False
    identity_unknown: bool = False  # FAILED: Coveo did not know an identity the item names
    indexed_at_ms: int | None = None  # VERIFIED: when Coveo's log says it indexed the push


@dataclass
class ValidationReport:
    verified: int = 0
    failed: int = 0
    pending: int = 0
    repushed: int = 0
    # Rejected for an unknown identity while a push of an identity they name is still unsettled:
    # counted in `pending`, not re-pushed, their re-pushes kept for when it settles.
    waiting_for_identity: int = 0
    oldest_pending_age_s: float = 0.0
    permission_warnings: int = 0
    permission_errors: int = 0
    unexpected_public: int = 0  # indexed with anonymous access their events never asked for
    identities_in_error: int = 0
    logs_api_calls: int = 0
    syncs_completed: int = 0
    syncs_failed: int = 0
    syncs_refused: int = 0
    syncs_running: int = 0
    sync_deleted: int = 0  # documents or identities the completed syncs' deletions remove
    coveo_requests: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    # Per change this run verified: event time → pushed → indexed (`freshness.Freshness.of` sums up).
    freshness: list[FreshnessSample] = field(default_factory=list)


@dataclass
class Validator:
    settings: ValidatorSettings
    ledger: ValidationLedger
    coveo: CoveoReader
    repush: Callable[[Kind], Pipeline | None] = lambda kind: None  # the pipeline that re-pushes a kind
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    rng: random.Random = field(default_factory=random.Random)
    syncs: SyncCloser | None = None  # ends the full syncs that are complete, or cannot complete
    _entries: dict[str, list[LogEntry]] | None = field(default=None, init=False, repr=False)
    _to_repush: list[tuple[Row, str]] = field(default_factory=list, init=False, repr=False)
    # This run's item rejections for an unknown identity, decided once every page is read, and the
    # identities (provider, TYPE, name) whose pushes this run left unsettled (pending or re-pushed).
    _identity_rejected: list[tuple[Row, str]] = field(default_factory=list, init=False, repr=False)
    _identities_unsettled: set[_IdentityRef] = field(default_factory=set, init=False, repr=False)

    def run(self, remaining_s: Callable[[], float] = lambda: float("inf")) -> ValidationReport:
        report = ValidationReport()
        before = self.coveo.requests_sent
        now = self.clock_ms()
        cutoff = now - int(self.settings.processing_delay_s * 1000)
        self._entries = None
        self._to_repush = []
        self._identity_rejected = []
        self._identities_unsettled = set()
        verified_items: list[Row] = []
        token: object | None = None
        try:
            while remaining_s() > 5:
                page = self.ledger.rows_with_status(
                    Status.ACCEPTED, pushed_before_ms=cutoff, limit=self.settings.page_size, token=token
                )
                items = [r for r in page.rows if r.kind == Kind.ITEM]
                identities = [r for r in page.rows if r.kind == Kind.IDENTITY]
                if items:
                    verified_items += self._check_items(items, now, report)
                for row in identities:
                    self._check_identity(row, now, report)
                token = page.next_token
                if token is None:
                    break
            self._wait_for_identities(now, report)
            self._repush_retriable(now, report, remaining_s)
            self._sample_permissions(verified_items, report)
        finally:
            self.ledger.flush()  # the verdicts held back to be written together
            report.coveo_requests = self.coveo.requests_sent - before
        if self.syncs is not None:  # after the flush: a sync waits for its members' verdicts
            self._close_syncs(self.syncs, report)
        return report

    def _close_syncs(self, closer: SyncCloser, report: ValidationReport) -> None:
        before = closer.coveo.requests_sent
        try:
            closing = closer.run()
        finally:
            report.coveo_requests += closer.coveo.requests_sent - before
        report.syncs_completed += closing.completed
        report.syncs_failed += closing.failed
        report.syncs_refused += closing.refused
        report.syncs_running += closing.waiting
        report.sync_deleted += closing.deleted
        report.warnings += [Finding(note) for note in closing.notes]

    # --- items: the Logs API ------------------------------------------------------------------------

    def _check_items(self, rows: Sequence[Row], now: int, report: ValidationReport) -> list[Row]:
        entries = self._verdict_entries(min(r.pushed_at_ms for r in rows), now, report)
        verified = []
        for row in rows:
            # pushed_at is when the push was sent: entries about it are no older, and a re-push
            # follows the rejection it answers, so that older verdict is left out.
            since = _dt(row.pushed_at_ms)
            relevant = sorted(
                (e for e in entries.get(row.subject, []) if e.datetime >= since), key=lambda e: e.datetime
            )
            verdict = _item_verdict(row, relevant)
            if verdict is None:
                self._pending(row, now, report, "no indexing log entry")
            elif verdict.status is Status.VERIFIED:
                if self.ledger.mark(row, Status.VERIFIED, reason=None, now_ms=now):
                    report.verified += 1
                    _note_freshness(report, row, verdict.indexed_at_ms, now)
                    verified.append(row)
            elif verdict.identity_unknown:
                self._identity_rejected.append((row, verdict.reason))  # decided after the last page
            else:
                self._failed(row, verdict.reason, now, report, retriable=verdict.retriable)
        return verified

    def _wait_for_identities(self, now: int, report: ValidationReport) -> None:
        """Items Coveo rejected for an unknown identity wait, re-pushes kept, while a push of an
        identity they name is unsettled in this run: pushing them again before it lands only spends
        their re-pushes (a lost group's push is found at the deadline, long after three runs).

        They wait no longer than that identity's own validation (its deadline, its re-pushes); an
        item naming no unsettled identity of ours goes on to a re-push or FAILED, as before.
        """
        rejected, self._identity_rejected = self._identity_rejected, []
        unsettled = self._identities_unsettled
        for row, reason in rejected:
            # Reading the item's stored change costs a parse: only when there is something to wait for.
            if unsettled and _waits_on(_named_identities(row, self.settings.provider_id), unsettled):
                report.waiting_for_identity += 1
                _count_pending(report, (now - row.pushed_at_ms) / 1000)
            else:
                self._failed(row, reason, now, report, retriable=True)

    def _verdict_entries(
        self, oldest_ms: int, now: int, report: ValidationReport
    ) -> dict[str, list[LogEntry]]:
        """Every log entry that can decide a verdict, by documentId, read once per run.

        Rows come oldest first, so the first page of items sets the window. Two filtered queries
        (failures at any stage; INDEXING successes) keep it to about one entry per item: 10,000
        pending items cost about 11 Logs API calls, not one call per item or per page of rows.
        """
        if self._entries is not None:
            return self._entries
        end = _dt(now)
        start = max(_dt(oldest_ms), end - LOGS_WINDOW)
        entries: dict[str, list[LogEntry]] = {}
        source = [self.settings.source_id]
        requests = [
            LogsRequest(sources_ids=source, results=[LogResult.ERROR, LogResult.REJECTED, LogResult.SKIPPED]),
            LogsRequest(
                sources_ids=source, tasks=[LogTask.INDEXING], results=[LogResult.COMPLETED, LogResult.WARNING]
            ),
        ]
        calls_before = self.coveo.requests_sent
        for request in requests:
            for entry in self.coveo.iter_logs(
                request, start=start, end=end, per_page=self.settings.logs_per_page
            ):
                if entry.id:
                    entries.setdefault(entry.id, []).append(entry)
        report.logs_api_calls += self.coveo.requests_sent - calls_before
        self._entries = entries
        return entries

    # --- identities: the security cache -------------------------------------------------------------

    def _check_identity(self, row: Row, now: int, report: ValidationReport) -> None:
        identity_type, _, name = row.subject.partition(" ")
        try:
            entity = self.coveo.get_security_cache_entity(self.settings.provider_id, name, identity_type)
        except CoveoNotFoundError as error:
            if row.operation == "identity.deleted":
                # The cache never had it, or no longer has it: nothing is left to see, and no time
                # of Coveo's says when it went (the run's time stands for it).
                self._verified(row, now, report, indexed_at_ms=None)
            else:
                self._pending(row, now, report, f"security cache does not know the identity: {error}")
            return
        except CoveoError as error:
            report.warnings.append(Finding(f"security cache unavailable for {row.subject}: {error}"))
            self._pending(row, now, report, f"security cache unavailable: {error}")
            return
        state = str(entity.state)
        updated = _epoch_ms(entity.last_update_date)
        if state == "IN_ERROR":
            report.identities_in_error += 1
            detail = entity.last_update_error_detail or entity.last_update_result or "no detail"
            self._failed(
                row, f"security cache IN_ERROR: {detail}", now, report, retriable=coveo_says_retriable(detail)
            )
        elif state == "DISABLED":
            if row.operation == "identity.deleted":
                self._verified(row, now, report, indexed_at_ms=updated)
            else:
                self._failed(
                    row,
                    "security cache shows the identity DISABLED after it was pushed",
                    now,
                    report,
                    retriable=False,
                )
        elif state == "UP_TO_DATE":
            if row.operation == "identity.deleted":
                # A delete disables: an identity still up to date has not seen it (yet).
                self._pending(row, now, report, "the identity is not DISABLED in the security cache")
            elif updated is not None and updated < row.pushed_at_ms:
                # Up to date with an earlier push: this one has not reached the cache (yet).
                self._pending(row, now, report, "no security cache update since the push")
            elif (difference := self._members_differ(row, name, identity_type, report)) is not None:
                self._pending(row, now, report, difference)
            else:
                self._verified(row, now, report, indexed_at_ms=updated)
        else:
            self._pending(row, now, report, f"security cache state {state}")

    def _members_differ(
        self, row: Row, name: str, identity_type: str, report: ValidationReport
    ) -> str | None:
        """Why the cache's members of a pushed group are not the ones this push declared; None if
        they are (or the row is no group's upsert).

        The update date alone cannot tell this push from an older one of the same group that Coveo
        applied after it (a slower concurrent invocation) while this one was lost: the cache would
        be up to date, with the old members. Comparing members tells them apart.
        """
        expected = _pushed_members(row)
        if expected is None:
            return None
        try:
            held = {
                (_type_key(m.type or ""), m.name or "")
                for m in self.coveo.iter_security_cache_members(
                    self.settings.provider_id, name, identity_type
                )
            }
        except CoveoError as error:
            report.warnings.append(Finding(f"security cache members unavailable for {row.subject}: {error}"))
            return f"security cache members unavailable: {error}"
        if held == expected:
            return None
        parts = [
            f"{label}: {', '.join(f'{t} {n}' for t, n in sorted(names)[:5])}"
            + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            for label, names in (
                ("not in the cache", expected - held),
                ("in the cache only", held - expected),
            )
            if names
        ]
        return "security cache members differ from the pushed version (" + "; ".join(parts) + ")"

    # --- outcomes -----------------------------------------------------------------------------------

    def _verified(self, row: Row, now: int, report: ValidationReport, *, indexed_at_ms: int | None) -> None:
        if self.ledger.mark(row, Status.VERIFIED, reason=None, now_ms=now):
            report.verified += 1
            _note_freshness(report, row, indexed_at_ms, now)

    def _pending(self, row: Row, now: int, report: ValidationReport, why: str) -> None:
        age_s = (now - row.pushed_at_ms) / 1000
        if age_s > self.settings.deadline_s:
            # Coveo answered 202 and then never processed it: pushing the stored change again is
            # the fix, within the same bound as other retriable failures.
            self._failed(
                row,
                f"{why} within {_duration(self.settings.deadline_s)} of the push",
                now,
                report,
                retriable=True,
            )
            return
        self._note_unsettled(row)
        _count_pending(report, age_s)

    def _failed(self, row: Row, reason: str, now: int, report: ValidationReport, *, retriable: bool) -> None:
        if retriable and row.repushes < self.settings.max_repushes and self.repush(row.kind) is not None:
            self._note_unsettled(row)
            self._to_repush.append((row, reason))  # pushed together at the end of the run
            return
        self._mark_failed(row, reason, now, report)

    def _note_unsettled(self, row: Row) -> None:
        if row.kind is Kind.IDENTITY:
            self._identities_unsettled |= _defined_identities(row, self.settings.provider_id)

    def _mark_failed(self, row: Row, reason: str, now: int, report: ValidationReport) -> None:
        if self.ledger.mark(row, Status.FAILED, reason=reason, now_ms=now):
            _count_failure(report, row, reason, row.repushes)

    def _repush_retriable(self, now: int, report: ValidationReport, remaining_s: Callable[[], float]) -> None:
        """Re-push this run's retriable failures, one pipeline batch per kind."""
        queued, self._to_repush = self._to_repush, []
        for kind in dict.fromkeys(row.kind for row, _ in queued):
            rows = [(row, reason) for row, reason in queued if row.kind == kind]
            pipeline = self.repush(kind)
            assert pipeline is not None  # _failed queues only kinds that have one
            outcomes = repush_stored_changes(
                [(row, f"re-pushed after: {reason}") for row, reason in rows],
                self.ledger,
                pipeline,
                now_ms=now,
                source="coveo-push/validator",
                # Within the run's time; outside Lambda (no timeout) as long as one invocation.
                remaining_s=lambda: min(remaining_s(), REPUSH_BUDGET_S),
            )
            for row, reason in rows:
                outcome = outcomes.get(row.key)
                if outcome is None:
                    self._mark_failed(row, reason, now, report)  # nothing stored to re-push
                elif outcome.disposition is Disposition.PUSHED:
                    report.repushed += 1
                    report.pending += 1
                elif outcome.disposition is Disposition.RETRY:
                    report.pending += 1  # back as it was: the next run tries again
                elif outcome.disposition is Disposition.DEAD_LETTERED:
                    # Settled FAILED with the refusal as its reason.
                    _count_failure(report, row, f"re-push refused: {outcome.reason}", row.repushes + 1)

    # --- permission state of a sample of verified items ---------------------------------------------

    def _sample_permissions(self, verified: list[Row], report: ValidationReport) -> None:
        secured = [r for r in verified if r.operation != ITEM_DELETED]
        if not secured or self.settings.permission_sample <= 0:
            return
        sample = self.rng.sample(secured, min(self.settings.permission_sample, len(secured)))
        try:
            indexes = self.coveo.list_indexes()
        except CoveoError as error:
            report.warnings.append(Finding(f"index list unavailable: {error}"))
            return
        for row in sample:
            for index_id in indexes[:1]:
                try:
                    model = self.coveo.get_item_permissions(index_id, row.subject)
                except CoveoError as error:
                    report.warnings.append(Finding(f"permissions of {row.subject} unavailable: {error}"))
                    continue
                self._check_not_public_by_accident(row, model, report)
                state = str(model.state)
                if state == PermissionState.WARNING:
                    report.permission_warnings += 1
                    report.warnings.append(
                        Finding(
                            f"SECURITY: {row.subject} permission state WARNING (a denied identity is out of date)",
                            security=True,
                        )
                    )
                elif state in (PermissionState.IN_ERROR, PermissionState.INCOMPLETE):
                    report.permission_errors += 1
                    report.warnings.append(Finding(f"{row.subject} permission state {state}"))

    def _check_not_public_by_accident(self, row: Row, model: Any, report: ValidationReport) -> None:
        """Defence in depth for "never public by accident": an indexed permission set that lets
        anonymous users in, on an item whose event did not say `"allowAnonymous": true`, is a
        security finding whatever let it through. (Any such set counts, even where a deny elsewhere
        keeps the item from being readable: the index holds a grant nobody sent.)"""
        if self.settings.allow_public_items or row.change is None:
            return
        anonymous = any(
            permission_set.anonymous_allowed
            for level in model.permission_levels
            for permission_set in level.permission_sets
        )
        if anonymous and not declared_public_in(row.change):
            report.unexpected_public += 1
            report.warnings.append(
                Finding(
                    f"SECURITY: {row.subject} lets anonymous users in, but its event did not say "
                    '"allowAnonymous": true; check the producer and the index now',
                    security=True,
                )
            )


def repush_stored_changes(
    rows: Sequence[tuple[Row, str]],
    ledger: ValidationLedger,
    pipeline: Pipeline,
    *,
    now_ms: int,
    source: str,
    remaining_s: Callable[[], float] = lambda: REPUSH_BUDGET_S,
) -> dict[str, Outcome | None]:
    """Push rows' stored changes again, with the reason each is re-pushed for, as one pipeline batch
    (the validator's re-pushes and `coveo-push redrive --repush`): a late identity that rejected a
    thousand items costs a few batch requests, not a thousand single pushes.

    Each row is reopened first (ACCEPTED or FAILED → CLAIMED) so the stale guard lets the same
    version through. Outcomes by row key; None when there is nothing to re-push: no stored change
    (it was too large to keep), or the row changed meanwhile (a newer push owns it).
    """
    outcomes: dict[str, Outcome | None] = {}
    stored_changes: list[tuple[Row, str, StoredChange]] = []
    for row, reason in rows:
        outcomes[row.key] = None
        try:
            stored = StoredChange.decode(row.change) if row.change is not None else None
        except UnreadableStoredChange:
            stored = None  # unreadable: nothing to re-push, as if too large to keep
        if stored is not None:
            stored_changes.append((row, reason, stored))
    reopened = ledger.reopen_many([(row, reason) for row, reason, _ in stored_changes], now_ms=now_ms)
    repushes: dict[str, tuple[Row, Repush]] = {}
    for (row, _, stored), is_reopened in zip(stored_changes, reopened, strict=True):
        if not is_reopened:
            continue
        message_id = f"repush-{len(repushes)}-{row.event_id}"
        repushes[message_id] = (row, Repush(message_id, stored, source))
    if not repushes:
        return outcomes
    report = pipeline.repush([repush for _, repush in repushes.values()], remaining_s)
    for message_id, (row, _) in repushes.items():
        outcome = report.outcomes[message_id]
        outcomes[row.key] = outcome
        if outcome.disposition is Disposition.RETRY:
            # Not accepted this time: back to where it was, so the next run (or the operator) tries again.
            ledger.settle(
                row, row.status, reason=f"re-push not accepted yet: {outcome.reason}", now_ms=now_ms
            )
        elif outcome.disposition is Disposition.DEAD_LETTERED:
            ledger.settle(row, Status.FAILED, reason=f"re-push refused: {outcome.reason}", now_ms=now_ms)
    ledger.flush()
    return outcomes


def _item_verdict(row: Row, entries: list[LogEntry]) -> Verdict | None:
    """VERIFIED on an INDEXING COMPLETED entry, FAILED on ERROR or REJECTED, else None (pending).

    Where an entry names its operation's orderingId, only entries of this push count: a late older
    push's verdict (often SKIPPED, because this newer one was applied first) says nothing about it.
    A SKIPPED entry is never this push's failure: only a higher orderingId skips it, and the ledger
    gives this key's newest push the highest one.
    """
    ours = [e for e in entries if _ordering_id(e) in (None, row.ordering_id)]
    for entry in ours:
        if entry.result in ("ERROR", "REJECTED"):
            detail = entry.reason()
            return Verdict(
                Status.FAILED,
                detail or f"{entry.task} {entry.result}",
                retriable=detail is not None and coveo_says_retriable(detail),
                identity_unknown=detail is not None and coveo_says_identity_unknown(detail),
            )
    for entry in ours:
        if entry.task == "INDEXING" and entry.result in ("COMPLETED", "WARNING"):
            return Verdict(Status.VERIFIED, indexed_at_ms=_ms(entry.datetime))
    return None


def _note_freshness(report: ValidationReport, row: Row, indexed_at_ms: int | None, now: int) -> None:
    """A verified change's times. Where Coveo gave no indexing time, or one before the push (it is
    about an earlier one), the run's time stands for it: later than the truth by at most the
    processing delay plus one validator period."""
    observed = indexed_at_ms is None or indexed_at_ms < row.pushed_at_ms
    report.freshness.append(
        FreshnessSample(
            pushed_at_ms=row.pushed_at_ms,
            indexed_at_ms=now if observed or indexed_at_ms is None else indexed_at_ms,
            event_time_ms=row.event_time_ms,
            indexed_observed=observed,
        )
    )


def _ordering_id(entry: LogEntry) -> int | None:
    value = entry.meta.get("orderingId")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _epoch_ms(value: int | str | None) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        # Coveo's times are UTC: one without an offset is too, not the machine's local time.
        return _ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return None


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 120 else f"{seconds:g} seconds"


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)  # LogEntry makes every time aware (UTC)


def _count_pending(report: ValidationReport, age_s: float) -> None:
    report.pending += 1
    report.oldest_pending_age_s = max(report.oldest_pending_age_s, age_s)


def _count_failure(report: ValidationReport, row: Row, reason: str, repushes: int) -> None:
    report.failed += 1
    report.failures.append(
        {
            "key": row.key,
            "subject": row.subject,
            "reason": reason,
            "attempts": row.attempts,
            "repushes": repushes,
        }
    )


def _type_key(identity_type: str) -> str:
    # The cache spells types VirtualGroup, events VIRTUAL_GROUP: compare them the same way.
    return identity_type.replace("_", "").upper()


_IdentityRef = tuple[str, str, str]  # (provider, TYPE as _type_key spells it, name)
_ANY_TYPE = "UNKNOWN"  # the `Unknown` identity type, as _type_key spells it: it matches every type


def _stored_change(row: Row, provider_id: str) -> Change | None:
    """The row's change as the contract reads it; None when it was too large to keep or no longer
    reads (such a row waits for nothing, and makes nothing wait)."""
    if row.change is None:
        return None
    try:
        return StoredChange.decode(row.change).to_change(provider_id=provider_id)
    except (UnreadableStoredChange, InvalidEvent):
        return None


def _named_identities(row: Row, provider_id: str) -> set[_IdentityRef]:
    """Every identity an item's stored change grants or denies."""
    change = _stored_change(row, provider_id)
    if (
        change is None
        or not isinstance(change.payload, ItemUpsert)
        or change.payload.body.permissions is None
    ):
        return set()
    return {
        # Coveo takes the source's first provider where none is named: ours, for this connector.
        (
            identity.security_provider or provider_id,
            _type_key(identity.identity_type.value),
            identity.identity,
        )
        for permission_set in permission_sets(change.payload.body.permissions)
        for identity in (*permission_set.allowed_permissions, *permission_set.denied_permissions)
    }


def _defined_identities(row: Row, provider_id: str) -> set[_IdentityRef]:
    """The identities an identity row's push makes Coveo know: its own, and for an alias the
    identities it maps onto (an item may name the e-mail user an alias maps to). A delete makes
    nothing known: nothing waits for it."""
    if row.operation == IDENTITY_DELETED:
        return set()
    identity_type, _, name = row.subject.partition(" ")
    defined = {(provider_id, _type_key(identity_type), name)}
    change = _stored_change(row, provider_id) if row.operation == IDENTITY_ALIASED else None
    if change is not None and isinstance(change.payload, IdentityAlias):
        defined |= {
            (mapping.provider or provider_id, _type_key(mapping.type.value), mapping.name)
            for mapping in change.payload.body.mappings
        }
    return defined


def _waits_on(named: set[_IdentityRef], unsettled: set[_IdentityRef]) -> bool:
    """Whether an item naming `named` waits for one of `unsettled` (UNKNOWN matches every type,
    on either side, as in Coveo)."""
    if named & unsettled:
        return True
    named_untyped = {(provider, name) for provider, _, name in named}
    return any(
        (provider, name) in named_untyped and (kind == _ANY_TYPE or (provider, _ANY_TYPE, name) in named)
        for provider, kind, name in unsettled
    )


def _pushed_members(row: Row) -> set[tuple[str, str]] | None:
    """(TYPE, name) of the members a group upsert declared; None when the row is not one, or its
    change was too large to keep."""
    if row.operation != IDENTITY_UPSERTED or row.change is None:
        return None
    try:
        data = StoredChange.decode(row.change).data
    except UnreadableStoredChange:
        return None
    try:
        body = IdentityBody.model_validate(identity_body_fields(data))
    except ValidationError:
        return None  # not a body today's model reads: nothing to compare (one row never stops a run)
    if body.identity.type not in MEMBER_HOLDING_TYPES:
        return None
    return {(_type_key(m.type.value), m.name) for m in body.members or []}
