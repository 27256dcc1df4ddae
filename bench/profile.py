"""What limits the connector's throughput: a pyinstrument profile, and what-if runs.

    python -m bench.profile                      # profile the connector on 10,000 small items
    python -m bench.profile --items 1000 --large # ... or on 1 MB items
    python -m bench.profile --compare            # ledger writes sequential vs on 16 threads,
                                                 # with and without 5 ms of DynamoDB round trip

Needs pyinstrument (`.venv/bin/pip install pyinstrument`), which the project does not install.
Reports go to reports/bench/ (git-ignored). Not part of `make bench`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import workload
from .common import ROOT, Servers, log
from .items import run_connector

OUTPUT = ROOT / "reports" / "bench"


def _events(count: int, large: bool) -> Any:
    return (workload.item_event(workload.item(i, large=large)) for i in range(count))


def _run(
    servers: Servers, count: int, large: bool, worker: str = "connector:drain", **extra: Any
) -> dict[str, Any]:
    return run_connector(servers, "ItemQueue", _events(count, large), worker=worker, extra=extra)


def profile(count: int, large: bool) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    name = f"profile-{'large' if large else 'small'}-{count}"
    text, html = OUTPUT / f"{name}.txt", OUTPUT / f"{name}.html"
    with Servers() as servers:
        log(f"profiling the connector on {count} {'1 MB' if large else 'small'} items")
        result = _run(
            servers, count, large, worker="connector:profile", profile_text=str(text), profile_html=str(html)
        )
    print(text.read_text())
    print(json.dumps({k: v for k, v in result.items() if k not in ("aws", "resources", "send")}, indent=2))
    log(f"reports: {text}, {html}")


def compare(count: int, threads: int, latency_ms: float) -> None:
    """Sequential ledger writes against `threads` concurrent ones, on moto as is and with latency."""
    rows = []
    with Servers() as servers:
        for latency in (0.0, latency_ms):
            for ledger_threads in (1, threads):
                result = _run(
                    servers, count, False, ledger_threads=ledger_threads, dynamodb_latency_ms=latency
                )
                row = {
                    "dynamodb_latency_ms": latency,
                    "ledger_threads": ledger_threads,
                    "items_per_s": round(count / result["seconds"], 1),
                    "handler_items_per_s": round(count / result["handler_seconds"], 1),
                    "moto_cpu_s": result["server_cpu_seconds"]["moto"],
                    "worker_cpu_s": round(result["worker_cpu_seconds"], 2),
                    "all_accepted": result["ok"],
                }
                log(f"  {row}")
                rows.append(row)
    print(json.dumps(rows, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument(
        "--items", type=int, default=None, help="how many items (default 10000, or 1000 with --compare)"
    )
    parser.add_argument("--large", action="store_true", help="1 MB items")
    parser.add_argument("--compare", action="store_true", help="what-if: concurrent ledger writes")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.items or 1000, args.threads, args.latency_ms)
    else:
        profile(args.items or 10_000, args.large)
    return 0


if __name__ == "__main__":
    sys.exit(main())
