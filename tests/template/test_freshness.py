"""The freshness alarm, its parameter and the dashboard's freshness row: the alarm reads the p95 of
event time → indexed that the validator really emits, in the stack's namespace, against the
parameter, and fires on a run whose p95 is past it (not on one slow change among twenty)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.domain.freshness import FreshnessSample
from connector.domain.validator import ValidationReport
from tests.template.test_template import (
    DASHBOARD_NAMESPACE,
    NAMESPACE,
    PARAMETERS,
    RESOURCES,
    TEMPLATE,
    dashboard,
    dashboard_source,
)
from tests.template.test_template_sync import COMPARE, validator_metrics

ROOT = Path(__file__).resolve().parents[2]
ALARM = RESOURCES["IndexBehindAlarm"]["Properties"]
PARAMETER = "FreshnessAlarmSeconds"
METRIC = "EventToIndexedP95Seconds"


def run_of(*event_to_indexed_s: float) -> ValidationReport:
    """A run that verified one change per delay given: event at 0, pushed 1 s later, indexed then."""
    samples = [
        FreshnessSample(pushed_at_ms=1_000, indexed_at_ms=int(seconds * 1000), event_time_ms=0)
        for seconds in event_to_indexed_s
    ]
    return ValidationReport(verified=len(samples), freshness=samples)


def test_the_threshold_is_a_bounded_parameter_of_30_minutes_by_default() -> None:
    declared = PARAMETERS[PARAMETER]
    assert (declared["Type"], declared["Default"]) == ("Number", 1800)
    assert declared["MinValue"] >= 60
    assert declared["Description"]


def test_the_parameter_is_grouped_with_the_alarms_and_labelled() -> None:
    interface = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]
    (group,) = [g for g in interface["ParameterGroups"] if PARAMETER in g["Parameters"]]
    assert group["Label"]["default"] == "Alarms and observability"
    assert "freshness" in interface["ParameterLabels"][PARAMETER]["default"].lower()


def test_the_alarm_reads_the_validators_p95_in_the_stacks_namespace_against_the_parameter() -> None:
    assert (ALARM["Namespace"], ALARM["MetricName"]) == (NAMESPACE, METRIC)
    assert ALARM["Dimensions"] == [{"Name": "service", "Value": "validate_pushes"}]
    assert ALARM["Threshold"] == {"Ref": PARAMETER}
    assert (ALARM["Statistic"], ALARM["ComparisonOperator"]) == ("Maximum", "GreaterThanThreshold")
    # A run that verified nothing emits no datapoint: that says nothing, so the state is kept.
    assert ALARM["TreatMissingData"] == "ignore"
    # One period holds at least one run at the default schedule (rate(5 minutes)).
    assert PARAMETERS["ValidationSchedule"]["Default"] == "rate(5 minutes)" and ALARM["Period"] == 300
    assert ALARM["AlarmName"] == {"Fn::Sub": "${AWS::StackName}-index-behind"}


@pytest.mark.parametrize(
    ("delays", "fires"),
    [
        ([1900.0], True),  # one change, 31 min 40 s from event to indexed
        ([60.0] * 18 + [1900.0, 1900.0], True),  # two of twenty late: the p95 is late
        ([60.0] * 19 + [5000.0], False),  # one of twenty late: above the p95, not at it
        ([1800.0] * 5, False),  # at the threshold is not past it
        ([], False),  # nothing verified: no datapoint
    ],
)
def test_the_alarm_fires_on_a_run_whose_p95_is_past_the_default(
    delays: list[float], fires: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    emitted = validator_metrics(run_of(*delays), capsys)
    breached = COMPARE[ALARM["ComparisonOperator"]]
    value = emitted.get(METRIC)
    assert (value is not None and breached(value, PARAMETERS[PARAMETER]["Default"])) is fires, emitted
    assert (value is None) is (not delays)


def test_the_dashboard_shows_each_delay_and_the_alarms_threshold() -> None:
    widgets = [w for w in dashboard()["widgets"] if "Freshness" in w["properties"].get("title", "")]
    shown = {(row[0], row[1], row[3]) for w in widgets for row in w["properties"]["metrics"]}
    expected = {
        (DASHBOARD_NAMESPACE, f"EventToIndexed{statistic}Seconds", "validate_pushes")
        for statistic in ("P50", "P95", "Max")
    }
    expected |= {
        (DASHBOARD_NAMESPACE, f"{delay}P95Seconds", "validate_pushes")
        for delay in ("EventToPushed", "PushedToIndexed")
    }
    assert expected <= shown
    assert '{"label": "alarm", "value": ${FreshnessAlarmSeconds}}' in dashboard_source()
    (alarms,) = [w for w in dashboard()["widgets"] if w["type"] == "alarm"]
    assert "IndexBehindAlarm.Arn" in alarms["properties"]["alarms"]


def test_the_runbook_and_the_observability_section_name_the_alarm_and_the_metrics() -> None:
    readme = (ROOT / "README.md").read_text()
    runbook = readme[readme.index("### Alarms") : readme.index("### Dead-letter queues")]
    assert "`<stack>-index-behind`" in runbook and PARAMETER in runbook
    observability = readme[readme.index("## Observability") : readme.index("## Runbook")]
    for name in ("EventToPushed", "PushedToIndexed", "EventToIndexed"):
        assert name in observability
