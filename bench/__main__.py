"""`python -m bench` (`make bench`): every benchmark, a table on stdout, bench/results.json.

python -m bench                          # everything (under 10 minutes on a 2-core machine)
python -m bench --only items_1000,cold_start_ms
python -m bench --scale 0.1 --output /tmp/results.json   # a quick try at a tenth of the counts
python -m bench --only latency --rtt-ms 100             # the measured latency scenario alone
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import boundary, cold_start, connector, cost, identities, items, latency, report
from .common import ROOT, TEMPLATE, Servers, capacity, log

ALL = (
    "cold_start_ms",
    "boundary_us",
    "identities_1000",
    "items_1000",
    "items_1mb",
    "items_10000",
    "latency",
    "cost_per_million_usd",
)
# (count, 1 MB items, connector runs, official runs). A connector run costs moto ~13 ms of CPU per
# ledger write (two per item), so only the official client's cheap runs repeat.
ITEM_SCENARIOS = {
    "items_1000": (1000, False, 1, 3),
    "items_1mb": (100, True, 2, 3),
    "items_10000": (10_000, False, 1, 1),
}
IDENTITY_SCENARIO = (1000, 1, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {', '.join(ALL)}")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every item count (for a quick try)"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--cold-start-runs", type=int, default=10)
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=latency.DEFAULT_RTT_MS,
        help="latency scenario: the emulator's round trip per Coveo request (default: %(default)s)",
    )
    parser.add_argument(
        "--jitter-ms",
        type=float,
        default=latency.DEFAULT_JITTER_MS,
        help="latency scenario: +/- this, uniform (default: %(default)s)",
    )
    parser.add_argument(
        "--dynamodb-ms",
        type=float,
        default=latency.DEFAULT_AWS_LATENCY_MS["dynamodb"],
        help="latency scenario: what each DynamoDB call waits before it is sent (default: %(default)s)",
    )
    parser.add_argument(
        "--s3-ms",
        type=float,
        default=latency.DEFAULT_AWS_LATENCY_MS["s3"],
        help="latency scenario: what each S3 call waits before it is sent (default: %(default)s)",
    )
    parser.add_argument(
        "--no-profile", action="store_true", help="latency scenario: skip the profiled connector run"
    )
    args = parser.parse_args(argv)
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = wanted - set(ALL)
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")

    started = time.monotonic()
    results: dict[str, Any] = {}
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def step(message: str) -> None:
        log(f"[{time.monotonic() - started:6.1f}s] {message}")

    if "cold_start_ms" in wanted:
        step(f"cold start: {args.cold_start_runs} fresh processes per module")
        results["cold_start_ms"] = cold_start.measure(args.cold_start_runs)

    if "boundary_us" in wanted:
        step("boundary: strict JSON and parse_message against json.loads")
        results["boundary_us"] = boundary.measure()

    scenarios = [
        key for key in ("identities_1000", "items_1000", "items_1mb", "items_10000") if key in wanted
    ]
    if scenarios or "latency" in wanted:
        with Servers() as servers:
            step(f"moto on {servers.moto_url}, Coveo emulator on {servers.coveo_url}")
            for key in scenarios:
                if key == "identities_1000":
                    count, connector_runs, official_runs = IDENTITY_SCENARIO
                    count = max(1, round(count * args.scale))
                    step(f"{key}: {count} group changes")
                    results[key], raw[key] = identities.measure(
                        servers, count=count, connector_runs=connector_runs, official_runs=official_runs
                    )
                else:
                    count, large, connector_runs, official_runs = ITEM_SCENARIOS[key]
                    count = max(1, round(count * args.scale))
                    step(f"{key}: {count} items")
                    results[key], raw[key] = items.measure(
                        servers,
                        count=count,
                        large=large,
                        connector_runs=connector_runs,
                        official_runs=official_runs,
                    )
            if "latency" in wanted:
                count = max(1, round(1000 * args.scale))
                step(
                    f"latency: {count} small items, Coveo {args.rtt_ms:g} +/- {args.jitter_ms:g} ms per request, "
                    f"DynamoDB {args.dynamodb_ms:g} ms and S3 {args.s3_ms:g} ms per call"
                )
                results["latency"], _ = latency.measure(
                    servers,
                    count=count,
                    rtt_ms=args.rtt_ms,
                    jitter_ms=args.jitter_ms,
                    aws_latency_ms={"dynamodb": args.dynamodb_ms, "s3": args.s3_ms},
                    profile=not args.no_profile,
                )
            if "cost_per_million_usd" in wanted and raw:
                step("cost model: what the moto server metered")
                results["cost_per_million_usd"] = _cost(servers, raw)

    results["meta"] = _meta(results, time.monotonic() - started, args)
    ordered = {key: results[key] for key in ("meta", *ALL) if key in results}
    args.output.write_text(json.dumps(ordered, indent=2) + "\n")
    print(report.table(ordered))
    step(f"done: {args.output}")
    return 0


def _cost(servers: Servers, raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Each scenario's last connector run, billed on what the moto server metered for the tables
    and buckets that run provisioned (each run has its own, so no reset is needed between them):
    the push function's from the answer taken when it was done, the validator's from the answer
    after the validator less that one (cost.per_million)."""
    from aws_simulator.cloudformation import event_source_settings

    sources = event_source_settings(TEMPLATE, connector.TEMPLATE_PARAMETERS)
    result: dict[str, Any] = {}
    for key, queue in (
        ("items_10000", "ItemQueue"),
        ("items_1000", "ItemQueue"),
        ("items_1mb", "ItemQueue"),
        ("identities_1000", "IdentityQueue"),
    ):
        runs = (raw.get(key) or {}).get("connector")
        if not runs:
            continue
        run = runs[-1]
        resources = run["resources"]
        metered = run.get("capacity") or capacity(
            servers.moto_url, tables=resources["tables"].values(), buckets=resources["buckets"].values()
        )
        lifecycle = cost.lifecycle_rules(TEMPLATE, resources["buckets"])
        result[key] = cost.per_million(run, metered, sources[queue].memory_size_mb, lifecycle=lifecycle)
    headline = next((key for key in ("items_10000", "items_1000") if key in result), None)
    if headline:
        result = {"total": result[headline]["total"], "basis": headline, **result}
    result["prices_usd"] = cost.PRICES
    result["prices_as_of"] = cost.PRICES_AS_OF
    result["fixed_monthly"] = cost.fixed_monthly(TEMPLATE)
    result["left_out"] = cost.LEFT_OUT
    return result


def _meta(results: dict[str, Any], wall_s: float, args: argparse.Namespace) -> dict[str, Any]:
    from aws_simulator.cloudformation import event_source_settings

    sources = event_source_settings(TEMPLATE, connector.TEMPLATE_PARAMETERS)
    items_source = sources["ItemQueue"]
    return {
        "date": report.now(),
        "wall_seconds": round(wall_s, 1),
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
        "scale": args.scale,
        "machine": report.machine(),
        "versions": report.versions(),
        "setup": {
            "batch_size": items_source.batch_size,
            "identity_batch_size": sources["IdentityQueue"].batch_size,
            "batching_window_s": items_source.batching_window_s,
            "memory_mb": items_source.memory_size_mb,
            "lambda_payload_cap_bytes": connector.LAMBDA_PAYLOAD_LIMIT,
            "pollers": 1,
            "notes": [
                "BatchSize and memory come from template.yaml (event_source_settings). The batching window "
                "is set to 0: the queue is filled before the clock starts, so batches fill at once and the "
                "window would only delay the last one.",
                "Batches stop at Lambda's 6 MB payload limit (bench/connector.py PayloadCappedSqs): the 1 MB "
                "items go 6 to an invocation, which makes items_1mb the 6 MB-batch case of the RSS target.",
                "moto (bench/moto_server.py, with aws_simulator.moto_patches) and the emulator each run in "
                "their own process; each measured run is a fresh worker process.",
                "Zero-latency rows: one poller = one Lambda instance. The latency scenario runs the template's "
                "MaximumConcurrency (5) instances, each a process of its own, with batches of BatchSize "
                "gathered one after the other (bench/esm.py).",
            ],
        },
        "figures": report.FIGURES,
        "targets": report.targets(results),
    }


if __name__ == "__main__":
    sys.exit(main())
