"""The measured latency scenario (issue 17): the three contenders against the same emulator with the
same round trip per Coveo request, in the same run, and where the connector's time goes.

- The emulator delays every Coveo request itself (`PUT /_emulator/latency`, docs/emulator.md,
  "Latency"): `rtt_ms` ± `jitter_ms`, uniform, seeded. Each contender's run starts with a reset and
  the same latency; the emulator's own count of delayed requests is checked against its count of
  requests, so no request escaped the model.
- The official client runs as in `items` (bench/official.py), one process per run.
- The connector runs as Lambda scales it (bench/esm.py), three times (the median run is reported:
  it shares two cores with moto, the emulator and the mapping, so one run can be unlucky): MaximumConcurrency instances, batches of
  BatchSize, the ledger (the product's DynamoDBLedger and S3 entries on moto) with each DynamoDB and
  S3 call waiting `aws_latency_ms` first. Its measured run is instrumented (Coveo wait, ledger wait,
  CPU per invocation); a second run, profiled (bench/cpu_profile.py), names the top CPU consumers
  and is not counted in the throughput.

Results go under `latency` in bench/results.json; bench/README.md says why these numbers.
"""

from __future__ import annotations

import sys
from typing import Any

from . import rig_cost, workload
from .common import Servers, emulator, log, median, run_worker
from .cpu_profile import PER_THREAD_PROFILES, describe
from .items import run_connector

DEFAULT_RTT_MS = 100.0
DEFAULT_JITTER_MS = 10.0
DEFAULT_SEED = 17
# Per call, before it is sent (bench/README.md, "The latency scenario", has the sources).
DEFAULT_AWS_LATENCY_MS = {"dynamodb": 5.0, "s3": 25.0}
# Issue 17's targets, reported and never asserted.
TARGET_SPEEDUP = 50  # connector items/s >= 50 x the official client one by one
TARGET_BATCH_FACTOR = 1.5  # the official batch call's items/s <= 1.5 x the connector's
TARGET_REQUESTS_PER_1000 = 6  # Coveo requests per 1,000 small items
TOP_CONSUMERS = 3


def measure(
    servers: Servers,
    *,
    count: int,
    rtt_ms: float = DEFAULT_RTT_MS,
    jitter_ms: float = DEFAULT_JITTER_MS,
    seed: int = DEFAULT_SEED,
    aws_latency_ms: dict[str, float] | None = None,
    connector_runs: int = 3,
    batch_runs: int = 3,
    one_by_one_runs: int = 1,
    profile: bool = True,
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """`{"rtt_ms", "jitter_ms", ..., "items_1000": {contender: summary}, "targets"}` and the raw runs."""
    aws = dict(DEFAULT_AWS_LATENCY_MS if aws_latency_ms is None else aws_latency_ms)
    latency = {"rttMs": rtt_ms, "jitterMs": jitter_ms, "seed": seed}
    runs: dict[str, list[dict[str, Any]]] = {"connector": [], "official_one_by_one": [], "official_batch": []}
    spec = {"coveo_url": servers.coveo_url, "count": count, "large": False}
    label = f"{count} small items @ {rtt_ms:g}±{jitter_ms:g} ms"
    rig = rig_cost.measure(servers)
    log(f"  moto's CPU per call (the rig's own cost): {rig_cost.describe(rig)}")
    for attempt in range(max(connector_runs, batch_runs, one_by_one_runs)):
        if attempt < batch_runs:
            runs["official_batch"].append(_official(servers, "official:items_batch", spec, latency))
            log(f"  {label}: official_batch run {attempt + 1}: {_brief(runs['official_batch'][-1])}")
        if attempt < connector_runs:
            runs["connector"].append(_connector(servers, count, latency, aws, validate=True))
            log(f"  {label}: connector run {attempt + 1}: {_brief(runs['connector'][-1])}")
        if attempt < one_by_one_runs:
            log(f"  {label}: official_one_by_one run {attempt + 1} (about {count * rtt_ms / 1000:.0f} s)")
            runs["official_one_by_one"].append(_official(servers, "official:items_one_by_one", spec, latency))
            log(
                f"  {label}: official_one_by_one run {attempt + 1}: {_brief(runs['official_one_by_one'][-1])}"
            )
    profiled = None
    if profile and not PER_THREAD_PROFILES:
        log(
            f"  {label}: no profiled run: bench/cpu_profile.py needs Python 3.11 (this is {sys.version.split()[0]})"
        )
    elif profile:
        profiled = _connector(servers, count, latency, aws, validate=False, profile=True)
        log(f"  {label}: connector, profiled (not counted): {_brief(profiled)}")
    scenario = {
        "connector": summarize_connector(runs["connector"], profiled),
        "official_one_by_one": summarize_official(runs["official_one_by_one"]),
        "official_batch": summarize_official(runs["official_batch"]),
    }
    result = {
        "rtt_ms": rtt_ms,
        "jitter_ms": jitter_ms,
        "jitter": f"uniform on [rtt - jitter, rtt + jitter], seed {seed}, drawn by the emulator per request",
        "aws_latency_ms": aws,
        "items_1000": scenario,
        "targets": targets(scenario),
        "rig_moto_cpu_ms": rig,
    }
    return result, runs


def _official(
    servers: Servers, function: str, spec: dict[str, Any], latency: dict[str, Any]
) -> dict[str, Any]:
    emulator(servers.coveo_url, "reset", "POST", {})
    emulator(servers.coveo_url, "latency", "PUT", latency)
    result = run_worker(function, spec, timeout_s=3600)
    stats = emulator(servers.coveo_url, "stats")
    result["requests"] = stats["total"]
    result["requests_by_route"] = stats["byRoute"]
    result["emulator_latency"] = emulator(servers.coveo_url, "latency")
    result["ok"] = set(result["statuses"]) <= {"202"} and sum(result["statuses"].values()) > 0
    return result


def _connector(
    servers: Servers,
    count: int,
    latency: dict[str, Any],
    aws: dict[str, float],
    *,
    validate: bool,
    profile: bool = False,
) -> dict[str, Any]:
    events = (workload.item_event(workload.item(i)) for i in range(count))
    return run_connector(
        servers,
        "ItemQueue",
        events,
        worker="esm:drain",
        identities=workload.item_identities(count),
        validate=validate,
        latency=latency,
        extra={"aws_latency_ms": aws, "profile": profile},
    )


def _brief(result: dict[str, Any]) -> str:
    text = f"{result['items'] / result['seconds']:,.1f} items/s, {result['requests']} requests"
    drawn = result.get("emulator_latency") or {}
    if drawn.get("requestsDelayed") is not None:
        text += f", {drawn['requestsDelayed']} delayed (mean {drawn.get('meanDelayMs')} ms)"
    if "invocations" in result:
        text += (
            f", {result['invocations']} invocations of {result['batch_sizes']} "
            f"(at most {result['max_concurrent_invocations']} at once)"
        )
    validator = result.get("validator")
    if validator:
        text += f"; validator: {validator['verified']} verified, {validator['failed']} failed"
    return text if result["ok"] else text + "  (NOT ALL ACCEPTED)"


def _delayed_everything(results: list[dict[str, Any]]) -> bool:
    """The emulator delayed every request the run made (none escaped the latency model)."""
    return all(r["emulator_latency"]["requestsDelayed"] == r["requests"] for r in results)


def _common(results: list[dict[str, Any]]) -> dict[str, Any]:
    """What every contender's summary says: medians over its runs."""
    items = results[0]["items"]
    return {
        "items_per_s": round(median(r["items"] / r["seconds"] for r in results), 1),
        "requests_per_1000": round(median(r["requests"] for r in results) * 1000 / items, 1),
        "seconds": round(median(r["seconds"] for r in results), 3),
        "runs": len(results),
        "items": items,
        "all_accepted": all(r["ok"] for r in results),
        "every_request_delayed": _delayed_everything(results),
    }


def summarize_official(results: list[dict[str, Any]]) -> dict[str, Any]:
    if not results:
        return {}
    return {
        **_common(results),
        "mean_drawn_rtt_ms": results[-1]["emulator_latency"]["meanDelayMs"],
        "peak_rss_mb": round(median(r["peak_rss_mb"] for r in results), 1),
        "requests_by_route": results[0]["requests_by_route"],
    }


def per_1000(seconds: float, items: int) -> float:
    return round(seconds * 1000 / items, 3)


def time_per_1000(run: dict[str, Any], profiled: dict[str, Any] | None) -> dict[str, Any]:
    """Where the connector's time goes, per 1,000 changes: the handler's time summed over its
    invocations (what Lambda bills), split into Coveo wait, ledger wait and the rest; its CPU; the
    mapping's own time; and, from the profiled run, the top CPU consumers."""
    items = run["items"]
    handler = run["handler_seconds"]
    coveo, ledger = run["coveo_wait_seconds"], run["ledger_wait_seconds"]
    other_aws = run["other_aws_wait_seconds"]
    budget: dict[str, Any] = {
        "wall_s": per_1000(run["seconds"], items),
        "handler_s": per_1000(handler, items),
        "coveo_wait_s": per_1000(coveo, items),
        "coveo_prefetch_s": per_1000(run.get("coveo_prefetch_seconds", 0.0), items),
        "ledger_wait_s": per_1000(ledger, items),
        "ledger_wait_by_method_s": {
            method: per_1000(seconds, items)
            for method, seconds in sorted(
                run.get("ledger_wait_seconds_by_method", {}).items(), key=lambda kv: kv[1], reverse=True
            )
        },
        "other_aws_wait_s": per_1000(other_aws, items),
        "handler_rest_s": per_1000(handler - coveo - ledger - other_aws, items),
        "handler_cpu_s": per_1000(run["handler_cpu_seconds"], items),
        "mapping_gather_s": per_1000(run["mapping_gather_seconds"], items),
        "mapping_settle_s": per_1000(run["mapping_settle_seconds"], items),
    }
    moto = run.get("moto_cpu_seconds_during_drain")
    if moto is not None:
        budget["moto_cpu_s"] = per_1000(moto, items)
    moto_sqs = run.get("moto_sqs_cpu_seconds_during_drain")
    if moto_sqs is not None:
        budget["moto_sqs_cpu_s"] = per_1000(moto_sqs, items)
    profile = (profiled or {}).get("profile")
    if profiled and profile:
        counted = profiled["items"]
        total = float(profile["cpu_s"]) or 1.0
        budget["profile"] = {
            "handler_cpu_s": per_1000(profiled["handler_cpu_seconds"], counted),
            "profiled_cpu_s": per_1000(profile["cpu_s"], counted),
            "note": "a separate run under bench/cpu_profile.py (cProfile on every thread of each "
            "instance, timed by the thread's CPU clock; its overhead makes that run slower than the "
            "measured one): shares are of the profiled CPU; a consumer is a product function's own "
            "code and the libraries it calls, less the product functions it calls",
        }
        budget["top_cpu_consumers"] = [
            {
                "consumer": describe(row),
                "function": row["function"],
                "cpu_s": per_1000(row["cpu_s"], counted),
                "share": round(row["cpu_s"] / total, 3),
                "libraries_s": {
                    name: per_1000(seconds, counted)
                    for name, seconds in sorted(row["libraries"].items(), key=lambda kv: kv[1], reverse=True)
                    if seconds * 1000 / counted >= 0.001
                },
            }
            for row in profile["by_function"][:TOP_CONSUMERS]
        ]
    return budget


def summarize_connector(results: list[dict[str, Any]], profiled: dict[str, Any] | None) -> dict[str, Any]:
    if not results:
        return {}
    run = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]  # the median run
    summary: dict[str, Any] = {
        **_common(results),
        "mean_drawn_rtt_ms": run["emulator_latency"]["meanDelayMs"],
        "concurrency": run["concurrency"],
        "batch_size": run["batch_size"],
        "invocations": run["invocations"],
        "batch_sizes": run["batch_sizes"],
        "max_concurrent_invocations": run["max_concurrent_invocations"],
        "first_invocation_at_s": round(run["first_invocation_at_s"], 3),
        "last_invocation_end_s": round(run["last_invocation_end_s"], 3),
        "requests_by_route": run["requests_by_route"],
        "time_per_1000": time_per_1000(run, profiled),
        "function_aws_calls": run["function_aws_calls"],
        "instance_peak_rss_mb": run["instance_peak_rss_mb"],
        "invocation_timeline": run["invocation_timeline"],
    }
    validator = run.get("validator")
    if validator:
        summary["validator"] = {
            "verified": validator["verified"],
            "failed": validator["failed"],
            "pending": validator["pending"],
            "coveo_requests": validator["requests"],
            "handler_seconds": round(validator["handler_seconds"], 3),
        }
    return summary


def targets(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    ours, one_by_one, batch = (
        scenario.get(k) or {} for k in ("connector", "official_one_by_one", "official_batch")
    )
    checks: list[dict[str, Any]] = []
    if ours and one_by_one:
        speedup = ours["items_per_s"] / one_by_one["items_per_s"]
        checks.append(
            _check(
                f"connector >= {TARGET_SPEEDUP}x official one by one", speedup, speedup >= TARGET_SPEEDUP, "x"
            )
        )
    if ours and batch:
        factor = batch["items_per_s"] / ours["items_per_s"]
        checks.append(
            _check(
                f"official batch <= {TARGET_BATCH_FACTOR}x connector",
                factor,
                factor <= TARGET_BATCH_FACTOR,
                "x",
            )
        )
    if ours:
        requests = ours["requests_per_1000"]
        checks.append(
            _check(
                f"Coveo requests per 1,000 small items <= {TARGET_REQUESTS_PER_1000}",
                requests,
                requests <= TARGET_REQUESTS_PER_1000,
                "requests",
            )
        )
    return checks


def _check(target: str, value: float, met: bool, unit: str) -> dict[str, Any]:
    return {"scenario": "latency", "target": target, "value": round(value, 4), "unit": unit, "met": met}
