"""template.yaml's parameters (issue 18): constraints that refuse mistakes at deploy time, the
metrics namespace of each stack followed by the functions, the alarms and the dashboard, tracing as
a choice, the console's parameter groups, and events/env.local.json for `sam local invoke`.

CloudFormation matches an AllowedPattern against the whole value (Java's `matches`), which is what
`re.fullmatch` does here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from aws_simulator.cloudformation import LocalResources, QueueResource, function_environment
from connector.entry.settings import ConnectorSettings
from coveo_emulator.config import EmulatorConfig
from tests.template.test_template import (
    ALARMS,
    GLOBAL_FUNCTION,
    NAMESPACE,
    NO_VALUE,
    PARAMETERS,
    RESOURCES,
    TEMPLATE,
    dashboard_sub,
    function_variables,
    of_type,
)

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / "events" / "env.local.json"
FUNCTION_IDS = sorted(of_type("AWS::Serverless::Function"))


def allowed(name: str, value: str) -> bool:
    """Whether CloudFormation would take `value` for the String parameter `name`."""
    declared = PARAMETERS[name]
    if len(value) < declared.get("MinLength", 0) or len(value) > declared.get("MaxLength", 4096):
        return False
    if "AllowedValues" in declared and value not in [str(v) for v in declared["AllowedValues"]]:
        return False
    pattern = declared.get("AllowedPattern")
    return pattern is None or re.fullmatch(pattern, value) is not None


# --- constraints -----------------------------------------------------------------------------------

STACK_NAME_MAX = "s" + "-x" * 63 + "z"  # CloudFormation's longest stack name: 128 characters

# Parameter -> (values a real deployment uses, mistakes that must be refused).
CASES: dict[str, tuple[list[str], list[str]]] = {
    "CoveoOrganizationId": (
        ["myorgabc123", "mycoveocloudv2organizationg8tp8wu3", "barca-group2"],
        [
            "",
            " myorgabc123",
            "myorgabc123 ",
            "myorgabc123\n",
            "My Org",  # the display name
            "MyOrgAbc123",
            "https://platform.cloud.coveo.com/admin/#/myorgabc123",
            "myorgabc123/sources/x",
            "../other",
            "myorgabc123?x=1",
            "-myorg",
            "myorg-",
            "CHANGE-ME-organization-id",  # samconfig.toml's placeholder
        ],
    ),
    "CoveoSourceId": (
        [
            "myorgabc123-rtqx3bg6xlpr4aooe7oplxikzl",
            "myorganization-rp5rxzbdz753uhndklv2ztkfgy",
            "mysourceidg3c5d1r2",
        ],
        [
            "",
            "My Push Source",
            "myorgabc123-rtqx3bg6xlpr4aooe7oplxikzl ",
            "myorgabc123--rtqx",
            "myorgabc123-rtqx3bg6xlpr4aooe7oplxikzl/documents",
            "myorgabc123%2Frtqx",
            "CHANGE-ME-source-id",
        ],
    ),
    "CoveoProviderId": (
        [
            "mysecurityidentityprovider8d9s8d",
            "My Secured Push Source Security Identity Provider",  # Coveo's example
            "push_provider-2.eu",
        ],
        [
            "",
            " leading space",
            "trailing space ",
            "two\nlines",
            "a/b",
            "a?b",
            "a#b",
            "Email\tSecurity",
        ],
    ),
    "CoveoApiKeySecretName": (
        ["coveo-push/api-key", "prod/coveo_push+key=1.0@team", "coveo-push/local/api-key"],
        [
            "",
            "*",  # the policy would grant every secret of the account
            "coveo-*",
            "coveo-push/api-key?",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:coveo-push/api-key-AbCdEf",
            "coveo push",
            "x" * 513,
        ],
    ),
    "ValidationSchedule": (
        [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(10 minutes)",
            "rate(1 hour)",
            "rate(12 hours)",
            "rate(1 day)",
            "cron(0/5 * * * ? *)",
            "cron(0 8 1 * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(15 10 ? * 6L 2026-2030)",
            "cron(0 9 ? * 2#1 *)",
        ],
        [
            "",
            "rate(5 minute)",
            "rate(1 minutes)",
            "rate(0 minutes)",
            "rate(05 minutes)",
            "rate(5 seconds)",
            "rate(-5 minutes)",
            "rate(5  minutes)",
            "rate(5 minutes) ",
            "every 5 minutes",
            "*/5 * * * *",  # Unix cron
            "cron(*/5 * * * *)",  # five fields
            "cron(0 8 1 * MON *)",  # day-of-month and day-of-week both set
            "cron(0 8 ? * ? *)",  # neither set
            "at(2026-12-01T10:00:00)",  # once
            "rate(5 minutes)\nrate(1 minute)",
        ],
    ),
    "AlarmEmail": (
        ["", "ops@example.com", "first.last+coveo@mail.example.co.uk", "o'brien@example.ie"],
        [
            " ",
            "ops",
            "ops@example",
            "@example.com",
            "ops@@example.com",
            "ops@example.com,oncall@example.com",
            "ops,oncall@example.com",
            "first last@example.com",
            "ops@example.com oncall@example.com",
            "Ops <ops@example.com>",
            "mailto:ops@example.com",
            "ops@example.com\n",
        ],
    ),
    "MetricsNamespace": (
        [
            "",
            "CoveoConnector",
            "CoveoConnector/prod",
            f"CoveoConnector/{STACK_NAME_MAX}",
            "team.search/coveo-push_1#eu:prod",
            "Coveo Connector",
            "N" * 255,
        ],
        [
            " ",
            " CoveoConnector",
            "CoveoConnector ",
            ":CoveoConnector",
            "AWS/Lambda",  # reserved for AWS
            "AWS/CoveoConnector",
            'Coveo"Connector',  # would break the dashboard's JSON
            "Coveo\\Connector",
            "CoveoConnector\n",
            "Coveo*",
            "N" * 256,
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_parameter_takes_real_values_and_refuses_mistakes(name: str) -> None:
    good, bad = CASES[name]
    assert [value for value in good if not allowed(name, value)] == []
    assert [value for value in bad if allowed(name, value)] == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_constrained_parameter_says_what_it_wants(name: str) -> None:
    declared = PARAMETERS[name]
    assert declared["Type"] == "String"
    assert declared.get("ConstraintDescription"), name
    if "Default" in declared:
        assert allowed(name, str(declared["Default"])), name


@pytest.mark.parametrize(
    "name", ["CoveoOrganizationId", "CoveoSourceId", "CoveoProviderId", "CoveoApiKeySecretName"]
)
def test_required_ids_have_no_default_and_refuse_an_empty_value(name: str) -> None:
    assert "Default" not in PARAMETERS[name]
    assert PARAMETERS[name]["MinLength"] >= 1
    assert not allowed(name, "")


def test_every_string_parameter_is_constrained() -> None:
    """A free-text String parameter is how an empty id or a typo reached a deployment."""
    loose = [
        name
        for name, declared in PARAMETERS.items()
        if declared["Type"] == "String" and not {"AllowedValues", "AllowedPattern"} & set(declared)
    ]
    assert loose == []


def test_the_worked_example_ids_are_allowed() -> None:
    """The local run passes the emulator's ids as these parameters."""
    config = EmulatorConfig()
    assert allowed("CoveoOrganizationId", config.organization_id)
    assert allowed("CoveoSourceId", config.source_id)
    assert allowed("CoveoProviderId", config.provider_id)


def test_samconfig_overrides_name_template_parameters() -> None:
    text = (ROOT / "samconfig.toml").read_text()
    (overrides,) = re.findall(r'^parameter_overrides = "(.*)"$', text, re.MULTILINE)
    pairs = dict(re.findall(r'(\w+)=\\"([^"\\]*)\\"', overrides))
    assert pairs and set(pairs) <= set(PARAMETERS)
    for name, value in pairs.items():
        if value.startswith("CHANGE-ME"):
            continue  # a placeholder to replace
        assert allowed(name, value), (name, value)


# --- the metrics namespace ---------------------------------------------------------------------


def test_the_namespace_is_the_parameter_or_one_per_stack() -> None:
    assert NAMESPACE == {
        "Fn::If": [
            "HasMetricsNamespace",
            {"Ref": "MetricsNamespace"},
            {"Fn::Sub": "CoveoConnector/${AWS::StackName}"},
        ]
    }
    assert TEMPLATE["Conditions"]["HasMetricsNamespace"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MetricsNamespace"}, ""]}]
    }
    assert PARAMETERS["MetricsNamespace"]["Default"] == ""
    # The per-stack default fits CloudWatch's rules whatever the stack's name.
    assert allowed("MetricsNamespace", f"CoveoConnector/{STACK_NAME_MAX}")


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_every_function_gets_the_stacks_namespace(function_id: str) -> None:
    assert function_variables(function_id)["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE


def test_every_alarm_on_a_custom_metric_reads_the_stacks_namespace() -> None:
    """Every alarm of the template: an AWS/ namespace (a metric of the stack's own queue or
    function), or the functions' namespace. A literal one would mix two stacks' metrics."""
    custom = []
    for alarm_id, properties in of_type("AWS::CloudWatch::Alarm").items():
        namespace = properties["Namespace"]
        if namespace == NAMESPACE:
            custom.append(alarm_id)
        else:
            assert isinstance(namespace, str) and namespace.startswith("AWS/"), alarm_id
    assert sorted(custom) == sorted(a for a, spec in ALARMS.items() if spec[0] == NAMESPACE)
    assert len(custom) >= 7


def test_every_custom_metric_of_the_dashboard_reads_the_stacks_namespace() -> None:
    text, variables = dashboard_sub()
    assert variables == {"Namespace": NAMESPACE}
    rows = re.findall(r'\[\s*"([^"]+)",\s*"(\w+)",\s*"(\w+)"', text)
    assert rows
    literal = [row for row in rows if not row[0].startswith("AWS/") and row[0] != "${Namespace}"]
    assert literal == []
    assert any(row[0] == "${Namespace}" for row in rows)
    # Nothing else of the template names the code's fallback namespace as a value.
    assert "CoveoConnector" not in json.dumps(RESOURCES).replace("CoveoConnector/${AWS::StackName}", "")


def _fake_resources() -> LocalResources:
    """Local resources named by their logical ids."""
    queues = {
        logical_id: QueueResource(logical_id, logical_id, logical_id, "arn", 30, None, None)
        for logical_id in of_type("AWS::SQS::Queue")
    }
    tables = {logical_id: logical_id for logical_id in of_type("AWS::DynamoDB::Table")}
    buckets = {logical_id: logical_id for logical_id in of_type("AWS::S3::Bucket")}
    return LocalResources(queues, tables, buckets, "secret", "arn")


def test_the_local_run_resolves_the_namespace_one_per_stack_or_as_given() -> None:
    """The simulator (and so `coveo-push local` and bench) resolves the condition: its stack is
    named "local"; a given MetricsNamespace wins."""
    resources = _fake_resources()
    required = {
        "CoveoOrganizationId": "o",
        "CoveoSourceId": "s",
        "CoveoProviderId": "p",
        "CoveoApiKeySecretName": "k",
    }
    env = function_environment(ROOT / "template.yaml", "PushItemsFunction", resources, required)
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "CoveoConnector/local"
    assert "COVEO_BASE_URL" not in env and "AWS_ENDPOINT_URL" not in env
    given = {**required, "MetricsNamespace": "Team/Search"}
    env = function_environment(ROOT / "template.yaml", "ValidatePushesFunction", resources, given)
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Team/Search"


# --- tracing ---------------------------------------------------------------------------------------


def test_tracing_is_a_parameter_no_function_overrides() -> None:
    assert GLOBAL_FUNCTION["Tracing"] == {"Ref": "TracingMode"}
    declared = PARAMETERS["TracingMode"]
    # Lambda's TracingConfig knows Active and PassThrough; SAM's "Disabled" would reach it as is.
    assert declared["AllowedValues"] == ["Active", "PassThrough"]
    assert declared["Default"] == "PassThrough"
    for function_id in FUNCTION_IDS:
        assert "Tracing" not in RESOURCES[function_id]["Properties"], function_id


def test_only_the_tracing_rule_is_silenced_and_only_on_functions() -> None:
    for logical_id, resource in RESOURCES.items():
        checks = (
            ((resource.get("Metadata") or {}).get("cfn-lint") or {}).get("config", {}).get("ignore_checks")
        )
        if resource["Type"] == "AWS::Serverless::Function":
            assert checks == ["WS1000"], logical_id
        else:
            assert "WS1000" not in (checks or []), logical_id


_SAM_PYTHON = ROOT / ".venv" / "sam-cli" / "bin" / "python"
_TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform
from samcli.yamlhelper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

out = {}
for mode in ("Active", "PassThrough"):
    template = yaml_parse(open("template.yaml").read())
    for resource in template["Resources"].values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = "s3://bucket/code.zip"
    resources = transform(template, {"TracingMode": mode}, NoManagedPolicies())["Resources"]
    out[mode] = {
        logical_id: resource["Properties"].get("TracingConfig") or resource["Properties"].get("ManagedPolicyArns")
        for logical_id, resource in resources.items()
        if resource["Type"] in ("AWS::Lambda::Function", "AWS::IAM::Role")
    }
print(json.dumps(out))
"""


def test_sam_gives_every_function_the_tracing_mode_and_the_xray_write_policy() -> None:
    """What SAM makes of `Tracing: !Ref TracingMode` for each allowed value: the functions'
    TracingConfig follows the parameter, and every role may write segments (SAM leaves the policy
    out only for "Disabled", which the parameter does not allow)."""
    if not _SAM_PYTHON.exists():
        pytest.skip("aws-sam-cli not installed (make install-sam, or make lint, installs it)")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [str(_SAM_PYTHON), "-c", _TRANSLATE], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for resources in json.loads(result.stdout).values():
        for function_id in FUNCTION_IDS:
            assert resources[function_id] == {"Mode": {"Ref": "TracingMode"}}
            role = resources[f"{function_id}Role"]
            assert any(arn.endswith(":policy/AWSXrayWriteOnlyAccess") for arn in role), (function_id, role)


# --- the console's parameter groups ------------------------------------------------------------


def test_every_parameter_is_in_one_group_and_labelled() -> None:
    interface = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [name for group in interface["ParameterGroups"] for name in group["Parameters"]]
    assert sorted(grouped) == sorted(PARAMETERS), "each parameter in exactly one group"
    for group in interface["ParameterGroups"]:
        assert group["Label"]["default"], group
    labels = interface["ParameterLabels"]
    assert sorted(labels) == sorted(PARAMETERS)
    assert all(label["default"] for label in labels.values())


# --- events/env.local.json --------------------------------------------------------------------------

# The local run's shortcuts for the validator (no processing delay, syncs ended in seconds): below
# the template's minimums, so these differ from what the template would allow.
LOCAL_SHORTCUTS = {
    "PROCESSING_DELAY_SECONDS",
    "VALIDATION_DEADLINE_SECONDS",
    "SYNC_DEADLINE_SECONDS",
    "SYNC_QUEUE_DELAY_MINUTES",
}


def run_specific(function_id: str) -> set[str]:
    """The variables whose local value changes with each local stack: a resource's name or URL
    (prefixed per run), the API key's secret (named per run unless given), the two endpoints (free
    ports). The file leaves them as `${NAME}`, the name `coveo-push local --keep` exports them by."""
    found = set()
    for name, value in function_variables(function_id).items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        if (
            value == NO_VALUE
            or ref in RESOURCES
            or ref == "CoveoApiKeySecretName"
            or "Fn::GetAtt" in str(value)
        ):
            found.add(name)
    return found


def expanded(function_id: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The function's variables once the README's `os.path.expandvars` step ran in a shell holding
    the exports of a kept local stack (here: made-up values)."""
    for name in run_specific(function_id):
        monkeypatch.setenv(
            name, f"http://127.0.0.1:1/{name.lower()}" if name.endswith("URL") else name.lower()
        )
    return {name: os.path.expandvars(value) for name, value in env_file()[function_id].items()}


def env_file() -> dict[str, dict[str, str]]:
    document: dict[str, dict[str, str]] = json.loads(ENV_FILE.read_text())
    return document


def test_the_env_file_names_every_function_and_every_variable_it_gets() -> None:
    """`sam local invoke --env-vars` sets only variables the template declares for the function and
    ignores the others: the file holds exactly those, for exactly the template's functions."""
    document = env_file()
    assert sorted(document) == FUNCTION_IDS
    for function_id in FUNCTION_IDS:
        assert sorted(document[function_id]) == sorted(function_variables(function_id)), function_id
        assert all(isinstance(value, str) and value for value in document[function_id].values())


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_the_env_file_holds_what_the_template_gives_with_the_local_runs_values(function_id: str) -> None:
    """Resolved by the simulator with the local run's parameters (the emulator's ids): the file
    says the same, but for the local run's shortcuts and the run-specific `${NAME}`s."""
    config = EmulatorConfig()
    document = env_file()[function_id]
    placeholders = run_specific(function_id)
    assert {"LEDGER_TABLE", "COVEO_BASE_URL", "AWS_ENDPOINT_URL", "COVEO_API_KEY_SECRET"} <= placeholders
    assert {name: document[name] for name in placeholders} == {name: f"${{{name}}}" for name in placeholders}
    parameters = {
        "CoveoOrganizationId": config.organization_id,
        "CoveoSourceId": config.source_id,
        "CoveoProviderId": config.provider_id,
        "CoveoApiKeySecretName": "secret",
    }
    resolved = function_environment(ROOT / "template.yaml", function_id, _fake_resources(), parameters)
    skipped = LOCAL_SHORTCUTS | placeholders
    expected = {name: value for name, value in resolved.items() if name not in skipped}
    actual = {name: value for name, value in document.items() if name not in skipped}
    assert actual == expected
    assert "$" not in json.dumps(actual)
    for name, value in function_variables(function_id).items():
        if isinstance(value, dict) and value.get("Ref") in PARAMETERS and name not in placeholders:
            parameter = value["Ref"]
            if PARAMETERS[parameter]["Type"] == "String":
                assert allowed(parameter, document[name]), (name, document[name])


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_the_expanded_env_file_is_a_configuration_the_functions_accept(
    function_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = expanded(function_id, monkeypatch)
    assert "$" not in json.dumps(env)
    settings = ConnectorSettings.from_env(env)
    assert settings.base_url == "http://127.0.0.1:1/coveo_base_url"
    if function_id == "ValidatePushesFunction":
        assert settings.processing_delay_s == 0  # the emulator indexes at once
