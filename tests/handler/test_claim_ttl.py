"""A claim carries the ledger's TTL: the head is the only row a change writes, so it must expire
on its own (a claim Coveo never accepted included)."""

from __future__ import annotations

from collections.abc import Sequence

from connector.domain.errors import PermanentError
from connector.domain.ledger import Claim, ClaimResult
from tests.in_memory_ledger import InMemoryLedger

from .conftest import make_pipeline
from .test_pipeline_edges import NOW, event, fixed, run


class ClaimRecordingLedger(InMemoryLedger):
    def __init__(self) -> None:
        super().__init__()
        self.claims: list[Claim] = []

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | PermanentError]:
        self.claims += claims
        return super().claim_many(claims)


def test_a_claim_expires_after_the_ledger_ttl_thirty_days_by_default() -> None:
    pipeline = fixed(make_pipeline("item"))
    pipeline.ledger = ClaimRecordingLedger()
    run(pipeline, event(1), event(2))
    assert [c.expires_at for c in pipeline.ledger.claims] == [NOW // 1000 + 30 * 24 * 3600] * 2  # type: ignore[attr-defined]


def test_a_claim_expires_after_the_ledger_ttl_the_deployment_sets() -> None:
    pipeline = fixed(make_pipeline("item", ledger_ttl_days=3))
    pipeline.ledger = ClaimRecordingLedger()
    run(pipeline, event(1))
    assert [c.expires_at for c in pipeline.ledger.claims] == [NOW // 1000 + 3 * 24 * 3600]  # type: ignore[attr-defined]
