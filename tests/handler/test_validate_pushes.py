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
