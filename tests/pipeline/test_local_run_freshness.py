"""`coveo-push local` reports freshness: event time → pushed → indexed over every change the run
verified, p50/p95/max in seconds, from the validator's own samples (Coveo's indexing times)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_simulator.stack import LocalStack
from coveo_push_cli.local_run import Stage, run_on_stack, worked_example
from tests.pipeline.stack import emulator

ROOT = Path(__file__).resolve().parents[2]
DELAY_S = 2.0  # the emulated Coveo applies a push this long after its 202


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_local_run_reports_how_long_changes_took_to_be_searchable(stack: LocalStack) -> None:
    """The worked example, its events timed now, in two stages (identities, then the item), on a
    Coveo that indexes 2 s after the push; one more item's event gives a version and no time."""
    emulator(stack, "reset", "POST", {"processingDelaySeconds": DELAY_S})
    try:
        timed = [{**event, "time": now_rfc3339()} for event in worked_example(ROOT)]
        identities = [e for e in timed if e["type"].startswith("identity.")]
        (item,) = [e for e in timed if e["type"] == "item.upserted"]
        untimed = {key: value for key, value in item.items() if key != "time"}
        untimed = {
            **untimed,
            "id": "untimed-1",
            "data": {**item["data"], "documentId": "file://folder/untimed.txt", "version": 1},
        }
        began = time.time()
        report = run_on_stack(
            stack, [Stage("identities", identities), Stage("items", [item, untimed])], timeout_s=90
        )
        elapsed_s = time.time() - began
    finally:
        emulator(stack, "reset", "POST", {"processingDelaySeconds": 0})
    assert (report["ok"], report["validator"]["verified"]) == (True, 6), report["problems"]
    freshness: dict[str, Any] = report["freshness"]
    assert (freshness["samples"], freshness["withoutEventTime"], freshness["indexedTimeObserved"]) == (
        6,
        1,
        0,
    )
    assert freshness["percentiles"] == "nearest-rank"
    for name in ("eventToPushed", "pushedToIndexed", "eventToIndexed"):
        spread = freshness[name]
        assert set(spread) == {"p50", "p95", "max"}, name
        assert 0 <= spread["p50"] <= spread["p95"] <= spread["max"] <= elapsed_s, (name, spread)
    # Coveo's share is the emulator's delay: its log entries carry the time it applied the push.
    indexed = freshness["pushedToIndexed"]
    assert indexed["p50"] >= DELAY_S and indexed["max"] < DELAY_S + 1.5, indexed
    # The item waited for the identities to be verified (a stage) before it was even sent.
    assert freshness["eventToPushed"]["max"] >= DELAY_S, freshness
    # Event → indexed covers both parts, for the changes that had an event time.
    assert freshness["eventToIndexed"]["max"] >= freshness["eventToPushed"]["max"] + DELAY_S - 0.001
