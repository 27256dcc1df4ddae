"""How many Logs API calls a validator run costs: it grows with log entries / page size, never with
one call per item or per page of ledger rows."""

from __future__ import annotations

import json
import math

from connector.domain.ledger import Status
from connector.domain.pipeline import Message, Pipeline, PipelineSettings
from connector.domain.validator import Validator, ValidatorSettings
from coveo_emulator.server import EmulatorServer
from coveo_push_api import CoveoClient
from tests.fakes import FakeContent, FakeDeadLetters
from tests.in_memory_ledger import InMemoryLedger

ITEMS = 3_000


def test_logs_api_calls_per_run_scale_with_entries_not_rows(
    coveo_server: EmulatorServer, local_api_key: str
) -> None:
    import httpx

    httpx.post(f"{coveo_server.base_url}/_emulator/reset", json={}).raise_for_status()
    config = coveo_server.config
    client = CoveoClient(
        config.organization_id, local_api_key, base_url=coveo_server.base_url, http_client=httpx.Client()
    )
    ledger = InMemoryLedger()
    pipeline = Pipeline(
        PipelineSettings(config.source_id, config.provider_id, "item"),
        client,
        ledger,
        FakeDeadLetters(),
        FakeContent(),
    )
    for start in range(0, ITEMS, 1000):
        messages = [
            Message(
                f"m{i}",
                json.dumps(
                    {
                        "specversion": "1.0",
                        "id": f"e{i}",
                        "source": "s",
                        "type": "item.upserted",
                        "data": {
                            "documentId": f"file://cost/{i}",
                            "version": 1,
                            "document": {"data": "x", "permissions": [{"allowAnonymous": True}]},
                        },
                    }
                ),
            )
            for i in range(start, start + 1000)
        ]
        pipeline.process(messages, lambda: 300.0)
    validator = Validator(
        ValidatorSettings(
            config.source_id, config.provider_id, processing_delay_s=0, page_size=500, permission_sample=0
        ),
        ledger,
        client,
    )
    report = validator.run()
    assert report.verified == ITEMS
    # One page of failures (none) plus the INDEXING successes, 1,000 entries a page.
    assert report.logs_api_calls == 1 + math.ceil(ITEMS / 1000)
    assert all(row.status is Status.VERIFIED for row in ledger.rows.values())
