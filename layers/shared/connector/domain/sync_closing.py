"""The validator's part in full syncs: end each running sync that is complete or cannot complete.

A complete sync (every counted change settled, every member's push verified in the index) is
weighed against the source (or the provider): if it would delete more than the allowed share
without the producer's `allowMassDelete`, it is REFUSED and deletes nothing; otherwise Coveo is asked
to delete what is older than the sync (`judge` picks the orderingId) and the sync is COMPLETED. An
incomplete one past its deadline, or one with a dead letter or a push Coveo did not index, is
FAILED and deletes nothing. The source's status goes back to IDLE when its sync ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from coveo_push_api import CoveoError

from ..ports import CoveoSync, Ledger, SyncLedger
from .errors import describe_exception
from .events import Kind
from .sync import (
    Delete,
    Fail,
    SyncRecord,
    SyncRunReport,
    SyncSettings,
    SyncState,
    Tally,
    judge,
    refusal,
    scope_noun,
)


@dataclass
class SyncCloser:
    settings: SyncSettings
    syncs: SyncLedger
    ledger: Ledger  # the heads of the syncs' members
    coveo: CoveoSync
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))

    def run(self) -> SyncRunReport:
        """Each running sync looked at once; one that cannot be judged now (Coveo or the ledger
        unavailable) is left RUNNING for the next run, with a note."""
        report = SyncRunReport()
        for record in self.syncs.running():
            try:
                self._close(record, report)
            except Exception as error:  # Coveo, S3 or DynamoDB: this sync waits, the others go on
                report.notes.append(
                    f"sync {record.sync_id!r} left running this time: {describe_exception(error)}"
                )
        return report

    def _close(self, record: SyncRecord, report: SyncRunReport) -> None:
        now = self.clock_ms()
        if record.threshold is not None and record.deleted is not None:
            # A run planned (and may have sent) this deletion, then died: send it again (it is
            # idempotent) and end the sync as that run would have.
            self._complete(record, record.threshold, record.deleted, record.settled, now, report)
            return
        tally = Tally.of(self.syncs.members(record.sync_id))
        if len(tally.settled) != record.settled:
            self.syncs.count_settled(record.sync_id, len(tally.settled))
        verdict = judge(
            record,
            tally,
            lambda keys: self.ledger.heads(keys),
            now_ms=now,
            deadline_s=self.settings.sync_deadline_s,
            max_age_s=self.settings.max_age_s,
        )
        if isinstance(verdict, Fail):
            self._end(record, SyncState.FAILED, verdict.reason, now, report, settled=len(tally.settled))
            return
        if not isinstance(verdict, Delete):
            report.waiting += 1
            return
        total = self._size(record.scope)
        to_delete = max(0, total - verdict.kept)
        refused = refusal(
            to_delete=to_delete,
            total=total,
            allow_mass_delete=record.allow_mass_delete,
            max_share=self.settings.max_delete_share,
            noun=scope_noun(record.scope),
        )
        if refused is not None:
            self._end(record, SyncState.REFUSED, refused, now, report, settled=len(tally.settled))
            return
        threshold, deleted = self.syncs.plan_deletion(
            record.sync_id, threshold=verdict.threshold, deleted=to_delete
        )
        self._complete(record, threshold, deleted, len(tally.settled), now, report)

    def _complete(
        self, record: SyncRecord, threshold: int, deleted: int, settled: int, now: int, report: SyncRunReport
    ) -> None:
        """Send the planned deletion, then end the sync COMPLETED with it."""
        self._delete_older_than(record.scope, threshold)
        self._end(
            record,
            SyncState.COMPLETED,
            None,
            now,
            report,
            settled=settled,
            deleted=deleted,
            threshold=threshold,
        )

    def _size(self, scope: Kind) -> int:
        if scope is Kind.ITEM:
            return self.coveo.count_documents(self.settings.source_id)
        return self.coveo.count_identities(self.settings.provider_id)

    def _delete_older_than(self, scope: Kind, threshold: int) -> None:
        delay = self.settings.sync_queue_delay_minutes
        if scope is Kind.ITEM:
            self.coveo.delete_items_older_than(self.settings.source_id, threshold, queue_delay_minutes=delay)
        else:
            self.coveo.delete_identities_older_than(
                self.settings.provider_id, threshold, queue_delay_minutes=delay
            )

    def _end(
        self,
        record: SyncRecord,
        state: SyncState,
        reason: str | None,
        now: int,
        report: SyncRunReport,
        *,
        settled: int,
        deleted: int | None = None,
        threshold: int | None = None,
    ) -> None:
        ended = self.syncs.finish(
            record.sync_id,
            state,
            reason=reason,
            now_ms=now,
            settled=settled,
            deleted=deleted,
            threshold=threshold,
        )
        if not ended:
            return  # another run (or a superseding sync.started) ended it first
        if state is SyncState.COMPLETED:
            report.completed += 1
            report.deleted += deleted or 0
        elif state is SyncState.REFUSED:
            report.refused += 1
        else:
            report.failed += 1
        report.ended.append(record.sync_id)
        if state is not SyncState.COMPLETED:
            report.notes.append(f"sync {record.sync_id!r} of {record.scope_name} {state.value}: {reason}")
        if record.scope is Kind.ITEM and self.syncs.current(Kind.ITEM) == record.sync_id:
            # The source's rebuild activity ends with its sync (a superseding sync keeps it open).
            try:
                self.coveo.set_source_status(self.settings.source_id, "IDLE")
            except CoveoError as error:
                report.notes.append(f"the source's status could not be set back to IDLE: {error}")
