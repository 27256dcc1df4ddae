"""Full syncs end to end: moto, the emulator over HTTP, the real functions, the validator closing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aws_simulator.stack import LocalStack
from connector.domain.sync import SyncState
from coveo_push_api.models import LogsRequest

from .stack import indexed
from .test_item_pipeline import upsert, worked_example

SYNC_OVERRIDES = {"SYNC_QUEUE_DELAY_MINUTES": "0", "SYNC_DEADLINE_SECONDS": "5"}


def sync_event(kind: str, sync_id: str, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{sync_id}-{kind}",
        "source": "test",
        "type": f"sync.{kind}",
        "data": {"syncId": sync_id, **data},
    }


def member(event: dict[str, Any], sync_id: str) -> dict[str, Any]:
    return {**event, "id": f"{event['id']}#{sync_id}", "data": {**event["data"], "syncId": sync_id}}


@pytest.fixture
def sync_stack(stack: LocalStack) -> LocalStack:
    stack.overrides = {**stack.overrides, **SYNC_OVERRIDES}
    return stack


def settle(stack: LocalStack, events: list[dict[str, Any]], scopes: dict[str, str] | None = None) -> None:
    stack.send(events, scopes)
    stack.drain()
    stack.validate()


def test_a_sync_keeps_what_it_repeats_and_deletes_what_it_left_out(sync_stack: LocalStack) -> None:
    stack = sync_stack
    documents = [f"file://docs/{n}.txt" for n in range(10)]
    settle(stack, [*worked_example()[:-1], *(upsert(d, 1) for d in documents)])
    assert set(indexed(stack)) == set(documents)

    kept, changed, new = documents[:7], documents[7], "file://docs/new.txt"
    changes = [member(upsert(d, 1), "s1") for d in kept]
    changes += [member(upsert(changed, 2), "s1"), member(upsert(new, 1), "s1")]
    settle(
        stack, [sync_event("started", "s1", scope="items"), *changes, sync_event("completed", "s1", count=9)]
    )

    record = stack.runtime.syncs().get(["s1"])["s1"]
    assert record.state is SyncState.COMPLETED, record
    assert (record.expected, record.settled, record.deleted) == (9, 9, 2)
    assert set(indexed(stack)) == {*kept, changed, new}
    assert deleted_ever(stack) == set(documents[8:])  # the left out, and only them, ever


def deleted_ever(stack: LocalStack) -> set[str]:
    """Documents the Logs API says were deleted at any moment, by any operation."""
    end = datetime.now(UTC) + timedelta(minutes=1)
    entries = stack.runtime.coveo.iter_logs(LogsRequest(), start=end - timedelta(hours=1), end=end)
    return {e.id for e in entries if e.id and "DELETE" in (e.operation or "") and e.result == "COMPLETED"}
