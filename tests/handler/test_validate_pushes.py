"""The validator's Lambda entry point: findings logged at the level their kind calls for, counts as
EMF metrics (what the alarms read)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.domain.validator import Finding, ValidationReport
from tests.fakes import FakeLambdaContext

from .conftest import load_handler


class StubValidator:
    def __init__(self, report: ValidationReport) -> None:
        self.report = report

    def run(self, remaining_s: Any) -> ValidationReport:
        return self.report


def test_security_findings_are_errors_and_other_findings_warnings(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    report = ValidationReport(verified=2, unexpected_public=1)
    report.warnings = [
        # The text alone does not decide: a security finding is one because it says so in its type.
        Finding("file://a lets anonymous users in", security=True),
        Finding("SECURITY-looking text from an unavailable index list"),
    ]
    handler = load_handler("validate_pushes")
    with caplog.at_level("INFO", logger="validate_pushes"):
        handler({}, FakeLambdaContext(function_name="validate_pushes"), validator=StubValidator(report))
    # Read from the log records (the JSON lines go to whichever stdout Powertools' handler first
    # saw, which under pytest depends on the tests that ran before).
    levels = {r.getMessage(): r.levelname for r in caplog.records if r.name == "validate_pushes"}
    assert levels["file://a lets anonymous users in"] == "ERROR"
    assert levels["SECURITY-looking text from an unavailable index list"] == "WARNING"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = next(line for line in lines if "_aws" in line)
    assert (metrics["UnexpectedPublicItems"], metrics["Verified"]) == ([1.0], [2.0])


def emf_blob(out: str) -> dict[str, Any]:
    (blob,) = [
        b for b in (json.loads(line) for line in out.splitlines() if line.startswith("{")) if "_aws" in b
    ]
    return blob


def value(blob: dict[str, Any], name: str) -> float:
    """A metric's one value (Powertools writes a list, one entry per add_metric)."""
    (only,) = blob[name] if isinstance(blob[name], list) else [blob[name]]
    return float(only)


def units(blob: dict[str, Any]) -> dict[str, str]:
    return {m["Name"]: m["Unit"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


FRESHNESS_METRICS = {
    f"{delay}{statistic}Seconds"
    for delay in ("EventToPushed", "PushedToIndexed", "EventToIndexed")
    for statistic in ("P50", "P95", "Max")
}


def test_a_run_emits_the_freshness_of_what_it_verified_in_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    """The real validator behind the handler: three items, events at T0, pushed 4 s later, indexed
    10, 20 and 100 s after the push; EMF carries p50, p95 and max of each delay, unit Seconds."""
    from tests.unit.test_validator import T0, Clock, entry, item_event, pushed, setup

    clock = Clock(T0 + 4_000)
    _, pipeline, reader, validator = setup(clock)
    documents = ("file://a", "file://b", "file://c")
    pushed(pipeline, *({**item_event(d), "time": entry(d, "", "", T0)["datetime"]} for d in documents))
    clock.now = T0 + 300_000
    reader.entries = [
        entry(d, "INDEXING", "COMPLETED", T0 + 4_000 + after_s * 1000)
        for d, after_s in zip(documents, (100, 10, 20), strict=True)
    ]
    capsys.readouterr()
    result = load_handler("validate_pushes")(
        {}, FakeLambdaContext(function_name="validate_pushes"), validator=validator
    )
    blob = emf_blob(capsys.readouterr().out)
    assert {name: value(blob, name) for name in FRESHNESS_METRICS} == {
        "EventToPushedP50Seconds": 4.0,
        "EventToPushedP95Seconds": 4.0,
        "EventToPushedMaxSeconds": 4.0,
        "PushedToIndexedP50Seconds": 20.0,
        "PushedToIndexedP95Seconds": 100.0,
        "PushedToIndexedMaxSeconds": 100.0,
        "EventToIndexedP50Seconds": 24.0,
        "EventToIndexedP95Seconds": 104.0,
        "EventToIndexedMaxSeconds": 104.0,
    }
    assert {name: units(blob)[name] for name in FRESHNESS_METRICS} == dict.fromkeys(
        FRESHNESS_METRICS, "Seconds"
    )
    assert value(blob, "Verified") == 3.0
    # The invocation's result sums the run up; it does not carry a sample per verified change.
    assert result["freshness"]["eventToIndexed"] == {"p50": 24.0, "p95": 104.0, "max": 104.0}
    assert result["freshness"]["samples"] == 3


def test_a_run_that_verified_nothing_emits_no_freshness(capsys: pytest.CaptureFixture[str]) -> None:
    """No datapoint rather than a 0 that would read as 'fresh': the alarm keeps its state."""
    capsys.readouterr()
    load_handler("validate_pushes")(
        {},
        FakeLambdaContext(function_name="validate_pushes"),
        validator=StubValidator(ValidationReport(pending=4)),
    )
    blob = emf_blob(capsys.readouterr().out)
    assert value(blob, "Pending") == 4.0
    assert not FRESHNESS_METRICS & set(units(blob))
