"""Items: the connector (SQS → push_items → ledger → Coveo) against the official client, same items.

Each contender runs in its own worker process; the emulator is reset before each, so its request
count is that run's alone. Runs are interleaved (one-by-one, batch, connector, then again) so a
burst of load from elsewhere on the machine does not land on one contender only.
"""

from __future__ import annotations

from typing import Any

from . import connector, workload
from .common import Servers, cpu_seconds, emulator, log, median, run_worker


def measure(
    servers: Servers, *, count: int, large: bool, connector_runs: int, official_runs: int
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Summaries per contender, and every run's raw result (the cost model reads the connector's)."""
    label = f"{count} {'1 MB' if large else 'small'} items"
    runs: dict[str, list[dict[str, Any]]] = {"connector": [], "official_one_by_one": [], "official_batch": []}
    for attempt in range(max(connector_runs, official_runs)):
        if attempt < official_runs:
            spec = {"coveo_url": servers.coveo_url, "count": count, "large": large}
            for name, function in (
                ("official_one_by_one", "official:items_one_by_one"),
                ("official_batch", "official:items_batch"),
            ):
                runs[name].append(_official(servers, function, spec))
                log(f"  {label}: {name} run {attempt + 1}: {_brief(runs[name][-1])}")
        if attempt < connector_runs:
            runs["connector"].append(run_connector(servers, "ItemQueue", _item_events(count, large)))
            log(f"  {label}: connector run {attempt + 1}: {_brief(runs['connector'][-1])}")
    return {name: summarize(results) for name, results in runs.items()}, runs


def _item_events(count: int, large: bool) -> Any:
    return (workload.item_event(workload.item(i, large=large)) for i in range(count))


def _official(servers: Servers, function: str, spec: dict[str, Any]) -> dict[str, Any]:
    emulator(servers.coveo_url, "reset", "POST", {})
    result = run_worker(function, spec)
    stats = emulator(servers.coveo_url, "stats")
    result["requests"] = stats["total"]
    result["requests_by_route"] = stats["byRoute"]
    result["ok"] = set(result["statuses"]) <= {"202"} and sum(result["statuses"].values()) > 0
    return result


def run_connector(
    servers: Servers,
    queue: str,
    events: Any,
    *,
    worker: str = "connector:drain",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fill the queue, then drain it in a worker; adds the emulator's count and the servers' CPU.

    `extra` goes into the worker's spec (bench.profile's what-ifs and report paths)."""
    spec = connector.prepare(servers.moto_url, queue, events)
    spec["coveo_url"] = servers.coveo_url
    spec.update(extra or {})
    emulator(servers.coveo_url, "reset", "POST", {})
    pids = servers.server_pids()
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = run_worker(worker, spec, timeout_s=1800)
    result["server_cpu_seconds"] = {
        name: round(cpu_seconds(pid) - cpu_before[name], 2) for name, pid in pids.items()
    }
    stats = emulator(servers.coveo_url, "stats")
    result["requests"] = stats["total"]
    result["requests_by_route"] = stats["byRoute"]
    result["send"] = spec["send"]
    result["resources"] = spec["resources"]
    result["body_bytes"] = spec["body_bytes"]
    result["ok"] = (
        result["settled"] == result["items"] and result["failed"] == 0 and result["handler_errors"] == 0
    )
    return result


def _brief(result: dict[str, Any]) -> str:
    rate = result["items"] / result["seconds"]
    text = f"{rate:,.1f} items/s, {result['requests']} requests, peak RSS {result['peak_rss_mb']} MB"
    return text if result["ok"] else text + "  (NOT ALL ACCEPTED)"


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs; the three figures issue 8 names, then what explains them."""
    if not results:
        return {}
    items = results[0]["items"]
    summary: dict[str, Any] = {
        "items_per_s": round(median(r["items"] / r["seconds"] for r in results), 1),
        "requests_per_1000": round(median(r["requests"] for r in results) * 1000 / items, 1),
        "peak_rss_mb": round(median(r["peak_rss_mb"] for r in results), 1),
        "runs": len(results),
        "items": items,
        "seconds": round(median(r["seconds"] for r in results), 3),
        "all_accepted": all(r["ok"] for r in results),
        "requests_by_route": results[0]["requests_by_route"],
    }
    if "handler_seconds" in results[0]:
        summary.update(
            {
                "handler_items_per_s": round(median(r["items"] / r["handler_seconds"] for r in results), 1),
                "handler_seconds": round(median(r["handler_seconds"] for r in results), 3),
                "worker_cpu_seconds": round(median(r["worker_cpu_seconds"] for r in results), 2),
                "moto_cpu_seconds": round(median(r["server_cpu_seconds"]["moto"] for r in results), 2),
                "emulator_cpu_seconds": round(
                    median(r["server_cpu_seconds"]["emulator"] for r in results), 2
                ),
                "invocations": results[0]["invocations"],
                "batch_sizes": results[0]["batch_sizes"],
                "rss_after_cold_start_mb": round(median(r["rss_after_cold_start_mb"] for r in results), 1),
                "log_bytes": results[0]["stdout_bytes"],
                "aws_calls": results[0]["aws"]["calls"],
            }
        )
    return summary
