"""A fixed script of DynamoDB requests with every answer recorded, to compare moto with and without
the simulator's patches (aws_simulator/moto_patches.py): `python -m tests.simulator.moto_scenarios`
prints one JSON document (the patches' status and every answer); test_moto_patches runs it twice,
with AWS_SIMULATOR_MOTO_PATCHES=0 and without, each in a process of its own (the patches are
process-wide) with the same PYTHONHASHSEED (string sets come back in hash order), and expects the
same answers.

The script leans on what the patches touch: the same expression strings with other values and
other names (parse cache, structural checks remembered per shape), conditions that fail and pass,
every ReturnValues, functions and nested paths in updates, projections (top-level, nested, list
elements, numbers whose text DynamoDB normalizes), the keys-only GSI the ledger uses, Query and
Scan paging, BatchGetItem's UnprocessedKeys, transactions, and every AttributeValue type in answers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

TABLE = "Scenarios"
BIG_TABLE = "BigItems"
CLAIM = (
    "SET version = :v, orderingId = :o, #status = :claimed, eventId = :e, attempts = :a, "
    "#batch = :b, slot = :s, expiresAt = :ttl REMOVE #queue, #at, failureReason"
)
CLAIM_CONDITION = (
    "attribute_not_exists(pk) OR (version < :v AND orderingId < :o) OR "
    "(version = :v AND #status = :claimed AND orderingId < :o)"
)
NAMES = {"#status": "status", "#batch": "batch", "#queue": "queue", "#at": "at"}
# The ledger table's shape (template.yaml's LedgerTable): one key, the keys-only `pending` index.
LEDGER_LIKE_TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "queue", "AttributeType": "S"},
        {"AttributeName": "at", "AttributeType": "N"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "pending",
            "KeySchema": [
                {"AttributeName": "queue", "KeyType": "HASH"},
                {"AttributeName": "at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


def claim_values(version: int, ordering: int, event: str) -> dict[str, Any]:
    return {
        ":v": {"N": str(version)},
        ":o": {"N": str(ordering)},
        ":claimed": {"S": "CLAIMED"},
        ":e": {"S": event},
        ":a": {"N": "1"},
        ":b": {"S": "b1.1.0"},
        ":s": {"N": "0"},
        ":ttl": {"N": "2000000000"},
    }


def run() -> list[Any]:
    import boto3
    from moto import mock_aws

    answers: list[Any] = []

    def step(name: str, call: Callable[[], Any]) -> None:
        try:
            answer = call()
            answer.pop("ResponseMetadata", None)
            answers.append([name, "ok", answer])
        except Exception as exc:  # the error an AWS client sees: its code, message and extras
            response = getattr(exc, "response", None)
            if response is None:
                answers.append([name, "raised", type(exc).__name__, str(exc)])
                return
            response.pop("ResponseMetadata", None)
            answers.append([name, "error", response])

    with mock_aws():
        db = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        db.create_table(TableName=TABLE, **LEDGER_LIKE_TABLE)
        db.update_time_to_live(
            TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
        )
        step("ttl", lambda: db.describe_time_to_live(TableName=TABLE))

        def claim(key: str, version: int, ordering: int, **extra: Any) -> Callable[[], Any]:
            return lambda: db.update_item(
                TableName=TABLE,
                Key={"pk": {"S": key}},
                UpdateExpression=CLAIM,
                ConditionExpression=CLAIM_CONDITION,
                ExpressionAttributeNames=NAMES,
                ExpressionAttributeValues=claim_values(version, ordering, f"{key}@{version}"),
                **extra,
            )

        # The ledger's claim: new, newer, stale, same again; every ReturnValues.
        for i in range(5):
            step(f"claim new {i}", claim(f"item#{i}", 1, 100 + i))
        step("claim stale", claim("item#0", 1, 50))
        step("claim same ordering", claim("item#0", 1, 100))
        step(
            "claim stale, ALL_OLD on failure",
            claim("item#1", 0, 5, ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        )
        for n, returns in enumerate(("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW")):
            step(f"claim newer {returns}", claim(f"item#{n}", 2, 1000 + n, ReturnValues=returns))
        step("claim bad return values", claim("item#0", 3, 2000, ReturnValues="SOME"))

        def update(name: str, key: str, expression: str, **extra: Any) -> None:
            step(
                name,
                lambda: db.update_item(
                    TableName=TABLE, Key={"pk": {"S": key}}, UpdateExpression=expression, **extra
                ),
            )

        # One expression string, other names: the checks remembered for one mapping must not
        # answer for another (a key attribute, overlapping paths), in either order.
        same = "SET #a = :x, #b = :y"
        values = {":x": {"S": "x"}, ":y": {"N": "1"}}
        update(
            "names fine",
            "n#1",
            same,
            ExpressionAttributeNames={"#a": "left", "#b": "right"},
            ExpressionAttributeValues=values,
        )
        update(
            "names hit the key",
            "n#1",
            same,
            ExpressionAttributeNames={"#a": "pk", "#b": "right"},
            ExpressionAttributeValues=values,
        )
        update(
            "names overlap",
            "n#1",
            same,
            ExpressionAttributeNames={"#a": "left", "#b": "left"},
            ExpressionAttributeValues=values,
        )
        update(
            "names fine again",
            "n#2",
            same,
            ExpressionAttributeNames={"#a": "up", "#b": "down"},
            ExpressionAttributeValues=values,
        )
        update(
            "names missing",
            "n#2",
            same,
            ExpressionAttributeNames={"#a": "up"},
            ExpressionAttributeValues=values,
        )
        update(
            "values missing",
            "n#2",
            same,
            ExpressionAttributeNames={"#a": "up", "#b": "down"},
            ExpressionAttributeValues={":x": {"S": "x"}},
        )
        other = "SET #a = :x REMOVE #b"
        update(
            "overlap first",
            "n#3",
            other,
            ExpressionAttributeNames={"#a": "same", "#b": "same"},
            ExpressionAttributeValues={":x": {"S": "x"}},
        )
        update(
            "no overlap after",
            "n#3",
            other,
            ExpressionAttributeNames={"#a": "one", "#b": "two"},
            ExpressionAttributeValues={":x": {"S": "x"}},
        )
        update(
            "two SET clauses", "n#4", "SET a = :x SET b = :x", ExpressionAttributeValues={":x": {"S": "x"}}
        )
        update(
            "two SET clauses again",
            "n#4",
            "SET a = :x SET b = :x",
            ExpressionAttributeValues={":x": {"S": "x"}},
        )
        # One simple expression (SET name = :value, REMOVE name) again and again: a validated tree
        # kept for one shape of values must not answer for another (a GSI key attribute's type and
        # emptiness, a value missing), and each call must write its own values.
        simple = "SET #q = :q, #at = :at, note = :n REMOVE gone"
        simple_names = {"#q": "queue", "#at": "at"}

        def simple_values(queue: Any, at: Any, note: Any) -> dict[str, Any]:
            return {":q": queue, ":at": at, ":n": note}

        for n, (queue, at, note) in enumerate(
            [
                ({"S": "pending#01"}, {"N": "10"}, {"S": "a"}),
                ({"S": "pending#02"}, {"N": "11"}, {"N": "7"}),
                ({"N": "3"}, {"N": "12"}, {"S": "c"}),  # the GSI key's type: refused
                ({"S": "pending#03"}, {"N": "13"}, {"SS": ["x", "y"]}),
                ({"S": ""}, {"N": "14"}, {"S": "e"}),  # an empty GSI key: refused
                ({"S": "pending#04"}, {"S": "late"}, {"S": "f"}),  # at is a number key: refused
                ({"S": "pending#05"}, {"N": "16"}, {"S": ""}),  # an empty non-key string
                ({"S": "pending#06"}, {"N": "17"}, {"L": [{"S": "l"}, {"N": "1"}]}),
                ({"S": "pending#01"}, {"N": "18"}, {"M": {"k": {"BOOL": True}}}),
            ]
        ):
            update(
                f"simple update {n}",
                f"simple#{n % 3}",
                simple,
                ExpressionAttributeNames=simple_names,
                ExpressionAttributeValues=simple_values(queue, at, note),
                ReturnValues="ALL_NEW",
            )
        # moto checks a plain name's type and emptiness against the key attributes (not a #name's).
        for n, queue in enumerate(
            [{"S": "pending#11"}, {"N": "4"}, {"S": "pending#12"}, {"S": ""}, {"S": "pending#13"}, {"B": b""}]
        ):
            update(
                f"plain simple update {n}",
                "plain#0",
                "SET queue = :q, note = :n",
                ExpressionAttributeValues={":q": queue, ":n": {"S": f"n{n}"}},
                ReturnValues="UPDATED_NEW",
            )
        update(
            "simple update, a value missing",
            "simple#0",
            simple,
            ExpressionAttributeNames=simple_names,
            ExpressionAttributeValues={":q": {"S": "pending#07"}, ":at": {"N": "19"}},
        )
        update(
            "simple update, names onto the key",
            "simple#0",
            simple,
            ExpressionAttributeNames={"#q": "pk", "#at": "at"},
            ExpressionAttributeValues=simple_values({"S": "p"}, {"N": "20"}, {"S": "n"}),
        )
        update(
            "simple update, an item too large",
            "simple#1",
            simple,
            ExpressionAttributeNames=simple_names,
            ExpressionAttributeValues=simple_values({"S": "pending#08"}, {"N": "21"}, {"S": "z" * 410_000}),
        )
        # moto sets before it removes, checking the size at each set: with `gone` still there, a
        # value that would fit once `gone` is removed is refused (the order of the actions shows).
        update(
            "simple update, a large attribute to remove",
            "simple#0",
            "SET gone = :g",
            ExpressionAttributeValues={":g": {"S": "g" * 300_000}},
        )
        for name, at, size, returns in (
            ("too large until the remove", "23", 200_000, "NONE"),
            ("fits with the remove", "24", 90_000, "UPDATED_NEW"),
        ):
            update(
                f"simple update, {name}",
                "simple#0",
                simple,
                ExpressionAttributeNames=simple_names,
                ExpressionAttributeValues=simple_values({"S": "pending#10"}, {"N": at}, {"S": "y" * size}),
                ReturnValues=returns,
            )
        # A SET that replaces a large value: the next SET is checked against the item as it is now.
        # Twice: the first call of a shape is validated by moto, the second runs what was kept.
        big = {"S": "b" * 150_000}
        for n in range(2):
            update(
                f"simple update, a large value {n}",
                f"big#{n}",
                "SET big = :b",
                ExpressionAttributeValues={":b": big},
            )
            update(
                f"simple update, the large value replaced, then another {n}",
                f"big#{n}",
                "SET big = :b, bigger = :o",
                ExpressionAttributeValues={":b": big, ":o": big},
            )
        # REMOVE written first runs first: the SET after it is checked without the removed value.
        for n in range(2):
            update(
                f"simple update, a large value to remove {n}",
                f"gone#{n}",
                "SET gone = :g",
                ExpressionAttributeValues={":g": {"S": "g" * 300_000}},
            )
            update(
                f"simple update, removed before a large SET {n}",
                f"gone#{n}",
                "REMOVE gone SET note = :n",
                ExpressionAttributeValues={":n": {"S": "n" * 200_000}},
                ReturnValues="ALL_NEW",
            )
        update(
            "simple update after the refusals",
            "simple#2",
            simple,
            ExpressionAttributeNames=simple_names,
            ExpressionAttributeValues=simple_values({"S": "pending#09"}, {"N": "22"}, {"NS": ["1", "2"]}),
            ReturnValues="UPDATED_OLD",
        )
        step(
            "the simple items",
            lambda: db.scan(
                TableName=TABLE,
                FilterExpression="begins_with(pk, :p)",
                ExpressionAttributeValues={":p": {"S": "simple#"}},
            ),
        )
        step(
            "the index after the simple updates",
            lambda: db.query(
                TableName=TABLE,
                IndexName="pending",
                KeyConditionExpression="#q = :q",
                ExpressionAttributeNames={"#q": "queue"},
                ExpressionAttributeValues={":q": {"S": "pending#01"}},
            ),
        )

        def pages(name: str, operation: Callable[..., Any], **request: Any) -> None:
            start: Any = None
            for page in range(20):
                extra = {"ExclusiveStartKey": start} if start else {}
                step(f"{name} page {page}", lambda extra=extra: operation(**request, **extra))
                last = answers[-1]
                start = last[2].get("LastEvaluatedKey") if last[1] == "ok" else None
                if not start:
                    break

        # A GSI whose range key ties across items, written out of key order: every page of a Query,
        # both ways, in the order the index's keys and then the table's key give.
        for n in (17, 3, 29, 11, 5, 23, 2, 31, 13, 7, 19, 37, 1, 41, 43, 47, 53, 59, 61, 67):
            update(
                f"index item {n}",
                f"idx#{n:02d}",
                "SET #q = :q, #at = :at",
                ExpressionAttributeNames={"#q": "queue", "#at": "at"},
                ExpressionAttributeValues={":q": {"S": f"tie#{n % 2}"}, ":at": {"N": str(n % 3)}},
            )
        for forward in (True, False):
            pages(
                f"index forward={forward}",
                db.query,
                TableName=TABLE,
                IndexName="pending",
                KeyConditionExpression="#q = :q AND #at >= :low",
                ExpressionAttributeNames={"#q": "queue", "#at": "at"},
                ExpressionAttributeValues={":q": {"S": "tie#1"}, ":low": {"N": "0"}},
                Limit=3,
                ScanIndexForward=forward,
            )

        # Writes between queries: a query must see each (an item moved out of the value, one moved
        # in, one deleted, one put, and a cancelled transaction that would have moved one in).
        def index_query(name: str, value: str) -> None:
            step(
                name,
                lambda: db.query(
                    TableName=TABLE,
                    IndexName="pending",
                    KeyConditionExpression="#q = :q",
                    ExpressionAttributeNames={"#q": "queue"},
                    ExpressionAttributeValues={":q": {"S": value}},
                ),
            )

        index_query("index before the writes", "tie#1")
        update(
            "move out of tie#1",
            "idx#17",
            "SET #q = :q",
            ExpressionAttributeNames={"#q": "queue"},
            ExpressionAttributeValues={":q": {"S": "tie#0"}},
        )
        index_query("index after a move out", "tie#1")
        index_query("index after a move in", "tie#0")
        update("leave the index", "idx#03", "REMOVE #q", ExpressionAttributeNames={"#q": "queue"})
        index_query("index after a leave", "tie#1")
        step("delete from the index", lambda: db.delete_item(TableName=TABLE, Key={"pk": {"S": "idx#05"}}))
        index_query("index after a delete", "tie#1")
        step(
            "put into the index",
            lambda: db.put_item(
                TableName=TABLE,
                Item={"pk": {"S": "idx#99"}, "queue": {"S": "tie#1"}, "at": {"N": "0"}},
            ),
        )
        index_query("index after a put", "tie#1")
        step(
            "a cancelled transaction",
            lambda: db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": TABLE,
                            "Key": {"pk": {"S": "idx#02"}},
                            "UpdateExpression": "SET #q = :q",
                            "ExpressionAttributeNames": {"#q": "queue"},
                            "ExpressionAttributeValues": {":q": {"S": "tie#1"}},
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": {"pk": {"S": "idx#99"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            ),
        )
        index_query("index after the cancelled transaction", "tie#1")
        step(
            "table query by key",
            lambda: db.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :k",
                ExpressionAttributeValues={":k": {"S": "idx#17"}},
            ),
        )
        update("reserved word", "n#4", "SET size = :x", ExpressionAttributeValues={":x": {"S": "x"}})
        update("syntax error", "n#4", "SET a = = :x", ExpressionAttributeValues={":x": {"S": "x"}})
        update("empty key value", "n#4", "SET pk2 = :x", ExpressionAttributeValues={":x": {"S": ""}})

        # Functions, arithmetic, sets, lists, maps, nested paths.
        rich = {
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":list": {"L": [{"S": "a"}, {"N": "2.50"}, {"BOOL": True}, {"NULL": True}]},
            ":map": {"M": {"zeta": {"M": {"deep": {"SS": ["p", "q"]}}}, "n": {"N": "1E+2"}}},
            ":ss": {"SS": ["b", "a", "c"]},
            ":ns": {"NS": ["3", "1", "2.0"]},
            ":bs": {"BS": [b"\x00\x01", b"\xff"]},
            ":b": {"B": b"bytes\x00"},
            ":nul": {"NULL": True},
            ":f": {"BOOL": False},
            ":num": {"N": "0100"},
        }

        def pick(*names: str) -> dict[str, Any]:
            return {name: rich[name] for name in names}

        for round_ in range(2):
            update(
                f"rich set {round_}",
                "rich#1",
                "SET tally = if_not_exists(tally, :zero) + :one, things = list_append(if_not_exists(things, :list), :list), "
                "doc = :map, bin = :b, nothing = :nul, flag = :f, num = :num ADD letters :ss, numbers :ns, blobs :bs",
                ExpressionAttributeValues=rich,
                ReturnValues="ALL_NEW",
            )
        update(
            "nested set",
            "rich#1",
            "SET doc.zeta.added = :one, things[1] = :zero",
            ExpressionAttributeValues=pick(":one", ":zero"),
            ReturnValues="UPDATED_NEW",
        )
        update(
            "delete from set",
            "rich#1",
            "DELETE letters :ss2 REMOVE things[0], doc.n",
            ExpressionAttributeValues={":ss2": {"SS": ["a"]}},
            ReturnValues="UPDATED_OLD",
        )
        update(
            "minus",
            "rich#1",
            "SET tally = tally - :one",
            ExpressionAttributeValues=pick(":one"),
            ReturnValues="UPDATED_NEW",
        )
        update("minus a string", "rich#1", "SET tally = bin - :one", ExpressionAttributeValues=pick(":one"))
        update("missing path", "rich#1", "SET tally = nope + :one", ExpressionAttributeValues=pick(":one"))
        update(
            "list_append on a number",
            "rich#1",
            "SET x = list_append(tally, :list)",
            ExpressionAttributeValues=pick(":list"),
        )
        for expression, vals in (
            (
                "size(things) > :one AND begins_with(#n, :prefix)",
                {":one": {"N": "1"}, ":prefix": {"S": "01"}},
            ),
            ("contains(letters, :c) AND attribute_type(tally, :t)", {":c": {"S": "c"}, ":t": {"S": "N"}}),
            (
                "tally BETWEEN :lo AND :hi OR NOT flag = :f",
                {":lo": {"N": "0"}, ":hi": {"N": "9"}, ":f": {"BOOL": False}},
            ),
            ("tally IN (:a, :b2, :c2)", {":a": {"N": "7"}, ":b2": {"N": "1"}, ":c2": {"N": "2"}}),
            ("(tally = :a)", {":a": {"N": "1"}}),
            ("(tally = :a)", {":a": {"N": "2"}}),
            ("(tally = :a)", {":b": {"N": "1"}}),
            ("tally = :a AND", {":a": {"N": "1"}}),
            (
                "tally BETWEEN :lo AND :hi OR NOT flag = :f",
                {":lo": {"N": "5"}, ":hi": {"N": "9"}, ":f": {"BOOL": False}},
            ),
            (
                "tally BETWEEN :lo AND :hi OR NOT flag = :f",
                {":lo": {"N": "5"}, ":hi": {"N": "9"}, ":f": {"BOOL": True}},
            ),
            ("tally IN (:a, :b2, :c2)", {":a": {"N": "7"}, ":b2": {"N": "8"}, ":c2": {"N": "9"}}),
            ("tally IN (:a, :b2, :c2)", {":a": {"N": "7"}, ":b2": {"N": "8"}}),
        ):
            names = {"#n": "num"} if "#n" in expression else {}
            step(
                f"condition {expression}",
                lambda expression=expression, vals=vals, names=names: db.update_item(
                    TableName=TABLE,
                    Key={"pk": {"S": "rich#1"}},
                    UpdateExpression="SET checked = if_not_exists(checked, :zero2)",
                    ConditionExpression=expression,
                    ExpressionAttributeValues={**vals, ":zero2": {"N": "0"}},
                    **({"ExpressionAttributeNames": names} if names else {}),
                    ReturnValues="ALL_NEW",
                ),
            )
        step(
            "put with condition",
            lambda: db.put_item(
                TableName=TABLE,
                Item={"pk": {"S": "put#1"}, "v": {"N": "1"}},
                ConditionExpression="attribute_not_exists(pk)",
            ),
        )
        step(
            "put with condition again",
            lambda: db.put_item(
                TableName=TABLE,
                Item={"pk": {"S": "put#1"}, "v": {"N": "2"}},
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ),
        )

        # Projections: top-level names (the short path), nested paths and list elements (moto's).
        for projection, names in (
            (
                "pk, version, orderingId, #status, attempts, #batch, slot",
                {"#status": "status", "#batch": "batch"},
            ),
            ("num, tally, letters, numbers, blobs, bin, nothing, flag, absent", None),
            ("num, num", None),
            ("doc.zeta, things[1], doc.zeta.deep", None),
            ("doc, doc.zeta.added", None),
            ("things[0], things", None),
        ):
            step(
                f"get {projection}",
                lambda projection=projection, names=names: db.get_item(
                    TableName=TABLE,
                    Key={"pk": {"S": "rich#1" if "version" not in projection else "item#2"}},
                    ProjectionExpression=projection,
                    **({"ExpressionAttributeNames": names} if names else {}),
                ),
            )
        step(
            "get all", lambda: db.get_item(TableName=TABLE, Key={"pk": {"S": "rich#1"}}, ConsistentRead=True)
        )

        # The keys-only pending index: parts with a queue and a time, some leaving it.
        for i in range(12):
            update(
                f"accept part {i}",
                f"acc#b{i}#00",
                "ADD accepted :slots, objects :obj SET #queue = if_not_exists(#queue, :q), #at = if_not_exists(#at, :at), kind = :k",
                ExpressionAttributeNames={"#queue": "queue", "#at": "at"},
                ExpressionAttributeValues={
                    ":slots": {"NS": [str(i), "0"]},
                    ":obj": {"SS": [f"o{i}"]},
                    ":q": {"S": f"pending#{i % 2}"},
                    ":at": {"N": str(1_000 + (7 * i) % 12)},
                    ":k": {"S": "item"},
                },
            )
        for i in (3, 4):
            update(
                f"leave index {i}",
                f"acc#b{i}#00",
                "REMOVE #queue",
                ExpressionAttributeNames={"#queue": "queue"},
                ConditionExpression="size(accepted) = :n",
                ExpressionAttributeValues={":n": {"N": "2"}},
            )

        for forward in (True, False):
            pages(
                f"query pending forward={forward}",
                db.query,
                TableName=TABLE,
                IndexName="pending",
                KeyConditionExpression="#queue = :q AND #at < :before",
                ExpressionAttributeNames={"#queue": "queue", "#at": "at"},
                ExpressionAttributeValues={":q": {"S": "pending#0"}, ":before": {"N": "1010"}},
                Limit=2,
                ScanIndexForward=forward,
            )
        step(
            "query consistent on a GSI",
            lambda: db.query(
                TableName=TABLE,
                IndexName="pending",
                KeyConditionExpression="#queue = :q",
                ExpressionAttributeNames={"#queue": "queue"},
                ExpressionAttributeValues={":q": {"S": "pending#1"}},
                ConsistentRead=True,
            ),
        )
        step(
            "query the table",
            lambda: db.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :k",
                ExpressionAttributeValues={":k": {"S": "rich#1"}},
                ProjectionExpression="tally, doc.zeta",
            ),
        )
        pages("scan", db.scan, TableName=TABLE, Limit=7)
        pages(
            "scan filtered",
            db.scan,
            TableName=TABLE,
            FilterExpression="begins_with(pk, :p) AND version >= :v",
            ProjectionExpression="pk, version, #status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":p": {"S": "item#"}, ":v": {"N": "2"}},
            Limit=3,
        )
        for prefix in ("acc#", "rich#", "nothing#"):
            step(
                f"scan filter {prefix}",
                lambda prefix=prefix: db.scan(
                    TableName=TABLE,
                    FilterExpression="begins_with(pk, :p) AND (attribute_exists(accepted) OR size(things) > :n)",
                    ExpressionAttributeValues={":p": {"S": prefix}, ":n": {"N": "3"}},
                    ProjectionExpression="pk",
                ),
            )
        step(
            "batch get",
            lambda: db.batch_get_item(
                RequestItems={
                    TABLE: {
                        "Keys": [
                            {"pk": {"S": k}} for k in ("item#0", "rich#1", "nope", "acc#b1#00", "item#4")
                        ],
                        "ProjectionExpression": "pk, version, #status, accepted, doc",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ConsistentRead": True,
                    }
                }
            ),
        )
        step(
            "batch get duplicates",
            lambda: db.batch_get_item(RequestItems={TABLE: {"Keys": [{"pk": {"S": "item#0"}}] * 2}}),
        )

        # Transactions: one update's condition fails, the whole transaction is cancelled.
        step(
            "transaction cancelled",
            lambda: db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": TABLE,
                            "Key": {"pk": {"S": "item#0"}},
                            "UpdateExpression": CLAIM,
                            "ConditionExpression": CLAIM_CONDITION,
                            "ExpressionAttributeNames": NAMES,
                            "ExpressionAttributeValues": claim_values(9, 9000, "t"),
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": {"pk": {"S": "item#1"}},
                            "ConditionExpression": "version > :v",
                            "ExpressionAttributeValues": {":v": {"N": "100"}},
                        }
                    },
                ]
            ),
        )
        step(
            "after the cancelled transaction",
            lambda: db.get_item(TableName=TABLE, Key={"pk": {"S": "item#0"}}),
        )

        # Transactions that write before one of their actions fails: nothing of them stays (the
        # patched rollback puts back only the items the actions touched).
        def claim_action(key: str, version: int, ordering: int) -> dict[str, Any]:
            return {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": key}},
                    "UpdateExpression": CLAIM,
                    "ConditionExpression": CLAIM_CONDITION,
                    "ExpressionAttributeNames": NAMES,
                    "ExpressionAttributeValues": claim_values(version, ordering, f"tx-{key}"),
                }
            }

        def keys_now(*keys: str) -> Any:
            answer = db.batch_get_item(RequestItems={TABLE: {"Keys": [{"pk": {"S": k}} for k in keys]}})
            return {"items": sorted(answer["Responses"][TABLE], key=lambda item: item["pk"]["S"])}

        step(
            "transaction committed",
            lambda: db.transact_write_items(
                TransactItems=[claim_action(f"tx#{i}", 1, 100 + i) for i in range(4)]
                + [claim_action("item#2", 50, 99_000)],
                ClientRequestToken="scenario-committed",
            ),
        )
        step("after the committed transaction", lambda: keys_now("tx#0", "tx#1", "tx#2", "tx#3", "item#2"))
        step(
            "transaction cancelled after its writes",
            lambda: db.transact_write_items(
                TransactItems=[
                    claim_action("tx#10", 1, 100),
                    claim_action("item#3", 60, 99_500),
                    {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "tx#11"}, "n": {"N": "1"}}}},
                    {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "tx#0"}}}},
                    {
                        "Update": {
                            "TableName": TABLE,
                            "Key": {"pk": {"S": "tx#1"}},
                            "UpdateExpression": "SET n = :n",
                            "ConditionExpression": "version > :v",
                            "ExpressionAttributeValues": {":n": {"N": "7"}, ":v": {"N": "100"}},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                ]
            ),
        )
        step(
            "after the transaction cancelled after its writes",
            lambda: keys_now("tx#0", "tx#1", "tx#10", "tx#11", "item#3"),
        )
        step(
            "transaction naming one key twice",
            lambda: db.transact_write_items(
                TransactItems=[
                    claim_action("tx#20", 1, 100),
                    claim_action("tx#21", 1, 100),
                    claim_action("tx#20", 2, 200),
                ]
            ),
        )
        step(
            "transaction with a key too long",
            lambda: db.transact_write_items(
                TransactItems=[claim_action("tx#22", 1, 100), claim_action("tx#" + "k" * 2100, 1, 100)]
            ),
        )
        step("after the refused transactions", lambda: keys_now("tx#20", "tx#21", "tx#22"))
        step("the table after the transactions", lambda: db.scan(TableName=TABLE, Select="COUNT"))

        # UnprocessedKeys: more than 16 MB of items in one BatchGetItem.
        db.create_table(
            TableName=BIG_TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for i in range(45):
            db.put_item(TableName=BIG_TABLE, Item={"pk": {"S": f"big#{i:02d}"}, "blob": {"S": "x" * 390_000}})

        def big_batch() -> Any:
            answer = db.batch_get_item(
                RequestItems={BIG_TABLE: {"Keys": [{"pk": {"S": f"big#{i:02d}"}} for i in range(45)]}}
            )
            # The items themselves are 17 MB of "x": their keys and the unprocessed ones say it.
            return {
                "returned": sorted(item["pk"]["S"] for item in answer["Responses"][BIG_TABLE]),
                "unprocessed": answer.get("UnprocessedKeys", {}),
            }

        step("batch get over 16 MB", big_batch)
    return answers


def main() -> int:
    from aws_simulator import moto_patches

    patches = moto_patches.apply()  # none with AWS_SIMULATOR_MOTO_PATCHES=0
    json.dump({"patches": patches, "answers": run()}, sys.stdout, sort_keys=True, default=repr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
