"""moto's server for the benchmarks: `python -m bench.moto_server <port>`, with moto's hot spots fixed.

It applies the local simulator's moto patches (simulator/aws_simulator/moto_patches.py, the same
ones `coveo-push local` and the tests run with): SQS without a scan of the queue per message (moto
5.2.5's is quadratic in the queue's length; real SQS is not), and DynamoDB's expressions parsed
once per string, its expression trees copied and walked directly, its items projected and its
AttributeValues serialized without the generic machinery (~7 ms of CPU per conditional UpdateItem
before, ~2 ms after). They keep moto's answers, so the numbers measure the connector rather than
moto's data structures; moto's remaining cost per request still shows in the results.

It also meters what AWS would bill (bench/capacity.py has the arithmetic and cites AWS's pages):
each DynamoDB request's read and write units, the table's and each index's, from the item images
before and after the write; S3 PUT/GET requests and bytes. `GET /_bench/capacity` on the same port
answers the totals so far with each table's and bucket's storage; `DELETE` resets them. An HTTP
answer rather than a file flushed on a timer or on a signal: it is synchronous, so it holds every
request moto finished answering before it (nothing half-written, no polling, no stale window),
and the parent already speaks HTTP to this process. The totals are kept per table and bucket, and
every connector run provisions its own, so each scenario is billed on its own counts without a
reset between them.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from .capacity import (
    Meter,
    TableShape,
    WriteBill,
    bill_failed_write,
    bill_item_read,
    bill_query,
    bill_write,
    item_size,
    kind_of,
    storage,
    write_units,
)

CAPACITY_PATH = "/_bench/capacity"
# A directory: each moto server then profiles its CPU and writes moto-<port>.pstats there on SIGTERM.
PROFILE_DIR_ENV = "BENCH_MOTO_PROFILE_DIR"

# --- capacity: what AWS would bill ------------------------------------------------------------------


def _wire(item: Any) -> dict[str, Any] | None:
    """A moto item in wire format, detached from moto's (mutable) lists."""
    if item is None:
        return None
    return {
        name: {kind: list(raw) if isinstance(raw, list) else raw for kind, raw in value.items()}
        for name, value in item.to_json()["Attributes"].items()
    }


def _shape(table: Any) -> TableShape:
    """The table's keys and indexes as moto holds them now (as DescribeTable would say)."""
    return TableShape.from_description(
        {
            "KeySchema": table.schema,
            "GlobalSecondaryIndexes": [i.describe() for i in table.global_indexes or ()],
            "LocalSecondaryIndexes": [i.describe() for i in table.indexes or ()],
        }
    )


def _current(table: Any, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The whole item at `key` (which may be a whole item), in wire format; None if absent."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_name, range_name = table.hash_key_attr, table.range_key_attr
    if hash_name not in key or (range_name and range_name not in key):
        return None
    range_key = DynamoType(key[range_name]) if range_name else None
    return _wire(table.get_item(DynamoType(key[hash_name]), range_key))


def _kind(table: Any, key: Mapping[str, Any]) -> str:
    return kind_of(key.get(table.hash_key_attr))


class _Write:
    """One item of a write request: its table, key, before image and kind."""

    def __init__(self, backend: Any, table_name: str, key: Mapping[str, Any], operation: str) -> None:
        self.table = backend.get_table(table_name)
        self.key = key
        self.operation = operation
        self.before = _current(self.table, key)
        self.kind = _kind(self.table, key)

    def bill(self, meter: Meter, *, transactional: bool = False, check_only: bool = False) -> None:
        if check_only:  # a transaction's ConditionCheck: a write of the item's size, nothing written
            units = write_units(item_size(self.before)) * (2 if transactional else 1)
            meter.write(self.table.name, self.operation, self.kind, WriteBill(float(units)))
            return
        after = _current(self.table, self.key)
        meter.write(
            self.table.name,
            self.operation,
            self.kind,
            bill_write(_shape(self.table), self.before, after, transactional=transactional),
        )

    def bill_failed(self, meter: Meter, *, transactional: bool = False) -> None:
        meter.write(
            self.table.name,
            self.operation,
            self.kind,
            bill_failed_write(self.before, transactional=transactional),
        )


def patch_dynamodb_capacity(meter: Meter) -> None:
    """Wrap moto's DynamoDB request handlers (one per billed API call) and its Query and Scan."""
    from moto.dynamodb.exceptions import ConditionalCheckFailed, TransactionCanceledException
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    def writes(operation: str, items: Callable[[Any], Iterable[tuple[str, Mapping[str, Any], str]]]) -> None:
        """`items(body)` yields (table, key or item, action) for each item the request writes."""
        real = getattr(DynamoHandler, _method(operation))
        transactional = operation == "TransactWriteItems"

        def wrapper(self: Any) -> Any:
            with meter.lock:  # the before and after images are this request's own
                try:
                    pending = [
                        (_Write(self.dynamodb_backend, table, key, operation), action)
                        for table, key, action in items(self.body)
                    ]
                except Exception:  # a bad request: moto answers it (an error), AWS bills nothing
                    return real(self)
                try:
                    result = real(self)
                except (ConditionalCheckFailed, TransactionCanceledException):
                    for write, _ in pending:
                        write.bill_failed(meter, transactional=transactional)
                    raise
                for write, action in pending:
                    write.bill(meter, transactional=transactional, check_only=action == "ConditionCheck")
                return result

        setattr(DynamoHandler, _method(operation), wrapper)

    writes("PutItem", lambda body: [(body["TableName"], body["Item"], "Put")])
    writes("UpdateItem", lambda body: [(body["TableName"], body["Key"], "Update")])
    writes("DeleteItem", lambda body: [(body["TableName"], body["Key"], "Delete")])
    writes(
        "BatchWriteItem",
        lambda body: [
            (table, request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"], "Write")
            for table, requests in body["RequestItems"].items()
            for request in requests
        ],
    )
    writes(
        "TransactWriteItems",
        lambda body: [
            (spec["TableName"], spec.get("Item") or spec["Key"], action)
            for entry in body["TransactItems"]
            for action, spec in entry.items()
        ],
    )

    def reads(operation: str, keys: Callable[[Any], Iterable[tuple[str, Mapping[str, Any], bool]]]) -> None:
        """`keys(body)` yields (table, key, consistent) for each item the request reads."""
        real = getattr(DynamoHandler, _method(operation))
        transactional = operation == "TransactGetItems"

        def wrapper(self: Any) -> Any:
            result = real(self)  # errors first: a refused request reads nothing
            groups: dict[tuple[str, str], list[float]] = {}
            sizes: dict[tuple[str, str], int] = {}
            for table_name, key, consistent in keys(self.body):
                table = self.dynamodb_backend.get_table(table_name)
                item = _current(table, key)
                group = (table.name, _kind(table, key))
                groups.setdefault(group, []).append(
                    bill_item_read(item, consistent=consistent, transactional=transactional)
                )
                sizes[group] = sizes.get(group, 0) + item_size(item)
            for (table_name, kind), units in groups.items():
                meter.read(
                    table_name,
                    operation,
                    kind,
                    rru=sum(units),
                    items=len(units),
                    read_bytes=sizes[(table_name, kind)],
                )
            return result

        setattr(DynamoHandler, _method(operation), wrapper)

    reads("GetItem", lambda body: [(body["TableName"], body["Key"], bool(body.get("ConsistentRead")))])
    reads(
        "BatchGetItem",
        lambda body: [
            (table, key, bool(request.get("ConsistentRead")))
            for table, request in body["RequestItems"].items()
            for key in request["Keys"]
        ],
    )
    reads(
        "TransactGetItems",
        lambda body: [(e["Get"]["TableName"], e["Get"]["Key"], True) for e in body["TransactItems"]],
    )

    def searches(operation: str, real: Callable[..., Any], unfiltered: dict[str, Any]) -> Callable[..., Any]:
        """Query and Scan bill what they read before any filter or projection: run them again
        without those when the request has any (moto filters after reading, as DynamoDB does)."""
        signature = inspect.signature(real)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = real(self, *args, **kwargs)
            bound = signature.bind(self, *args, **kwargs)
            arguments = bound.arguments
            read = result[0]
            if any(arguments.get(name) for name in unfiltered):
                arguments.update(unfiltered)
                read = real(*bound.args, **bound.kwargs)[0]
            index = arguments.get("index_name") or ""
            is_global = any(i.name == index for i in self.global_indexes or ())
            consistent = bool(arguments.get("consistent_read")) and not is_global
            sizes = [item_size(_wire(item)) for item in read]
            meter.read(
                self.name,
                operation,
                _search_kind(arguments),
                rru=bill_query(sizes, consistent=consistent),
                items=len(sizes),
                read_bytes=sum(sizes),
                index=index,
            )
            return result

        return wrapper

    Table.query = searches(  # type: ignore[method-assign]
        "Query", Table.query, {"filter_expression": None, "projection_expressions": None, "filter_kwargs": {}}
    )
    Table.scan = searches(  # type: ignore[method-assign]
        "Scan", Table.scan, {"filters": {}, "filter_expression": None, "projection_expression": None}
    )


def _method(operation: str) -> str:
    """moto's handler method for an API operation: PutItem -> put_item."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _search_kind(arguments: Mapping[str, Any]) -> str:
    """A Query's kind is its partition key value's; a Scan reads every kind ("*")."""
    conditions = arguments.get("hash_key_conditions") or []
    value = conditions[0][1] if conditions else arguments.get("hash_key")
    if value is None:
        return "*" if "filters" in arguments else kind_of(None)
    return kind_of(value.value if isinstance(value.value, str) else None)


def patch_s3_capacity(meter: Meter) -> None:
    """S3 bills requests by tier (PUT, COPY, POST, LIST; GET and the rest) and stores bytes."""
    from moto.s3.responses import S3Response

    def wrap(method: str, operation: str, size: Callable[[Any, Any], int]) -> None:
        real = getattr(S3Response, method)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            response = real(self, *args, **kwargs)
            bucket = getattr(self, "bucket_name", None) or (args[0] if args else "")
            meter.s3(str(bucket), operation, size(self, response))
            return response

        setattr(S3Response, method, wrapper)

    def body_size(self: Any, _: Any) -> int:
        return len(self.body or b"")

    def response_size(_: Any, response: Any) -> int:
        body = response[2] if isinstance(response, tuple) and len(response) == 3 else b""
        return len(body) if isinstance(body, bytes | str) else 0

    wrap("put_object", "PutObject", body_size)
    wrap("upload_part", "UploadPart", body_size)
    wrap("copy_object", "CopyObject", lambda *_: 0)
    wrap("get_object", "GetObject", response_size)
    wrap("head_object", "HeadObject", lambda *_: 0)


def capacity_snapshot(meter: Meter) -> dict[str, Any]:
    """The meter's totals, with what every table and bucket holds now."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends

    snapshot = meter.snapshot()
    now = time.time()
    with meter.lock:  # no metered write lands while the tables are walked
        for backend in _backends(dynamodb_backends):
            for name, table in list(backend.tables.items()):
                ttl = table.ttl or {}
                ttl_attribute = ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None
                entry = snapshot["tables"].setdefault(name, {"operations": []})
                entry["storage"] = storage(
                    _shape(table),
                    (_wire(i) or {} for i in table.all_items()),
                    ttl_attribute=ttl_attribute,
                    now_s=now,
                )
                entry["storage"]["pitr"] = _pitr_enabled(table)
        for backend in _backends(s3_backends):
            for name, bucket in list(backend.buckets.items()):
                by_prefix: dict[str, int] = {}
                objects = 0
                for key_name, key in bucket.keys.items():
                    prefix = key_name.split("/", 1)[0] + "/" if "/" in key_name else ""
                    by_prefix[prefix] = by_prefix.get(prefix, 0) + int(getattr(key, "size", 0) or 0)
                    objects += 1
                entry = snapshot["buckets"].setdefault(name, {"operations": {}})
                entry["storage"] = {
                    "objects": objects,
                    "bytes": sum(by_prefix.values()),
                    "by_prefix": by_prefix,
                }
    return snapshot


def _backends(backend_dict: Any) -> list[Any]:
    """Every region's backend that exists (without creating the others)."""
    return [backend for account in dict.values(backend_dict) for backend in dict.values(account)]


def _pitr_enabled(table: Any) -> bool:
    backups = getattr(table, "continuous_backups", None) or {}
    description = backups.get("PointInTimeRecoveryDescription") or {}
    return description.get("PointInTimeRecoveryStatus") == "ENABLED"


def capacity_endpoint(app: Callable[..., Any], meter: Meter) -> Callable[..., Any]:
    """WSGI: `GET /_bench/capacity[?table=..&bucket=..]` answers the totals, `DELETE` resets them;
    everything else goes to moto."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != CAPACITY_PATH:
            return app(environ, start_response)
        if environ.get("REQUEST_METHOD") == "DELETE":
            meter.reset()
            answer: dict[str, Any] = {}
        else:
            answer = capacity_snapshot(meter)
            query = parse_qs(environ.get("QUERY_STRING", ""))
            for part, names in (("tables", query.get("table")), ("buckets", query.get("bucket"))):
                if names:
                    answer[part] = {k: v for k, v in answer[part].items() if k in names}
        data = json.dumps(answer).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    return application


def main(argv: list[str]) -> int:
    import logging

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from aws_simulator import moto_patches

    moto_patches.apply()  # before the meter wraps moto's handlers
    meter = Meter()
    patch_dynamodb_capacity(meter)
    patch_s3_capacity(meter)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # ThreadedMotoServer's own set-up, with the capacity endpoint in front of moto's application.
    app = capacity_endpoint(DomainDispatcherApplication(create_backend_app), meter)
    server = make_server("127.0.0.1", int(argv[0]), app, True, request_handler=MotoRequestHandler)
    profile_dir = os.environ.get(PROFILE_DIR_ENV)
    if profile_dir:
        _profile_until_terminated(Path(profile_dir) / f"moto-{argv[0]}.pstats")
    server.serve_forever()  # until the parent terminates us
    return 0


def _profile_until_terminated(path: Path) -> None:
    """Profile every request thread (bench/cpu_profile.py, Python 3.11); on SIGTERM, write one
    pstats file (`python -m pstats PATH`) and exit: where moto's own CPU goes, for whoever cuts it."""
    import pstats
    import signal

    from .cpu_profile import ThreadCpuProfile

    profile = ThreadCpuProfile()
    profile.start()

    def dump(*_: object) -> None:
        profile.stop()
        stats: pstats.Stats | None = None
        for profiler in profile.profilers():
            profiler.create_stats()
            if stats is None:
                stats = pstats.Stats(profiler)
            else:
                stats.add(profiler)
        if stats is not None:
            stats.dump_stats(path)
        os._exit(0)

    signal.signal(signal.SIGTERM, dump)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
