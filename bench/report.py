"""The printed table, the targets of issue 8 (reported, never asserted) and the machine description."""

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

# Not measured: an assumed round trip from a Lambda function to Coveo's Push API, for the projection.
PROJECTED_COVEO_RTT_MS = 50
PROJECTION_KEY = f"projected_items_per_s_coveo_rtt_{PROJECTED_COVEO_RTT_MS}ms"

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
    PROJECTION_KEY: "arithmetic, not a measurement: items / (measured seconds + requests x "
    f"{PROJECTED_COVEO_RTT_MS} ms), i.e. the same run if every Coveo request took an assumed "
    f"{PROJECTED_COVEO_RTT_MS} ms round trip instead of the emulator's ~1 ms over loopback. The "
    "connector keeps moto's DynamoDB time, which is slower than DynamoDB's.",
    "cost_per_million_usd": "connector cost per million changes from the run's counts at list prices "
    "(see bench/cost.py); Lambda time as measured here against moto, so an upper bound.",
}


def add_projection(scenario: dict[str, Any]) -> None:
    for entry in scenario.values():
        if entry:
            requests = entry["requests_per_1000"] * entry["items"] / 1000
            seconds = entry["seconds"] + requests * PROJECTED_COVEO_RTT_MS / 1000
            entry[PROJECTION_KEY] = round(entry["items"] / seconds, 1)


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
        f"{'scenario':<16} {'contender':<20} {'items/s':>10} {'req/1000':>9} {'peak RSS MB':>12} {'seconds':>9} "
        f"{'@' + str(PROJECTED_COVEO_RTT_MS) + 'ms RTT*':>12}  notes",
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
                f"{entry['peak_rss_mb']:>12,.1f} {entry['seconds']:>9,.2f} {entry.get(PROJECTION_KEY, 0):>12,.1f}  {notes}"
            )
            first = False
    lines.append(
        f"* projection, not measured: items/s if each Coveo request took {PROJECTED_COVEO_RTT_MS} ms "
        "(the emulator answers in ~1 ms); see meta.figures"
    )
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
        lines += ["", "targets of issue 8 (reported, not asserted):"]
        for c in checks:
            lines.append(
                f"  [{'met' if c['met'] else 'MISSED'}] {c['scenario']:<16} {c['target']:<44} {c['value']:,.4g} {c['unit']}"
            )
    return "\n".join(lines)


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
