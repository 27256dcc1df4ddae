"""What template.yaml must say for full syncs (issue 16), read from the code rather than restated.

- The sync settings the code reads reach the validator from parameters whose defaults are the code's.
- The IAM grants cover every DynamoDB and S3 call the sync adapter makes, for the functions that
  make it: the calls are read from connector/adapters/dynamodb_syncs.py, and which adapter methods
  a function reaches from the domain modules it runs, so a new call without a policy fails here.
- The sync alarms watch the metrics the validator's handler emits for failed and refused syncs.
- What a sync keeps in the ledger's bucket expires with the ledger.
"""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aws_simulator.lambda_context import LambdaContext
from connector.adapters import dynamodb_syncs, s3_ledger_entries
from connector.domain.sync import SyncSettings
from connector.domain.validator import ValidationReport
from connector.entry.settings import ConfigurationError, ConnectorSettings
from tests.template.test_template import (
    DASHBOARD_NAMESPACE,
    NAMESPACE,
    PARAMETERS,
    RESOURCES,
    as_list,
    dashboard_metrics,
    function_variables,
    load_handler,
)

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = ROOT / "layers" / "shared" / "connector"
ADAPTER = CONNECTOR / "adapters" / "dynamodb_syncs.py"

# The domain modules each function runs that hold the sync ledger: the push functions run the
# pipeline; the validator ends syncs and re-pushes through the same pipeline.
RUNS: dict[str, tuple[str, ...]] = {
    "PushItemsFunction": ("domain/pipeline.py",),
    "PushIdentitiesFunction": ("domain/pipeline.py",),
    "ValidatePushesFunction": ("domain/pipeline.py", "domain/sync_closing.py"),
}
# Modules that hold the sync ledger without being a function's domain code: the adapter itself, the
# runtime that builds it, the ports that declare it, the operator tools.
NOT_RUN_BY_A_FUNCTION = {"adapters/dynamodb_syncs.py", "entry/runtime.py", "ports.py"}

# boto3 operation -> IAM action. An operation missing here fails the test: add it, and its grant.
IAM_ACTIONS = {
    ("_db", "batch_get_item"): "dynamodb:BatchGetItem",
    ("_db", "get_item"): "dynamodb:GetItem",
    ("_db", "put_item"): "dynamodb:PutItem",
    ("_db", "update_item"): "dynamodb:UpdateItem",
    ("_db", "query"): "dynamodb:Query",
    ("_s3", "put_object"): "s3:PutObject",
    ("_s3", "get_object"): "s3:GetObject",
    ("_s3", "delete_object"): "s3:DeleteObject",
    ("_s3", "list_objects_v2"): "s3:ListBucket",
}
A_MEMBER_OBJECT = f"{dynamodb_syncs.PREFIX}sync-2026-11-26/0123456789abcdef.json.gz"
A_SYNC_LISTING = f"{dynamodb_syncs.PREFIX}sync-2026-11-26/"


# --- what the adapter calls -------------------------------------------------------------------------


def _adapter_class() -> ast.ClassDef:
    tree = ast.parse(ADAPTER.read_text(encoding="utf-8"))
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DynamoDBSyncs")


def _client_attr(node: ast.AST) -> str | None:
    """`_db` or `_s3` when `node` is `self._db` / `self._s3`."""
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and node.attr in ("_db", "_s3")
    ):
        return node.attr
    return None


def adapter_operations() -> dict[str, set[tuple[str, str]]]:
    """Each method of DynamoDBSyncs -> the (client, operation) pairs it calls, its own helpers'
    (`self._listed(...)`, `self.get(...)`) included."""
    direct: dict[str, set[tuple[str, str]]] = {}
    helpers: dict[str, set[str]] = {}
    for method in _adapter_class().body:
        if not isinstance(method, ast.FunctionDef):
            continue
        operations: set[tuple[str, str]] = set()
        called: set[str] = set()
        for node in ast.walk(method):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            client = _client_attr(node.func.value)
            if client is not None:
                operation = node.func.attr
                if operation == "get_paginator":
                    (name,) = node.args
                    assert isinstance(name, ast.Constant) and isinstance(name.value, str)
                    operation = name.value
                operations.add((client, operation))
            elif isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
                called.add(node.func.attr)
        direct[method.name] = operations
        helpers[method.name] = called

    def closure(name: str, seen: frozenset[str] = frozenset()) -> set[tuple[str, str]]:
        found = set(direct.get(name, set()))
        for helper in helpers.get(name, set()) - seen:
            found |= closure(helper, seen | {name})
        return found

    return {name: closure(name) for name in direct}


def test_every_use_of_an_aws_client_in_the_adapter_is_a_call_this_file_reads() -> None:
    """`self._db.x(...)`, `self._s3.x(...)`, `self._s3.get_paginator("x")`, or the clients'
    exception classes: a client passed on, or aliased, would hide its calls from the checks below."""
    cls = _adapter_class()
    parents = {child: parent for parent in ast.walk(cls) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(cls):
        if _client_attr(node) is None:
            continue
        parent = parents[node]
        if isinstance(parent, ast.Assign) and parent.targets == [node]:
            continue  # __init__ stores it
        assert isinstance(parent, ast.Attribute), ast.unparse(parent)
        if parent.attr == "exceptions":
            continue
        assert isinstance(parents[parent], ast.Call) and parents[parent].func is parent, ast.unparse(parent)


def test_the_adapter_calls_are_found() -> None:
    operations = adapter_operations()
    every = set().union(*operations.values())
    assert every, "no AWS call found in the adapter"
    unknown = every - set(IAM_ACTIONS)
    assert not unknown, f"calls with no IAM action known to this test (add them, and their grants): {unknown}"
    # The reading is not vacuous: the members are listed and read, records queried from the index.
    assert ("_s3", "list_objects_v2") in operations["members"]
    assert ("_db", "query") in operations["running"]


# --- which functions make them -----------------------------------------------------------------------


def _ledger_methods() -> set[str]:
    return {
        m.name for m in _adapter_class().body if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")
    }


def sync_ledger_calls(module: Path) -> set[str]:
    """Methods of the sync ledger a module calls on `syncs` or `self.syncs` (by name: a `syncs.get`
    on something else only makes the test ask for more)."""
    methods = _ledger_methods()
    found = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in methods:
            receiver = node.func.value
            name = receiver.id if isinstance(receiver, ast.Name) else getattr(receiver, "attr", None)
            if name == "syncs":
                found.add(node.func.attr)
    return found


def test_every_module_that_uses_the_sync_ledger_is_one_a_function_runs() -> None:
    users = {
        path.relative_to(CONNECTOR).as_posix() for path in CONNECTOR.rglob("*.py") if sync_ledger_calls(path)
    }
    run = {module for modules in RUNS.values() for module in modules}
    assert users - NOT_RUN_BY_A_FUNCTION <= run, sorted(users - NOT_RUN_BY_A_FUNCTION - run)
    # The map is not stale: each module it names does use the ledger.
    assert run <= users, sorted(run - users)


Need = tuple[str, str, str | None]  # (IAM action, resource, s3:prefix of a listing)


def needs(function_id: str) -> set[Need]:
    operations = adapter_operations()
    methods = set().union(*(sync_ledger_calls(CONNECTOR / module) for module in RUNS[function_id]))
    needed: set[Need] = set()
    for method in methods:
        for call in operations[method]:
            action = IAM_ACTIONS[call]
            if call == ("_db", "query"):
                needed.add((action, f"${{LedgerTable.Arn}}/index/{dynamodb_syncs.PENDING_INDEX}", None))
            elif call[0] == "_db":
                needed.add((action, "${LedgerTable.Arn}", None))
            elif action == "s3:ListBucket":
                needed.add((action, "${LedgerBucket.Arn}", A_SYNC_LISTING))
            else:
                needed.add((action, f"${{LedgerBucket.Arn}}/{A_MEMBER_OBJECT}", None))
    return needed


def rendered(resource: Any) -> str | None:
    """A statement's resource as the `${X.Arn}...` text it stands for."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        target = resource["Fn::GetAtt"]
        return "${" + (target if isinstance(target, str) else ".".join(target)) + "}"
    if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), str):
        return str(resource["Fn::Sub"])
    return None


def statements(function_id: str) -> Iterator[dict[str, Any]]:
    for policy in RESOURCES[function_id]["Properties"]["Policies"]:
        yield from policy["Statement"]


def listed_prefixes(statement: dict[str, Any]) -> list[str]:
    condition = statement.get("Condition") or {}
    return [str(p) for p in as_list((condition.get("StringLike") or {}).get("s3:prefix", []))]


def allows(statement: dict[str, Any], need: Need) -> bool:
    action, resource, prefix = need
    if statement["Effect"] != "Allow" or action not in as_list(statement["Action"]):
        return False
    if not any(
        (granted := rendered(r)) is not None and fnmatch.fnmatchcase(resource, granted)
        for r in as_list(statement["Resource"])
    ):
        return False
    if prefix is None:
        return True
    # A listing is granted for the syncs' prefix only, never the whole bucket.
    patterns = listed_prefixes(statement)
    return bool(patterns) and any(fnmatch.fnmatchcase(prefix, p) for p in patterns)


@pytest.mark.parametrize("function_id", sorted(RUNS))
def test_the_function_may_make_every_call_of_the_sync_adapter_it_reaches(function_id: str) -> None:
    needed = needs(function_id)
    assert needed
    missing = sorted(n for n in needed if not any(allows(s, n) for s in statements(function_id)))
    assert not missing, f"{function_id} lacks {missing}"


@pytest.mark.parametrize("function_id", sorted(RUNS))
def test_the_function_gets_no_more_of_the_syncs_objects_than_it_uses(function_id: str) -> None:
    """The push functions only write members; listing and reading them is the validator's."""
    actions = {a for s in statements(function_id) for a in as_list(s["Action"]) if a.startswith("s3:")}
    reaches = (f"${{LedgerBucket.Arn}}/{A_MEMBER_OBJECT}", None), ("${LedgerBucket.Arn}", A_SYNC_LISTING)
    granted = {
        action
        for action in actions
        if any(allows(s, (action, *where)) for s in statements(function_id) for where in reaches)
    }
    used = {action for action, _, _ in needs(function_id) if action.startswith("s3:")}
    assert granted == used, (function_id, sorted(granted), sorted(used))


def test_a_listing_grant_is_confined_to_the_syncs_prefix() -> None:
    for function_id in RUNS:
        for statement in statements(function_id):
            if "s3:ListBucket" in as_list(statement["Action"]):
                patterns = listed_prefixes(statement)
                assert patterns, f"{function_id}: s3:ListBucket without an s3:prefix condition"
                assert all(p.startswith(dynamodb_syncs.PREFIX) for p in patterns), (function_id, patterns)
                assert not any(fnmatch.fnmatchcase(s3_ledger_entries.PREFIX + "x", p) for p in patterns)


# --- settings ---------------------------------------------------------------------------------------

SYNC_FIELDS = sorted(
    {f.name for f in dataclasses.fields(SyncSettings)}
    & set(ConnectorSettings.model_fields)
    # The Coveo target is required; the ledger's retention is the whole ledger's (its rows' TTL and
    # the bucket's lifecycle rule, pinned equal by test_template.py), not a sync parameter.
    - {"source_id", "provider_id", "ledger_ttl_days"}
)
REQUIRED_ENV = {
    field.alias: "x"
    for field in ConnectorSettings.model_fields.values()
    if field.is_required() and field.alias
}


def settings_with(**env: str) -> ConnectorSettings:
    return ConnectorSettings.from_env({**REQUIRED_ENV, **env})


def test_the_sync_settings_are_found() -> None:
    assert {"sync_deadline_s", "max_delete_share", "sync_queue_delay_minutes"} <= set(SYNC_FIELDS)


@pytest.mark.parametrize("name", SYNC_FIELDS)
def test_a_sync_setting_reaches_the_validator_from_a_parameter_whose_default_is_the_codes(name: str) -> None:
    field = ConnectorSettings.model_fields[name]
    assert field.alias is not None
    value = function_variables("ValidatePushesFunction").get(field.alias)
    assert isinstance(value, dict) and set(value) == {"Ref"}, f"{field.alias} is not set from a parameter"
    parameter = PARAMETERS[value["Ref"]]
    assert parameter.get("Description"), value["Ref"]
    # The parameter's default, as the environment carries it, is what the code would use unset.
    assert getattr(settings_with(**{field.alias: str(parameter["Default"])}), name) == field.default
    if "MinValue" in parameter:  # the smallest value the stack accepts, the code accepts too
        settings_with(**{field.alias: str(parameter["MinValue"])})


SHARES_ACCEPTED = ["0", "0.5", "0.05", "1", "1.0", "0.999"]
SHARES_REFUSED = ["", "1.5", "2", "-0.1", "50%", ".5", "0.5 ", " 0.5", "1.01", "0,5", "1e-1", "nan"]


def test_the_delete_share_parameter_takes_decimals_from_0_to_1_only() -> None:
    parameter = PARAMETERS["SyncMaxDeleteShare"]
    assert parameter["Type"] == "String" and parameter["Default"] == "0.5"
    # CloudFormation matches AllowedPattern against the whole value.
    pattern = re.compile(parameter["AllowedPattern"])
    for share in SHARES_ACCEPTED:
        assert pattern.fullmatch(share), share
        assert 0 <= settings_with(SYNC_MAX_DELETE_SHARE=share).max_delete_share <= 1
    for share in SHARES_REFUSED:
        assert not pattern.fullmatch(share), share
    with pytest.raises(ConfigurationError):
        settings_with(SYNC_MAX_DELETE_SHARE="1.5")


def test_a_sync_ends_before_the_ledger_forgets_it() -> None:
    """Past LEDGER_TTL_DAYS a sync's record and its members' objects expire; a sync must be ended
    (FAILED at worst, by its deadline) well before, whatever deadline the stack allows."""
    ttl_s = ConnectorSettings.model_fields["ledger_ttl_days"].default * 24 * 3600
    assert PARAMETERS["SyncDeadlineSeconds"]["MaxValue"] * 2 <= ttl_s


# --- storage ----------------------------------------------------------------------------------------


def test_the_syncs_objects_expire_with_the_ledger() -> None:
    """Every prefix the adapters write in the ledger's bucket is expired by an enabled rule after the
    ledger's TTL, the ledger's entries and the syncs' members alike."""
    ttl_days = ConnectorSettings.model_fields["ledger_ttl_days"].default
    rules = RESOURCES["LedgerBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    for written in (s3_ledger_entries.PREFIX + "batch/x.json.gz", A_MEMBER_OBJECT):
        expiring = [
            rule
            for rule in rules
            if rule["Status"] == "Enabled"
            and written.startswith(rule.get("Prefix") or (rule.get("Filter") or {}).get("Prefix") or "")
            and rule.get("ExpirationInDays") == ttl_days
        ]
        assert expiring, f"nothing expires {written} after {ttl_days} days"


def test_sync_records_live_in_the_ledger_table_with_its_ttl_and_index() -> None:
    table = RESOURCES["LedgerTable"]["Properties"]
    source = ADAPTER.read_text(encoding="utf-8")
    ttl_attribute = table["TimeToLiveSpecification"]["AttributeName"]
    assert re.search(rf"\b{ttl_attribute} = ", source), f"sync records never set {ttl_attribute}"
    assert dynamodb_syncs.PENDING_INDEX in {i["IndexName"] for i in table["GlobalSecondaryIndexes"]}


# --- alarms and dashboard ---------------------------------------------------------------------------

# What one validator run reports, each count distinct so a metric is tied to its count.
REPORT = ValidationReport(syncs_completed=3, syncs_failed=1, syncs_refused=2, syncs_running=4, sync_deleted=5)
SYNC_ALARMS = {"SyncFailedAlarm": "syncs_failed", "SyncRefusedAlarm": "syncs_refused"}
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
}


class _Reporting:
    def __init__(self, report: ValidationReport) -> None:
        self.report = report

    def run(self, remaining_s: Callable[[], float]) -> ValidationReport:
        return self.report


def validator_metrics(report: ValidationReport, capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    """The validator handler's EMF metrics for one run that reports `report`: name -> value."""
    handler = load_handler("validate_pushes")
    handler({}, LambdaContext(function_name="validate_pushes", timeout_s=60), validator=_Reporting(report))
    values: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if isinstance(blob, dict) and "_aws" in blob:
            assert blob["service"] == "validate_pushes"
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return values


@pytest.mark.parametrize("alarm_id", sorted(SYNC_ALARMS))
def test_a_sync_alarm_fires_on_one_ended_sync_of_its_kind(
    alarm_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The metric the alarm watches is the one carrying its count; one such sync breaches it, a
    run with none does not."""
    alarm = RESOURCES[alarm_id]["Properties"]
    field = SYNC_ALARMS[alarm_id]
    emitted = validator_metrics(REPORT, capsys)
    assert emitted.get(alarm["MetricName"]) == getattr(REPORT, field), (alarm["MetricName"], emitted)
    assert alarm["Namespace"] == NAMESPACE and alarm["Statistic"] == "Sum"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "validate_pushes"}]
    assert alarm["TreatMissingData"] == "notBreaching"
    breached = COMPARE[alarm["ComparisonOperator"]]
    one = validator_metrics(dataclasses.replace(ValidationReport(), **{field: 1}), capsys)
    none = validator_metrics(ValidationReport(), capsys)
    assert breached(one[alarm["MetricName"]], alarm["Threshold"])
    assert not breached(none[alarm["MetricName"]], alarm["Threshold"])


def test_the_dashboard_shows_every_sync_metric_the_functions_emit(capsys: pytest.CaptureFixture[str]) -> None:
    sync_metrics = {name for name in validator_metrics(REPORT, capsys) if name.startswith("Sync")}
    assert {"SyncsCompleted", "SyncsFailed", "SyncsRefused", "SyncsRunning", "SyncDeleted"} <= sync_metrics
    shown = dashboard_metrics()
    missing = {name for name in sync_metrics if (DASHBOARD_NAMESPACE, name, "validate_pushes") not in shown}
    assert not missing, sorted(missing)
    for service in ("push_items", "push_identities"):
        assert (DASHBOARD_NAMESPACE, "SyncEvents", service) in shown
