"""The CloudFormation side of the simulator: template.yaml read and provisioned on a moto server.

template.yaml is the one source of truth for redrive, visibility, retention and batching: the local
run reads it here instead of restating its numbers. Only what the local pipeline needs is created
(SQS queues, DynamoDB tables, S3 buckets, the API-key secret); functions, layers, alarms and the
schedule are read (`event_source_settings`) or ignored.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .moto_server import ACCOUNT_ID, REGION, MotoServer

STACK_NAME = "local"
# The template parameter that names the Secrets Manager secret holding the Coveo API key.
API_KEY_SECRET_PARAMETER = "CoveoApiKeySecretName"  # noqa: S105 - a parameter name
DEFAULT_API_KEY_SECRET_NAME = "coveo-push/local/api-key"  # noqa: S105 - a name, not a value

# Lambda's documented defaults for an SQS event source and a function.
DEFAULT_BATCH_SIZE = 10
DEFAULT_BATCHING_WINDOW_S = 0
DEFAULT_FUNCTION_TIMEOUT_S = 3
DEFAULT_MEMORY_SIZE_MB = 128


# --- template loading -------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short forms (`!Ref X`, `!GetAtt X.Arn`, ...) as long forms."""


def _construct_short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    return {f"Fn::{suffix}": value}


# Registered on the subclass only: yaml.SafeLoader itself stays untouched.
_CfnLoader.add_multi_constructor("!", _construct_short_form)


def load_template(template_path: str | Path) -> dict[str, Any]:
    with open(template_path, encoding="utf-8") as handle:
        template = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise ValueError(f"{template_path}: not a CloudFormation template (no Resources)")
    return template


# --- intrinsic functions ----------------------------------------------------------------------

_NO_VALUE = object()  # AWS::NoValue: the property is removed
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class _Intrinsics:
    """Resolves the intrinsic functions a template's resource properties use, to plain values.

    Parameters resolve to the given value or their Default; resource references go through the
    `ref` and `get_att` callbacks (which may create the resource first).
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        ref: Callable[[str], Any],
        get_att: Callable[[str, str], Any],
    ) -> None:
        self._declared: Mapping[str, Any] = template.get("Parameters") or {}
        self._conditions: Mapping[str, Any] = template.get("Conditions") or {}
        self._resources: Mapping[str, Any] = template["Resources"]
        self._parameters = parameters
        self._ref = ref
        self._get_att = get_att
        self._condition_values: dict[str, bool] = {}

    def parameter(self, name: str) -> Any:
        if name not in self._declared:
            raise ValueError(f"unknown parameter {name!r}")
        declared = self._declared[name] or {}
        if name in self._parameters:
            value = self._parameters[name]
        elif "Default" in declared:
            value = declared["Default"]
        else:
            raise ValueError(f"parameter {name!r} has no Default: pass a value for it")
        if declared.get("Type") == "CommaDelimitedList":
            return [part.strip() for part in str(value).split(",")]
        return str(value)

    def has_value(self, name: str) -> bool:
        declared = self._declared.get(name) or {}
        return name in self._parameters or "Default" in declared

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self._declared:
            return self.parameter(name)
        if name in self._resources:
            return self._ref(name)
        raise ValueError(f"!Ref {name}: no such parameter or resource")

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self._conditions:
                raise ValueError(f"unknown condition {name!r}")
            self._condition_values[name] = self._truth(self._conditions[name])
        return self._condition_values[name]

    def _truth(self, expression: Any) -> bool:
        if isinstance(expression, dict) and len(expression) == 1:
            ((function, argument),) = expression.items()
            if function == "Condition":
                return self.condition(argument)
            if function == "Fn::Equals":
                left, right = (self.resolve(side) for side in argument)
                return str(left) == str(right)
            if function == "Fn::Not":
                return not self._truth(argument[0])
            if function == "Fn::And":
                return all(self._truth(item) for item in argument)
            if function == "Fn::Or":
                return any(self._truth(item) for item in argument)
        raise ValueError(f"unsupported condition expression: {expression!r}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key.startswith("Fn::"):
                return self._function(key, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            return self._get_att(logical_id, attribute)
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Join":
            separator, items = argument
            return str(separator).join(str(item) for item in self.resolve(items))
        if name == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.condition(condition) else when_false)
        raise ValueError(f"{name} is not supported by the local provisioning")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {key: self.resolve(item) for key, item in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} stands for the text ${Literal}
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, text)


# --- provisioning -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueResource:
    """One provisioned SQS queue, with the settings the poller and the tests check against."""

    logical_id: str
    name: str
    url: str
    arn: str
    visibility_timeout_s: int
    dead_letter_queue: str | None  # logical id of the redrive target
    max_receive_count: int | None


@dataclass(frozen=True)
class LocalResources:
    """What `provision_from_template` created, by template logical id."""

    queues: Mapping[str, QueueResource]
    tables: Mapping[str, str]  # logical id -> table name
    buckets: Mapping[str, str]  # logical id -> bucket name
    api_key_secret_name: str
    api_key_secret_arn: str

    def queue_url(self, logical_id: str) -> str:
        return self.queues[logical_id].url

    def queue_arn(self, logical_id: str) -> str:
        return self.queues[logical_id].arn


# SQS attributes that CloudFormation spells as queue properties, passed through as they are.
_SQS_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
_SQS_DEFAULT_VISIBILITY_TIMEOUT_S = 30


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _bucket_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.")
    return name[:63] if len(name) >= 3 else f"{name}-bucket"


class _Provisioner:
    """Creates supported resources on demand, dependencies first (a DLQ before the queue naming it)."""

    _TYPES = ("AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::S3::Bucket")

    def __init__(self, template: dict[str, Any], aws: MotoServer, parameters: Mapping[str, str], prefix: str):
        self._resources: dict[str, Any] = template["Resources"]
        self._aws = aws
        self._prefix = prefix
        self._clients: dict[str, Any] = {}
        self.intrinsics = _Intrinsics(template, parameters, self._ref, self._get_att)
        self.queues: dict[str, QueueResource] = {}
        self.tables: dict[str, str] = {}
        self.buckets: dict[str, str] = {}
        self._creating: list[str] = []

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._aws.client(service)
        return self._clients[service]

    def create_all(self) -> None:
        for logical_id, resource in self._resources.items():
            if resource.get("Type") in self._TYPES and not self._skipped(logical_id):
                self._ensure(logical_id)

    def _ensure(self, logical_id: str) -> None:
        if logical_id in self.queues or logical_id in self.tables or logical_id in self.buckets:
            return
        if logical_id in self._creating:
            raise ValueError(f"circular reference: {' -> '.join([*self._creating, logical_id])}")
        resource = self._resources[logical_id]
        kind = resource.get("Type")
        if kind not in self._TYPES:
            raise ValueError(f"{logical_id} ({kind}) is not created locally, so it cannot be referenced")
        if "Condition" in resource and not self.intrinsics.condition(resource["Condition"]):
            raise ValueError(f"{logical_id} is not created: condition {resource['Condition']} is false")
        self._creating.append(logical_id)
        try:
            properties = self.intrinsics.resolve(resource.get("Properties") or {})
            if kind == "AWS::SQS::Queue":
                self._create_queue(logical_id, properties)
            elif kind == "AWS::DynamoDB::Table":
                self._create_table(logical_id, properties)
            else:
                self._create_bucket(logical_id, properties)
        finally:
            self._creating.pop()

    def _skipped(self, logical_id: str) -> bool:
        resource = self._resources[logical_id]
        return "Condition" in resource and not self.intrinsics.condition(resource["Condition"])

    def _ref(self, logical_id: str) -> str:
        self._ensure(logical_id)
        if logical_id in self.queues:
            return self.queues[logical_id].url
        return self.tables.get(logical_id) or self.buckets[logical_id]

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self._resources:
            raise ValueError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        self._ensure(logical_id)
        if logical_id in self.queues:
            queue = self.queues[logical_id]
            by_name = {"Arn": queue.arn, "QueueName": queue.name, "QueueUrl": queue.url}
        elif logical_id in self.tables:
            by_name = {"Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{self.tables[logical_id]}"}
        else:
            bucket = self.buckets[logical_id]
            by_name = {"Arn": f"arn:aws:s3:::{bucket}", "DomainName": f"{bucket}.s3.amazonaws.com"}
        if attribute not in by_name:
            raise ValueError(f"!GetAtt {logical_id}.{attribute} is not supported locally")
        return by_name[attribute]

    def _create_queue(self, logical_id: str, properties: dict[str, Any]) -> None:
        fifo = str(properties.get("FifoQueue", "")).lower() == "true"
        name = properties.get("QueueName") or f"{self._prefix}{logical_id}{'.fifo' if fifo else ''}"
        attributes = {key: _attribute_text(properties[key]) for key in _SQS_ATTRIBUTES if key in properties}
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = properties.get("RedrivePolicy") or {}
        target = redrive.get("deadLetterTargetArn")
        dead_letter = next((q.logical_id for q in self.queues.values() if q.arn == target), None)
        self.queues[logical_id] = QueueResource(
            logical_id=logical_id,
            name=name,
            url=url,
            arn=arn,
            visibility_timeout_s=int(properties.get("VisibilityTimeout", _SQS_DEFAULT_VISIBILITY_TIMEOUT_S)),
            dead_letter_queue=dead_letter,
            max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
        )

    def _create_table(self, logical_id: str, properties: dict[str, Any]) -> None:
        name = properties.get("TableName") or f"{self._prefix}{logical_id}"
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": properties.get("BillingMode", "PROVISIONED"),
        }
        if "ProvisionedThroughput" in properties:
            request["ProvisionedThroughput"] = _throughput(properties["ProvisionedThroughput"])
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in properties:
                request[key] = [_index(index) for index in properties[key]]
        stream = properties.get("StreamSpecification")
        if stream:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        sse = properties.get("SSESpecification")
        if sse:
            request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled", False))}
        dynamodb = self.client("dynamodb")
        dynamodb.create_table(**request)
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        pitr = properties.get("PointInTimeRecoverySpecification") or {}
        if pitr.get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        self.tables[logical_id] = name

    def _create_bucket(self, logical_id: str, properties: dict[str, Any]) -> None:
        name = properties.get("BucketName") or _bucket_name(f"{self._prefix}{logical_id}")
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)  # us-east-1 takes no LocationConstraint
        versioning = properties.get("VersioningConfiguration")
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning["Status"]})
        self.buckets[logical_id] = name


def _throughput(value: Mapping[str, Any]) -> dict[str, int]:
    return {key: int(value[key]) for key in ("ReadCapacityUnits", "WriteCapacityUnits")}


def _index(index: Mapping[str, Any]) -> dict[str, Any]:
    # CloudFormation indexes may carry keys the API does not take (e.g. ContributorInsightsSpecification).
    request = {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
    if "ProvisionedThroughput" in index:
        request["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
    return request


def provision_from_template(
    template_path: str | Path,
    aws: MotoServer,
    parameters: Mapping[str, str] | None = None,
    *,
    api_key: str | None = None,
    name_prefix: str = "",
) -> LocalResources:
    """Create the template's queues, tables and buckets in `aws`, and the Coveo API-key secret.

    Names come from logical ids (`ItemQueue` -> queue `ItemQueue`; buckets lower-cased), or from
    the resource's own name property when it sets one; `name_prefix` goes in front of derived names
    so several provisionings (one per test) can share a server. The secret is named by the
    `CoveoApiKeySecretName` parameter when it has a value, else `<prefix>coveo-push/local/api-key`;
    it holds `api_key`, or a random key when none is given (read it back from Secrets Manager).
    Resources whose `Condition` is false are skipped. Intrinsics outside Ref, GetAtt, Sub, Join,
    Select, Split and If raise ValueError, as does a reference to a resource not created locally.
    """
    template = load_template(template_path)
    provisioner = _Provisioner(template, aws, parameters or {}, name_prefix)
    provisioner.create_all()

    intrinsics = provisioner.intrinsics
    if intrinsics.has_value(API_KEY_SECRET_PARAMETER):
        secret_name = str(intrinsics.parameter(API_KEY_SECRET_PARAMETER))
    else:
        secret_name = f"{name_prefix}{DEFAULT_API_KEY_SECRET_NAME}"
    secret = provisioner.client("secretsmanager").create_secret(
        Name=secret_name,
        SecretString=api_key if api_key is not None else secrets.token_urlsafe(24),
    )
    return LocalResources(
        queues=dict(provisioner.queues),
        tables=dict(provisioner.tables),
        buckets=dict(provisioner.buckets),
        api_key_secret_name=secret_name,
        api_key_secret_arn=secret["ARN"],
    )


# --- function environment ---------------------------------------------------------------------


def _environment_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"environment variable {name}: {value!r} is not a plain value")


def function_environment(
    template_path: str | Path,
    function_id: str,
    resources: LocalResources,
    parameters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment variables the template gives `function_id` (Globals, then the function's
    own), resolved locally: `!Ref` of a parameter to `parameters` or its Default, `!Ref`/`!GetAtt`
    of a queue, table or bucket to the one `resources` holds (a queue's Ref is its URL, a table's
    its name). A variable that cannot be resolved here (a parameter with no value, a resource the
    local run does not create, an unsupported attribute) raises ValueError naming it: the local
    functions never run with a value the template does not give them.
    """
    template = load_template(template_path)
    resource = template["Resources"].get(function_id) or {}
    if resource.get("Type") != "AWS::Serverless::Function":
        raise ValueError(f"{function_id} is not an AWS::Serverless::Function of {template_path}")

    def ref(logical_id: str) -> str:
        if logical_id in resources.queues:
            return resources.queues[logical_id].url
        if logical_id in resources.tables:
            return resources.tables[logical_id]
        if logical_id in resources.buckets:
            return resources.buckets[logical_id]
        raise ValueError(f"!Ref {logical_id}: not created by the local run")

    def get_att(logical_id: str, attribute: str) -> str:
        if logical_id in resources.queues:
            queue = resources.queues[logical_id]
            by_name = {"Arn": queue.arn, "QueueName": queue.name, "QueueUrl": queue.url}
        elif logical_id in resources.tables:
            by_name = {"Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{resources.tables[logical_id]}"}
        elif logical_id in resources.buckets:
            bucket = resources.buckets[logical_id]
            by_name = {"Arn": f"arn:aws:s3:::{bucket}", "DomainName": f"{bucket}.s3.amazonaws.com"}
        else:
            raise ValueError(f"!GetAtt {logical_id}.{attribute}: not created by the local run")
        if attribute not in by_name:
            raise ValueError(f"!GetAtt {logical_id}.{attribute} is not supported locally")
        return by_name[attribute]

    intrinsics = _Intrinsics(template, parameters or {}, ref, get_att)
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    declared = {
        **((function_globals.get("Environment") or {}).get("Variables") or {}),
        **(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}),
    }
    environment: dict[str, str] = {}
    for name, value in declared.items():
        try:
            resolved = intrinsics.resolve(value)
        except ValueError as exc:
            raise ValueError(f"{function_id} environment variable {name}: {exc}") from None
        if resolved is not _NO_VALUE:
            environment[name] = _environment_text(name, resolved)
    return environment


# --- event source settings --------------------------------------------------------------------


@dataclass(frozen=True)
class EventSourceSettings:
    """One SQS event of an `AWS::Serverless::Function`: what Lambda's event source mapping would do."""

    function_id: str
    function_name: str
    event_name: str
    queue_id: str
    batch_size: int = DEFAULT_BATCH_SIZE
    batching_window_s: int = DEFAULT_BATCHING_WINDOW_S
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    function_timeout_s: int = DEFAULT_FUNCTION_TIMEOUT_S
    memory_size_mb: int = DEFAULT_MEMORY_SIZE_MB
    enabled: bool = True


def _not_local(logical_id: str, *_: str) -> Any:
    raise ValueError(f"{logical_id}: event source settings cannot depend on a resource's physical id")


def event_source_settings(
    template_path: str | Path, parameters: Mapping[str, str] | None = None
) -> dict[str, EventSourceSettings]:
    """The SQS event sources of the template's functions, keyed by the queue's logical id.

    Values given with `!Ref` resolve to `parameters` or the parameter's Default. A queue consumed
    by two functions, or an SQS event whose Queue is not `!GetAtt <queue in this template>.Arn`,
    raises ValueError: the local run maps each queue to one function.
    """
    template = load_template(template_path)
    intrinsics = _Intrinsics(template, parameters or {}, _not_local, _not_local)

    def read(properties: Mapping[str, Any], key: str, default: Any) -> Any:
        return intrinsics.resolve(properties.get(key, default))

    function_globals = (template.get("Globals") or {}).get("Function") or {}
    settings: dict[str, EventSourceSettings] = {}
    for function_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        function = resource.get("Properties") or {}
        # Only what is read gets resolved: the rest (policies, environment) may name resources.
        timeout = read(function, "Timeout", function_globals.get("Timeout", DEFAULT_FUNCTION_TIMEOUT_S))
        memory = read(function, "MemorySize", function_globals.get("MemorySize", DEFAULT_MEMORY_SIZE_MB))
        name = read(function, "FunctionName", function_id)
        for event_name, event in (function.get("Events") or {}).items():
            if event.get("Type") != "SQS":
                continue
            queue_id = _queue_logical_id(template, function_id, event_name, event)
            if queue_id in settings:
                other = settings[queue_id]
                raise ValueError(
                    f"queue {queue_id} feeds both {other.function_id}.{other.event_name} and {function_id}.{event_name}"
                )
            properties = event.get("Properties") or {}
            scaling = read(properties, "ScalingConfig", {})
            settings[queue_id] = EventSourceSettings(
                function_id=function_id,
                function_name=str(name),
                event_name=event_name,
                queue_id=queue_id,
                batch_size=int(read(properties, "BatchSize", DEFAULT_BATCH_SIZE)),
                batching_window_s=int(
                    read(properties, "MaximumBatchingWindowInSeconds", DEFAULT_BATCHING_WINDOW_S)
                ),
                report_batch_item_failures="ReportBatchItemFailures"
                in read(properties, "FunctionResponseTypes", []),
                maximum_concurrency=(
                    int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None
                ),
                function_timeout_s=int(timeout),
                memory_size_mb=int(memory),
                enabled=str(read(properties, "Enabled", True)).lower() != "false",
            )
    return settings


def _queue_logical_id(template: Mapping[str, Any], function_id: str, event_name: str, event: Any) -> str:
    queue = (event.get("Properties") or {}).get("Queue")
    target = queue.get("Fn::GetAtt") if isinstance(queue, dict) else None
    if isinstance(target, str):
        target = target.split(".", 1)
    if (
        isinstance(target, list)
        and len(target) == 2
        and target[1] == "Arn"
        and (template["Resources"].get(target[0]) or {}).get("Type") == "AWS::SQS::Queue"
    ):
        return str(target[0])
    raise ValueError(
        f"{function_id}.{event_name}: Queue must be !GetAtt <an AWS::SQS::Queue here>.Arn, not {queue!r}"
    )


__all__ = [
    "API_KEY_SECRET_PARAMETER",
    "EventSourceSettings",
    "LocalResources",
    "QueueResource",
    "event_source_settings",
    "function_environment",
    "load_template",
    "provision_from_template",
]
