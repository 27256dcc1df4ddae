"""Items: the connector (SQS → push_items → ledger → Coveo) against the official client, same items.

Each contender runs in its own worker process; the emulator is reset before each, so its request
count is that run's alone. Runs are interleaved (one-by-one, batch, connector, then again) so a
burst of load from elsewhere on the machine does not land on one contender only.

A connector run starts with the security identities its items name already in Coveo (pushed
straight to the emulator, outside the run's counts: in production the identity function pushed
them earlier, on its own bill), so Coveo indexes the items; after the drain the scheduled
validator runs once (more only while something is still pending) in its own worker, and its
DynamoDB and S3 units are metered apart from the push function's.
"""

from __future__ import annotations

from typing import Any

from . import connector, cost, workload
from .common import (
    API_KEY,
    ORG,
    PROVIDER,
    TEMPLATE,
    Servers,
    capacity,
    cpu_seconds,
    emulator,
    log,
    median,
    run_worker,
)

# A validator run after the drain, then more (one a second) only while pushes are still pending.
VALIDATOR_MAX_RUNS = 3


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
            runs["connector"].append(
                run_connector(
                    servers,
                    "ItemQueue",
                    _item_events(count, large),
                    identities=workload.item_identities(count),
                    validate=True,
                )
            )
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
    identities: tuple[list[str], list[str]] | None = None,
    validate: bool = False,
    latency: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fill the queue, then drain it in a worker; adds the emulator's count and the servers' CPU.

    `extra` goes into the worker's spec (bench.profile's what-ifs and report paths). `identities`
    (groups of our provider, users of the Email Security Provider) are pushed to the emulator first,
    not counted. With `validate`, the validator then runs in a worker of its own (`run_validator`)
    and the result holds `capacity`, what the moto server metered for the run's tables and buckets
    once the push function was done, and `validator`, the validator's run with what was metered
    after it. `latency` (`{"rttMs": 100, "jitterMs": 10, "seed": 0}`) is the emulator's round trip
    for the run (PUT /_emulator/latency after the reset and the seeding); the result then has
    `emulator_latency`, what the emulator says it drew."""
    spec = connector.prepare(servers.moto_url, queue, events)
    spec["coveo_url"] = servers.coveo_url
    spec["server_pids"] = servers.server_pids()
    spec.update(extra or {})
    emulator(servers.coveo_url, "reset", "POST", {})
    if identities is not None:
        seed_identities(servers.coveo_url, *identities)
    if latency is not None:
        emulator(servers.coveo_url, "latency", "PUT", latency)
    baseline = emulator(servers.coveo_url, "stats")  # the seeding's requests are not the run's
    pids = servers.server_pids()
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = run_worker(worker, spec, timeout_s=1800)
    result["server_cpu_seconds"] = {
        name: round(cpu_seconds(pid) - cpu_before[name], 2) for name, pid in pids.items()
    }
    stats = emulator(servers.coveo_url, "stats")
    result["requests"], result["requests_by_route"] = _requests_since(baseline, stats)
    if latency is not None:
        result["emulator_latency"] = emulator(servers.coveo_url, "latency")
    result["send"] = spec["send"]
    result["resources"] = spec["resources"]
    result["body_bytes"] = spec["body_bytes"]
    result["ok"] = (
        result["settled"] == result["items"] and result["failed"] == 0 and result["handler_errors"] == 0
    )
    if validate:
        resources = spec["resources"]
        result["capacity"] = capacity(
            servers.moto_url, tables=resources["tables"].values(), buckets=resources["buckets"].values()
        )
        result["validator"] = run_validator(servers, spec, stats)
    return result


def run_validator(servers: Servers, spec: dict[str, Any], stats_before: dict[str, Any]) -> dict[str, Any]:
    """The validator over what a connector run pushed (`connector.validate` in a fresh worker), with
    its Coveo requests (the emulator's count since `stats_before`), the servers' CPU, and
    `capacity`: what the moto server metered for the run's tables and buckets after it (cost.py
    bills the difference from the push function's as the validator's)."""
    function = cost.validator_function(TEMPLATE)
    resources = spec["resources"]
    vspec = {
        "moto_url": servers.moto_url,
        "coveo_url": servers.coveo_url,
        "resources": resources,
        "memory_mb": function["memory_mb"],
        "timeout_s": function["timeout_s"],
        "max_runs": VALIDATOR_MAX_RUNS,
    }
    pids = servers.server_pids()
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = run_worker("connector:validate", vspec, timeout_s=1800)
    result["server_cpu_seconds"] = {
        name: round(cpu_seconds(pid) - cpu_before[name], 2) for name, pid in pids.items()
    }
    result["requests"], result["requests_by_route"] = _requests_since(
        stats_before, emulator(servers.coveo_url, "stats")
    )
    result["function"] = function
    result["capacity"] = capacity(
        servers.moto_url, tables=resources["tables"].values(), buckets=resources["buckets"].values()
    )
    return result


def seed_identities(coveo_url: str, groups: list[str], users: list[str]) -> None:
    """Make the emulator's security cache know what the items' permissions name, as the identity
    function would have earlier: each group of our provider (no members), and each e-mail user
    through an alias of our provider onto the Email Security Provider. One identity batch."""
    import httpx

    from coveo_push_api import CoveoClient
    from coveo_push_api.models.identities import (
        Identity,
        IdentityBody,
        IdentityType,
        MappedIdentity,
        MappedIdentityBody,
    )

    with httpx.Client() as http:
        CoveoClient(ORG, API_KEY, base_url=coveo_url, http_client=http).push_identities(
            PROVIDER,
            members=[
                IdentityBody(identity=Identity(name=name, type=IdentityType.GROUP), members=[])
                for name in groups
            ],
            mappings=[
                MappedIdentityBody(
                    identity=Identity(name=name, type=IdentityType.USER),
                    mappings=[
                        MappedIdentity(name=name, type=IdentityType.USER, provider=workload.EMAIL_PROVIDER)
                    ],
                )
                for name in users
            ],
        )


def _requests_since(before: dict[str, Any], after: dict[str, Any]) -> tuple[int, dict[str, int]]:
    """Emulator requests between two `stats` answers: the total and by route."""
    routes = {
        route: count - before["byRoute"].get(route, 0)
        for route, count in after["byRoute"].items()
        if count != before["byRoute"].get(route, 0)
    }
    return after["total"] - before["total"], routes


def _brief(result: dict[str, Any]) -> str:
    rate = result["items"] / result["seconds"]
    text = f"{rate:,.1f} items/s, {result['requests']} requests, peak RSS {result['peak_rss_mb']} MB"
    text = text if result["ok"] else text + "  (NOT ALL ACCEPTED)"
    validator = result.get("validator")
    if validator:
        text += (
            f"; validator: {validator['verified']} verified, {validator['failed']} failed, "
            f"{validator['repushed']} re-pushed, {validator['pending']} pending "
            f"in {validator['invocations']} run(s), {validator['handler_seconds']:.2f} s"
        )
    return text


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
                "moto_sqs_cpu_seconds": round(
                    median(r["server_cpu_seconds"].get("moto_sqs", 0.0) for r in results), 2
                ),
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
    if "validator" in results[0]:
        summary["validator"] = summarize_validator([r["validator"] for r in results], items)
    return summary


def summarize_validator(runs: list[dict[str, Any]], changes: int) -> dict[str, Any]:
    """The validator after each connector run: verdicts of the last, medians of its time."""
    last = runs[-1]
    return {
        # The common path: every change VERIFIED by the first run, nothing failed or re-pushed.
        "all_verified_first_run": all(
            v["runs"][0]["verified"] == changes and not (v["failed"] or v["pending"] or v["repushed"])
            for v in runs
        ),
        "verified": last["verified"],
        "verified_first_run": last["runs"][0]["verified"],
        "failed": last["failed"],
        "repushed": last["repushed"],
        "pending": last["pending"],
        "invocations": last["invocations"],
        "handler_seconds": round(median(v["handler_seconds"] for v in runs), 3),
        "logs_api_calls": last["logs_api_calls"],
        "coveo_requests": last["requests"],
        "requests_by_route": last["requests_by_route"],
        "aws_calls": last["aws"]["calls"],
        "log_bytes": last["stdout_bytes"],
        "peak_rss_mb": round(median(v["peak_rss_mb"] for v in runs), 1),
    }
