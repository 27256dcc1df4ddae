"""The in-memory sync ledger (tests/in_memory_syncs.py) passes the `SyncLedger` scenarios the
DynamoDB + S3 adapter passes on moto (tests/pipeline/test_dynamodb_syncs.py): the unit and handler
tiers test the domain against the same behaviour."""

from __future__ import annotations

import pytest

from tests import sync_ledger_scenarios as scenarios
from tests.in_memory_syncs import InMemorySyncs


@pytest.mark.parametrize("scenario", scenarios.SCENARIOS, ids=lambda s: s.__name__)
def test_in_memory_syncs(scenario: scenarios.Scenario) -> None:
    scenario(InMemorySyncs())
