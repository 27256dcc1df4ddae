"""Local AWS provisioning: what moto holds matches template.yaml, read independently here."""

from __future__ import annotations

import itertools
import json
import os
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from aws_simulator.cloudformation import (
    LocalResources,
    event_source_settings,
    function_environment,
    provision_from_template,
)
from aws_simulator.moto_server import MotoServer

FOURTEEN_DAYS_S = 14 * 24 * 3600


class _TagLoader(yaml.SafeLoader):
    """Reads `!Tag value` as {"!Tag": value}: enough to find the numbers the template states."""


_TagLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: {
        f"!{suffix}": loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_object(node, deep=True)
    },
)


def read_template(path: Path) -> dict[str, Any]:
    template: dict[str, Any] = yaml.load(path.read_text(), Loader=_TagLoader)  # noqa: S506 - a SafeLoader subclass
    return template


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def queue_attributes(sqs: Any, url: str) -> dict[str, str]:
    return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text))
    return path


# --- the real template ------------------------------------------------------------------------


def test_every_queue_has_the_templates_redrive_visibility_and_retention(
    local_resources: LocalResources, template_path: Path, sqs: Any
) -> None:
    template = read_template(template_path)
    declared = resources_of_type(template, "AWS::SQS::Queue")
    assert set(local_resources.queues) == set(declared)

    def stated(value: Any) -> Any:
        """A literal, or the Default of the parameter `!Ref` names (the fixture passes none)."""
        if isinstance(value, dict) and set(value) == {"!Ref"}:
            return template["Parameters"][value["!Ref"]]["Default"]
        return value

    redriven = 0
    for logical_id, properties in declared.items():
        queue = local_resources.queues[logical_id]
        attributes = queue_attributes(sqs, queue.url)
        assert attributes["QueueArn"] == queue.arn
        assert queue.name.endswith(logical_id)
        if "VisibilityTimeout" in properties:
            assert int(attributes["VisibilityTimeout"]) == stated(properties["VisibilityTimeout"])
        if "MessageRetentionPeriod" in properties:
            assert int(attributes["MessageRetentionPeriod"]) == stated(properties["MessageRetentionPeriod"])
        if "RedrivePolicy" in properties:
            redriven += 1
            policy = properties["RedrivePolicy"]
            dlq_id = policy["deadLetterTargetArn"]["!GetAtt"].removesuffix(".Arn")
            created = json.loads(attributes["RedrivePolicy"])
            assert created["deadLetterTargetArn"] == local_resources.queues[dlq_id].arn
            assert int(created["maxReceiveCount"]) == stated(policy["maxReceiveCount"])
            assert queue.dead_letter_queue == dlq_id
            assert queue.max_receive_count == stated(policy["maxReceiveCount"])
            # DESIGN: a DLQ keeps what it holds for the 14-day maximum.
            assert int(
                queue_attributes(sqs, local_resources.queues[dlq_id].url)["MessageRetentionPeriod"]
            ) == (FOURTEEN_DAYS_S)
    assert redriven >= 2, "the item and identity queues both redrive to a DLQ"


def test_ledger_table_has_the_templates_keys_billing_ttl_and_recovery(
    local_resources: LocalResources, template_path: Path, moto_server: MotoServer
) -> None:
    declared = resources_of_type(read_template(template_path), "AWS::DynamoDB::Table")
    assert set(local_resources.tables) == set(declared)
    dynamodb = moto_server.client("dynamodb")
    for logical_id, properties in declared.items():
        name = local_resources.tables[logical_id]
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == properties["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(
            properties["AttributeDefinitions"], key=str
        )
        assert table["BillingModeSummary"]["BillingMode"] == properties["BillingMode"]
        assert [index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])] == [
            index["IndexName"] for index in properties.get("GlobalSecondaryIndexes", [])
        ]
        if "TimeToLiveSpecification" in properties:
            ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            assert ttl == {
                "TimeToLiveStatus": "ENABLED",
                "AttributeName": properties["TimeToLiveSpecification"]["AttributeName"],
            }


def test_every_bucket_of_the_template_exists(
    local_resources: LocalResources, template_path: Path, moto_server: MotoServer
) -> None:
    declared = resources_of_type(read_template(template_path), "AWS::S3::Bucket")
    assert set(local_resources.buckets) == set(declared)
    existing = {bucket["Name"] for bucket in moto_server.client("s3").list_buckets()["Buckets"]}
    assert set(local_resources.buckets.values()) <= existing


def test_api_key_secret_holds_the_key_passed_in(
    local_resources: LocalResources, moto_server: MotoServer, local_api_key: str
) -> None:
    secret = moto_server.client("secretsmanager").get_secret_value(
        SecretId=local_resources.api_key_secret_arn
    )
    assert secret["SecretString"] == local_api_key
    assert secret["Name"] == local_resources.api_key_secret_name
    assert local_api_key not in repr(local_resources)


def test_secret_is_named_by_the_template_parameter_when_given(
    moto_server: MotoServer, template_path: Path
) -> None:
    resources = provision_from_template(
        template_path,
        moto_server,
        {"CoveoApiKeySecretName": "custom/coveo-api-key-for-this-test"},
        name_prefix="secret-param-",
    )
    assert resources.api_key_secret_name == "custom/coveo-api-key-for-this-test"
    value = moto_server.client("secretsmanager").get_secret_value(SecretId=resources.api_key_secret_name)
    assert len(value["SecretString"]) >= 20  # none given: a random key, not an empty or fixed one


def test_event_source_settings_cover_every_sqs_event_of_the_template(template_path: Path) -> None:
    template = read_template(template_path)
    events = [
        (function_id, event)
        for function_id, properties in resources_of_type(template, "AWS::Serverless::Function").items()
        for event in (properties.get("Events") or {}).values()
        if event["Type"] == "SQS"
    ]
    settings = event_source_settings(template_path)
    assert len(settings) == len(events)
    for function_id, event in events:
        queue_id = event["Properties"]["Queue"]["!GetAtt"].removesuffix(".Arn")
        assert settings[queue_id].function_id == function_id
        # AWS refuses an event source mapping whose queue hides messages for less than the timeout.
        visibility = template["Resources"][queue_id]["Properties"].get("VisibilityTimeout", 30)
        assert visibility >= settings[queue_id].function_timeout_s


# --- a fixture template: intrinsics, naming, conditions -----------------------------------------

FIXTURE_TEMPLATE = """\
    AWSTemplateFormatVersion: "2010-09-09"
    Parameters:
      Stage:
        Type: String
        Default: dev
      WithArchive:
        Type: String
        Default: "false"
      MaxReceives:
        Type: Number
        Default: 3
    Conditions:
      IsProd: !Equals [!Ref Stage, prod]
      Archive: !And [!Equals [!Ref WithArchive, "true"], !Not [!Condition IsProd]]
    Resources:
      WorkQueue:  # declared before its DLQ: provisioning must create the DLQ first anyway
        Type: AWS::SQS::Queue
        Properties:
          VisibilityTimeout: !If [IsProd, 900, 60]
          DelaySeconds: !Ref AWS::NoValue
          RedrivePolicy:
            deadLetterTargetArn: !GetAtt WorkDlq.Arn
            maxReceiveCount: !Ref MaxReceives
      WorkDlq:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: !Sub "${AWS::StackName}-${Stage}-work-dlq"
          MessageRetentionPeriod: 1209600
      OrderedQueue:
        Type: AWS::SQS::Queue
        Properties:
          FifoQueue: true
          ContentBasedDeduplication: true
      Uploads:
        Type: AWS::S3::Bucket
      ArchiveBucket:
        Type: AWS::S3::Bucket
        Condition: Archive
      States:
        Type: AWS::DynamoDB::Table
        Properties:
          BillingMode: PAY_PER_REQUEST
          AttributeDefinitions:
            - {AttributeName: pk, AttributeType: S}
            - {AttributeName: status, AttributeType: S}
          KeySchema:
            - {AttributeName: pk, KeyType: HASH}
          GlobalSecondaryIndexes:
            - IndexName: byStatus
              KeySchema:
                - {AttributeName: status, KeyType: HASH}
              Projection: {ProjectionType: KEYS_ONLY}
              ContributorInsightsSpecification: {Enabled: false}
      Layer:
        Type: AWS::Serverless::LayerVersion
        Properties:
          ContentUri: layers/shared/
"""


def test_fixture_template_resolves_intrinsics_names_and_conditions(
    tmp_path: Path, moto_server: MotoServer, sqs: Any
) -> None:
    path = write(tmp_path, FIXTURE_TEMPLATE)
    resources = provision_from_template(path, moto_server, {"WithArchive": "true"}, name_prefix="fixture1-")

    assert resources.queues["WorkDlq"].name == "local-dev-work-dlq"  # its own QueueName, via !Sub
    assert resources.queues["OrderedQueue"].name == "fixture1-OrderedQueue.fifo"
    work = queue_attributes(sqs, resources.queue_url("WorkQueue"))
    assert work["VisibilityTimeout"] == "60"  # !If on a false condition
    assert work["DelaySeconds"] == "0"  # AWS::NoValue removed the property
    assert json.loads(work["RedrivePolicy"]) == {
        "deadLetterTargetArn": resources.queue_arn("WorkDlq"),
        "maxReceiveCount": 3,
    }
    assert queue_attributes(sqs, resources.queue_url("OrderedQueue"))["FifoQueue"] == "true"
    assert resources.buckets == {"Uploads": "fixture1-uploads", "ArchiveBucket": "fixture1-archivebucket"}
    assert {bucket["Name"] for bucket in moto_server.client("s3").list_buckets()["Buckets"]} >= {
        "fixture1-uploads",
        "fixture1-archivebucket",
    }
    table = moto_server.client("dynamodb").describe_table(TableName="fixture1-States")["Table"]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["byStatus"]


def test_resource_with_a_false_condition_is_not_created(tmp_path: Path, moto_server: MotoServer) -> None:
    path = write(tmp_path, FIXTURE_TEMPLATE)
    resources = provision_from_template(path, moto_server, {"Stage": "prod"}, name_prefix="fixture2-")
    assert "ArchiveBucket" not in resources.buckets
    assert resources.queues["WorkQueue"].visibility_timeout_s == 900


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ("VisibilityTimeout: !ImportValue shared-timeout", "Fn::ImportValue is not supported"),
        ("VisibilityTimeout: !Ref NoDefault", "'NoDefault' has no Default"),
        (
            "Tags: [{Key: layer, Value: !Ref Layer}]",
            "Layer (AWS::Serverless::LayerVersion) is not created locally",
        ),
    ],
)
def test_what_cannot_be_resolved_locally_fails_with_a_reason(
    tmp_path: Path, moto_server: MotoServer, properties: str, message: str
) -> None:
    path = write(
        tmp_path,
        f"""\
        Parameters:
          NoDefault:
            Type: Number
        Resources:
          Layer:
            Type: AWS::Serverless::LayerVersion
          Broken:
            Type: AWS::SQS::Queue
            Properties:
              {properties}
        """,
    )
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        provision_from_template(path, moto_server, name_prefix="broken-")


# --- function environment on a fixture template ---------------------------------------------------

_prefixes = itertools.count()
ENVIRONMENT_TEMPLATE = """\
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Public:
        Type: String
        Default: "false"
      Limit:
        Type: Number
        Default: 7
      NoDefault:
        Type: String
    Globals:
      Function:
        Environment:
          Variables:
            SHARED: from-globals
            OVERRIDDEN: from-globals
            PUBLIC: !Ref Public
            TABLE: !Ref Table
            QUEUE_URL: !Ref Queue
    Resources:
      Queue: {Type: AWS::SQS::Queue}
      Table:
        Type: AWS::DynamoDB::Table
        Properties:
          AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
          KeySchema: [{AttributeName: pk, KeyType: HASH}]
          BillingMode: PAY_PER_REQUEST
      Layer: {Type: AWS::Serverless::LayerVersion}
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          Environment:
            Variables:
              OVERRIDDEN: from-function
              LIMIT: !Ref Limit
              QUEUE_ARN: !GetAtt Queue.Arn
              TABLE_ARN: !Sub "${Table.Arn}/index/x"
"""


def test_function_environment_is_globals_then_the_function_resolved_locally(
    tmp_path: Path, moto_server: MotoServer
) -> None:
    path = write(tmp_path, ENVIRONMENT_TEMPLATE)
    resources = provision_from_template(path, moto_server, name_prefix=f"env-{next(_prefixes)}-")
    queue, table = resources.queues["Queue"], resources.tables["Table"]
    env = function_environment(path, "Fn", resources)
    assert env == {
        "SHARED": "from-globals",
        "OVERRIDDEN": "from-function",
        "PUBLIC": "false",
        "TABLE": table,
        "QUEUE_URL": queue.url,
        "LIMIT": "7",
        "QUEUE_ARN": queue.arn,
        "TABLE_ARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/index/x",
    }
    given = function_environment(path, "Fn", resources, {"Public": "true", "Limit": "9"})
    assert (given["PUBLIC"], given["LIMIT"]) == ("true", "9")


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("!Ref NoDefault", "variable BROKEN: parameter 'NoDefault' has no Default"),
        ("!Ref Layer", "variable BROKEN: !Ref Layer: not created by the local run"),
        ("!GetAtt Queue.Nope", "variable BROKEN: !GetAtt Queue.Nope is not supported locally"),
        ("!GetAtt Layer.Arn", "variable BROKEN: !GetAtt Layer.Arn: not created by the local run"),
        ("!Ref Nowhere", "variable BROKEN: !Ref Nowhere: no such parameter or resource"),
    ],
)
def test_a_function_variable_the_local_run_cannot_resolve_fails_loudly(
    tmp_path: Path, moto_server: MotoServer, variable: str, message: str
) -> None:
    path = write(tmp_path, ENVIRONMENT_TEMPLATE)
    resources = provision_from_template(path, moto_server, name_prefix=f"env-broken-{next(_prefixes)}-")
    broken = write(
        tmp_path,
        ENVIRONMENT_TEMPLATE.replace(
            "LIMIT: !Ref Limit", f"LIMIT: !Ref Limit\n              BROKEN: {variable}"
        ),
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        function_environment(broken, "Fn", resources)
    with pytest.raises(ValueError, match="Queue is not an AWS::Serverless::Function"):
        function_environment(path, "Queue", resources)


# --- event source settings on a fixture template -------------------------------------------------

FUNCTIONS_TEMPLATE = """\
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      BatchSize:
        Type: Number
        Default: 25
      MaxConcurrency:
        Type: Number
        Default: 4
    Globals:
      Function:
        Timeout: 30
        MemorySize: 512
    Resources:
      ItemQueue: {Type: AWS::SQS::Queue}
      IdentityQueue: {Type: AWS::SQS::Queue}
      PushItems:
        Type: AWS::Serverless::Function
        Properties:
          Timeout: 120
          Events:
            Items:
              Type: SQS
              Properties:
                Queue: !GetAtt ItemQueue.Arn
                BatchSize: !Ref BatchSize
                MaximumBatchingWindowInSeconds: 2
                FunctionResponseTypes: [ReportBatchItemFailures]
                ScalingConfig:
                  MaximumConcurrency: !Ref MaxConcurrency
            Nightly:
              Type: ScheduleV2
              Properties:
                ScheduleExpression: rate(1 day)
      PushIdentities:
        Type: AWS::Serverless::Function
        Properties:
          FunctionName: push-identities
          Events:
            Identities:
              Type: SQS
              Properties:
                Queue:
                  Fn::GetAtt: [IdentityQueue, Arn]
"""


def test_event_source_settings_read_events_parameters_and_globals(tmp_path: Path) -> None:
    path = write(tmp_path, FUNCTIONS_TEMPLATE)
    settings = event_source_settings(path)
    assert set(settings) == {"ItemQueue", "IdentityQueue"}  # the schedule is not an SQS event

    items = settings["ItemQueue"]
    assert (items.function_id, items.function_name, items.event_name) == ("PushItems", "PushItems", "Items")
    assert items.batch_size == 25  # !Ref -> the parameter's Default
    assert items.batching_window_s == 2
    assert items.report_batch_item_failures is True
    assert items.maximum_concurrency == 4
    assert items.function_timeout_s == 120  # the function's own Timeout beats Globals
    assert items.memory_size_mb == 512

    identities = settings["IdentityQueue"]
    assert identities.function_name == "push-identities"
    assert identities.batch_size == 10  # Lambda's defaults
    assert identities.batching_window_s == 0
    assert identities.report_batch_item_failures is False
    assert identities.maximum_concurrency is None
    assert identities.function_timeout_s == 30  # Globals.Function.Timeout

    assert event_source_settings(path, {"BatchSize": "7"})["ItemQueue"].batch_size == 7


def test_function_timeout_defaults_to_lambdas_three_seconds(tmp_path: Path) -> None:
    text = FUNCTIONS_TEMPLATE.replace("        Timeout: 30\n", "")
    assert event_source_settings(write(tmp_path, text))["IdentityQueue"].function_timeout_s == 3


def test_one_queue_feeding_two_functions_is_refused(tmp_path: Path) -> None:
    text = FUNCTIONS_TEMPLATE.replace("[IdentityQueue, Arn]", "[ItemQueue, Arn]")
    with pytest.raises(ValueError, match="queue ItemQueue feeds both"):
        event_source_settings(write(tmp_path, text))


# --- the server itself ---------------------------------------------------------------------------


def test_server_binds_a_free_local_port_sets_no_aws_environment_and_presigns_v4() -> None:
    before = dict(os.environ)
    with MotoServer() as one, MotoServer() as two:
        assert one.endpoint_url.startswith("http://127.0.0.1:")
        assert one.endpoint_url != two.endpoint_url
        s3 = one.client("s3")
        s3.create_bucket(Bucket="presign-check")
        url = s3.generate_presigned_url(
            "put_object", Params={"Bucket": "presign-check", "Key": "k"}, ExpiresIn=60
        )
        assert url.startswith(f"{one.endpoint_url}/presign-check/k?")
        assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
        assert dict(os.environ) == before
    with pytest.raises(RuntimeError, match="not started"):
        _ = one.endpoint_url
