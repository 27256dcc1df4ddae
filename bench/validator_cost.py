"""Logs API calls of one validator run over N pending item rows (issue 6's closing note).

    .venv/bin/python -m bench.validator_cost [N]

Pushes N small items to the emulator through the real pipeline (in-memory ledger), then runs the
validator once and prints its Logs API calls and total Coveo requests.
"""

from __future__ import annotations

import json
import sys
import time

import httpx

from connector.domain.pipeline import Message, Pipeline, PipelineSettings
from connector.domain.validator import Validator, ValidatorSettings
from coveo_emulator.config import EmulatorConfig
from coveo_emulator.server import EmulatorServer
from coveo_push_api import CoveoClient
from tests.in_memory_ledger import InMemoryLedger


class _NoDeadLetters:
    def send(
        self, body: str, *, reason: str, kind: str, event_id: str | None, event_type: str | None
    ) -> None:
        raise AssertionError(f"unexpected dead letter: {reason}")


def main(rows: int = 10_000) -> None:
    with EmulatorServer(EmulatorConfig(api_key="bench-key")) as server:
        config = server.config
        client = CoveoClient(
            config.organization_id, "bench-key", base_url=server.base_url, http_client=httpx.Client()
        )
        ledger = InMemoryLedger()
        pipeline = Pipeline(
            PipelineSettings(config.source_id, config.provider_id, "item"), client, ledger, _NoDeadLetters()
        )
        for start in range(0, rows, 1000):
            messages = [
                Message(
                    f"m{i}",
                    json.dumps(
                        {
                            "specversion": "1.0",
                            "id": f"e{i}",
                            "source": "bench",
                            "type": "item.upserted",
                            "data": {
                                "documentId": f"file://bench/{i}",
                                "version": 1,
                                "document": {"data": "x", "permissions": [{"allowAnonymous": True}]},
                            },
                        }
                    ),
                )
                for i in range(start, min(start + 1000, rows))
            ]
            pipeline.process(messages, lambda: 300.0)
        settings = ValidatorSettings(
            config.source_id, config.provider_id, processing_delay_s=0, page_size=1000
        )
        started = time.perf_counter()
        report = Validator(settings, ledger, client).run()
        elapsed = time.perf_counter() - started
        print(
            f"pending rows {rows:,}: verified {report.verified:,}, Logs API calls {report.logs_api_calls}, "
            f"Coveo requests {report.coveo_requests} (incl. {settings.permission_sample} permission samples), "
            f"{elapsed:.2f} s"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
