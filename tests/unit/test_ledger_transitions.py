"""The in-memory ledger's state transitions: the stale guard, acceptance, the validator's marks,
re-opening and settling a re-push, and what the validator reads (the scenarios the DynamoDB ledger
passes too, in tests/pipeline/test_dynamodb_ledger_conditions.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError

import pytest

from connector.domain.ledger import Status
from tests import ledger_transitions as lt
from tests.in_memory_ledger import InMemoryLedger


@pytest.mark.parametrize("scenario", lt.SCENARIOS, ids=lambda s: s.__name__)
def test_in_memory_ledger(scenario: Callable[[lt.Ledger, str], None]) -> None:
    scenario(InMemoryLedger(), "item#")


def test_a_page_that_ends_with_the_last_row_says_there_is_no_more() -> None:
    ledger = InMemoryLedger()
    for i in range(4):
        lt.pushed(ledger, f"item#{i}", 1, 10, pushed_at_ms=1_000 + i)
    first = ledger.rows_with_status(Status.ACCEPTED, limit=2)
    assert first.next_token is not None
    last = ledger.rows_with_status(Status.ACCEPTED, limit=2, token=first.next_token)
    assert [r.key for r in last.rows] == ["item#2", "item#3"]
    assert last.next_token is None
    assert ledger.rows_with_status(Status.ACCEPTED, limit=4).next_token is None


def test_what_the_ledger_hands_out_cannot_be_changed_behind_its_back() -> None:
    """The in-memory ledger returns the very objects it keeps: a caller must not be able to alter a
    row's status or version through them."""
    ledger = InMemoryLedger()
    row = lt.pushed(ledger, "item#a", 1, 10)
    head = ledger.heads(["item#a"])["item#a"]
    with pytest.raises(FrozenInstanceError):
        head.status = Status.VERIFIED  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        row.version = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        ledger.accepted["item#a"].version = 2  # type: ignore[misc]
    assert lt.head(ledger, "item#a") == (1, 10, Status.ACCEPTED)
