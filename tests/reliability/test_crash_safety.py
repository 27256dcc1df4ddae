"""A function killed, or out of time, in the middle of a batch: SQS redelivers the batch and the
work completes, with nothing applied out of order and no ledger row left half-done (CLAIMED).

Kills are exceptions raised from inside the pipeline's collaborators at the worst moments: after
Coveo accepted a push but before the ledger heard of it, and between two claims of one batch.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from connector.domain.ledger import Status
from connector.domain.pipeline import Pipeline

from .harness import (
    ITEM_QUEUE,
    FunctionKilled,
    ReliabilityStack,
    Workload,
    account,
    interleave,
    item_event,
    make_workload,
    send_all,
)

SEED = 99


class Budget:
    """How many times to strike, shared by every poller's wrapper."""

    def __init__(self, strikes: int) -> None:
        self.left = strikes
        self.struck = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            self.struck += 1
            return True


class _Delegate:
    def __init__(self, inner: Any, budget: Budget) -> None:
        self.inner = inner
        self.budget = budget

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _maybe_kill(self, where: str) -> None:
        if self.budget.take():
            raise FunctionKilled(f"function killed {where}")


class KilledAfterPush(_Delegate):
    """Coveo accepts the batch (202), then the function dies before recording it in the ledger."""

    def push_items(self, *args: Any, **kwargs: Any) -> Any:
        receipts = self.inner.push_items(*args, **kwargs)
        self._maybe_kill("after Coveo accepted the batch")
        return receipts


class KilledBetweenClaims(_Delegate):
    """The function dies after claiming some keys of a batch and before claiming the rest."""

    def __init__(self, inner: Any, budget: Budget, after: int) -> None:
        super().__init__(inner, budget)
        self.after = after
        self.claims = 0

    def claim(self, claim: Any) -> Any:
        self.claims += 1  # one wrapper per poller thread
        if self.claims % (self.after + 1) == 0:
            self._maybe_kill(f"after {self.after} claims")
        return self.inner.claim(claim)

    def claim_many(self, claims: Any) -> list[Any]:
        # The pipeline claims a batch at once; dying part-way leaves some keys claimed, as here.
        return [self.claim(claim) for claim in claims]


class SlowLedgerWrite(_Delegate):
    """The ledger write after a push takes longer than the function has left: Lambda times the
    invocation out, so the whole batch fails although every push of it was accepted and recorded."""

    def __init__(self, inner: Any, budget: Budget, seconds: float) -> None:
        super().__init__(inner, budget)
        self.seconds = seconds

    def record_accepted(self, accepted: Any) -> None:
        self.inner.record_accepted(accepted)
        if self.budget.take():
            time.sleep(self.seconds)


def items_workload(rstack: ReliabilityStack) -> Workload:
    # 2-4 versions of most documents, sent oldest first: a killed batch's older versions come
    # back after newer ones were pushed, which is where "out of order" would show.
    return make_workload(50, 16, seed=SEED, provider=rstack.coveo.provider_id, group_versions=1)


def run_items(rstack: ReliabilityStack, workload: Workload) -> Any:
    send_all(rstack, workload.identities)
    rstack.drain_with(workers=1)
    send_all(rstack, interleave(workload.items, SEED))
    drained = rstack.drain_with(workers=2)[ITEM_QUEUE]
    assert rstack.settle(timeout_s=20)["pending"] == 0
    return drained


def assert_completed_in_order(rstack: ReliabilityStack, workload: Workload) -> None:
    result = account(rstack, workload, strict=True)
    assert result.lost() == []
    # Coveo holds every document's newest version, and no ledger row is CLAIMED or ACCEPTED.
    assert result.problems == []
    assert rstack.dead_letters() == []


def test_killed_after_coveo_accepted_a_batch(rstack: ReliabilityStack) -> None:
    kills = Budget(2)

    def wrap(pipeline: Pipeline, queue: str) -> Pipeline:
        killing = KilledAfterPush(pipeline.coveo, kills)
        return dataclasses.replace(pipeline, coveo=killing) if queue == ITEM_QUEUE else pipeline

    rstack.wrap = wrap
    workload = items_workload(rstack)
    drained = run_items(rstack, workload)
    assert kills.struck == sum(r.handler_errors for r in drained) == 2
    assert_completed_in_order(rstack, workload)


def test_killed_between_claims_of_one_batch(rstack: ReliabilityStack) -> None:
    kills = Budget(2)

    def wrap(pipeline: Pipeline, queue: str) -> Pipeline:
        killing = KilledBetweenClaims(pipeline.ledger, kills, after=4)
        return dataclasses.replace(pipeline, ledger=killing) if queue == ITEM_QUEUE else pipeline

    rstack.wrap = wrap
    workload = items_workload(rstack)
    drained = run_items(rstack, workload)
    assert kills.struck == sum(r.handler_errors for r in drained) == 2
    assert_completed_in_order(rstack, workload)


def test_out_of_time_after_pushing_a_batch(rstack: ReliabilityStack) -> None:
    slow = Budget(1)

    timeout_s = 2.0

    def wrap(pipeline: Pipeline, queue: str) -> Pipeline:
        # The write alone lasts the whole timeout; the invocation began before it, so it overruns.
        slowed = SlowLedgerWrite(pipeline.ledger, slow, seconds=timeout_s)
        return dataclasses.replace(pipeline, ledger=slowed) if queue == ITEM_QUEUE else pipeline

    rstack.wrap = wrap
    rstack.function_timeout_s = timeout_s
    rstack.overrides = {**rstack.overrides, "SAFETY_MARGIN_SECONDS": "0.5"}
    workload = items_workload(rstack)
    drained = run_items(rstack, workload)
    timed_out = [b for r in drained for b in r.batches if b.handler_error and "timed out" in b.handler_error]
    assert len(timed_out) == slow.struck == 1
    assert_completed_in_order(rstack, workload)


def test_out_of_time_while_coveo_is_slow(rstack: ReliabilityStack) -> None:
    # The batch PUT answers after 2.5 s; the function has 3 s and stops 1 s before: the push runs
    # out of time, the batch is reported for retry, and the redelivery completes it.
    rstack.function_timeout_s = 3.0
    rstack.emulator(
        "faults",
        "PUT",
        {
            "seed": 1,
            "rules": [{"route": "PUT */documents/batch", "action": "delay", "delaySeconds": 2.5, "count": 2}],
        },
    )
    workload = items_workload(rstack)
    drained = run_items(rstack, workload)
    assert sum(r.failed for r in drained) > 0  # the slow batches were retried
    assert_completed_in_order(rstack, workload)


def test_a_validator_repush_that_fails_leaves_no_row_claimed(rstack: ReliabilityStack) -> None:
    # An item granted to a group Coveo does not know yet is rejected, and the validator re-pushes
    # it; here every attempt of that re-push is throttled (Retry-After 0 keeps it quick). No SQS
    # message stands behind a re-push, so a row left CLAIMED would never be pushed again.
    event = item_event(
        "file://crash/repush.txt", 1, team="Unknown", denied="bob", provider=rstack.coveo.provider_id
    )
    send_all(rstack, [event])
    rstack.drain_with(workers=1)
    pushed_at = rstack.ledger_rows()["item#file://crash/repush.txt"]["pushedAt"]
    rstack.emulator(
        "faults",
        "PUT",
        {"seed": 1, "rules": [{"route": "PUT */documents", "action": "429", "retryAfter": 0, "count": 8}]},
    )
    rstack.settle(timeout_s=10)
    assert rstack.emulator("faults")["rules"][0]["fired"] == 8  # the re-push really failed
    row = rstack.ledger_rows()["item#file://crash/repush.txt"]
    # The validator still owns it, or gave its verdict; either way it reads the row again: the row
    # keeps the time of a push Coveo accepted, the first or a later re-push (without pushedAt the
    # byStatus index drops it and nothing ever looks at it again).
    assert row["status"] in ("ACCEPTED", "FAILED")
    assert "pushedAt" in row, row
    assert int(row["pushedAt"]) >= int(pushed_at)
    verdicts = rstack.runtime.ledger()
    assert "item#file://crash/repush.txt" in {
        r.key for status in (Status.ACCEPTED, Status.FAILED) for r in verdicts.rows_with_status(status).rows
    }
