"""What-if variants of the connector, for `python -m bench.profile` only (never in `make bench`).

- `ledger_threads`: the ledger's per-item UpdateItem calls (one claim and one accepted record per
  change) run on a thread pool instead of one after another. `ConcurrentClaimsPipeline._claim` is
  `Pipeline._claim` with the claim loop's `self.ledger.claim(claim)` calls made through
  `pool.map` (same order, same outcomes); `ConcurrentLedger.record_accepted` maps the same
  conditional update over the records. boto3 clients are thread-safe; their pool needs as many
  connections as threads.
- `dynamodb_latency_ms` (bench/common.py RemoteMoto): a sleep before every DynamoDB request is
  sent, standing for the network round trip a Lambda function pays to reach DynamoDB.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connector.adapters.dynamodb_ledger import DynamoDBLedger
from connector.ledger import Accepted, Claim, ClaimResult
from connector.pipeline import BatchReport, Disposition, Message, Pipeline


class ConcurrentLedger(DynamoDBLedger):
    def __init__(self, client: Any, table_name: str, pool: ThreadPoolExecutor) -> None:
        super().__init__(client, table_name)
        self._pool = pool

    def record_accepted(self, accepted: Iterable[Accepted]) -> None:
        write_one = super().record_accepted
        list(self._pool.map(lambda record: write_one([record]), list(accepted)))


@dataclasses.dataclass
class ConcurrentClaimsPipeline(Pipeline):
    pool: ThreadPoolExecutor | None = None

    def _claim(
        self, winners: list[tuple[Message, Any]], report: BatchReport
    ) -> list[tuple[Message, Any, Claim]]:
        # Pipeline._claim, with the claims sent concurrently.
        heads = self.ledger.heads([change.key for _, change in winners])
        fresh = []
        for message, change in winners:
            head = heads.get(change.key)
            if head is not None and head.supersedes(change.version):
                report.set(
                    message,
                    Disposition.STALE,
                    change,
                    f"version {change.version} is not newer than {head.version}",
                )
            else:
                fresh.append((message, change))
        if not fresh:
            return []
        ordering_id = max([self.clock_ms(), *(h.ordering_id + 1 for h in heads.values())])
        claims = []
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
                )
            )
        assert self.pool is not None
        results = list(self.pool.map(self.ledger.claim, claims))
        claimed = []
        for (message, change), claim, result in zip(fresh, claims, results, strict=True):
            if result is ClaimResult.CLAIMED:
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


def concurrent_pipeline(pipeline: Pipeline, dynamodb: Any, table: str, threads: int) -> Pipeline:
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ledger")
    fields = {field.name: getattr(pipeline, field.name) for field in dataclasses.fields(pipeline)}
    fields["ledger"] = ConcurrentLedger(dynamodb, table, pool)
    return ConcurrentClaimsPipeline(**fields, pool=pool)
