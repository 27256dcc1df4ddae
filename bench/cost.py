"""Dollars per million changes, from what a connector run counted and AWS's list prices.

DynamoDB and S3 come from what the moto server metered while the run went on (bench/moto_server.py,
arithmetic and AWS's rules in bench/capacity.py): each request's write units, the table's and each
index's, from the item before and after (an UpdateItem bills the larger; an index is written when an
item enters or leaves it, when its key changes (a delete and a put) or a projected attribute does),
read units per item or per Query/Scan page at the request's consistency, failed conditions
included; the bytes each table and index holds at the end of the run (100 bytes per item of
overhead), kept for the TTL the rows carry (measured, 30 days if none); point-in-time recovery on
the table's size; S3 requests by tier and the bytes the run left in its buckets, kept for the
bucket's lifecycle in template.yaml. None of it depends on the ledger's layout: whatever tables,
indexes, item kinds and buckets the run used are billed.

The rest is counted by the run as before: Lambda time (the handler's measured time, at the
template's memory) and invocations, SQS requests (send, receive, delete; each 64 KB of payload
bills as one), the log bytes the handler wrote, and Coveo calls (no per-call price: Coveo bills by
licence, so they are counted, at $0).

The validator (validate_pushes) runs after the push function, over what it pushed, until every
change has its verdict (`bench.connector.validate`); what the moto server metered between the end
of the push and the end of the validator is its own: its Query on the pending index, its reads of
the acceptance parts, heads and S3 entries, its verdict writes (and any re-push). Those are billed
as `validator_*` lines and listed apart (`validator.units_per_change`), with its Lambda time (the
handler's measured time, at the validator's memory in template.yaml), its log bytes and its Coveo
calls. Its Lambda requests are not per change: the schedule invokes it every 5 minutes whatever the
volume, so they are counted in `fixed_monthly` (`validator_invocations`, a 30-day month). The storage
lines price what the tables and buckets hold once the validator is done (the rows as they are kept
for their TTL); `total_without_validator` is the push function's alone, storage as the push left it.

The time is measured against moto and the emulator on a shared 2-core machine: moto's DynamoDB
answers an UpdateItem in ~10-20 ms where DynamoDB answers in a few, so the Lambda line is an upper
bound. `LEFT_OUT` says what is not in the figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

# us-east-1 list prices as published on aws.amazon.com/<service>/pricing (DynamoDB on-demand after
# its 2024-11-01 reduction). Written down on this date; not fetched by the script. The PITR and S3
# prices were added later from the same pages and were not checked again against them either.
PRICES_AS_OF = "2025-01-15"
PRICES = {
    "lambda_arm64_gb_second": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "sqs_standard_request": 0.40 / 1e6,
    "dynamodb_on_demand_wru": 0.625 / 1e6,
    "dynamodb_on_demand_rru": 0.125 / 1e6,
    "dynamodb_storage_gb_month": 0.25,
    "dynamodb_pitr_gb_month": 0.20,
    "s3_put_request": 0.005 / 1000,  # PUT, COPY, POST, LIST
    "s3_get_request": 0.0004 / 1000,  # GET, HEAD and the rest
    "s3_standard_storage_gb_month": 0.023,
    "cloudwatch_logs_ingest_gb": 0.50,
    "coveo_push_call": 0.0,
}
GB = 1024**3
DAYS_PER_MONTH = 30  # a GB-month here is a GB kept 30 days
DEFAULT_RETENTION_DAYS = 30  # rows without a TTL, buckets without a lifecycle rule
VALIDATOR_FUNCTION_ID = "ValidatePushesFunction"
S3_PUT_TIER = frozenset({"PutObject", "CopyObject", "UploadPart", "CompleteMultipartUpload", "ListObjects"})

LEFT_OUT = [
    "Fixed monthly costs, whatever the volume: the CloudWatch dashboard and alarms, the KMS key of "
    "the alarm topic, the Secrets Manager secret holding the Coveo API key ($0.40/month), the "
    "EMF custom metrics, and log storage beyond ingestion (the log groups' retention). "
    "`fixed_monthly` counts the template's resources; no price is put on them here.",
    "The validator's runs that find nothing to check: every scheduled run (every 5 minutes) queries "
    "each shard of the pending index even when it is empty, and starts its Lambda; the bench bills "
    "the one run that checked the scenario's changes (its fixed part spread over them), not the "
    "idle runs around it. Its invocations are counted in `fixed_monthly`. The validator's "
    "failure paths (FAILED marks, re-pushes) run only when Coveo rejects something: every bench "
    "change is VERIFIED at the first run.",
    "Re-pushes and updates of documents already in the ledger: every bench change is a new key, so "
    "no claim replaces an existing row (which bills the whole row and may move index entries).",
    "X-Ray traces (the TracingMode parameter: PassThrough by default, which samples nothing itself; "
    "Active bills X-Ray per trace), data transfer, the dead-letter queues, SNS notifications, and "
    "DynamoDB's TTL deletes (AWS bills them no write units).",
    "Storage is the run's rows kept for their TTL as if every change were a new key: updates of the "
    "same key overwrite one row, so this is an upper bound for them.",
]


def per_million(
    run: Mapping[str, Any],
    capacity: Mapping[str, Any],
    memory_mb: int,
    *,
    lifecycle: Mapping[str, list[tuple[str, int]]] | None = None,
) -> dict[str, Any]:
    """`run` is a connector result (worker counts, send counts, log bytes, its resources, and its
    validator's run in `run["validator"]` when it ran one); `capacity` what the moto server metered
    for that run's tables and buckets once the push function was done (`common.capacity`; the
    validator's result carries the answer after it); `lifecycle` each bucket's expiration rules by
    name (`lifecycle_rules`)."""
    items = run["items"]
    scale = 1e6 / items
    aws = run["aws"]
    gb_seconds = run["handler_seconds"] * memory_mb / 1024
    sqs_requests = aws["sqsBilledRequests"] + run["send"]["sqsBilledRequests"]
    names = _logical_names(run.get("resources", {}))

    dynamodb = _dynamodb(capacity.get("tables", {}), items, names)
    s3 = _s3(capacity.get("buckets", {}), lifecycle or {})
    lines = {
        "lambda_compute": gb_seconds * PRICES["lambda_arm64_gb_second"],
        "lambda_requests": run["invocations"] * PRICES["lambda_request"],
        "sqs_requests": sqs_requests * PRICES["sqs_standard_request"],
        **_unit_lines(dynamodb, s3),
        **_storage_lines(dynamodb, s3),
        "cloudwatch_logs": run["stdout_bytes"] / GB * PRICES["cloudwatch_logs_ingest_gb"],
        "coveo_calls": run["requests"] * PRICES["coveo_push_call"],
    }
    counts = {
        "lambda_gb_seconds": gb_seconds,
        "lambda_invocations": run["invocations"],
        "sqs_requests": sqs_requests,
        "dynamodb_wru": dynamodb["wru"],
        "dynamodb_index_wru": dynamodb["index_wru"],
        "dynamodb_rru": dynamodb["rru"],
        "s3_put_requests": s3["put_requests"],
        "s3_get_requests": s3["get_requests"],
        "log_bytes": run["stdout_bytes"],
        "coveo_calls": run["requests"],
    }
    result: dict[str, Any] = {
        "total": round(sum(lines.values()) * scale, 4),
        "usd": {name: round(value * scale, 4) for name, value in lines.items()},
        "units_per_change": dynamodb["per_operation"],
        "dynamodb_per_change": _dynamodb_per_change(dynamodb, items),
        "s3_per_change": _s3_per_change(s3, items),
        "counts_per_million": {name: round(value * scale, 1) for name, value in counts.items()},
        "memory_mb": memory_mb,
        "handler_seconds_per_1000": round(run["handler_seconds"] * 1000 / items, 3),
    }
    validator = run.get("validator")
    if not validator:
        return result

    # The validator: what was metered between the push function's end and its own.
    after = validator["capacity"]
    metered = metered_between(capacity, after)
    v_dynamodb = _dynamodb(metered["tables"], items, names)
    v_s3 = _s3(metered["buckets"], {})
    v_memory = validator["function"]["memory_mb"]
    v_gb_seconds = validator["handler_seconds"] * v_memory / 1024
    v_lines = {
        "validator_lambda_compute": v_gb_seconds * PRICES["lambda_arm64_gb_second"],
        **{f"validator_{name}": value for name, value in _unit_lines(v_dynamodb, v_s3).items()},
        "validator_cloudwatch_logs": validator["stdout_bytes"] / GB * PRICES["cloudwatch_logs_ingest_gb"],
        "validator_coveo_calls": validator["requests"] * PRICES["coveo_push_call"],
    }
    # Storage as the rows are kept: after the verdicts (verified parts have left the pending index).
    kept_dynamodb = _dynamodb(after.get("tables", {}), items, names)
    kept_s3 = _s3(after.get("buckets", {}), lifecycle or {})
    kept = _storage_lines(kept_dynamodb, kept_s3)
    storage_change = sum(kept.values()) - sum(_storage_lines(dynamodb, s3).values())
    lines_with = {**lines, **kept, **v_lines}
    v_counts = {
        "lambda_gb_seconds": v_gb_seconds,
        "dynamodb_wru": v_dynamodb["wru"],
        "dynamodb_index_wru": v_dynamodb["index_wru"],
        "dynamodb_rru": v_dynamodb["rru"],
        "s3_put_requests": v_s3["put_requests"],
        "s3_get_requests": v_s3["get_requests"],
        "log_bytes": validator["stdout_bytes"],
        "coveo_calls": validator["requests"],
    }
    return {
        **result,
        "total": round(sum(lines_with.values()) * scale, 4),
        "total_without_validator": result["total"],
        "usd": {name: round(value * scale, 4) for name, value in lines_with.items()},
        "units_per_change": {**dynamodb["per_operation"], "validator": v_dynamodb["per_operation"]},
        "dynamodb_per_change": _dynamodb_per_change(kept_dynamodb, items, units=dynamodb),
        "s3_per_change": _s3_per_change(kept_s3, items, requests=s3),
        "validator": {
            "usd": round((sum(v_lines.values()) + storage_change) * scale, 4),
            "storage_change_usd": round(storage_change * scale, 4),
            "units_per_change": v_dynamodb["per_operation"],
            "dynamodb_per_change": {
                key: value
                for key, value in _dynamodb_per_change(v_dynamodb, items).items()
                if key in ("wru", "index_wru", "rru", "failed_conditions")
            },
            "s3_per_change": {
                key: value
                for key, value in _s3_per_change(v_s3, items).items()
                if key in ("put_requests", "get_requests", "bytes_put", "bytes_got")
            },
            "coveo_calls_per_change": round(validator["requests"] / items, 4),
            "coveo_calls_by_route": validator.get("requests_by_route", {}),
            "counts_per_million": {name: round(value * scale, 1) for name, value in v_counts.items()},
            "memory_mb": v_memory,
            "handler_seconds_per_1000": round(validator["handler_seconds"] * 1000 / items, 3),
            "runs": validator["invocations"],
            "verdicts": {name: validator[name] for name in ("verified", "failed", "repushed", "pending")},
        },
    }


def metered_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What the moto server metered between two of its answers (`common.capacity`): per table,
    operation, index and kind, and per bucket and operation, `after` less `before`, only what
    changed. No storage: that is what a table holds, not what a request did."""
    tables: dict[str, Any] = {}
    for table, entry in after.get("tables", {}).items():
        earlier = {
            (op["operation"], op["index"], op["kind"]): op
            for op in before.get("tables", {}).get(table, {}).get("operations", [])
        }
        operations = []
        for op in entry.get("operations", []):
            was = earlier.get((op["operation"], op["index"], op["kind"]))
            if was is None:
                operations.append(op)
                continue
            if op["requests"] == was["requests"]:
                continue
            difference = {
                key: value - was.get(key, 0) if isinstance(value, int | float) else value
                for key, value in op.items()
                if key != "index_wru"
            }
            difference["index_wru"] = {
                name: units - was["index_wru"].get(name, 0.0)
                for name, units in op["index_wru"].items()
                if units != was["index_wru"].get(name, 0.0)
            }
            operations.append(difference)
        if operations:
            tables[table] = {"operations": operations}
    buckets: dict[str, Any] = {}
    for bucket, entry in after.get("buckets", {}).items():
        earlier_ops = before.get("buckets", {}).get(bucket, {}).get("operations", {})
        changed = {}
        for operation, counted in entry.get("operations", {}).items():
            was = earlier_ops.get(operation, {"requests": 0, "bytes": 0})
            if counted["requests"] != was["requests"]:
                changed[operation] = {key: counted[key] - was.get(key, 0) for key in counted}
        if changed:
            buckets[bucket] = {"operations": changed}
    return {"tables": tables, "buckets": buckets}


def _unit_lines(dynamodb: Mapping[str, Any], s3: Mapping[str, Any]) -> dict[str, float]:
    return {
        "dynamodb_writes": (dynamodb["wru"] + dynamodb["index_wru"]) * PRICES["dynamodb_on_demand_wru"],
        "dynamodb_reads": dynamodb["rru"] * PRICES["dynamodb_on_demand_rru"],
        "s3_requests": s3["put_requests"] * PRICES["s3_put_request"]
        + s3["get_requests"] * PRICES["s3_get_request"],
    }


def _storage_lines(dynamodb: Mapping[str, Any], s3: Mapping[str, Any]) -> dict[str, float]:
    return {
        "dynamodb_storage": dynamodb["gb_months"] * PRICES["dynamodb_storage_gb_month"],
        "dynamodb_pitr": dynamodb["pitr_gb_months"] * PRICES["dynamodb_pitr_gb_month"],
        "s3_storage": s3["gb_months"] * PRICES["s3_standard_storage_gb_month"],
    }


def _dynamodb_per_change(
    stored: Mapping[str, Any], items: int, *, units: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Units from `units` (default `stored`), bytes and retention from `stored`."""
    units = units or stored
    return {
        "wru": round(units["wru"] / items, 3),
        "index_wru": {name: round(value / items, 3) for name, value in units["by_index"].items()},
        "rru": round(units["rru"] / items, 3),
        "failed_conditions": round(units["failed_conditions"] / items, 4),
        "table_bytes": round(stored["table_bytes"] / items),
        "index_bytes": round(stored["index_bytes"] / items),
        "retention_days": stored["retention_days"],
        "pitr": stored["pitr"],
    }


def _s3_per_change(
    stored: Mapping[str, Any], items: int, *, requests: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Requests and bytes moved from `requests` (default `stored`), what is kept from `stored`."""
    requests = requests or stored
    return {
        "put_requests": round(requests["put_requests"] / items, 4),
        "get_requests": round(requests["get_requests"] / items, 4),
        "bytes_put": round(requests["bytes_put"] / items),
        "bytes_got": round(requests["bytes_got"] / items),
        "stored_bytes": round(stored["stored_bytes"] / items),
        "retention_days": stored["retention_days"],
    }


def _dynamodb(tables: Mapping[str, Any], items: int, names: Mapping[str, str]) -> dict[str, Any]:
    totals: dict[str, Any] = {
        "wru": 0.0,
        "index_wru": 0.0,
        "rru": 0.0,
        "failed_conditions": 0,
        "by_index": {},
        "per_operation": {},
        "table_bytes": 0,
        "index_bytes": 0,
        "gb_months": 0.0,
        "pitr_gb_months": 0.0,
        "retention_days": None,
        "pitr": False,
    }
    several = len(tables) > 1
    for table, entry in sorted(tables.items()):
        for op in entry.get("operations", []):
            index_units = sum(op["index_wru"].values())
            totals["wru"] += op["wru"]
            totals["index_wru"] += index_units
            totals["rru"] += op["rru"]
            totals["failed_conditions"] += op["failed_conditions"]
            for name, units in op["index_wru"].items():
                totals["by_index"][name] = totals["by_index"].get(name, 0.0) + units
            label = " ".join(part for part in (op["operation"], op["index"], op["kind"]) if part)
            if several:
                label = f"{names.get(table, table)}: {label}"
            per_change = {
                "calls": op["requests"] / items,
                "wru": op["wru"] / items,
                "index_wru": index_units / items,
                "rru": op["rru"] / items,
                "failed_conditions": op["failed_conditions"] / items,
            }
            totals["per_operation"][label] = {
                key: round(value, 3) for key, value in per_change.items() if value or key == "calls"
            }
        stored = entry.get("storage")
        if not stored:
            continue
        index_bytes = sum(index["bytes"] for index in stored["indexes"].values())
        days = stored.get("ttl_days_mean")
        days = round(days, 1) if days else DEFAULT_RETENTION_DAYS
        totals["retention_days"] = (
            days if totals["retention_days"] is None else max(totals["retention_days"], days)
        )
        totals["table_bytes"] += stored["table_bytes"]
        totals["index_bytes"] += index_bytes
        months = days / DAYS_PER_MONTH
        totals["gb_months"] += (stored["table_bytes"] + index_bytes) / GB * months
        if stored.get("pitr"):
            totals["pitr"] = True
            totals["pitr_gb_months"] += stored["pitr_bytes"] / GB * months
    return totals


def _s3(buckets: Mapping[str, Any], lifecycle: Mapping[str, list[tuple[str, int]]]) -> dict[str, Any]:
    """Requests by tier; the bytes left in each bucket, by first key segment, kept for the
    shortest enabled expiration rule whose prefix covers it (30 days where none does)."""
    totals: dict[str, Any] = {
        "put_requests": 0,
        "get_requests": 0,
        "bytes_put": 0,
        "bytes_got": 0,
        "stored_bytes": 0,
        "gb_months": 0.0,
        "retention_days": None,
    }
    for bucket, entry in buckets.items():
        for operation, counted in entry.get("operations", {}).items():
            tier = "put" if operation in S3_PUT_TIER else "get"
            totals[f"{tier}_requests"] += counted["requests"]
            totals["bytes_put" if tier == "put" else "bytes_got"] += counted["bytes"]
        rules = lifecycle.get(bucket, [])
        for prefix, stored in ((entry.get("storage") or {}).get("by_prefix") or {}).items():
            days = min((d for rule, d in rules if prefix.startswith(rule)), default=DEFAULT_RETENTION_DAYS)
            totals["stored_bytes"] += stored
            totals["gb_months"] += stored / GB * days / DAYS_PER_MONTH
            totals["retention_days"] = max(totals["retention_days"] or 0, days)
    return totals


def _logical_names(resources: Mapping[str, Any]) -> dict[str, str]:
    """Physical table and bucket names -> template logical ids, for labels."""
    found = {**resources.get("tables", {}), **resources.get("buckets", {})}
    return {physical: logical for logical, physical in found.items()}


def lifecycle_rules(template: Path, buckets: Mapping[str, str]) -> dict[str, list[tuple[str, int]]]:
    """Each bucket's (logical id -> name) enabled expiration rules in template.yaml: (prefix, days)."""
    from aws_simulator.cloudformation import load_template

    resources = load_template(template).get("Resources", {})
    found: dict[str, list[tuple[str, int]]] = {}
    for logical, name in buckets.items():
        properties = resources.get(logical, {}).get("Properties", {})
        rules = properties.get("LifecycleConfiguration", {}).get("Rules", [])
        found[name] = [
            (str(rule.get("Prefix", "")), int(rule["ExpirationInDays"]))
            for rule in rules
            if rule.get("Status") == "Enabled" and "ExpirationInDays" in rule
        ]
    return found


def fixed_monthly(template: Path) -> dict[str, int]:
    """What template.yaml declares that bills by the month rather than per change (counted, not priced)."""
    from aws_simulator.cloudformation import load_template

    kinds = {
        "AWS::CloudWatch::Alarm": "cloudwatch_alarms",
        "AWS::CloudWatch::Dashboard": "cloudwatch_dashboards",
        "AWS::KMS::Key": "kms_keys",
        "AWS::Logs::LogGroup": "log_groups",
        "AWS::SecretsManager::Secret": "secrets",
    }
    counted = dict.fromkeys(kinds.values(), 0)
    for resource in load_template(template).get("Resources", {}).values():
        name = kinds.get(resource.get("Type", ""))
        if name:
            counted[name] += 1
    counted["secrets"] = max(counted["secrets"], 1)  # the Coveo API key's, created outside the stack
    # The schedule invokes the validator whatever the volume (Lambda requests, $0.20 per million).
    counted["validator_invocations"] = validator_function(template)["invocations_per_month"] or 0
    return counted


def validator_function(template: Path) -> dict[str, Any]:
    """The validator's memory, timeout and schedule as template.yaml gives them (Globals and the
    parameters' defaults filled in), and its scheduled invocations in a 30-day month."""
    from aws_simulator.cloudformation import load_template

    loaded = load_template(template)
    parameters = loaded.get("Parameters", {})

    def resolved(value: Any) -> Any:
        if isinstance(value, dict) and "Ref" in value:
            return parameters[value["Ref"]]["Default"]
        return value

    globals_ = loaded.get("Globals", {}).get("Function", {})
    properties = loaded["Resources"][VALIDATOR_FUNCTION_ID]["Properties"]
    memory = int(resolved(properties.get("MemorySize", globals_.get("MemorySize", 128))))
    timeout = float(resolved(properties.get("Timeout", globals_.get("Timeout", 3))))
    schedule = next(
        (
            str(resolved(event["Properties"]["ScheduleExpression"]))
            for event in properties.get("Events", {}).values()
            if "ScheduleExpression" in event.get("Properties", {})
        ),
        "",
    )
    return {
        "memory_mb": memory,
        "timeout_s": timeout,
        "schedule": schedule,
        "invocations_per_month": _runs_per_month(schedule),
    }


def _runs_per_month(schedule: str) -> int | None:
    """`rate(5 minutes)` -> 8640 (a 30-day month); None for anything else (a cron expression)."""
    import re

    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", schedule.strip())
    if not match:
        return None
    minutes = int(match[1]) * {"minute": 1, "hour": 60, "day": 1440}[match[2].rstrip("s")]
    return 30 * 24 * 60 // minutes
