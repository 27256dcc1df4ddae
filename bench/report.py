"""The printed table, the targets of issues 8 and 17 (reported, never asserted) and the machine description."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from typing import Any

from .common import ROOT

ITEM_KEYS = ("items_1000", "items_10000", "items_1mb")
TARGET_SPEEDUP = 20  # times the official client's one-by-one items/s
TARGET_REQUEST_SHARE = 1 / 100  # of its requests
TARGET_BATCH_FACTOR = 2  # within 2 times its bare batch call
TARGET_IMPORT_MS = 250
TARGET_RSS_MB = 200  # for a 6 MB batch (items_1mb: Lambda's 6 MB cap holds ~6 items of 1 MB)


FIGURES = {
    "items_per_s": "items (or group changes) per second of wall time. Connector: from the first SQS "
    "poll until every message is deleted, queue filled beforehand, one poller (one Lambda instance). "
    "Official client: the loop of calls, building its DocumentBuilder/identity models included.",
    "handler_items_per_s": "connector only: items per second of handler time (Lambda's billed time), "
    "without the poller's own SQS receive/delete calls.",
    "requests_per_1000": "HTTP requests the emulator received (Push API and file-container uploads) "
    "per 1,000 items, counted by the emulator (GET /_emulator/stats, reset before each run).",
    "peak_rss_mb": "peak resident set size of the worker process that did the work (VmHWM in "
    "/proc/self/status; ru_maxrss would carry the parent's peak across exec), one fresh process per "
    "run; moto and the emulator run in processes of their own.",
    "rss_after_cold_start_mb": "connector only: the worker's peak RSS once imports and clients are "
    "built, before the first batch.",
    "moto_cpu_seconds": "CPU time moto spent during the connector run: the part of the wall time that "
    "is the AWS stand-in, not the connector.",
    "cold_start_ms.import_ms": "median time to import the handler module in a fresh interpreter with "
    ".pyc present (10 processes); process_ms is the whole process from outside.",
    "zero_latency": "identities_1000, items_1000, items_1mb, items_10000: the emulator answers in ~1 ms "
    "over loopback and the ledger's DynamoDB answers at moto's CPU cost, with one Lambda instance: "
    "what the code costs on this machine, not what a deployment would see.",
    "latency": "measured, not projected: the emulator itself delays every Coveo request by rtt_ms +/- "
    "jitter_ms (uniform, seeded), the three contenders run against it in the same run; the connector "
    "runs as Lambda scales it (bench/esm.py: MaximumConcurrency instances of BatchSize items), its "
    "DynamoDB and S3 calls each wait aws_latency_ms before moto answers. items_per_s is wall time from "
    "the first SQS poll to the last delete (connector) or of the loop of calls (official client).",
    "latency.items_1000.connector.time_per_1000": "per 1,000 changes, summed over invocations (what "
    "Lambda bills): handler_s = coveo_wait_s (the handler's thread, from sending each request to "
    "its answer's headers) + "
    "ledger_wait_s (the ledger's DynamoDB and S3 calls, as the handler waited for them) + "
    "other_aws_wait_s + handler_rest_s; coveo_prefetch_s is the file container created in another "
    "thread while the handler waited for the claims (in ledger_wait_s then, not added again); "
    "handler_cpu_s is the instances' CPU (all threads); "
    "mapping_gather_s/settle_s the local event source mapping's SQS receives and deletes; "
    "top_cpu_consumers from a separate profiled run.",
    "latency.rig_moto_cpu_ms": "moto's CPU per call, measured in the same run against the same moto "
    "processes (bench/rig_cost.py): a claim inside the ledger's transaction of 100, a lone claim, the "
    "mapping's SQS receive and delete of 10: what the rig adds to each call that DynamoDB and SQS would not.",
    "cost_per_million_usd": "connector cost per million changes from the run's counts at list prices "
    "(see bench/cost.py); Lambda time as measured here against moto, so an upper bound.",
}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for key in (*ITEM_KEYS, "identities_1000"):
        scenario = results.get(key)
        if not scenario or not scenario.get("connector"):
            continue
        ours, one_by_one = scenario["connector"], scenario["official_one_by_one"]
        speedup = ours["items_per_s"] / one_by_one["items_per_s"]
        share = ours["requests_per_1000"] / one_by_one["requests_per_1000"]
        checks.append(
            _check(key, f"items/s >= {TARGET_SPEEDUP}x one-by-one", speedup, speedup >= TARGET_SPEEDUP, "x")
        )
        checks.append(
            _check(key, "requests <= 1/100 of one-by-one", share, share <= TARGET_REQUEST_SHARE, "of")
        )
        if "official_batch" in scenario:
            batch = scenario["official_batch"]["items_per_s"]
            factor = batch / ours["items_per_s"]
            checks.append(
                _check(
                    key,
                    f"within {TARGET_BATCH_FACTOR}x of the official batch call",
                    factor,
                    factor <= TARGET_BATCH_FACTOR,
                    "x slower",
                )
            )
    for name, entry in (results.get("cold_start_ms") or {}).items():
        if name in ("python_bare", "powertools_with_tracer"):
            continue
        checks.append(
            _check(
                name,
                f"imports in <= {TARGET_IMPORT_MS} ms",
                entry["import_ms"],
                entry["import_ms"] <= TARGET_IMPORT_MS,
                "ms",
            )
        )
    checks += (results.get("latency") or {}).get("targets") or []
    large = (results.get("items_1mb") or {}).get("connector")
    if large:
        checks.append(
            _check(
                "items_1mb",
                f"peak RSS <= {TARGET_RSS_MB} MB for a 6 MB batch",
                large["peak_rss_mb"],
                large["peak_rss_mb"] <= TARGET_RSS_MB,
                "MB",
            )
        )
    return checks


def _check(scenario: str, target: str, value: float, met: bool, unit: str) -> dict[str, Any]:
    return {"scenario": scenario, "target": target, "value": round(value, 4), "unit": unit, "met": met}


def table(results: dict[str, Any]) -> str:
    lines = [
        "zero latency: the emulator answers in ~1 ms over loopback, DynamoDB at moto's CPU cost, one Lambda instance",
        f"{'scenario':<16} {'contender':<20} {'items/s':>10} {'req/1000':>9} {'peak RSS MB':>12} {'seconds':>9}  notes",
        "-" * 110,
    ]
    for key in (*ITEM_KEYS, "identities_1000"):
        scenario = results.get(key)
        if not scenario:
            continue
        first = True
        for name in ("connector", "official_one_by_one", "official_batch"):
            entry = scenario.get(name)
            if not entry:
                continue
            notes = ""
            if name == "connector":
                notes = (
                    f"handler alone {entry['handler_items_per_s']:,.1f}/s; moto CPU {entry['moto_cpu_seconds']} s, "
                    f"worker CPU {entry['worker_cpu_seconds']} s; batches {entry['batch_sizes']}"
                )
            if not entry["all_accepted"]:
                notes += "  NOT ALL ACCEPTED"
            if entry["runs"] > 1:
                notes += f" (median of {entry['runs']})"
            lines.append(
                f"{key if first else '':<16} {name:<20} {entry['items_per_s']:>10,.1f} {entry['requests_per_1000']:>9,.1f} "
                f"{entry['peak_rss_mb']:>12,.1f} {entry['seconds']:>9,.2f}  {notes}"
            )
            first = False
    lines += latency_table(results.get("latency"))
    cold = results.get("cold_start_ms")
    if cold:
        lines += ["", "cold start (median of fresh processes, .pyc present): import ms / whole process ms"]
        lines += [
            f"  {name:<24} {e['import_ms']:>8,.1f} / {e['process_ms']:>8,.1f}" for name, e in cold.items()
        ]
    boundary = results.get("boundary_us")
    if boundary:
        lines += [
            "",
            "boundary, per message (median, same run): json.loads / strict_json.loads / parse_message us",
        ]
        lines += [
            f"  {name:<20} {e['bytes']:>9,} B {e['json_loads_us']:>9,.1f} {e['strict_json_us']:>9,.1f} "
            f"{e['parse_message_us']:>9,.1f}  strict = {e['strict_vs_json']}x json.loads"
            for name, e in boundary.items()
        ]
    cost = results.get("cost_per_million_usd")
    if cost:
        lines += ["", f"cost per million changes (USD, list prices of {cost['prices_as_of']}):"]
        for name, entry in cost.items():
            if isinstance(entry, dict) and "total" in entry:
                parts = ", ".join(f"{k} {v:.4f}" for k, v in entry["usd"].items() if v)
                lines.append(f"  {name:<16} ${entry['total']:.4f}  ({parts})")
    checks = (results.get("meta") or {}).get("targets") or []
    if checks:
        lines += ["", "targets of issues 8 and 17 (reported, not asserted):"]
        for c in checks:
            lines.append(
                f"  [{'met' if c['met'] else 'MISSED'}] {c['scenario']:<16} {c['target']:<44} {c['value']:,.4g} {c['unit']}"
            )
    return "\n".join(lines)


def latency_table(scenario: dict[str, Any] | None) -> list[str]:
    """The measured latency scenario: the contenders, then where the connector's time goes."""
    if not scenario:
        return []
    aws = ", ".join(f"{name} {ms:g} ms" for name, ms in scenario["aws_latency_ms"].items())
    lines = [
        "",
        f"latency (measured): Coveo {scenario['rtt_ms']:g} +/- {scenario['jitter_ms']:g} ms per request, applied by "
        f"the emulator; ledger calls {aws} each + moto's CPU",
        f"{'scenario':<16} {'contender':<20} {'items/s':>10} {'req/1000':>9} {'seconds':>9}  notes",
        "-" * 110,
    ]
    first = True
    for name in ("connector", "official_one_by_one", "official_batch"):
        entry = scenario["items_1000"].get(name)
        if not entry:
            continue
        notes = f"mean drawn RTT {entry['mean_drawn_rtt_ms']} ms"
        if name == "connector":
            notes += (
                f"; {entry['invocations']} invocations of {entry['batch_sizes']}, at most "
                f"{entry['max_concurrent_invocations']} at once of {entry['concurrency']} instances"
            )
        if not entry["all_accepted"]:
            notes += "  NOT ALL ACCEPTED"
        if not entry["every_request_delayed"]:
            notes += "  SOME REQUESTS NOT DELAYED"
        if entry["runs"] > 1:
            notes += f" (median of {entry['runs']})"
        lines.append(
            f"{'items_1000' if first else '':<16} {name:<20} {entry['items_per_s']:>10,.1f} "
            f"{entry['requests_per_1000']:>9,.1f} {entry['seconds']:>9,.2f}  {notes}"
        )
        first = False
    budget = (scenario["items_1000"].get("connector") or {}).get("time_per_1000")
    if budget:
        lines += [
            "",
            "where the connector's time goes, per 1,000 changes (seconds, summed over invocations):",
            f"  wall {budget['wall_s']:.3f}; handler {budget['handler_s']:.3f} = Coveo wait {budget['coveo_wait_s']:.3f}"
            f" + ledger wait {budget['ledger_wait_s']:.3f} + other AWS {budget['other_aws_wait_s']:.3f}"
            f" + rest {budget['handler_rest_s']:.3f}; handler CPU {budget['handler_cpu_s']:.3f};"
            f" Coveo container prefetched meanwhile {budget.get('coveo_prefetch_s', 0):.3f}",
            f"  event source mapping (local, not the function): gather {budget['mapping_gather_s']:.3f},"
            f" settle {budget['mapping_settle_s']:.3f}; moto CPU {budget.get('moto_cpu_s', 0):.3f}"
            f" (DynamoDB, S3), {budget.get('moto_sqs_cpu_s', 0):.3f} (SQS)",
        ]
        by_method = budget.get("ledger_wait_by_method_s") or {}
        if by_method:
            lines.append(
                "  ledger wait by call: "
                + ", ".join(f"{name} {seconds:.3f}" for name, seconds in by_method.items())
            )
        for rank, top in enumerate(budget.get("top_cpu_consumers") or [], 1):
            lines.append(
                f"  CPU #{rank}: {top['cpu_s']:.3f} s ({top['share']:.0%} of profiled CPU) {top['consumer']}"
            )
    rig = scenario.get("rig_moto_cpu_ms")
    if rig:
        from .rig_cost import describe

        lines.append(f"  the rig: moto's CPU per call, {describe(rig)}")
    return lines


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    memory_gb = None
    try:
        with open("/proc/meminfo") as f:
            memory_gb = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": memory_gb,
        "load_average": list(os.getloadavg()),
        "note": "shared with other engineers' test runs: figures of one run are ratios measured side by side",
    }


def versions() -> dict[str, str | None]:
    packages = (
        "coveo-push-api-client.py",
        "aws-lambda-powertools",
        "pydantic",
        "httpx",
        "boto3",
        "botocore",
        "moto",
        "requests",
        "starlette",
        "uvicorn",
    )
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    try:
        found["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - read-only
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        found["commit"] = None
    return found


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
