"""One SQS batch of changes → as few Coveo calls as possible, with the stale guard and the ledger.

Orchestration only: Coveo, the ledger, the dead-letter queue and content storage are passed in (the
ports), so tests give fakes. Every message ends with one disposition: pushed, stale, dead-lettered,
or retry. Re-pushes of stored changes take the same path from the stale guard on.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Any

from coveo_push_api import BatchReceipt, CoveoError, Deadline, DeadlineExceededError, ItemTooLargeError
from coveo_push_api.models import (
    BatchDelete,
    CompressionType,
)

from ..ports import ContentStore, CoveoPush, DeadLetters, Ledger, SyncLedger
from .coalesce import coalesce
from .errors import (
    ContentNotFound,
    PermanentError,
    RefusedChange,
    RejectedByCoveo,
    RetriesExhausted,
    Unprocessable,
    describe_exception,
)
from .events import (
    Change,
    IdentityAlias,
    IdentityDelete,
    IdentityUpsert,
    ItemDelete,
    ItemUpsert,
    Kind,
    SyncEnd,
    SyncStart,
    event_id_of,
    event_type_of,
    parse_message,
    sync_id_of,
)
from .ledger import Accepted, Claim, ClaimResult
from .policy import check_content, check_identity, check_item
from .stored_change import StoredChange
from .sync import Member, MemberOutcome, SyncRecord, SyncState, older_start, refresh_before

# Coveo statuses that say the deployment is misconfigured (key, organization, source, provider):
# the change is fine, so keep it on the queue (SQS retries, then its DLQ) rather than blame it.
CONFIGURATION_STATUSES = frozenset({401, 403, 404, 412})


@dataclass(frozen=True)
class PipelineSettings:
    source_id: str
    provider_id: str
    kind: Kind  # which events this queue carries
    allow_public_items: bool = False
    max_permissions: int = 5_000
    alias_providers: frozenset[str] = frozenset({"Email Security Provider"})
    default_alias_provider: str | None = "Email Security Provider"
    safety_margin_s: float = 10.0
    ledger_ttl_days: int = 30
    max_stored_change_bytes: int = 300_000  # DynamoDB items stop at 400 KB
    # The queue's maxReceiveCount: a message still failing on that delivery is dead-lettered here,
    # with its last error, instead of being moved by SQS without one. None: leave it to SQS.
    max_receive_count: int | None = None


@dataclass(frozen=True)
class Message:
    """An SQS message, as the event source mapping delivered it."""

    message_id: str
    body: str
    receive_count: int | None = None  # SQS's ApproximateReceiveCount: 1 on the first delivery


@dataclass(frozen=True)
class Repush:
    """A stored change pushed again (the validator's re-pushes, `coveo-push redrive --repush`):
    no queue delivered it, so none will give up on it."""

    message_id: str  # names its outcome in the report, as a message's id does
    stored: StoredChange
    source: str  # the CloudEvent source its dead letter, if any, will carry
    receive_count: None = None

    @cached_property
    def body(self) -> str:
        """What its dead letter holds: the change as an event, so a redrive can push it again."""
        return self.stored.to_event_json(self.source)


Source = Message | Repush  # what the pipeline settles, one outcome each


class Disposition(StrEnum):
    PUSHED = "pushed"
    STALE = "stale"
    RECORDED = "recorded"  # a sync.started or sync.completed, noted in the ledger
    DEAD_LETTERED = "dead_lettered"
    RETRY = "retry"


@dataclass
class Outcome:
    message_id: str
    disposition: Disposition
    reason: str | None = None
    event_id: str | None = None
    subject: str | None = None


@dataclass
class BatchReport:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    coveo_requests: int = 0
    batch_bytes: int = 0
    file_ids: list[str] = field(default_factory=list)

    def set(
        self,
        message: Source,
        disposition: Disposition,
        change: Change | None = None,
        reason: str | None = None,
        event_id: str | None = None,
    ) -> None:
        self.outcomes[message.message_id] = Outcome(
            message.message_id,
            disposition,
            reason,
            change.event_id if change else event_id,
            change.subject if change else None,
        )

    def count(self, disposition: Disposition) -> int:
        return sum(1 for o in self.outcomes.values() if o.disposition is disposition)

    def retry_ids(self) -> list[str]:
        return [o.message_id for o in self.outcomes.values() if o.disposition is Disposition.RETRY]


@dataclass
class Pipeline:
    settings: PipelineSettings
    coveo: CoveoPush
    ledger: Ledger
    dead_letters: DeadLetters
    content: ContentStore | None = None
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    # Full syncs' records; without them sync events are refused and syncIds are not followed.
    syncs: SyncLedger | None = None

    def process(self, messages: Sequence[Message], remaining_s: Callable[[], float]) -> BatchReport:
        """An SQS batch: each message read, checked and pushed (see `_settle`)."""
        return self._settle(messages, remaining_s)

    def repush(self, repushes: Sequence[Repush], remaining_s: Callable[[], float]) -> BatchReport:
        """Stored changes pushed again: checked against today's policy, then the same stale guard,
        batching and ledger records as any change (see `_settle`)."""
        return self._settle(repushes, remaining_s)

    def _settle(self, messages: Sequence[Source], remaining_s: Callable[[], float]) -> BatchReport:
        """Every message gets exactly one disposition, and this never raises.

        What one message holds changes only its own outcome: any exception while reading, checking,
        serialising, claiming or pushing it dead-letters that message with the exception as its
        reason. Only the ledger, S3 or Coveo being unavailable sends the rest back to SQS (RETRY),
        and then a message already dead-lettered stays settled, so it is never dead-lettered twice.
        """
        report = BatchReport()
        requests_before = self.coveo.requests_sent
        members: dict[str, _SyncMember] = {}
        syncs: dict[str, SyncRecord] = {}
        try:
            valid = self._parse_all(messages, report, members)
            changes = [(message, change) for message, change in valid if not change.is_sync_control]
            for message, change in valid:
                if change.is_sync_control:
                    self._sync_event(message, change, report)
            syncs = self._syncs_of(changes, report)
            coalesced = coalesce([(m, c) for m, c in changes if m.message_id not in report.outcomes])
            for message, change, newer in coalesced.superseded:
                report.set(
                    message, Disposition.STALE, change, f"superseded in this batch by version {newer.version}"
                )
            claimed = self._claim(coalesced.winners, report, syncs, remaining_s)
            if claimed:
                self._push(claimed, report, remaining_s)
        except Exception as exc:  # infrastructure: the ledger or the DLQ could not be reached
            reason = f"not settled: {describe_exception(exc)}; SQS will redeliver"
            for message in messages:
                if message.message_id not in report.outcomes:
                    report.set(message, Disposition.RETRY, reason=reason, event_id=None)
        finally:
            report.coveo_requests = self.coveo.requests_sent - requests_before
        self._give_up_on_last_delivery(messages, report)
        self._record_members(members, syncs, report)
        return report

    def _give_up_on_last_delivery(self, messages: Sequence[Source], report: BatchReport) -> None:
        limit = self.settings.max_receive_count
        if limit is None:
            return
        for message in messages:
            outcome = report.outcomes[message.message_id]
            count = message.receive_count
            if outcome.disposition is Disposition.RETRY and count is not None and count >= limit:
                error = RetriesExhausted(
                    f"gave up after {count} deliveries (the queue's maxReceiveCount); "
                    f"the last attempt: {outcome.reason}"
                )
                self._dead_letter(message, None, error, report)
                report.outcomes[message.message_id].subject = outcome.subject

    # --- full syncs ---------------------------------------------------------------------------------

    def _sync_event(self, message: Source, change: Change, report: BatchReport) -> None:
        """`sync.started` / `sync.completed`: noted in the sync's record. Only this message waits
        for SQS when the ledger or Coveo does not answer."""
        try:
            self._apply_sync_event(change)
        except PermanentError as error:
            self._dead_letter(message, change, error, report)
            return
        except Exception as exc:
            report.set(message, Disposition.RETRY, change, f"not recorded: {describe_exception(exc)}")
            return
        report.set(message, Disposition.RECORDED, change)

    def _apply_sync_event(self, change: Change) -> None:
        syncs, payload = self.syncs, change.payload
        if syncs is None:
            raise RefusedChange("this deployment keeps no record of full syncs (no sync ledger)")
        assert isinstance(payload, SyncStart | SyncEnd)
        now = self.clock_ms()
        record = self._open_sync(payload.sync_id, now)
        if isinstance(payload, SyncEnd):
            expected = syncs.expect(
                payload.sync_id, payload.count, allow_mass_delete=payload.allow_mass_delete, now_ms=now
            )
            if expected != payload.count:
                syncs.doom(
                    payload.sync_id,
                    f"two sync.completed events counted it differently ({expected} and "
                    f"{payload.count}); nothing was deleted",
                    now_ms=now,
                )
            return
        event_ms = change.version or None  # its time, when it has one
        syncs.announce(payload.sync_id, event_ms=event_ms, now_ms=now)
        if record.state is not SyncState.RUNNING:
            return  # delivered again after it ended
        self._supersede(record, event_ms, now)
        if record.scope is Kind.ITEM:
            # Coveo's activity for the source: a rebuild until the sync ends (the validator sets IDLE).
            self.coveo.set_source_status(self.settings.source_id, "REBUILD")

    def _open_sync(self, sync_id: str, now: int) -> SyncRecord:
        assert self.syncs is not None
        record = self.syncs.open(sync_id, self.settings.kind, now)
        if record.scope is not self.settings.kind:
            raise RefusedChange(
                f"sync {sync_id!r} is a sync of {record.scope_name}: its events and changes go to the "
                f"{record.scope} queue, not the {self.settings.kind} queue"
            )
        return record

    def _supersede(self, record: SyncRecord, event_ms: int | None, now: int) -> None:
        """A second sync.started of a scope supersedes the unfinished one, which deletes nothing.
        Which is second: the later by the events' times, else the later to arrive."""
        assert self.syncs is not None
        scope, sync_id = record.scope, record.sync_id
        for _ in range(3):
            current_id = self.syncs.current(scope)
            if current_id == sync_id:
                return
            current = self.syncs.get([current_id]).get(current_id) if current_id else None
            if current is not None and older_start(event_ms, current):
                self.syncs.doom(
                    sync_id,
                    f"superseded by sync {current_id!r}, which started later; nothing was deleted",
                    now_ms=now,
                )
                return
            if self.syncs.make_current(scope, sync_id, replacing=current_id):
                if current is not None:
                    self.syncs.doom(
                        current.sync_id,
                        f"superseded by sync {sync_id!r} before it completed; nothing was deleted",
                        now_ms=now,
                    )
                return
        raise RuntimeError(f"other sync.started events of the {record.scope_name} scope kept racing this one")

    def _syncs_of(self, changes: list[tuple[Source, Change]], report: BatchReport) -> dict[str, SyncRecord]:
        """The records of the syncs these changes belong to (opened by the first of their events to
        arrive). A change sent to a sync of the other scope is dead-lettered."""
        if self.syncs is None:
            return {}
        now = self.clock_ms()
        records: dict[str, SyncRecord] = {}
        for message, change in changes:
            if change.sync_id is None:
                continue
            try:
                if change.sync_id not in records:
                    records[change.sync_id] = self._open_sync(change.sync_id, now)
            except PermanentError as error:
                self._dead_letter(message, change, error, report)
        return records

    def _record_members(
        self, members: dict[str, _SyncMember], syncs: dict[str, SyncRecord], report: BatchReport
    ) -> None:
        """Tell each sync what became of its changes in this batch: the validator deletes nothing
        until every change the producer counted is here. A change left to SQS is not recorded."""
        if self.syncs is None or not members:
            return
        by_sync: dict[str, list[tuple[str, Member]]] = {}
        for message_id, noted in members.items():
            outcome = report.outcomes.get(message_id)
            settled = _MEMBER_OUTCOMES.get(outcome.disposition) if outcome is not None else None
            if outcome is None or settled is None:
                continue
            reason = outcome.reason if settled is MemberOutcome.DEAD_LETTERED else None
            by_sync.setdefault(noted.sync_id, []).append(
                (message_id, Member(noted.event_id, noted.key, noted.operation, settled, reason))
            )
        now = self.clock_ms()
        for sync_id, entries in by_sync.items():
            try:
                record = syncs.get(sync_id) or self.syncs.open(sync_id, self.settings.kind, now)
                if record.state is SyncState.RUNNING and record.scope is self.settings.kind:
                    self.syncs.record_members(sync_id, [member for _, member in entries], now_ms=now)
            except Exception as exc:
                # Pushed but not counted: once more through SQS, which finds it pushed during the
                # sync and counts it then. A dead letter stays one (its sync then never completes).
                for message_id, member in entries:
                    outcome = report.outcomes[message_id]
                    if member.outcome is not MemberOutcome.DEAD_LETTERED:
                        outcome.disposition = Disposition.RETRY
                        outcome.reason = (
                            f"settled, but its sync could not count it: {describe_exception(exc)}"
                        )

    # --- parse and check ----------------------------------------------------------------------------

    def _parse_all(
        self, messages: Sequence[Source], report: BatchReport, members: dict[str, _SyncMember]
    ) -> list[tuple[Source, Change]]:
        valid = []
        for message in messages:
            change: Change | None = None
            try:
                change = self._read(message)
                change = self._check(change)
                change = self._preflight(change)
            except PermanentError as error:
                self._dead_letter(message, change, error, report)
                continue
            except Exception as exc:  # a message no rule foresaw: it alone goes to the DLQ
                reason = f"could not read or check this event: {describe_exception(exc)}"
                self._dead_letter(message, change, Unprocessable(reason), report)
                continue
            finally:
                self._note_member(message, change, members)
            valid.append((message, change))
        return valid

    def _note_member(self, message: Source, change: Change | None, members: dict[str, _SyncMember]) -> None:
        """Remember the sync a change belongs to, even one that cannot be read (its dead letter
        must still stop its sync from deleting)."""
        if self.syncs is None or (change is not None and change.is_sync_control):
            return
        sync_id = change.sync_id if change is not None else sync_id_of(message.body)
        if sync_id is None:
            return
        event_id = change.event_id if change is not None else event_id_of(message.body)
        members[message.message_id] = _SyncMember(
            sync_id,
            event_id or f"message {message.message_id}",
            change.key if change is not None else None,
            change.event_type if change is not None else None,
        )

    def _read(self, message: Source) -> Change:
        provider_id = self.settings.provider_id
        if isinstance(message, Repush):
            return message.stored.to_change(provider_id=provider_id)
        return parse_message(message.body, provider_id=provider_id)

    def _preflight(self, change: Change) -> Change:
        """Serialise what this change will send and store now, while a failure is still its own:
        the same failure inside a batch request or a ledger write would take the batch with it."""
        payload = change.payload
        if change.is_sync_control:
            return change
        if isinstance(payload, ItemUpsert | IdentityUpsert | IdentityAlias | IdentityDelete):
            payload.body.to_wire_json()
        return replace(change, stored=self._stored_change(change))

    def _check(self, change: Change) -> Change:
        if not change.belongs_on(self.settings.kind):
            raise RefusedChange(
                f"{change.event_type} events belong on the {change.kind} queue, not the {self.settings.kind} queue"
                + (" (a sync's events go to the queue of its scope)" if change.is_sync_control else "")
            )
        payload = change.payload
        if isinstance(payload, ItemUpsert):
            body = check_item(
                payload.document_id,
                payload.body,
                allow_public=self.settings.allow_public_items,
                max_permissions=self.settings.max_permissions,
                known_providers=frozenset({self.settings.provider_id, *self.settings.alias_providers}),
            )
            return _replace_payload(change, ItemUpsert(payload.document_id, body, payload.content_ref))
        if isinstance(payload, IdentityUpsert | IdentityAlias | IdentityDelete):
            checked = check_identity(
                payload,
                alias_providers=self.settings.alias_providers,
                default_alias_provider=self.settings.default_alias_provider,
            )
            return _replace_payload(change, checked)
        return change

    def _dead_letter(
        self, message: Source, change: Change | None, error: PermanentError, report: BatchReport
    ) -> None:
        event_id = change.event_id if change else event_id_of(message.body)
        try:
            self.dead_letters.send(
                message.body,
                reason=error.reason,
                kind=error.kind,
                event_id=event_id,
                event_type=change.event_type if change else event_type_of(message.body),
            )
        except Exception as exc:  # the DLQ is unreachable: keep the message on its queue
            report.set(
                message,
                Disposition.RETRY,
                change,
                f"could not dead-letter ({type(exc).__name__}): {error.reason}",
            )
            return
        report.set(message, Disposition.DEAD_LETTERED, change, error.reason, event_id)

    # --- the stale guard ----------------------------------------------------------------------------

    def _claim(
        self,
        winners: list[tuple[Source, Change]],
        report: BatchReport,
        syncs: dict[str, SyncRecord],
        remaining_s: Callable[[], float],
    ) -> list[tuple[Source, Change, Claim]]:
        heads = self.ledger.heads(
            [change.key for _, change in winners], {change.key: change.version for _, change in winners}
        )
        fresh = []
        refresh: dict[str, int | None] = {}
        for message, change in winners:
            head = heads.get(change.key)
            refresh[change.key] = refresh_before(syncs.get(change.sync_id or ""))
            if head is not None and head.supersedes(change.version, refresh[change.key]):
                report.set(
                    message,
                    Disposition.STALE,
                    change,
                    f"version {change.version} is not newer than {head.version}"
                    + (
                        " (already pushed during its sync)"
                        if refresh[change.key] is not None and head.version == change.version
                        else ""
                    ),
                )
            else:
                fresh.append((message, change))
        if not fresh:
            return []
        if len(fresh) > 1:
            # A batch push will need a file container: Coveo creates it while the claims run.
            budget = self._budget_s(remaining_s)
            if budget > 0:
                self.coveo.prefetch_file_container(deadline=Deadline.in_seconds(budget))
        # One orderingId for the whole push, above every orderingId these keys have had, and never
        # in the future: Coveo then drops any older push of the same key that arrives late. A sync's
        # change is also at least its sync's start, so the sync's deletion cannot reach it.
        ordering_id = max(
            [
                self.clock_ms(),
                *(h.ordering_id + 1 for h in heads.values()),
                *(r for _, c in fresh if (r := refresh[c.key]) is not None),
            ]
        )
        claims = []
        expires_at = self.clock_ms() // 1000 + self.settings.ledger_ttl_days * 24 * 3600
        for _, change in fresh:
            head = heads.get(change.key)
            attempts = head.attempts + 1 if head is not None and head.version == change.version else 1
            claims.append(
                Claim(
                    change.key,
                    change.version,
                    ordering_id,
                    change.event_id,
                    change.event_type,
                    change.subject,
                    attempts,
                    expires_at,
                    refresh[change.key],
                )
            )
        claimed = []
        for (message, change), claim, result in zip(
            fresh, claims, self.ledger.claim_many(claims), strict=True
        ):
            if isinstance(result, PermanentError):  # the ledger will not store this change's row
                self._dead_letter(message, change, result, report)
            elif result is ClaimResult.CLAIMED:
                claimed.append((message, change, claim))
            elif result is ClaimResult.STALE:
                report.set(message, Disposition.STALE, change, "a newer version was applied meanwhile")
            else:
                report.set(
                    message,
                    Disposition.RETRY,
                    change,
                    "another invocation pushed this key meanwhile; retrying",
                )
        return claimed

    def _budget_s(self, remaining_s: Callable[[], float]) -> float:
        """Seconds Coveo calls may still take: the invocation's time left less the safety margin."""
        return remaining_s() - self.settings.safety_margin_s

    # --- push ---------------------------------------------------------------------------------------

    def _push(
        self,
        claimed: list[tuple[Source, Change, Claim]],
        report: BatchReport,
        remaining_s: Callable[[], float],
    ) -> None:
        budget = self._budget_s(remaining_s)
        if budget <= 0:
            for message, change, _ in claimed:
                report.set(
                    message,
                    Disposition.RETRY,
                    change,
                    "stopped before the Lambda timeout; SQS will redeliver",
                )
            return
        deadline = Deadline.in_seconds(budget)
        ready = []
        for message, change, claim in claimed:
            try:
                ready.append((message, self._resolve_content(change), claim))
            except ContentNotFound as error:
                first = message.receive_count is None or message.receive_count < 2
                if first:  # the producer may still be uploading it: once more
                    report.set(message, Disposition.RETRY, change, f"{error.reason}; trying once more")
                else:
                    self._dead_letter(message, change, error, report)
            except PermanentError as error:
                self._dead_letter(message, change, error, report)
            except Exception as exc:  # S3 or network: transient
                report.set(
                    message,
                    Disposition.RETRY,
                    change,
                    f"could not fetch content: {type(exc).__name__}: {exc}",
                )
        if len(ready) == 1:
            self._push_one(ready[0], report, deadline)
        elif ready:
            self._push_batch(ready, report, deadline)

    def _push_one(self, entry: tuple[Source, Change, Claim], report: BatchReport, deadline: Deadline) -> None:
        message, change, claim = entry
        sent_at = self.clock_ms()
        try:
            self._single_call(change, claim.ordering_id, deadline)
        except (CoveoError, ItemTooLargeError) as error:
            self._push_failed([entry], error, report)
            return
        except Exception as exc:  # not Coveo's answer: something in this change's request
            reason = f"could not push {change.subject!r}: {describe_exception(exc)}"
            self._dead_letter(message, change, Unprocessable(reason), report)
            return
        self._accepted([entry], None, report, sent_at)

    def _push_batch(
        self, entries: list[tuple[Source, Change, Claim]], report: BatchReport, deadline: Deadline
    ) -> None:
        ordering_id = entries[0][2].ordering_id
        sent_at = self.clock_ms()
        try:
            receipts = self._batch_call([change for _, change, _ in entries], ordering_id, deadline)
        except (CoveoError, ItemTooLargeError) as error:
            if _permanent(error):
                # One bad change must not sink its neighbours: find it by pushing one by one.
                for entry in entries:
                    self._push_one(entry, report, deadline)
            else:
                self._push_failed(entries, error, report)
            return
        except Exception:  # building the batch failed on some change: find it the same way
            for entry in entries:
                self._push_one(entry, report, deadline)
            return
        report.batch_bytes += sum(r.size_bytes for r in receipts)
        report.file_ids.extend(r.file_id for r in receipts)
        # One file container, or (past 256 MB) several: the ledger keeps them all, comma-separated.
        self._accepted(entries, ",".join(r.file_id for r in receipts), report, sent_at)

    def _single_call(self, change: Change, ordering_id: int, deadline: Deadline) -> None:
        payload, source, provider = change.payload, self.settings.source_id, self.settings.provider_id
        if isinstance(payload, ItemUpsert):
            self.coveo.push_item(
                source, payload.document_id, payload.body, ordering_id=ordering_id, deadline=deadline
            )
        elif isinstance(payload, ItemDelete):
            self.coveo.delete_item(
                source,
                payload.document_id,
                delete_children=payload.delete_children,
                ordering_id=ordering_id,
                deadline=deadline,
            )
        elif isinstance(payload, IdentityUpsert):
            self.coveo.push_identity(provider, payload.body, ordering_id=ordering_id, deadline=deadline)
        elif isinstance(payload, IdentityAlias):
            self.coveo.push_alias(provider, payload.body, ordering_id=ordering_id, deadline=deadline)
        else:
            assert isinstance(payload, IdentityDelete)
            self.coveo.delete_identity(provider, payload.body, ordering_id=ordering_id, deadline=deadline)

    def _batch_call(self, changes: list[Change], ordering_id: int, deadline: Deadline) -> list[BatchReceipt]:
        if self.settings.kind == Kind.ITEM:
            adds = [
                c.payload.body.model_copy(update={"document_id": c.payload.document_id})
                for c in changes
                if isinstance(c.payload, ItemUpsert)
            ]
            deletes = [
                BatchDelete(document_id=c.payload.document_id, delete_children=c.payload.delete_children)
                for c in changes
                if isinstance(c.payload, ItemDelete)
            ]
            return self.coveo.push_items(
                self.settings.source_id, adds, deletes, ordering_id=ordering_id, deadline=deadline
            )
        return self.coveo.push_identities(
            self.settings.provider_id,
            members=[c.payload.body for c in changes if isinstance(c.payload, IdentityUpsert)],
            mappings=[c.payload.body for c in changes if isinstance(c.payload, IdentityAlias)],
            deleted=[c.payload.body for c in changes if isinstance(c.payload, IdentityDelete)],
            ordering_id=ordering_id,
            deadline=deadline,
        )

    def _push_failed(
        self,
        entries: list[tuple[Source, Change, Claim]],
        error: CoveoError | ItemTooLargeError,
        report: BatchReport,
    ) -> None:
        if _permanent(error):
            for message, change, _ in entries:
                reason = f"Coveo refused {change.subject!r}: {error}"
                self._dead_letter(message, change, RejectedByCoveo(reason), report)
            return
        for message, change, _ in entries:
            report.set(message, Disposition.RETRY, change, f"transient: {error}")

    def _accepted(
        self,
        entries: list[tuple[Source, Change, Claim]],
        file_id: str | None,
        report: BatchReport,
        sent_at: int,
    ) -> None:
        """Record what Coveo accepted. `pushed_at` is when it was sent: every log entry about this
        push is later than that, and every entry about an earlier push of the key is older."""
        now = self.clock_ms()
        records = [
            Accepted(
                key=change.key,
                version=change.version,
                ordering_id=claim.ordering_id,
                kind=change.kind,
                operation=change.event_type,
                subject=change.subject,
                event_id=change.event_id,
                pushed_at_ms=sent_at,
                file_id=file_id,
                attempts=claim.attempts,
                change=change.stored,
                expires_at=now // 1000 + self.settings.ledger_ttl_days * 24 * 3600,
                event_time_ms=change.time_ms,
            )
            for _, change, claim in entries
        ]
        try:
            self.ledger.record_accepted(records)
        except Exception as exc:  # Coveo has it; without the ledger row the validator cannot check it
            for message, change, _ in entries:
                report.set(
                    message,
                    Disposition.RETRY,
                    change,
                    f"pushed, but the ledger write failed: {type(exc).__name__}",
                )
            return
        for message, change, _ in entries:
            report.set(message, Disposition.PUSHED, change)

    def _stored_change(self, change: Change) -> bytes | None:
        """What the ledger keeps so the change can be pushed again; None when too large to keep."""
        packed = StoredChange.of(change).encode()
        return packed if len(packed) <= self.settings.max_stored_change_bytes else None

    def _resolve_content(self, change: Change) -> Change:
        payload = change.payload
        if not isinstance(payload, ItemUpsert) or payload.content_ref is None:
            return change
        if self.content is None:
            raise RefusedChange("this deployment has no content store for data.contentRef")
        content = self.content.fetch(payload.content_ref)
        # Fetched content is taken as it is unless compressionType says otherwise.
        check_content(
            payload.document_id, content, payload.body.compression_type, default=CompressionType.UNCOMPRESSED
        )
        body = payload.body.model_copy(
            update={
                "compressed_binary_data": base64.b64encode(content).decode(),
                "compression_type": payload.body.compression_type or CompressionType.UNCOMPRESSED,
            }
        )
        return _replace_payload(change, ItemUpsert(payload.document_id, body, None))


@dataclass(frozen=True)
class _SyncMember:
    sync_id: str
    event_id: str
    key: str | None
    operation: str | None


_MEMBER_OUTCOMES = {
    Disposition.PUSHED: MemberOutcome.PUSHED,
    Disposition.STALE: MemberOutcome.STALE,
    Disposition.DEAD_LETTERED: MemberOutcome.DEAD_LETTERED,
}


def _permanent(error: CoveoError | ItemTooLargeError) -> bool:
    if isinstance(error, ItemTooLargeError):
        return True
    if isinstance(error, DeadlineExceededError) or error.retryable:
        return False
    return error.status not in CONFIGURATION_STATUSES


def _replace_payload(change: Change, payload: Any) -> Change:
    return replace(change, payload=payload)
