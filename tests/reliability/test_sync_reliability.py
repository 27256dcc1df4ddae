"""Full syncs under the reliability tier's faults and disorder (issue 16).

A source is loaded first; then a sync repeats most of its items unchanged, changes some, adds
some and leaves some out. Whatever the delivery does to it (sync.completed first, members shuffled
and duplicated over concurrent pollers, a container's clock behind), whatever Coveo does (429, 5xx,
dropped connections, 202s it never processes) and whatever kills a function between two steps, the
sync must end once, with the source holding exactly what the sync and the changes around it say,
and no item the sync kept may ever be absent, not even for a moment: the Logs API, read over the
whole run, must show no deletion of any of them.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from aws_simulator.stack import ITEM_QUEUE
from connector.domain.pipeline import Disposition, Pipeline
from connector.domain.sync import Member, MemberOutcome, SyncRecord, SyncState
from connector.domain.validator import ValidationReport
from tests.pipeline.stack import indexed
from tests.pipeline.test_sync_pipeline import SYNC_OVERRIDES, deleted_ever, sync_event

from .harness import (
    FaultProfile,
    FunctionKilled,
    ReliabilityStack,
    SignatureTamperer,
    Workload,
    account,
    alias_event,
    cloud_event,
    disorder,
    fault_counts,
    fault_rules,
    group_event,
    interleave,
    item_event,
    send_all,
)
from .test_crash_safety import Budget

SEED = 16016
TEAM, DENIED = "sync-team", "sync-user-0"
USERS = ["sync-user-0", "sync-user-1", "sync-user-2"]
# A container whose clock runs this far behind the others (its pushes must still land above the
# sync's start).
SKEW_MS = 10 * 60_000


@pytest.fixture
def sstack(rstack: ReliabilityStack) -> ReliabilityStack:
    # No grace period on the deletion (the emulator applies it at once); the deadline is long
    # enough never to end a sync of this tier that is still being delivered.
    rstack.overrides = {**rstack.overrides, **SYNC_OVERRIDES, "SYNC_DEADLINE_SECONDS": "30"}
    return rstack


# --- the source and the sync ----------------------------------------------------------------------


def doc(n: int) -> str:
    return f"file://sync/doc-{n:03d}.txt"


def in_sync(event: dict[str, Any], sync_id: str) -> dict[str, Any]:
    return {**event, "id": f"{event['id']}#{sync_id}", "data": {**event["data"], "syncId": sync_id}}


@dataclass
class SyncPlan:
    """A source of `loaded` documents at version 1, and a sync of it: `left_out` (the last loaded)
    absent, `changed` at version 2, `added` new ones at version 1, the rest repeated unchanged."""

    sync_id: str
    provider: str
    loaded: list[str]
    left_out: list[str]
    changed: list[str]
    added: list[str]

    @classmethod
    def make(
        cls, sync_id: str, provider: str, *, loaded: int, left_out: int, changed: int, added: int, seed: int
    ) -> SyncPlan:
        documents = [doc(n) for n in range(loaded)]
        rng = random.Random(seed)
        return cls(
            sync_id,
            provider,
            documents,
            documents[loaded - left_out :],
            sorted(rng.sample(documents[: loaded - left_out], changed)),
            [doc(n) for n in range(loaded, loaded + added)],
        )

    @property
    def repeated(self) -> list[str]:
        return [d for d in self.loaded if d not in self.left_out and d not in self.changed]

    @property
    def kept(self) -> set[str]:
        return {*self.repeated, *self.changed, *self.added}

    def item(self, document_id: str, version: int, *, delete: bool = False) -> dict[str, Any]:
        return item_event(
            document_id, version, team=TEAM, denied=DENIED, provider=self.provider, delete=delete
        )

    def identities(self) -> list[dict[str, Any]]:
        return [*(alias_event(user, 1) for user in USERS), group_event(TEAM, 1, USERS[1:])]

    def load(self, documents: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return [self.item(d, 1) for d in (self.loaded if documents is None else documents)]

    def members(self) -> list[dict[str, Any]]:
        versions = (
            [(d, 1) for d in self.repeated] + [(d, 2) for d in self.changed] + [(d, 1) for d in self.added]
        )
        return [in_sync(self.item(d, v), self.sync_id) for d, v in versions]

    def newest(self) -> dict[str, int]:
        """Document → the version the sync leaves it at."""
        return {**dict.fromkeys(self.kept, 1), **dict.fromkeys(self.changed, 2)}

    def started(self) -> dict[str, Any]:
        """sync.started with the producer's time: now, so build it when the producer would send it."""
        return {
            **sync_event("started", self.sync_id, scope="items"),
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }

    def completed(self, count: int | None = None) -> dict[str, Any]:
        return sync_event("completed", self.sync_id, count=len(self.members()) if count is None else count)

    def workload(self, *extra: dict[str, Any], without: Sequence[str] = ()) -> Workload:
        """What `account` follows: the identities, the load (but `without`), the members, `extra`."""
        load = [e for e in self.load() if e["data"]["documentId"] not in without]
        return Workload(self.provider, self.identities(), [*load, *self.members(), *extra])


def load_source(stack: ReliabilityStack, plan: SyncPlan) -> None:
    """Identities and the documents the sync keeps, then the ones it will leave out (so those have
    the highest orderingIds of the source), all verified before the sync begins."""
    send_all(stack, plan.identities() + plan.load([d for d in plan.loaded if d not in plan.left_out]))
    stack.drain_with(workers=2)
    send_all(stack, plan.load(plan.left_out))
    stack.drain_with(workers=2)
    assert stack.settle(timeout_s=20)["pending"] == 0
    assert set(indexed(stack)) == set(plan.loaded)


def close_syncs(
    stack: ReliabilityStack, timeout_s: float, run: Callable[[], ValidationReport] | None = None
) -> tuple[Counter[str], list[ValidationReport]]:
    """The validator on its schedule until nothing is pending and no sync is running (a killed run
    counts as `killed`); the totals, and each run's report."""
    totals: Counter[str] = Counter()
    reports: list[ValidationReport] = []
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            report = run() if run is not None else stack.validate()
        except FunctionKilled:
            totals["killed"] += 1
            continue
        reports.append(report)
        totals.update(
            runs=1,
            verified=report.verified,
            failed=report.failed,
            repushed=report.repushed,
            completed=report.syncs_completed,
            syncs_failed=report.syncs_failed,
            refused=report.syncs_refused,
        )
        if (report.pending == 0 and report.syncs_running == 0) or time.monotonic() > deadline:
            totals.update(pending=report.pending, running=report.syncs_running)
            return totals, reports
        time.sleep(0.3)


def record_of(stack: ReliabilityStack, sync_id: str) -> SyncRecord:
    return stack.runtime.syncs().get([sync_id])[sync_id]


def revisions(stack: ReliabilityStack) -> dict[str, Any]:
    """Each indexed document → the version (`rev`) the index holds."""
    return {d: item["metadata"].get("rev") for d, item in indexed(stack).items()}


def assert_accounted(stack: ReliabilityStack, workload: Workload) -> None:
    """Every event of `workload` verified or stale (none lost, none left mid-flight), and Coveo
    holds the newest version of each of its keys."""
    result = account(stack, workload, strict=True)
    assert result.lost() == []
    assert result.problems == []
    assert result.behind == {}


def assert_completed(stack: ReliabilityStack, plan: SyncPlan, record: SyncRecord) -> None:
    """The sync ended COMPLETED, counted each change once, and left exactly its own items, at the
    versions it carried; the only documents ever deleted are the ones it left out."""
    assert record.state is SyncState.COMPLETED, record
    ever = deleted_ever(stack)
    assert ever & plan.kept == set(), f"kept items deleted at some moment: {sorted(ever & plan.kept)}"
    assert ever == set(plan.left_out)
    assert revisions(stack) == plan.newest()
    count = len(plan.members())
    assert (record.expected, record.settled) == (count, count), record
    assert record.deleted == len(plan.left_out), record
    assert_accounted(stack, plan.workload(without=plan.left_out))
    assert stack.dead_letters() == []


# --- 1. disorder and duplication ------------------------------------------------------------------


class SkewedClocks:
    """Every second item-queue poller runs in a container whose clock is SKEW_MS behind; counts what
    those containers pushed."""

    def __init__(self) -> None:
        self.made = 0
        self.pushed = 0
        self._lock = threading.Lock()

    def wrap(self, pipeline: Pipeline, queue: str) -> Any:
        if queue != ITEM_QUEUE:
            return pipeline
        with self._lock:
            self.made += 1
            if self.made % 2:
                return pipeline
        return _Counting(
            dataclasses.replace(pipeline, clock_ms=lambda: int(time.time() * 1000) - SKEW_MS), self
        )

    def count(self, pushed: int) -> None:
        with self._lock:
            self.pushed += pushed


class _Counting:
    def __init__(self, inner: Pipeline, clocks: SkewedClocks) -> None:
        self.inner = inner
        self.clocks = clocks

    def process(self, messages: Sequence[Any], remaining_s: Callable[[], float]) -> Any:
        report = self.inner.process(messages, remaining_s)
        self.clocks.count(report.count(Disposition.PUSHED))
        return report


def test_a_sync_delivered_out_of_order_and_twice_over_keeps_every_repeated_item(
    sstack: ReliabilityStack,
) -> None:
    stack = sstack
    plan = SyncPlan.make(
        "sync-disorder", stack.coveo.provider_id, loaded=60, left_out=6, changed=8, added=6, seed=SEED
    )
    load_source(stack, plan)

    # The producer sends sync.started, its changes, sync.completed; the connector hears of the sync
    # first from sync.completed, then gets the rest shuffled, each event 1-3 times, from two
    # concurrent pollers. One of them runs in a container whose clock is 10 minutes behind: its
    # pushes must still get orderingIds at or above the sync's start, or the deletion (never above
    # a member's orderingId) would fall below the left-out documents and leave them in the source.
    started = plan.started()
    stack.send([plan.completed()])
    stack.drain_with(workers=1)
    copies = disorder([*plan.members(), started, plan.completed()], SEED)
    assert len(copies) > len(plan.members()) + 2  # there really are duplicates
    clocks = SkewedClocks()
    stack.wrap = clocks.wrap
    send_all(stack, copies)
    drained = stack.drain_with(workers=2)[ITEM_QUEUE]
    stack.wrap = None
    totals, _ = close_syncs(stack, timeout_s=30)
    print(f"\nvalidator {dict(totals)}; skewed container pushed {clocks.pushed}")

    assert all(r.drained and r.handler_errors == 0 for r in drained)
    assert sum(r.invocations > 0 for r in drained) == 2  # both pollers really took batches
    assert clocks.pushed > 0  # and the container behind pushed some of the sync's changes
    assert (totals["completed"], totals["pending"], totals["running"]) == (1, 0, 0)
    assert_completed(stack, plan, record_of(stack, plan.sync_id))


# --- 2. Coveo's faults ----------------------------------------------------------------------------


def test_a_sync_under_coveo_faults_waits_for_its_lost_pushes_to_be_verified_before_deleting(
    sstack: ReliabilityStack,
) -> None:
    stack = sstack
    # A push with no verdict is re-pushed this long after its 202: longer than the sync's delivery,
    # so the first validator run after it still finds the lost pushes unverified (the moment a
    # deletion would remove them).
    stack.overrides = {**stack.overrides, "VALIDATION_DEADLINE_SECONDS": "12"}
    plan = SyncPlan.make(
        "sync-faults", stack.coveo.provider_id, loaded=40, left_out=5, changed=5, added=5, seed=SEED
    )
    load_source(stack, plan)

    profile = FaultProfile()
    tamperer = SignatureTamperer(profile.upload_denied, seed=SEED)
    stack.use_client(timeout_s=profile.client_timeout_s, transport=tamperer)
    stack.emulator("faults", "PUT", fault_rules(profile, SEED))
    send_all(stack, [plan.started(), *interleave(plan.members(), SEED), plan.completed()])
    drained = stack.drain_with(workers=2)
    totals, reports = close_syncs(stack, timeout_s=60)
    faults = fault_counts(stack.emulator("faults"), tamperer)
    stack.emulator("faults", "PUT", {"rules": []})  # reading the state back must not be faulted
    rows = stack.ledger_rows()
    repushed = sorted(d for d in plan.kept if int(rows[f"item#{d}"]["repushes"]) > 0)
    print(f"\nfaults {faults}\nvalidator {dict(totals)}\nre-pushed members {repushed}")

    assert all(r.drained and r.handler_errors == 0 for results in drained.values() for r in results)
    assert all(count > 0 for count in faults.values()), faults
    # Coveo lost pushes of the sync's changes, among them an item the sync repeated unchanged: its
    # old orderingId stayed in the index until the validator's re-push landed.
    assert faults["202-then-lost"] > 0
    assert set(repushed) & set(plan.repeated), repushed
    assert (totals["completed"], totals["pending"], totals["running"]) == (1, 0, 0)
    # None of them was absent at any moment, and the sync still deleted what it left out.
    assert_completed(stack, plan, record_of(stack, plan.sync_id))
    # That is because it waited: the first validator run after the delivery found the lost pushes
    # unverified (not yet re-pushed: the moment a deletion would have removed them) and deleted
    # nothing; the sync completed only after their re-pushes were verified.
    assert reports[0].repushed == 0 and reports[0].syncs_running == 1, reports[0]
    assert totals["repushed"] > 0


# --- 3. incremental changes during the sync -------------------------------------------------------


def test_incremental_changes_during_a_sync_are_kept_and_the_newest_version_wins(
    sstack: ReliabilityStack,
) -> None:
    stack = sstack
    plan = SyncPlan.make(
        "sync-incremental", stack.coveo.provider_id, loaded=40, left_out=6, changed=4, added=4, seed=SEED
    )
    load_source(stack, plan)
    updated, deleted = plan.repeated[0], plan.repeated[1]  # the sync carries both at version 1
    changed_again = plan.changed[0]  # the sync carries version 2
    revived = plan.left_out[0]  # upstream left it out of its snapshot, then changed it
    early, new = "file://sync/incremental-early.txt", "file://sync/incremental-new.txt"
    incremental = [
        plan.item(updated, 2),
        plan.item(deleted, 2, delete=True),
        plan.item(changed_again, 3),
        plan.item(revived, 2),
        plan.item(new, 1),
    ]

    # The producer sends sync.started, then a brand-new item outside the sync that overtakes
    # sync.started in the queue: it is pushed before the connector hears of the sync.
    started = plan.started()
    send_all(stack, [plan.item(early, 1)])
    stack.drain_with(workers=1)
    # Then the sync's events and the other incremental changes, shuffled, over two pollers.
    everything = [started, *plan.members(), *incremental, plan.completed()]
    random.Random(SEED).shuffle(everything)
    send_all(stack, everything)
    drained = stack.drain_with(workers=2)[ITEM_QUEUE]
    totals, _ = close_syncs(stack, timeout_s=30)
    print(f"\nvalidator {dict(totals)}")

    assert all(r.drained and r.handler_errors == 0 for r in drained)
    record = record_of(stack, plan.sync_id)
    count = len(plan.members())
    assert record.state is SyncState.COMPLETED, record
    assert (record.expected, record.settled) == (count, count)
    # Deleted ever: what the sync left out (but the one changed during it) and the incremental
    # deletion; never an item the sync kept, nor one of the incremental changes.
    gone = set(plan.left_out) - {revived}
    assert deleted_ever(stack) == gone | {deleted}
    wanted = plan.newest() | {updated: 2, changed_again: 3, revived: 2, new: 1, early: 1}
    del wanted[deleted]
    assert revisions(stack) == wanted
    assert_accounted(stack, plan.workload(plan.item(early, 1), *incremental, without=sorted(gone)))
    assert stack.dead_letters() == []


# --- 4. crashes between steps ---------------------------------------------------------------------


class KilledAroundRecording:
    """The sync ledger of a function that dies after pushing a batch and before its sync heard of
    it (`before`), or right after its sync heard of it, before SQS did (`after`)."""

    def __init__(self, inner: Any, before: Budget, after: Budget) -> None:
        self.inner = inner
        self.before = before
        self.after = after

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def record_members(self, sync_id: str, members: Sequence[Member], *, now_ms: int) -> None:
        pushed = any(m.outcome is MemberOutcome.PUSHED for m in members)
        if pushed and self.before.take():
            raise FunctionKilled("function killed after its push, before its sync counted the batch")
        self.inner.record_members(sync_id, members, now_ms=now_ms)
        if pushed and self.after.take():
            raise FunctionKilled("function killed after its sync counted the batch, before SQS heard")


class KilledBeforeFinish:
    """The validator's sync ledger in a run that dies after sending the deletion, before the sync's
    record says so."""

    def __init__(self, inner: Any, budget: Budget) -> None:
        self.inner = inner
        self.budget = budget

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def finish(self, sync_id: str, state: SyncState, **kwargs: Any) -> bool:
        if state is SyncState.COMPLETED and self.budget.take():
            raise FunctionKilled("validator killed after the deletion request, before the sync finished")
        result: bool = self.inner.finish(sync_id, state, **kwargs)
        return result


def test_a_sync_survives_functions_killed_between_its_steps(sstack: ReliabilityStack) -> None:
    stack = sstack
    plan = SyncPlan.make(
        "sync-crash", stack.coveo.provider_id, loaded=40, left_out=5, changed=5, added=5, seed=SEED
    )
    load_source(stack, plan)

    before, after = Budget(1), Budget(1)

    def wrap(pipeline: Pipeline, queue: str) -> Pipeline:
        if queue != ITEM_QUEUE:
            return pipeline
        return dataclasses.replace(pipeline, syncs=KilledAroundRecording(pipeline.syncs, before, after))

    stack.wrap = wrap
    send_all(stack, [plan.started(), *interleave(plan.members(), SEED), plan.completed()])
    drained = stack.drain_with(workers=2)[ITEM_QUEUE]
    stack.wrap = None
    assert before.struck == after.struck == 1
    assert sum(r.handler_errors for r in drained) == 2  # both invocations died; SQS redelivered

    totals, deletions = close_killing_once(stack)
    print(f"\nvalidator {dict(totals)}")
    # The deletion was sent before the kill and once more by the next run; the sync ended once.
    assert deletions == 2
    assert (totals["completed"], totals["syncs_failed"], totals["pending"], totals["running"]) == (1, 0, 0, 0)
    # Every change counted once, whatever was delivered twice; the count of what was deleted is the
    # one planned before the kill (the next test shows it on its own).
    assert_completed(stack, plan, record_of(stack, plan.sync_id))


def test_a_sync_whose_validator_died_after_the_deletion_still_says_what_it_deleted(
    sstack: ReliabilityStack,
) -> None:
    """The deletion (orderingId and count) is planned on the record before it is sent; the run
    after a kill sends it again and ends the sync with that count, not with a recount of a source
    Coveo has already emptied of what the sync left out."""
    stack = sstack
    plan = SyncPlan.make(
        "sync-deleted-count", stack.coveo.provider_id, loaded=12, left_out=3, changed=2, added=1, seed=SEED
    )
    load_source(stack, plan)
    send_all(stack, [plan.started(), *plan.members(), plan.completed()])
    stack.drain_with(workers=1)
    totals, deletions = close_killing_once(stack)
    assert (deletions, totals["completed"]) == (2, 1)
    assert set(indexed(stack)) == plan.kept  # the left-out documents were deleted
    record = record_of(stack, plan.sync_id)
    assert record.deleted == len(plan.left_out), record


def close_killing_once(stack: ReliabilityStack) -> tuple[Counter[str], int]:
    """Close the syncs with a validator killed once between the deletion request and the sync's
    finish; the totals, and how many deletions Coveo was sent."""
    validator = stack.runtime.validator("validate_pushes")
    assert validator.syncs is not None
    killed = Budget(1)
    validator.syncs = dataclasses.replace(
        validator.syncs, syncs=KilledBeforeFinish(validator.syncs.syncs, killed)
    )
    deletions_before = older_than_requests(stack)
    totals, _ = close_syncs(stack, timeout_s=30, run=validator.run)
    assert killed.struck == totals["killed"] == 1
    return totals, older_than_requests(stack) - deletions_before


def older_than_requests(stack: ReliabilityStack) -> int:
    stats = stack.emulator("stats")
    routes = stats.get("byRoute", stats)
    return sum(int(n) for route, n in routes.items() if "olderthan" in route and route.startswith("DELETE"))


# --- 5. a dead letter among the sync's changes ----------------------------------------------------


def test_a_sync_with_a_dead_lettered_change_fails_deletes_nothing_and_pushes_the_rest(
    sstack: ReliabilityStack,
) -> None:
    stack = sstack
    plan = SyncPlan.make(
        "sync-dead-letter", stack.coveo.provider_id, loaded=90, left_out=5, changed=10, added=15, seed=SEED
    )
    assert len(plan.members()) == 100
    load_source(stack, plan)
    # Upstream still has one of the documents the plan leaves out, but the producer sent its change
    # with no permission model: refused at the boundary, dead-lettered. Deleting what the sync
    # "left out" would delete that document.
    unsecured = plan.left_out[0]
    bad = in_sync(
        cloud_event(
            f"{unsecured}@2",
            "item.upserted",
            {"documentId": unsecured, "version": 2, "document": {"data": "no permissions", "rev": 2}},
        ),
        plan.sync_id,
    )
    members = plan.members()
    members.insert(len(members) // 2, bad)
    deletions_before = older_than_requests(stack)
    send_all(stack, [plan.started(), *members, plan.completed(count=len(members))])
    drained = stack.drain_with(workers=2)[ITEM_QUEUE]
    totals, _ = close_syncs(stack, timeout_s=30)
    print(f"\nvalidator {dict(totals)}")

    assert all(r.drained and r.handler_errors == 0 for r in drained)
    record = record_of(stack, plan.sync_id)
    assert record.state is SyncState.FAILED, record
    # Nothing was deleted, nor asked to be: every left-out document is still there, the unsecured
    # one at the version it had (its refused change applied nothing).
    assert older_than_requests(stack) == deletions_before
    assert deleted_ever(stack) == set()
    assert record.deleted is None
    # It failed because of the dead letter, and says which.
    assert "dead-lettered" in (record.reason or "") and bad["id"] in (record.reason or ""), record.reason
    # The other hundred changes were pushed and verified all the same.
    assert revisions(stack) == {**dict.fromkeys(plan.loaded, 1), **plan.newest()}
    dead = stack.dead_letters()
    assert [(d["eventId"], "permission" in (d["reason"] or "")) for d in dead] == [(bad["id"], True)], dead
    assert_accounted(stack, plan.workload())
