"""moto, patched for speed (aws_simulator/moto_patches.py), still answers as moto does.

What the patches could break, asserted here: SQS's visibility timeout, receive counts, redrive to
the DLQ after maxReceiveCount, ChangeMessageVisibility, DeleteMessage, batch limits, exact queue
counts, no message lost or handed out twice while invisible; DynamoDB's conditional writes with
a cached parse and other values or names, ReturnValues, projections, the keys-only GSI, paging.
A differential test runs one script of DynamoDB requests against moto with and without the
patches and expects the same answers; the patched receive and delete must not cost more with a
longer queue.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aws_simulator import moto_patches
from aws_simulator.moto_server import ACCOUNT_ID, REGION, MotoServer
from tests.simulator.moto_scenarios import LEDGER_LIKE_TABLE

ROOT = Path(__file__).resolve().parents[2]


def new_queue(sqs: Any, **attributes: str) -> str:
    return str(
        sqs.create_queue(QueueName=f"patches-{uuid.uuid4().hex[:12]}", Attributes=attributes)["QueueUrl"]
    )


def queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def receive(sqs: Any, url: str, count: int = 10, visibility: int | None = None) -> list[dict[str, Any]]:
    extra = {} if visibility is None else {"VisibilityTimeout": visibility}
    return list(
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count, AttributeNames=["All"], **extra).get(
            "Messages", []
        )
    )


def counts(sqs: Any, url: str) -> dict[str, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {
        name.removeprefix("ApproximateNumberOfMessages") or "Visible": int(v)
        for name, v in attributes.items()
    }


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


# --- applied, once, and only as written ------------------------------------------------------------


def test_moto_server_applies_every_patch(moto_server: MotoServer) -> None:
    from moto.sqs.models import SQSBackend

    status = moto_patches.status()
    # A patch skipped here means moto changed under it: review the patch against the new moto,
    # then update its digests (moto_patches.source_digest) - or drop it.
    assert status == {patch.name: "applied" for patch in moto_patches.PATCHES}
    assert SQSBackend.receive_message is not moto_patches.original(SQSBackend, "receive_message")


def test_apply_is_idempotent(moto_server: MotoServer) -> None:
    from moto.sqs.models import SQSBackend

    send = SQSBackend.send_message
    assert moto_patches.apply() == moto_patches.status()
    assert SQSBackend.send_message is send  # not wrapped twice
    assert moto_patches.original(SQSBackend, "send_message") is send.__wrapped__  # type: ignore[attr-defined]


def test_every_target_is_as_written() -> None:
    for patch in moto_patches.PATCHES:
        assert moto_patches._changed_target(patch) is None, patch.name


def test_a_patch_whose_target_changed_is_skipped_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[str] = []
    changed = moto_patches.Patch(
        "test: a target that changed",
        (("moto.sqs.models", "SQSBackend.receive_message", "0" * 16),),
        lambda: installed.append("changed"),
    )
    missing = moto_patches.Patch(
        "test: a target that is gone",
        (("moto.sqs.models", "SQSBackend.no_such_method", "0" * 16),),
        lambda: installed.append("missing"),
    )
    monkeypatch.setattr(moto_patches, "PATCHES", (changed, missing))
    monkeypatch.setattr(moto_patches, "_status", {})
    monkeypatch.delenv(moto_patches.SWITCH, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = moto_patches.apply()
    assert installed == []
    assert status[changed.name].startswith("skipped: moto.sqs.models.SQSBackend.receive_message changed")
    assert status[missing.name].startswith("skipped: moto.sqs.models.SQSBackend.no_such_method not found")
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 2


# --- SQS -------------------------------------------------------------------------------------------


def test_visibility_timeout_is_honoured_and_receives_are_counted(sqs: Any) -> None:
    url = new_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="one")
    (first,) = receive(sqs, url, visibility=1)
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert receive(sqs, url) == []  # invisible for a second
    assert counts(sqs, url) == {"Visible": 0, "NotVisible": 1, "Delayed": 0}
    time.sleep(1.1)
    (second,) = receive(sqs, url, visibility=30)
    assert second["MessageId"] == first["MessageId"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    assert (
        second["Attributes"]["ApproximateFirstReceiveTimestamp"]
        == first["Attributes"]["ApproximateFirstReceiveTimestamp"]
    )
    # As in moto, a handle the message had before still deletes it.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert counts(sqs, url) == {"Visible": 0, "NotVisible": 0, "Delayed": 0}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])  # deleted already: fine


def test_redrive_to_the_dlq_after_max_receive_count(sqs: Any) -> None:
    dlq = new_queue(sqs)
    url = new_queue(
        sqs, RedrivePolicy=json.dumps({"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": "2"})
    )
    sqs.send_message(
        QueueUrl=url,
        MessageBody="poison",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "bad"}},
    )
    sqs.send_message(QueueUrl=url, MessageBody="fine")
    seen: Counter[str] = Counter()
    for _ in range(2):
        for message in receive(sqs, url, visibility=0):
            seen[message["Body"]] += 1
            if message["Body"] == "fine":
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert seen == {"poison": 2, "fine": 1}
    assert receive(sqs, url, visibility=0) == []  # the third receive moves it instead
    assert counts(sqs, url) == {"Visible": 0, "NotVisible": 0, "Delayed": 0}
    (dead,) = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], AttributeNames=["All"])[
        "Messages"
    ]
    assert dead["Body"] == "poison"
    assert dead["MessageAttributes"]["kind"]["StringValue"] == "bad"
    assert dead["Attributes"]["ApproximateReceiveCount"] == "3"
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=dead["ReceiptHandle"])
    assert counts(sqs, dlq)["Visible"] == counts(sqs, dlq)["NotVisible"] == 0


def test_change_visibility_and_delete(sqs: Any) -> None:
    url = new_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="m")
    (message,) = receive(sqs, url, visibility=30)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    (again,) = receive(sqs, url, visibility=30)
    assert again["MessageId"] == message["MessageId"]
    answer = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "good", "ReceiptHandle": again["ReceiptHandle"], "VisibilityTimeout": 60},
            {"Id": "bad", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 0},
        ],
    )
    assert [entry["Id"] for entry in answer["Successful"]] == ["good"]
    assert [(entry["Id"], entry["Code"]) for entry in answer["Failed"]] == [("bad", "ReceiptHandleIsInvalid")]
    with pytest.raises(ClientError) as invalid:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="not-a-handle", VisibilityTimeout=0)
    assert error_code(invalid) == "ReceiptHandleIsInvalid"
    with pytest.raises(ClientError) as too_long:  # 12 hours from the send at most
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=43_201
        )
    assert error_code(too_long) == "InvalidParameterValue"
    with pytest.raises(ClientError) as not_deleted:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert error_code(not_deleted) == "ReceiptHandleIsInvalid"
    answer = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "a", "ReceiptHandle": again["ReceiptHandle"]}, {"Id": "b", "ReceiptHandle": "nope"}],
    )
    assert [entry["Id"] for entry in answer["Successful"]] == ["a"]
    assert [entry["Id"] for entry in answer["Failed"]] == ["b"]
    assert counts(sqs, url) == {"Visible": 0, "NotVisible": 0, "Delayed": 0}


def test_a_handle_from_another_queue_is_invalid(sqs: Any) -> None:
    first, second = new_queue(sqs), new_queue(sqs)
    sqs.send_message(QueueUrl=first, MessageBody="m")
    (message,) = receive(sqs, first)
    with pytest.raises(ClientError) as invalid:
        sqs.delete_message(QueueUrl=second, ReceiptHandle=message["ReceiptHandle"])
    assert error_code(invalid) == "ReceiptHandleIsInvalid"


def test_counts_and_delayed_messages(sqs: Any) -> None:
    url = new_queue(sqs)
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "MessageBody": f"m{i}", **({"DelaySeconds": 30} if i < 2 else {})}
            for i in range(5)
        ],
    )
    assert counts(sqs, url) == {"Visible": 3, "NotVisible": 0, "Delayed": 2}
    received = receive(sqs, url, visibility=30)
    assert sorted(m["Body"] for m in received) == ["m2", "m3", "m4"]
    assert counts(sqs, url) == {"Visible": 0, "NotVisible": 3, "Delayed": 2}
    all_attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert all_attributes["ApproximateNumberOfMessagesNotVisible"] == "3"
    assert all_attributes["VisibilityTimeout"] == "30"


def test_send_message_batch_limits(sqs: Any) -> None:
    from moto.sqs.constants import MAXIMUM_MESSAGE_LENGTH

    url = new_queue(sqs)
    with pytest.raises(ClientError) as too_many:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(11)])
    assert error_code(too_many) == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    with pytest.raises(ClientError) as same_ids:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "x", "MessageBody": "m"}] * 2)
    assert error_code(same_ids) == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
    with pytest.raises(ClientError) as too_long:  # more than a message's maximum in all
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": "x" * (MAXIMUM_MESSAGE_LENGTH // 2)} for i in range(3)],
        )
    assert error_code(too_long) == "AWS.SimpleQueueService.BatchRequestTooLong"
    assert counts(sqs, url)["Visible"] == 0
    answer = sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)]
    )
    assert len(answer["Successful"]) == 10
    assert counts(sqs, url)["Visible"] == 10


def test_concurrent_receivers_lose_nothing_and_share_nothing_while_invisible(moto_server: MotoServer) -> None:
    sqs = moto_server.client("sqs", max_pool_connections=16)
    url = new_queue(sqs)
    sent = set()
    for start in range(0, 400, 10):
        answer = sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        )
        sent.update(entry["MessageId"] for entry in answer["Successful"])
    received: Counter[str] = Counter()
    lock = threading.Lock()

    def worker() -> None:
        idle = 0
        while idle < 3:
            messages = receive(sqs, url, visibility=60)
            if not messages:
                idle += 1
                continue
            idle = 0
            with lock:
                received.update(message["MessageId"] for message in messages)
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(received) == sent
    assert max(received.values()) == 1  # none handed out twice within its visibility timeout
    assert counts(sqs, url) == {"Visible": 0, "NotVisible": 0, "Delayed": 0}


def test_receive_and_delete_do_not_cost_more_with_a_longer_queue(moto_server: MotoServer) -> None:
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[ACCOUNT_ID][REGION]

    def seconds_per_cycle(queued: int) -> float:
        name = f"patches-cost-{uuid.uuid4().hex[:8]}"
        backend.create_queue(name)
        for _ in range(queued // 10):
            backend.send_message_batch(
                name,
                {
                    str(i): {"Id": str(i), "MessageBody": "m", "MessageAttributes": {}, "DelaySeconds": None}
                    for i in range(10)
                },
            )
        started = time.perf_counter()
        for _ in range(20):
            messages = backend.receive_message(name, 10, 0, 30)
            for message in messages:
                backend.delete_message(name, message.receipt_handle)
        return (time.perf_counter() - started) / 20

    small, large = seconds_per_cycle(200), seconds_per_cycle(5_000)
    # moto's own code: the large queue costs ~50 times more per cycle (it scans it per message).
    assert large < 3 * small + 0.002, (small, large)


# --- DynamoDB --------------------------------------------------------------------------------------

CLAIM = "SET version = :v, orderingId = :o, #status = :claimed, eventId = :e REMOVE #queue, #at"
CLAIM_CONDITION = "attribute_not_exists(pk) OR (version < :v AND orderingId < :o)"
NAMES = {"#status": "status", "#queue": "queue", "#at": "at"}


@pytest.fixture(scope="module")
def table(moto_server: MotoServer) -> str:
    name = f"patches-{uuid.uuid4().hex[:8]}"
    moto_server.client("dynamodb").create_table(TableName=name, **LEDGER_LIKE_TABLE)
    return name


def claim(db: Any, table: str, key: str, version: int, ordering: int, **extra: Any) -> Any:
    return db.update_item(
        TableName=table,
        Key={"pk": {"S": key}},
        UpdateExpression=CLAIM,
        ConditionExpression=CLAIM_CONDITION,
        ExpressionAttributeNames=NAMES,
        ExpressionAttributeValues={
            ":v": {"N": str(version)},
            ":o": {"N": str(ordering)},
            ":claimed": {"S": "CLAIMED"},
            ":e": {"S": f"{key}@{version}"},
        },
        **extra,
    )


def test_conditional_update_with_a_cached_parse_fails_and_succeeds_by_its_values(
    moto_server: MotoServer, table: str
) -> None:
    db = moto_server.client("dynamodb")
    key = f"item#{uuid.uuid4().hex[:8]}"
    claim(db, table, key, 1, 100)
    for version, ordering in ((1, 100), (1, 50), (0, 200)):  # same, older ordering, older version
        with pytest.raises(ClientError) as refused:
            claim(db, table, key, version, ordering, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        assert error_code(refused) == "ConditionalCheckFailedException"
        assert refused.value.response["Item"]["version"] == {"N": "1"}
    old = claim(db, table, key, 2, 300, ReturnValues="ALL_OLD")["Attributes"]
    assert (old["version"], old["eventId"]) == ({"N": "1"}, {"S": f"{key}@1"})
    new = claim(db, table, key, 3, 400, ReturnValues="UPDATED_NEW")["Attributes"]
    assert new == {"version": {"N": "3"}, "orderingId": {"N": "400"}, "eventId": {"S": f"{key}@3"}}


def test_a_cached_expression_writes_each_calls_values(moto_server: MotoServer, table: str) -> None:
    db = moto_server.client("dynamodb")
    keys = [f"item#{uuid.uuid4().hex[:8]}" for _ in range(5)]
    for n, key in enumerate(keys):
        claim(db, table, key, n + 1, 1000 + n)
    items = db.batch_get_item(
        RequestItems={table: {"Keys": [{"pk": {"S": key}} for key in keys], "ConsistentRead": True}}
    )
    got = {item["pk"]["S"]: item for item in items["Responses"][table]}
    for n, key in enumerate(keys):
        assert got[key] == {
            "pk": {"S": key},
            "version": {"N": str(n + 1)},
            "orderingId": {"N": str(1000 + n)},
            "status": {"S": "CLAIMED"},
            "eventId": {"S": f"{key}@{n + 1}"},
        }


def test_a_cached_expression_is_checked_again_for_other_names(moto_server: MotoServer, table: str) -> None:
    db = moto_server.client("dynamodb")
    expression = "SET #a = :x, #b = :y"
    values = {":x": {"S": "x"}, ":y": {"S": "y"}}
    key = {"pk": {"S": f"names#{uuid.uuid4().hex[:8]}"}}
    db.update_item(
        TableName=table,
        Key=key,
        UpdateExpression=expression,
        ExpressionAttributeValues=values,
        ExpressionAttributeNames={"#a": "left", "#b": "right"},
    )
    for names in ({"#a": "pk", "#b": "right"}, {"#a": "same", "#b": "same"}):
        with pytest.raises(ClientError) as refused:
            db.update_item(
                TableName=table,
                Key=key,
                UpdateExpression=expression,
                ExpressionAttributeValues=values,
                ExpressionAttributeNames=names,
            )
        assert error_code(refused) == "ValidationException"
    item = db.get_item(TableName=table, Key=key)["Item"]
    assert item == {**key, "left": {"S": "x"}, "right": {"S": "y"}}


def test_projection_of_top_level_and_nested_attributes(moto_server: MotoServer, table: str) -> None:
    db = moto_server.client("dynamodb")
    key = {"pk": {"S": f"proj#{uuid.uuid4().hex[:8]}"}}
    db.put_item(
        TableName=table,
        Item={
            **key,
            "n": {"N": "0100"},
            "m": {"M": {"a": {"S": "x"}, "b": {"L": [{"N": "1"}, {"N": "2"}]}}},
            "s": {"S": "v"},
        },
    )
    top = db.get_item(
        TableName=table, Key=key, ProjectionExpression="n, #s, nothing", ExpressionAttributeNames={"#s": "s"}
    )
    assert top["Item"] == {"n": {"N": "100"}, "s": {"S": "v"}}  # DynamoDB's number text, as moto gives it
    nested = db.get_item(TableName=table, Key=key, ProjectionExpression="m.a, m.b[1]")
    assert nested["Item"] == {"m": {"M": {"a": {"S": "x"}, "b": {"L": [{"N": "2"}]}}}}
    batch = db.batch_get_item(RequestItems={table: {"Keys": [key], "ProjectionExpression": "pk, s"}})
    assert batch["Responses"][table] == [{**key, "s": {"S": "v"}}]


def test_the_keys_only_index_follows_updates_and_pages(moto_server: MotoServer, table: str) -> None:
    db = moto_server.client("dynamodb")
    queue = f"pending#{uuid.uuid4().hex[:6]}"
    parts = [f"acc#{uuid.uuid4().hex[:6]}#{i:02d}" for i in range(7)]
    for i, part in enumerate(parts):
        db.update_item(
            TableName=table,
            Key={"pk": {"S": part}},
            UpdateExpression="ADD accepted :slots SET #queue = if_not_exists(#queue, :q), #at = if_not_exists(#at, :at)",
            ExpressionAttributeNames={"#queue": "queue", "#at": "at"},
            ExpressionAttributeValues={
                ":slots": {"NS": [str(i)]},
                ":q": {"S": queue},
                ":at": {"N": str(100 - i)},
            },
        )

    def pending(limit: int = 3) -> list[str]:
        found: list[str] = []
        start: Any = None
        while True:
            page = db.query(
                TableName=table,
                IndexName="pending",
                KeyConditionExpression="#queue = :q AND #at < :before",
                ExpressionAttributeNames={"#queue": "queue", "#at": "at"},
                ExpressionAttributeValues={":q": {"S": queue}, ":before": {"N": "1000"}},
                Limit=limit,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            for item in page["Items"]:
                assert set(item) == {"pk", "queue", "at"}  # keys only
            found += [item["pk"]["S"] for item in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    assert pending() == parts[::-1]  # oldest first
    # A REMOVE takes a part out of the index (unconditional, or under a condition); an update
    # puts it back with a new time.
    db.update_item(
        TableName=table,
        Key={"pk": {"S": parts[2]}},
        UpdateExpression="SET done = :t REMOVE #queue, #at",
        ExpressionAttributeNames={"#queue": "queue", "#at": "at"},
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    db.update_item(
        TableName=table,
        Key={"pk": {"S": parts[5]}},
        UpdateExpression="REMOVE #queue",
        ConditionExpression="size(accepted) = :n",
        ExpressionAttributeNames={"#queue": "queue"},
        ExpressionAttributeValues={":n": {"N": "1"}},
    )
    assert pending() == [parts[6], parts[4], parts[3], parts[1], parts[0]]
    db.update_item(
        TableName=table,
        Key={"pk": {"S": parts[5]}},
        UpdateExpression="SET #queue = :q, #at = :at",
        ExpressionAttributeNames={"#queue": "queue", "#at": "at"},
        ExpressionAttributeValues={":q": {"S": queue}, ":at": {"N": "1"}},
    )
    assert pending(limit=2)[0] == parts[5]


def test_dynamodb_answers_as_moto_without_the_patches() -> None:
    def run(switch: str | None) -> dict[str, Any]:
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        env.pop(moto_patches.SWITCH, None)
        if switch is not None:
            env[moto_patches.SWITCH] = switch
        done = subprocess.run(
            [sys.executable, "-m", "tests.simulator.moto_scenarios"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=110,
            check=True,
        )
        return dict(json.loads(done.stdout))

    shipped, patched = run("0"), run(None)
    assert set(shipped["patches"].values()) == {f"skipped: {moto_patches.SWITCH}=0"}
    assert set(patched["patches"].values()) == {"applied"}
    assert len(patched["answers"]) > 80
    for mine, moto_s in zip(patched["answers"], shipped["answers"], strict=True):
        assert mine == moto_s, mine[0]


# --- the pieces, against moto's own code in this process -----------------------------------------

EXPRESSIONS = [
    "SET a = :v, #b = :w REMOVE c, #d",
    "SET counter_x = if_not_exists(counter_x, :zero) + :one, l = list_append(l, :l) ADD s :s DELETE t :t",
    "SET m.n[2].o = :v - :w, #p.q = #p.r",
]


def shape(node: Any, seen: dict[int, int] | None = None) -> Any:
    """A node graph as plain data: classes, attributes, and parent links by visit number."""
    seen = {} if seen is None else seen
    if isinstance(node, list):
        return [shape(item, seen) for item in node]
    if not hasattr(node, "__dict__"):
        return node
    if id(node) in seen:
        return ("ref", seen[id(node)])
    seen[id(node)] = len(seen)
    return (type(node).__name__, {name: shape(value, seen) for name, value in sorted(vars(node).items())})


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_clone_tree_is_deepcopy(moto_server: MotoServer, expression: str) -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    tree = UpdateExpressionParser.make(expression)
    assert UpdateExpressionParser.make(expression) is tree  # parsed once
    clone = moto_patches.clone_tree(tree)
    assert shape(clone) == shape(copy.deepcopy(tree)) == shape(tree)
    assert clone is not tree and clone.children[0] is not tree.children[0]
    assert clone.children[0].parent is clone


def test_the_table_sorts_as_moto_sorts(moto_server: MotoServer) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import Table

    moto_sort = moto_patches.original(Table, "all_items")

    class Stub:  # what all_items reads of a table
        def __init__(self, items: dict[Any, Any], range_key_attr: str | None) -> None:
            self.items, self.range_key_attr = items, range_key_attr

    numbers = ["10", "9", "2.5E1", "-3", "0.5", "100", "2"]
    by_hash = {DynamoType({"N": n}): Item(DynamoType({"N": n}), None, {"k": {"N": n}}) for n in numbers}
    strings = ["b", "a", "B", "aa", "", "z"]
    by_string = {
        DynamoType({"S": s}): Item(DynamoType({"S": s}), None, {"k": {"S": s}}) for s in strings if s
    }
    ranged: dict[Any, Any] = {}
    for h in ("x", "a"):
        ranged[DynamoType({"S": h})] = {
            DynamoType({"N": r}): Item(DynamoType({"S": h}), DynamoType({"N": r}), {}) for r in numbers
        }
    for items, range_key in ((by_hash, None), (by_string, None), (ranged, "r")):
        stub = Stub(items, range_key)
        mine = [(i.hash_key.value, i.range_key.value if i.range_key else None) for i in Table.all_items(stub)]  # type: ignore[arg-type]
        moto_s = [(i.hash_key.value, i.range_key.value if i.range_key else None) for i in moto_sort(stub)]
        assert mine == moto_s


# --- receipt handles and dispatch ------------------------------------------------------------------


def test_receipt_handles_are_moto_s_kind_unique_and_follow_moto_s_seed(moto_server: MotoServer) -> None:
    import re
    import string

    from moto.moto_api._internal import mock_random
    from moto.sqs import utils

    sqs = moto_server.client("sqs")
    url = new_queue(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(10)])
    handles = [m["ReceiptHandle"] for m in receive(sqs, url, visibility=0)]
    handles += [m["ReceiptHandle"] for m in receive(sqs, url)]
    assert len(handles) == 20
    assert all(re.fullmatch(r"[a-z]{185}", handle) for handle in handles)
    assert len(set(handles)) == 20
    # Drawn from moto's seedable generator, as moto's own: the same seed, the same handle.
    mock_random.seed(7)
    first = utils.generate_receipt_handle()
    mock_random.seed(7)
    assert utils.generate_receipt_handle() == first
    # Each letter uniform over a-z: every letter turns up in a few thousand draws.
    assert set("".join(utils.generate_receipt_handle() for _ in range(20))) == set(string.ascii_lowercase)


def test_method_names_and_converted_names_are_moto_s(moto_server: MotoServer) -> None:
    from moto.core import responses, utils
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3.responses import S3Response
    from moto.sqs import models
    from moto.sqs.responses import SQSResponse

    moto_method_names = moto_patches.original(responses, "method_names_from_class")
    for handler in (SQSResponse, DynamoHandler, S3Response):
        names = responses.method_names_from_class(handler)
        assert names == moto_method_names(handler)
        names.clear()  # a caller's copy: the next call is whole again
        assert responses.method_names_from_class(handler) == moto_method_names(handler)
    moto_convert = moto_patches.original(models, "camelcase_to_underscores")
    for name in ("ApproximateNumberOfMessages", "KmsMasterKeyId", "RedrivePolicy", "FifoQueue", "SSE"):
        assert (
            models.camelcase_to_underscores(name)
            == moto_convert(name)
            == utils.camelcase_to_underscores(name)
        )


# --- DynamoDB: a request is atomic, as DynamoDB's conditional writes and transactions are -------
# moto reads an item, checks the condition and writes, with nothing between its request threads:
# two conditional writes of one key could both pass their check, and a reader could see a
# transaction's first write before a later condition cancels it. These tests hold one request
# inside moto (a hook on moto's Table, in this process) until a second request has been sent and
# HELD_S / 4 has passed: without the patch the second request runs meanwhile; with it, the second
# waits for the first to finish.

HELD_S = 1.0


def hold_once(
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    key: str,
    reached: threading.Event,
    release: threading.Event,
    when: Callable[[Any], bool] = lambda table: True,
) -> None:
    """The first call of moto's `Table.<method>` (put_item: before it writes; get_item: after it
    reads) on `key` while `when(table)` holds says it got there, then waits for `release` up to
    HELD_S."""
    from moto.dynamodb.models.table import Table

    moto_method = getattr(Table, method)
    held = threading.Lock()

    def key_of(args: tuple[Any, ...]) -> Any:
        return args[0]["pk"]["S"] if method == "put_item" else args[0].value

    def hold(table: Any) -> None:
        if when(table) and held.acquire(blocking=False):
            reached.set()
            release.wait(HELD_S)

    def holding(self: Any, *args: Any, **kwargs: Any) -> Any:
        if key_of(args) != key:
            return moto_method(self, *args, **kwargs)
        if method == "put_item":
            hold(self)
            return moto_method(self, *args, **kwargs)
        found = moto_method(self, *args, **kwargs)
        hold(self)
        return found

    monkeypatch.setattr(Table, method, holding)


def test_two_conditional_creates_of_one_key_never_both_win(
    moto_server: MotoServer, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = moto_server.client("dynamodb")
    key = f"item#race-{uuid.uuid4().hex[:6]}"
    reached, release = threading.Event(), threading.Event()
    hold_once(monkeypatch, "put_item", key, reached, release)  # checked, not yet written
    outcomes: list[str] = []

    def create() -> None:
        try:
            claim(db, table, key, 1, 1)
            outcomes.append("claimed")
        except ClientError as error:
            outcomes.append(str(error.response["Error"]["Code"]))

    first = threading.Thread(target=create)
    first.start()
    assert reached.wait(5)
    second = threading.Thread(target=create)
    second.start()
    second.join(HELD_S / 4)
    release.set()  # the second got in meanwhile, or is waiting for the first
    first.join(10)
    second.join(10)
    assert sorted(outcomes) == ["ConditionalCheckFailedException", "claimed"]
    item = db.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)["Item"]
    assert item["version"] == {"N": "1"}


def test_a_reader_never_sees_a_cancelled_transaction_s_writes(
    moto_server: MotoServer, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = moto_server.client("dynamodb")
    written, refused = f"item#txn-{uuid.uuid4().hex[:6]}", f"item#txn-{uuid.uuid4().hex[:6]}"
    claim(db, table, refused, 5, 5)  # the transaction's second claim (version 2) is stale: cancelled
    reached, release = threading.Event(), threading.Event()
    from moto.dynamodb.models.dynamo_type import DynamoType

    def first_claim_written(moto_table: Any) -> bool:
        return moto_table.items.get(DynamoType({"S": written})) is not None

    hold_once(monkeypatch, "get_item", refused, reached, release, when=first_claim_written)

    def claim_both() -> None:
        with pytest.raises(ClientError) as cancelled:
            db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"pk": {"S": key}},
                            "UpdateExpression": CLAIM,
                            "ConditionExpression": CLAIM_CONDITION,
                            "ExpressionAttributeNames": NAMES,
                            "ExpressionAttributeValues": {
                                ":v": {"N": "2"},
                                ":o": {"N": "2"},
                                ":claimed": {"S": "CLAIMED"},
                                ":e": {"S": f"{key}@2"},
                            },
                        }
                    }
                    for key in (written, refused)
                ]
            )
        assert error_code(cancelled) == "TransactionCanceledException"

    transaction = threading.Thread(target=claim_both)
    transaction.start()
    assert reached.wait(5)
    seen = {
        "get": db.get_item(TableName=table, Key={"pk": {"S": written}}, ConsistentRead=True).get("Item"),
        "batch": db.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": written}}]}})["Responses"][
            table
        ],
    }
    release.set()
    transaction.join(10)
    assert seen == {"get": None, "batch": []}
    assert "Item" not in db.get_item(TableName=table, Key={"pk": {"S": written}}, ConsistentRead=True)
