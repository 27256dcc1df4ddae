"""Dollars per million changes, from what a connector run counted and AWS's list prices.

The counts come from the run: Lambda time (the handler's measured time, at the template's memory),
invocations, SQS requests (send, receive, delete; each 64 KB of payload bills as one), DynamoDB
reads (one BatchGetItem per 100 keys, strongly consistent: 1 RRU per key) and writes (one
UpdateItem per claim and per accepted record, in 1 KB units of the row's size, plus the same
again on the `byStatus` index, which projects ALL attributes of an ACCEPTED row), the ledger's
storage for its 30-day TTL, the log bytes the handler wrote, and Coveo calls (no per-call price:
Coveo bills by licence, so they are counted, at $0).

The time is measured against moto and the emulator on a shared 2-core machine: moto's DynamoDB
answers an UpdateItem in ~10-20 ms where DynamoDB answers in a few, so the Lambda line is an upper
bound.
"""

from __future__ import annotations

import math
from typing import Any

# us-east-1 list prices as published on aws.amazon.com/<service>/pricing (DynamoDB on-demand after
# its 2024-11-01 reduction). Written down on this date; not fetched by the script.
PRICES_AS_OF = "2025-01-15"
PRICES = {
    "lambda_arm64_gb_second": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "sqs_standard_request": 0.40 / 1e6,
    "dynamodb_on_demand_wru": 0.625 / 1e6,
    "dynamodb_on_demand_rru": 0.125 / 1e6,
    "dynamodb_storage_gb_month": 0.25,
    "cloudwatch_logs_ingest_gb": 0.50,
    "coveo_push_call": 0.0,
}
GB = 1024**3


def ledger_rows(moto_url: str, table: str, sample: int = 200) -> list[int]:
    """The DynamoDB size in bytes (attribute names + values) of up to `sample` ledger rows."""
    from .common import RemoteMoto

    db = RemoteMoto(moto_url).client("dynamodb")
    sizes: list[int] = []
    request: dict[str, Any] = {"TableName": table, "Limit": min(sample, 500)}
    while len(sizes) < sample:
        page = db.scan(**request)
        sizes.extend(_item_size(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sizes


def _item_size(item: dict[str, Any]) -> int:
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        (kind, raw), *_ = value.items()
        if kind == "S":
            size += len(raw.encode())
        elif kind == "N":
            size += len(raw.lstrip("-").replace(".", "")) // 2 + 1
        elif kind == "B":
            size += len(raw)
        else:  # not used by the ledger
            size += len(str(raw))
    return size


def per_million(run: dict[str, Any], rows: list[int], memory_mb: int) -> dict[str, Any]:
    """`run` is a connector result (worker counts, send counts, log bytes); `rows` a sample of the
    ledger's row sizes (every change of the run left one ACCEPTED row)."""
    items = run["items"]
    scale = 1e6 / items
    aws = run["aws"]
    gb_seconds = run["handler_seconds"] * memory_mb / 1024
    sqs_requests = aws["sqsBilledRequests"] + run["send"]["sqsBilledRequests"]
    rru = aws["dynamodbKeysRead"]  # strongly consistent, each row < 4 KB
    mean_row = sum(rows) / len(rows) if rows else 0
    claim_wru = aws["dynamodbUpdates"] - items  # a claim writes a small row: 1 unit
    accepted_wru = sum(math.ceil(size / 1024) for size in rows) / len(rows) * items if rows else 0
    index_wru = accepted_wru  # byStatus projects ALL: the ACCEPTED row is written there too
    storage_gb_month = mean_row * items * 2 / GB  # table + index, kept 30 days by the TTL
    lines = {
        "lambda_compute": gb_seconds * PRICES["lambda_arm64_gb_second"],
        "lambda_requests": run["invocations"] * PRICES["lambda_request"],
        "sqs_requests": sqs_requests * PRICES["sqs_standard_request"],
        "dynamodb_reads": rru * PRICES["dynamodb_on_demand_rru"],
        "dynamodb_writes": (claim_wru + accepted_wru + index_wru) * PRICES["dynamodb_on_demand_wru"],
        "dynamodb_storage_30_days": storage_gb_month * PRICES["dynamodb_storage_gb_month"],
        "cloudwatch_logs": run["stdout_bytes"] / GB * PRICES["cloudwatch_logs_ingest_gb"],
        "coveo_calls": run["requests"] * PRICES["coveo_push_call"],
    }
    counts = {
        "lambda_gb_seconds": gb_seconds,
        "lambda_invocations": run["invocations"],
        "sqs_requests": sqs_requests,
        "dynamodb_rru": rru,
        "dynamodb_wru": claim_wru + accepted_wru + index_wru,
        "log_bytes": run["stdout_bytes"],
        "coveo_calls": run["requests"],
    }
    return {
        "total": round(sum(lines.values()) * scale, 4),
        "usd": {name: round(value * scale, 4) for name, value in lines.items()},
        "counts_per_million": {name: round(value * scale, 1) for name, value in counts.items()},
        "ledger_row_bytes_mean": round(mean_row),
        "memory_mb": memory_mb,
        "handler_seconds_per_1000": round(run["handler_seconds"] * 1000 / items, 3),
    }
