"""Verdicts a ledger holds back (the DynamoDB ledger writes them per acceptance part) are written
even by a validator run that fails after giving them; the run and re-push cases are in
test_validator_verdicts.py."""

from __future__ import annotations

import pytest

from connector.domain.ledger import Status
from tests.unit.test_validator_verdicts import T0, HoldingLedger, Reader, item, log, status, validator


def test_a_run_that_fails_midway_still_writes_the_verdicts_it_gave() -> None:
    ledger, reader = HoldingLedger(), Reader()
    item(ledger, "file://a")
    reader.entries = [log("file://a", "INDEXING", "COMPLETED", T0 + 1_000)]
    reader.indexes = RuntimeError("the permission sample broke")  # after the verdicts
    with pytest.raises(RuntimeError, match="the permission sample broke"):
        validator(ledger, reader).run()
    assert ledger.held == []
    assert status(ledger, "item#file://a")[0] is Status.VERIFIED
