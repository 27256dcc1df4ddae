"""The soak: 50,000 item and identity events through the local pipeline under the issue's faults.

    .venv/bin/python -m tests.reliability.soak [--events 50000] [--workers 4] [--seed N]

Prints each class (sent, verified, stale, failed, dead-lettered, lost), the faults Coveo answered,
the validator's totals and the wall time; exits 1 if any event is lost, a key whose newest version
was verified holds another one in Coveo, a ledger row is left mid-flight, or the API key shows up
in the functions' output.

moto, the emulator and the connector each get a process (the machine has two cores and each is
busy). Events go in chunks, as upstream would send them over time, and the validator runs after
each chunk as its schedule would: that keeps queues short and each Logs API window small.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from aws_simulator.cloudformation import provision_from_template
from aws_simulator.moto_server import MotoServer
from aws_simulator.stack import IDENTITY_QUEUE, ITEM_QUEUE, CoveoTarget
from coveo_emulator.config import EmulatorConfig

from .harness import (
    Accounting,
    FaultProfile,
    ReliabilityStack,
    SignatureTamperer,
    account,
    fault_counts,
    fault_rules,
    format_table,
    interleave,
    make_workload,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
OVERRIDES = {
    "PROCESSING_DELAY_SECONDS": "0",  # the emulator applies at once
    "VALIDATION_DEADLINE_SECONDS": "5",  # a push with no verdict 5 s after its 202 is FAILED
}
# Batches of 100 rather than the template's 500: five times the Coveo requests, so each fault
# class is answered often enough to count.
PARAMETERS = {"MaximumBatchingWindowInSeconds": "0", "ItemBatchSize": "100", "IdentityBatchSize": "100"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=50_000, help="events to send (default: %(default)s)")
    parser.add_argument(
        "--workers", type=int, default=4, help="concurrent pollers per queue (default: %(default)s)"
    )
    parser.add_argument(
        "--chunk", type=int, default=2_500, help="events sent between drains (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--serve-moto", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_moto:
        return serve_moto(args.serve_moto)
    return soak(args.events, args.workers, args.chunk, args.seed)


def soak(events: int, workers: int, chunk: int, seed: int) -> int:
    signal.signal(signal.SIGTERM, _terminated)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1: where is every thread?
    started = time.monotonic()
    api_key = "soak-key-" + secrets.token_hex(8)
    config = EmulatorConfig(api_key=api_key)
    phases: dict[str, float] = {}
    with (
        ExternalMotoServer() as aws,
        emulator_process(config) as base_url,
        tempfile.TemporaryFile("w+", encoding="utf-8") as function_output,
        contextlib.redirect_stdout(function_output),  # the functions' logs and metrics (CloudWatch)
    ):
        from aws_lambda_powertools import Logger

        for service in ("push_items", "push_identities", "validate_pushes"):
            Logger(service=service, stream=function_output)
        resources = provision_from_template(TEMPLATE, aws, PARAMETERS, api_key=api_key, name_prefix="soak-")
        target = CoveoTarget(base_url, config.organization_id, config.source_id, config.provider_id)
        stack = ReliabilityStack(aws, resources, target, TEMPLATE, dict(OVERRIDES), dict(PARAMETERS))
        profile = FaultProfile()
        tamperer = SignatureTamperer(profile.upload_denied, seed=seed)
        stack.use_client(timeout_s=profile.client_timeout_s, transport=tamperer)
        stack.emulator("faults", "PUT", fault_rules(profile, seed))
        workload = make_workload(
            events * 10 // 11, events - events * 10 // 11, seed=seed, provider=target.provider_id
        )
        phases["setup"] = time.monotonic() - started

        validator: Counter[str] = Counter()
        drain_errors = 0
        for name, queue, batch in (
            ("identities", IDENTITY_QUEUE, interleave(workload.identities, seed)),
            ("items", ITEM_QUEUE, interleave(workload.items, seed)),
        ):
            for start in range(0, len(batch), chunk):
                phase = time.monotonic()
                stack.send(batch[start : start + chunk])
                for result in stack.drain_with(workers, timeout_s=900, idle_sleep_s=0.25)[queue]:
                    drain_errors += not result.drained
                phases[f"drain {name}"] = phases.get(f"drain {name}", 0.0) + time.monotonic() - phase
                phase = time.monotonic()
                report = stack.validate()  # the schedule's run
                validator.update(verified=report.verified, failed=report.failed, repushed=report.repushed)
                phases["validator runs"] = phases.get("validator runs", 0.0) + time.monotonic() - phase
                progress(f"{name}: {min(start + chunk, len(batch))}/{len(batch)} sent and drained", started)
        phase = time.monotonic()
        validator.update(stack.settle(timeout_s=300))
        phases["final validation"] = time.monotonic() - phase
        faults = fault_counts(stack.emulator("faults"), tamperer)
        answered = stack.emulator("stats")
        stack.emulator("faults", "PUT", {"rules": []})
        phase = time.monotonic()
        result = account(stack, workload)
        phases["accounting"] = time.monotonic() - phase
        not_verified = _not_verified_rows(stack, result)
        function_output.flush()
        function_output.seek(0)
        leaked = sum(api_key in line for line in function_output)

    wall = time.monotonic() - started
    problems = list(result.problems)
    problems += [f"event {event_id} lost" for event_id in result.lost()]
    problems += [f"the API key appears in {leaked} lines of the functions' output"] * bool(leaked)
    problems += [f"{drain_errors} drains stopped on their timeout"] * bool(drain_errors)
    behind = Counter(result.behind.values())
    print(format_table({"faults (soak)": result.table()}))
    push_requests = sum(n for route, n in answered["byRoute"].items() if " /push/" in route)
    print(
        f"Coveo requests: {answered['total']} in all, {push_requests} to the Push API (the fault rates apply "
        f"there); by status {json.dumps(answered['byStatus'])}"
    )
    print(f"faults answered: {json.dumps(faults)}")
    print(f"validator: {json.dumps(dict(validator))}")
    print(
        f"keys whose newest version is not verified: {json.dumps(dict(behind))} (failed or dead-lettered, with reasons)"
    )
    print(
        f"failure reasons: {json.dumps(Counter(_short(r) for r in result.reasons.values()).most_common(8))}"
    )
    for row in not_verified:  # enough to tell what happened to each (the change itself left out)
        print(f"not verified: {json.dumps(row, sort_keys=True)}")
    print("phases: " + ", ".join(f"{name} {seconds:.0f}s" for name, seconds in phases.items()))
    print(
        f"wall time: {wall:.0f}s for {len(result.classes)} events ({len(result.classes) / wall:.0f} events/s)"
    )
    for problem in problems[:20]:
        print(f"PROBLEM: {problem}")
    print("Result: " + ("OK" if not problems else f"NOT OK ({len(problems)} problems)"))
    return 1 if problems else 0


def _not_verified_rows(stack: ReliabilityStack, result: Accounting, limit: int = 10) -> list[dict[str, Any]]:
    """The ledger rows of the first `limit` keys whose newest version did not end VERIFIED."""
    rows = stack.ledger_rows()
    return [
        {name: value for name, value in rows[key].items() if name != "change"}
        for key in sorted(result.behind)[:limit]
        if key in rows
    ]


def progress(text: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.0f}s] {text}", file=sys.stderr, flush=True)


def _short(reason: str) -> str:
    # Reasons name their subject; group them by what went wrong.
    for marker in (
        "unknown security identity",
        "no indexing log entry",
        "security cache",
        "skipped by Coveo",
    ):
        if marker in reason:
            return marker
    return reason[:60]


# --- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def emulator_process(config: EmulatorConfig) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "coveo_emulator", "--port", str(port), "--api-key", config.api_key]
    with _process([*command, "--log-level", "error"]):
        base_url = f"http://127.0.0.1:{port}"
        _wait_for(lambda: httpx.get(f"{base_url}/_emulator/health", timeout=1).raise_for_status())
        yield base_url


class ExternalMotoServer(MotoServer):
    """MotoServer's interface, with moto in a process of its own (see serve_moto)."""

    def start(self) -> ExternalMotoServer:
        port = free_port()
        self._process = _process([sys.executable, "-m", "tests.reliability.soak", "--serve-moto", str(port)])
        self._process.__enter__()
        self._endpoint_url = f"http://127.0.0.1:{port}"
        _wait_for(lambda: httpx.get(f"{self._endpoint_url}/moto-api/data.json", timeout=1).raise_for_status())
        return self

    def stop(self) -> None:
        self._process.__exit__(None, None, None)
        self._endpoint_url = None


_children: list[subprocess.Popen[bytes]] = []


def _terminated(*_: object) -> None:
    """SIGTERM: stop moto and the emulator too (pollers cannot be interrupted), then exit."""
    for child in _children:
        child.kill()
    os._exit(143)


@contextlib.contextmanager
def _process(command: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _children.append(process)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        _children.remove(process)


def _wait_for(check: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            check()
            return
        except (httpx.HTTPError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def serve_moto(port: int) -> int:
    """The simulator's moto (its patches applied: each DynamoDB request whole, SQS receives atomic,
    the clock and routing costs gone, see aws_simulator.moto_patches) on `port`, in this process,
    until SIGINT or SIGTERM: the same moto as `coveo-push local` and the pipeline tests."""
    with MotoServer(port=port):
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sys.exit(main())
