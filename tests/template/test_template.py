"""What template.yaml must say, read from the parsed template (the linters cannot check these).

SQS and Lambda settings AWS recommends but does not enforce, least privilege, the alarms an operator
needs and the dashboard, and the names the code and the local run rely on. Custom metrics are
checked against what the handlers really print as EMF, not against a list restated here.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aws_simulator.cloudformation import load_template
from aws_simulator.lambda_context import LambdaContext
from connector.adapters.dynamodb_ledger import PENDING_INDEX
from connector.entry.settings import ConnectorSettings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
GLOBAL_FUNCTION: dict[str, Any] = TEMPLATE["Globals"]["Function"]

FOURTEEN_DAYS_S = 14 * 24 * 3600
NO_VALUE = {"Ref": "AWS::NoValue"}
# The custom metrics' namespace: the stack's, as every function gets it (tests/template/test_parameters.py).
NAMESPACE = GLOBAL_FUNCTION["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
# What the dashboard's `${Namespace}` becomes in `dashboard()`, and what the handlers emit under in
# the `emitted` fixture (they read POWERTOOLS_METRICS_NAMESPACE).
DASHBOARD_NAMESPACE = "Namespace"
SOURCE_QUEUES = {"ItemQueue": "ItemDeadLetterQueue", "IdentityQueue": "IdentityDeadLetterQueue"}
# Function -> (its SQS event, the queue it reads); the local run and the tests use these names.
SQS_EVENTS = {
    "PushItemsFunction": ("ItemQueueEvent", "ItemQueue"),
    "PushIdentitiesFunction": ("IdentityQueueEvent", "IdentityQueue"),
}
FUNCTIONS = ("PushItemsFunction", "PushIdentitiesFunction", "ValidatePushesFunction")
FUNCTION_FOLDERS = {
    "PushItemsFunction": "push_items",
    "PushIdentitiesFunction": "push_identities",
    "ValidatePushesFunction": "validate_pushes",
}


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in RESOURCES.items()
        if resource["Type"] == kind
    }


def get_att(value: Any) -> tuple[str, str]:
    """`!GetAtt X.Y` (either spelling) as (X, Y)."""
    assert isinstance(value, dict) and set(value) == {"Fn::GetAtt"}, value
    target = value["Fn::GetAtt"]
    logical_id, attribute = target.split(".", 1) if isinstance(target, str) else target
    return logical_id, attribute


def worst_case(value: Any) -> int:
    """A literal number, or the largest value its parameter allows (a parameter must be bounded)."""
    if isinstance(value, dict):
        name = value["Ref"]
        declared = PARAMETERS[name]
        if "AllowedValues" in declared:
            return max(int(v) for v in declared["AllowedValues"])
        assert "MaxValue" in declared, f"parameter {name} is unbounded: no value of it can be checked"
        return int(declared["MaxValue"])
    return int(value)


# --- the names other parts rely on ------------------------------------------------------------------


def test_the_logical_ids_the_code_and_the_local_run_use_are_present() -> None:
    expected = {
        "ItemQueue": "AWS::SQS::Queue",
        "IdentityQueue": "AWS::SQS::Queue",
        "ItemDeadLetterQueue": "AWS::SQS::Queue",
        "IdentityDeadLetterQueue": "AWS::SQS::Queue",
        "LedgerTable": "AWS::DynamoDB::Table",
        "ContentBucket": "AWS::S3::Bucket",
        "SharedLayer": "AWS::Serverless::LayerVersion",
        **dict.fromkeys(FUNCTIONS, "AWS::Serverless::Function"),
    }
    assert {logical_id: RESOURCES[logical_id]["Type"] for logical_id in expected} == expected


def test_every_required_setting_of_the_code_is_set_for_every_function() -> None:
    from connector.entry.settings import ConnectorSettings

    required = {field.alias for field in ConnectorSettings.model_fields.values() if field.is_required()}
    assert required, "ConnectorSettings declares required variables"
    shared = set(GLOBAL_FUNCTION["Environment"]["Variables"])
    for function_id in FUNCTIONS:
        own = set(((RESOURCES[function_id]["Properties"].get("Environment") or {}).get("Variables")) or {})
        assert required <= shared | own, f"{function_id} misses {sorted(required - shared - own)}"


def function_variables(function_id: str) -> dict[str, Any]:
    own = (RESOURCES[function_id]["Properties"].get("Environment") or {}).get("Variables") or {}
    return {**GLOBAL_FUNCTION["Environment"]["Variables"], **own}


def test_a_deployment_with_default_parameters_refuses_items_without_permissions() -> None:
    """Public items are an explicit choice of the deployer: the parameter defaults to "false",
    and every function reads it (not a literal that a parameter change would not reach)."""
    assert PARAMETERS["AllowPublicItems"]["Default"] == "false"
    assert PARAMETERS["AllowPublicItems"]["AllowedValues"] == ["true", "false"]
    for function_id in FUNCTIONS:
        assert function_variables(function_id)["ALLOW_PUBLIC_ITEMS"] == {"Ref": "AllowPublicItems"}


def test_the_api_key_only_ever_comes_from_the_secret_and_goes_only_to_coveo() -> None:
    """No parameter or variable carries the key itself, and no function is pointed at a Coveo
    host of the template's choosing (COVEO_BASE_URL is for the local emulator only): the key is
    sent to the Coveo region the deployer picked. COVEO_BASE_URL and AWS_ENDPOINT_URL may only be
    declared as AWS::NoValue (absent once deployed), the slot `sam local invoke --env-vars` fills."""
    assert not [name for name in PARAMETERS if "apikey" in name.lower() and name != "CoveoApiKeySecretName"]
    assert "Default" not in PARAMETERS["CoveoApiKeySecretName"]
    assert PARAMETERS["CoveoRegion"]["AllowedValues"] == ["us", "ca", "eu", "au"]
    for function_id in FUNCTIONS:
        variables = function_variables(function_id)
        assert variables["COVEO_API_KEY_SECRET"] == {"Ref": "CoveoApiKeySecretName"}
        assert variables["COVEO_REGION"] == {"Ref": "CoveoRegion"}
        assert "COVEO_API_KEY" not in variables, function_id
        for local_only in ("COVEO_BASE_URL", "AWS_ENDPOINT_URL"):
            assert variables.get(local_only, NO_VALUE) == NO_VALUE, (function_id, local_only)
        # Limits that protect the source keep the code's defaults (Coveo's own limits).
        assert not {"MAX_PERMISSIONS_PER_ITEM", "ALIAS_PROVIDERS"} & set(variables), function_id


def test_the_content_bucket_is_private_and_encrypted() -> None:
    bucket = RESOURCES["ContentBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")


# --- queues ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("queue_id", "dlq_id"), sorted(SOURCE_QUEUES.items()))
def test_source_queue_redrives_to_its_dlq_after_at_least_five_receives(queue_id: str, dlq_id: str) -> None:
    queue = RESOURCES[queue_id]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert get_att(redrive["deadLetterTargetArn"]) == (dlq_id, "Arn")
    # AWS: fewer can dead-letter a message never processed. A parameter: its default, what a
    # deployment gets unless the deployer chooses otherwise.
    count = redrive["maxReceiveCount"]
    assert int(PARAMETERS[count["Ref"]]["Default"] if isinstance(count, dict) else count) >= 5


@pytest.mark.parametrize(("queue_id", "dlq_id"), sorted(SOURCE_QUEUES.items()))
def test_dlq_keeps_messages_14_days_longer_than_its_source(queue_id: str, dlq_id: str) -> None:
    dlq = RESOURCES[dlq_id]["Properties"]
    assert dlq["MessageRetentionPeriod"] == FOURTEEN_DAYS_S
    assert "RedrivePolicy" not in dlq
    # A redriven message keeps its first enqueue time: a DLQ shorter than its source loses messages.
    assert RESOURCES[queue_id]["Properties"]["MessageRetentionPeriod"] < FOURTEEN_DAYS_S


def test_every_queue_is_a_source_or_a_dlq_and_encrypted() -> None:
    queues = of_type("AWS::SQS::Queue")
    assert set(queues) == set(SOURCE_QUEUES) | set(SOURCE_QUEUES.values())
    for logical_id, properties in queues.items():
        assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties, logical_id


@pytest.mark.parametrize("function_id", sorted(SQS_EVENTS))
def test_visibility_covers_six_timeouts_and_the_batching_window_for_every_allowed_value(
    function_id: str,
) -> None:
    """AWS: visibility >= 6 x function timeout + batching window. The bound grows with both, so the
    largest value each parameter allows is the worst case; an unbounded parameter fails."""
    event_name, queue_id = SQS_EVENTS[function_id]
    function = RESOURCES[function_id]["Properties"]
    event = function["Events"][event_name]["Properties"]
    timeout = worst_case(function.get("Timeout", GLOBAL_FUNCTION["Timeout"]))
    window = worst_case(event.get("MaximumBatchingWindowInSeconds", 0))
    visibility = RESOURCES[queue_id]["Properties"]["VisibilityTimeout"]
    assert isinstance(visibility, int), "a literal: the local run and its tests read it as a number"
    assert visibility >= 6 * timeout + window, (visibility, timeout, window)
    assert visibility <= 43_200  # SQS's maximum


def test_batch_size_window_and_concurrency_are_parameters() -> None:
    for function_id, (event_name, _) in SQS_EVENTS.items():
        event = RESOURCES[function_id]["Properties"]["Events"][event_name]["Properties"]
        for value in (
            event["BatchSize"],
            event["MaximumBatchingWindowInSeconds"],
            event["ScalingConfig"]["MaximumConcurrency"],
        ):
            assert set(value) == {"Ref"} and value["Ref"] in PARAMETERS, (function_id, value)
    # Lambda refuses BatchSize > 10 without a window of at least 1 s, and concurrency below 2.
    assert PARAMETERS["MaximumBatchingWindowInSeconds"]["MinValue"] >= 1
    assert PARAMETERS["MaximumConcurrency"]["MinValue"] >= 2


def test_every_sqs_event_reports_batch_item_failures() -> None:
    found = {}
    for function_id, function in of_type("AWS::Serverless::Function").items():
        for event_name, event in (function.get("Events") or {}).items():
            if event["Type"] == "SQS":
                assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
                found[function_id] = (event_name, get_att(event["Properties"]["Queue"])[0])
    assert found == SQS_EVENTS


# --- functions, layer, schedule, logs -----------------------------------------------------------


def test_every_function_runs_python_3_13_on_the_layers_architecture() -> None:
    assert GLOBAL_FUNCTION["Runtime"] == "python3.13"
    architectures = GLOBAL_FUNCTION["Architectures"]
    for function_id, function in of_type("AWS::Serverless::Function").items():
        assert function.get("Runtime", "python3.13") == "python3.13", function_id
        assert function.get("Architectures", architectures) == architectures, function_id
        assert function.get("Layers", GLOBAL_FUNCTION["Layers"]) == [{"Ref": "SharedLayer"}], function_id
    layer = RESOURCES["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    # The layer carries pydantic-core's native code: built for the functions' architecture.
    assert [layer["Metadata"]["BuildArchitecture"]] == architectures
    assert layer["Properties"]["CompatibleArchitectures"] == architectures


def test_validator_runs_on_a_schedulev2_without_retries() -> None:
    validator = RESOURCES["ValidatePushesFunction"]["Properties"]
    schedules = [event for event in validator["Events"].values() if event["Type"] == "ScheduleV2"]
    assert len(schedules) == 1
    assert schedules[0]["Properties"]["ScheduleExpression"] == {"Ref": "ValidationSchedule"}
    # The next tick is the retry: a retried run would overlap the next one.
    assert schedules[0]["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert validator["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    assert PARAMETERS["ValidationSchedule"]["Default"].startswith(("rate(", "cron("))


def test_every_function_has_a_log_group_with_retention() -> None:
    groups = {
        properties["LogGroupName"]["Fn::Sub"]: properties
        for properties in of_type("AWS::Logs::LogGroup").values()
    }
    for function_id in FUNCTIONS:
        group = groups.get(f"/aws/lambda/${{{function_id}}}")
        assert group is not None, f"no log group for {function_id}"
        assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


def test_ledger_table_is_on_demand_with_ttl_recovery_and_the_validators_index() -> None:
    table = RESOURCES["LedgerTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"]["Enabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    (index,) = table["GlobalSecondaryIndexes"]
    # Sparse and keys only: what the validator looks up is small, and nothing else is written twice.
    assert index["IndexName"] == PENDING_INDEX
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["queue", "at"]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_the_ledger_bucket_keeps_entries_as_long_as_the_ledger_keeps_rows() -> None:
    bucket = RESOURCES["LedgerBucket"]
    assert bucket["DeletionPolicy"] == "Retain"  # like the table it completes
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    ttl_days = ConnectorSettings.model_fields["ledger_ttl_days"].default
    assert (rule["Status"], rule["ExpirationInDays"]) == ("Enabled", ttl_days)
    blocked = bucket["Properties"]["PublicAccessBlockConfiguration"]
    assert all(
        blocked[k] is True
        for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )


# --- least privilege ------------------------------------------------------------------------------


def policy_statements() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(resource, resource type, statement) for every policy statement anywhere in the template."""

    def walk(value: Any) -> Iterator[dict[str, Any]]:
        if isinstance(value, dict):
            statements = value.get("Statement")
            if isinstance(statements, list) and all(isinstance(s, dict) for s in statements):
                yield from statements
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    for logical_id, resource in RESOURCES.items():
        for statement in walk(resource.get("Properties") or {}):
            yield logical_id, resource["Type"], statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_policy_statements_are_found() -> None:
    kinds = {kind for _, kind, _ in policy_statements()}
    assert {"AWS::Serverless::Function", "AWS::KMS::Key", "AWS::SNS::TopicPolicy"} <= kinds


def test_no_policy_statement_allows_a_wildcard_action() -> None:
    for logical_id, _, statement in policy_statements():
        assert "NotAction" not in statement, logical_id
        for action in as_list(statement["Action"]):
            assert isinstance(action, str) and "*" not in action, f"{logical_id}: {action!r}"


def test_no_resource_wildcard_except_in_key_policies() -> None:
    """KMS key policies are the exception AWS imposes: their Resource must be "*", meaning the key."""
    for logical_id, kind, statement in policy_statements():
        assert "NotResource" not in statement, logical_id
        if kind == "AWS::KMS::Key":
            assert statement["Resource"] == "*"
            continue
        for resource in as_list(statement["Resource"]):
            assert resource != "*", f"{logical_id}: Resource '*'"


def test_functions_use_inline_statements_only() -> None:
    """No managed policy or SAM policy template: each grant is visible and scoped here."""
    for function_id in FUNCTIONS:
        for policy in RESOURCES[function_id]["Properties"]["Policies"]:
            assert isinstance(policy, dict) and set(policy) == {"Statement"}, (function_id, policy)


def test_the_api_key_secret_is_the_only_secret_readable() -> None:
    for logical_id, _, statement in policy_statements():
        if "secretsmanager:GetSecretValue" in as_list(statement["Action"]):
            (resource,) = as_list(statement["Resource"])
            # Secrets Manager appends "-" and six random characters to a secret's name in its ARN.
            assert resource["Fn::Sub"].endswith(":secret:${CoveoApiKeySecretName}-??????"), logical_id


def test_service_principals_are_held_to_this_account() -> None:
    """Confused-deputy guard: a service acting for another account cannot use the key or the topic."""
    for logical_id, _, statement in policy_statements():
        principal = statement.get("Principal")
        if isinstance(principal, dict) and "Service" in principal:
            assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}, (
                logical_id
            )


# --- alarms ---------------------------------------------------------------------------------------

# Alarm -> (namespace, metric, dimension name, dimension value, threshold). Every alarm fires above
# its threshold (or at it, for those in AT_THRESHOLD) and notifies AlarmTopic.
ALARMS: dict[str, tuple[str, str, str, Any, Any]] = {
    "ItemDeadLetterQueueAlarm": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {"Fn::GetAtt": "ItemDeadLetterQueue.QueueName"},
        0,
    ),
    "IdentityDeadLetterQueueAlarm": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {"Fn::GetAtt": "IdentityDeadLetterQueue.QueueName"},
        0,
    ),
    "ItemQueueAgeAlarm": (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "QueueName",
        {"Fn::GetAtt": "ItemQueue.QueueName"},
        {"Ref": "QueueAgeAlarmSeconds"},
    ),
    "IdentityQueueAgeAlarm": (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "QueueName",
        {"Fn::GetAtt": "IdentityQueue.QueueName"},
        {"Ref": "QueueAgeAlarmSeconds"},
    ),
    **{
        f"{function_id.removesuffix('Function')}{metric}Alarm": (
            "AWS/Lambda",
            metric,
            "FunctionName",
            {"Ref": function_id},
            0,
        )
        for function_id in FUNCTIONS
        for metric in ("Errors", "Throttles")
    },
    "ValidatorFailuresAlarm": (NAMESPACE, "Failed", "service", "validate_pushes", 0),
    "PermissionWarningsAlarm": (NAMESPACE, "PermissionWarnings", "service", "validate_pushes", 0),
    "PublicByAccidentAlarm": (NAMESPACE, "UnexpectedPublicItems", "service", "validate_pushes", 0),
    "IdentitiesInErrorAlarm": (NAMESPACE, "IdentitiesInError", "service", "validate_pushes", 0),
    "PendingTooOldAlarm": (
        NAMESPACE,
        "OldestPendingAgeSeconds",
        "service",
        "validate_pushes",
        {"Ref": "PendingAgeAlarmSeconds"},
    ),
    # The p95 of event time to indexed per validator run (tests/template/test_freshness.py).
    "IndexBehindAlarm": (
        NAMESPACE,
        "EventToIndexedP95Seconds",
        "service",
        "validate_pushes",
        {"Ref": "FreshnessAlarmSeconds"},
    ),
    # One ended full sync is one datapoint of 1 (tests/template/test_template_sync.py).
    "SyncFailedAlarm": (NAMESPACE, "SyncsFailed", "service", "validate_pushes", 1),
    "SyncRefusedAlarm": (NAMESPACE, "SyncsRefused", "service", "validate_pushes", 1),
}
AT_THRESHOLD = {"SyncFailedAlarm", "SyncRefusedAlarm"}


def normalized(value: Any) -> Any:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return {"Fn::GetAtt": ".".join(get_att(value))}
    return value


@pytest.mark.parametrize("alarm_id", sorted(ALARMS))
def test_alarm_watches_its_metric_and_notifies_the_topic(alarm_id: str) -> None:
    namespace, metric, dimension, value, threshold = ALARMS[alarm_id]
    alarm = RESOURCES[alarm_id]
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    properties = alarm["Properties"]
    assert (properties["Namespace"], properties["MetricName"]) == (namespace, metric)
    assert [(d["Name"], normalized(d["Value"])) for d in properties["Dimensions"]] == [(dimension, value)]
    assert properties["Threshold"] == threshold
    assert properties["ComparisonOperator"] == (
        "GreaterThanOrEqualToThreshold" if alarm_id in AT_THRESHOLD else "GreaterThanThreshold"
    )
    assert properties["TreatMissingData"] in ("notBreaching", "ignore")
    assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert properties["OKActions"] == [{"Ref": "AlarmTopic"}]


def test_every_alarm_of_the_template_is_one_of_the_list() -> None:
    assert set(of_type("AWS::CloudWatch::Alarm")) == set(ALARMS)


def test_alarm_thresholds_leave_room_before_the_state_they_watch_changes() -> None:
    # Past the deadline a pending push turns FAILED: the pending alarm must fire before that.
    assert (
        PARAMETERS["PendingAgeAlarmSeconds"]["Default"] < PARAMETERS["ValidationDeadlineSeconds"]["Default"]
    )
    # A message that is only retrying waits one visibility timeout per attempt; the stalled-queue
    # alarm should not fire on the first retry.
    assert (
        PARAMETERS["QueueAgeAlarmSeconds"]["Default"]
        > RESOURCES["ItemQueue"]["Properties"]["VisibilityTimeout"]
    )


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use() -> None:
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert get_att(topic["KmsMasterKeyId"]) == ("AlarmTopicKey", "Arn")
    key = RESOURCES["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        statement
        for statement in key["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(cloudwatch) == 1
    assert set(as_list(cloudwatch[0]["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}


def test_the_email_subscription_exists_only_when_an_address_is_given() -> None:
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert PARAMETERS["AlarmEmail"]["Default"] == ""


# --- custom metrics: what the code emits ------------------------------------------------------------


def load_handler(folder: str) -> Callable[..., dict[str, Any]]:
    spec = importlib.util.spec_from_file_location(
        f"template_{folder}_app", ROOT / "functions" / folder / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler  # type: ignore[no-any-return]


class _EmptyPipeline:
    def process(self, messages: list[Any], remaining_s: Callable[[], float]) -> Any:
        from connector.domain.pipeline import BatchReport

        return BatchReport()


class _IdleValidator:
    """A quiet run that verified one change: the freshness metrics are emitted only then."""

    def run(self, remaining_s: Callable[[], float]) -> Any:
        from connector.domain.freshness import FreshnessSample
        from connector.domain.validator import ValidationReport

        verified = FreshnessSample(pushed_at_ms=2_000, indexed_at_ms=9_000, event_time_ms=1_000)
        return ValidationReport(verified=1, freshness=[verified])


@pytest.fixture
def emitted(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str, str]]:
    """(namespace, metric, service) of every EMF metric the three handlers print on one invocation,
    given the dashboard's namespace in POWERTOOLS_METRICS_NAMESPACE as the template gives them theirs."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", DASHBOARD_NAMESPACE)
    for function_id, folder in FUNCTION_FOLDERS.items():
        handler = load_handler(folder)
        context = LambdaContext(function_name=folder, timeout_s=60)
        if function_id == "ValidatePushesFunction":
            handler({}, context, validator=_IdleValidator())
        else:
            handler({"Records": []}, context, pipeline=_EmptyPipeline())
    metrics = set()
    for line in capsys.readouterr().out.splitlines():
        try:
            blob = json.loads(line)
        except ValueError:
            continue  # not JSON
        if not isinstance(blob, dict) or "_aws" not in blob:
            continue  # a log line, not a metric blob
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Dimensions"] == [["service"]]
            for metric in directive["Metrics"]:
                metrics.add((directive["Namespace"], metric["Name"], blob["service"]))
    assert metrics, "the handlers printed no EMF metrics"
    return metrics


def test_custom_metric_alarms_watch_metrics_the_code_emits(emitted: set[tuple[str, str, str]]) -> None:
    for alarm_id, (namespace, metric, dimension, value, _) in ALARMS.items():
        if namespace != NAMESPACE:
            assert isinstance(namespace, str) and namespace.startswith("AWS/"), alarm_id
            continue
        assert dimension == "service"
        assert (DASHBOARD_NAMESPACE, metric, value) in emitted, alarm_id


# --- dashboard ------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


def dashboard_sub() -> tuple[str, dict[str, Any]]:
    """The dashboard body's Fn::Sub: its text and its own variables."""
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]
    assert set(body) == {"Fn::Sub"}
    text, variables = body["Fn::Sub"]
    assert isinstance(text, str) and isinstance(variables, dict)
    return text, variables


def dashboard_source() -> str:
    return dashboard_sub()[0]


def test_the_dashboard_reads_the_functions_namespace() -> None:
    """Its one variable of its own is the namespace, the very expression the functions get."""
    assert dashboard_sub()[1] == {DASHBOARD_NAMESPACE: NAMESPACE}


def dashboard() -> dict[str, Any]:
    """The body as JSON, each `"${X}"` string replaced by "X" and every other `${X}` by 1."""
    text = re.sub(r'"\$\{([^}!]+)\}"', r'"\1"', dashboard_source())
    body: dict[str, Any] = json.loads(_VARIABLE.sub("1", text))
    return body


def test_dashboard_variables_name_parameters_resources_or_pseudo_parameters() -> None:
    own = dashboard_sub()[1]
    for name in _VARIABLE.findall(dashboard_source()):
        base = name.split(".", 1)[0]
        assert name.startswith("AWS::") or name in own or base in PARAMETERS or base in RESOURCES, name
    # A variable outside quotes lands in the JSON as a number: only Number parameters may.
    for name in re.findall(r":\s*\$\{([^}]+)\}", dashboard_source()):
        assert PARAMETERS[name]["Type"] == "Number", name


def test_dashboard_body_is_json_with_widgets_on_the_grid() -> None:
    widgets = dashboard()["widgets"]
    assert widgets
    for widget in widgets:
        assert widget["type"] in ("metric", "alarm", "text")
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == "AWS::Region"
            assert widget["properties"]["metrics"]


def dashboard_metrics() -> set[tuple[str, str, str]]:
    named = set()
    for widget in dashboard()["widgets"]:
        for row in widget["properties"].get("metrics") or []:
            namespace, metric, _, value = row[:4]
            named.add((namespace, metric, value))
    return named


def test_dashboard_shows_the_pipeline() -> None:
    """Queue depth and age, DLQ depth, what the pushes did, the validator's verdicts, Lambda health."""
    expected = {
        ("AWS/SQS", metric, f"{queue_id}.QueueName")
        for queue_id in SOURCE_QUEUES
        for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage")
    }
    expected |= {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", f"{dlq_id}.QueueName")
        for dlq_id in SOURCE_QUEUES.values()
    }
    expected |= {
        (DASHBOARD_NAMESPACE, metric, service)
        for service in ("push_items", "push_identities")
        for metric in ("Pushed", "StaleSkipped", "DeadLettered", "Retried", "CoveoRequests")
    }
    expected |= {
        (DASHBOARD_NAMESPACE, metric, "validate_pushes")
        for metric in ("Verified", "Failed", "Pending", "PermissionWarnings", "OldestPendingAgeSeconds")
    }
    expected |= {
        ("AWS/Lambda", metric, function_id)
        for function_id in FUNCTIONS
        for metric in ("Duration", "Errors", "Throttles")
    }
    missing = expected - dashboard_metrics()
    assert not missing, sorted(missing)


def test_dashboard_custom_metrics_are_ones_the_code_emits(emitted: set[tuple[str, str, str]]) -> None:
    custom = {entry for entry in dashboard_metrics() if not entry[0].startswith("AWS/")}
    assert custom <= emitted, sorted(custom - emitted)


def test_dashboard_lists_every_alarm() -> None:
    (widget,) = [w for w in dashboard()["widgets"] if w["type"] == "alarm"]
    assert set(widget["properties"]["alarms"]) == {f"{alarm_id}.Arn" for alarm_id in ALARMS}


# --- outputs ----------------------------------------------------------------------------------------


def test_outputs_give_every_queues_url_and_arn() -> None:
    outputs = TEMPLATE["Outputs"]
    for queue_id in [*SOURCE_QUEUES, *SOURCE_QUEUES.values()]:
        assert outputs[f"{queue_id}Url"]["Value"] == {"Ref": queue_id}
        assert get_att(outputs[f"{queue_id}Arn"]["Value"]) == (queue_id, "Arn")
