"""The Coveo requests one full sync costs (issue 16's closing note).

    .venv/bin/python -m bench.sync_cost [N]

Loads N small items through the real pipeline (in-memory ledger and sync records, the real client,
the emulator over HTTP), in batches of 500 (the template's ItemBatchSize) and verifies them. Then a
sync of N changes: 90 % repeated unchanged, 5 % changed, 5 % new (so 5 % of the load is left out),
sync.started first and sync.completed last, and validator runs until the sync ends. Prints the
sync's record and the emulator's request counts by route for the sync alone (load excluded).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any

import httpx

from connector.domain.events import Kind
from connector.domain.pipeline import Message, Pipeline, PipelineSettings
from connector.domain.sync import SyncSettings
from connector.domain.sync_closing import SyncCloser
from connector.domain.validator import Validator, ValidatorSettings
from coveo_emulator.config import EmulatorConfig
from coveo_emulator.server import EmulatorServer
from coveo_push_api import CoveoClient
from tests.in_memory_ledger import InMemoryLedger
from tests.in_memory_syncs import InMemorySyncs

BATCH = 500


class _NoDeadLetters:
    def send(
        self, body: str, *, reason: str, kind: str, event_id: str | None, event_type: str | None
    ) -> None:
        raise AssertionError(f"unexpected dead letter: {reason}")


def _event(event_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": "bench", "type": event_type, "data": data}


def _item(n: int, version: int, sync_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "documentId": f"file://bench/{n}",
        "version": version,
        "document": {"data": f"item {n} v{version}", "permissions": [{"allowAnonymous": True}]},
    }
    if sync_id:
        data["syncId"] = sync_id
    return _event(f"e{n}@{version}{'#' + sync_id if sync_id else ''}", "item.upserted", data)


def _stats(base_url: str) -> Counter[str]:
    body = httpx.get(f"{base_url}/_emulator/stats").json()
    return Counter({route: int(count) for route, count in body.get("byRoute", {}).items()})


def main(count: int = 10_000) -> dict[str, Any]:
    with EmulatorServer(EmulatorConfig(api_key="bench-key")) as server:
        config = server.config
        client = CoveoClient(
            config.organization_id, "bench-key", base_url=server.base_url, http_client=httpx.Client()
        )
        ledger, syncs = InMemoryLedger(), InMemorySyncs()
        pipeline = Pipeline(
            PipelineSettings(config.source_id, config.provider_id, Kind.ITEM),
            client,
            ledger,
            _NoDeadLetters(),
            syncs=syncs,
        )
        validator = Validator(
            ValidatorSettings(config.source_id, config.provider_id, processing_delay_s=0, page_size=1000),
            ledger,
            client,
            syncs=SyncCloser(
                SyncSettings(config.source_id, config.provider_id, sync_queue_delay_minutes=0),
                syncs,
                ledger,
                client,
            ),
        )

        def send(events: list[dict[str, Any]]) -> None:
            for start in range(0, len(events), BATCH):
                chunk = events[start : start + BATCH]
                messages = [Message(f"m{start + i}", json.dumps(e)) for i, e in enumerate(chunk)]
                pipeline.process(messages, lambda: 300.0)

        send([_item(n, 1) for n in range(count)])
        validator.run()
        before = _stats(server.base_url)

        unchanged, changed = int(count * 0.9), int(count * 0.05)
        members = [_item(n, 1, "bench") for n in range(unchanged)]
        members += [_item(n, 2, "bench") for n in range(unchanged, unchanged + changed)]
        members += [_item(count + n, 1, "bench") for n in range(count - unchanged - changed)]
        send(
            [
                _event("started", "sync.started", {"syncId": "bench", "scope": "items"}),
                *members,
                _event("completed", "sync.completed", {"syncId": "bench", "count": len(members)}),
            ]
        )
        runs = 0
        while syncs.records["bench"].state.value == "RUNNING" and runs < 10:
            validator.run()
            runs += 1
        requests = _stats(server.base_url) - before
        record = syncs.records["bench"]
        indexed = httpx.get(f"{server.base_url}/_emulator/state").json()["items"]
        result = {
            "changes": len(members),
            "sync": record.to_report(),
            "validatorRuns": runs + 0,
            "indexed": sum(1 for item in indexed.values() if item["indexed"]),
            "coveoRequests": sum(requests.values()),
            "byRoute": dict(sorted(requests.items())),
        }
        print(json.dumps(result, indent=2))
        return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
