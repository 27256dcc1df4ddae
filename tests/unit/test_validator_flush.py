"""The ledger may hold verdicts back and write them together (the DynamoDB ledger writes one
part per batch, not one row per change): whoever gives verdicts must `flush`, or they are lost."""

from __future__ import annotations

from typing import Any

import pytest

from connector.domain.ledger import Row, Status
from connector.domain.pipeline import Disposition
from connector.domain.validator import repush_stored_changes
from tests.in_memory_ledger import InMemoryLedger
from tests.unit.test_validator_verdicts import T0, Reader, Repusher, item, log, status, validator


class HoldingLedger(InMemoryLedger):
    """Holds every mark and settle back until `flush`, as the DynamoDB ledger may."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def mark(self, row: Row, status: Status, *, reason: str | None, now_ms: int) -> bool:
        self.held.append(("mark", (row, status), {"reason": reason, "now_ms": now_ms}))
        return True

    def settle(self, row: Row, status: Status, *, reason: str, now_ms: int) -> bool:
        self.held.append(("settle", (row, status), {"reason": reason, "now_ms": now_ms}))
        return True

    def flush(self) -> None:
        held, self.held = self.held, []
        for name, args, kwargs in held:
            getattr(super(), name)(*args, **kwargs)


def test_a_run_writes_its_verdicts_before_it_ends() -> None:
    ledger, reader = HoldingLedger(), Reader()
    item(ledger, "file://a")
    item(ledger, "file://b")
    reader.entries = [
        log("file://a", "INDEXING", "COMPLETED", T0 + 1_000),
        log("file://b", "INDEXING", "REJECTED", T0 + 1_000, error="bad"),
    ]
    report = validator(ledger, reader, max_repushes=0).run()
    assert (report.verified, report.failed) == (1, 1)
    assert ledger.held == []
    assert status(ledger, "item#file://a")[0] is Status.VERIFIED
    assert status(ledger, "item#file://b") == (Status.FAILED, "bad")


def test_a_run_that_fails_midway_still_writes_the_verdicts_it_gave() -> None:
    ledger, reader = HoldingLedger(), Reader()
    item(ledger, "file://a")
    reader.entries = [log("file://a", "INDEXING", "COMPLETED", T0 + 1_000)]
    reader.indexes = RuntimeError("the permission sample broke")  # after the verdicts
    with pytest.raises(RuntimeError, match="the permission sample broke"):
        validator(ledger, reader).run()
    assert status(ledger, "item#file://a")[0] is Status.VERIFIED


def test_re_pushing_writes_what_it_settled_before_it_returns() -> None:
    """`coveo-push redrive --repush` calls this outside any validator run: nothing may stay held."""
    ledger = HoldingLedger()
    row = item(ledger, "file://a")
    ledger.mark(row, Status.FAILED, reason="rejected", now_ms=T0)
    ledger.flush()
    failed = ledger.get("item#file://a")
    assert failed is not None
    refused = Repusher(disposition=Disposition.DEAD_LETTERED, reason="no permissions")
    repush_stored_changes([(failed, "operator")], ledger, refused, now_ms=T0 + 1, source="coveo-push-redrive")
    assert ledger.held == []
    assert status(ledger, "item#file://a") == (Status.FAILED, "re-push refused: no permissions")
