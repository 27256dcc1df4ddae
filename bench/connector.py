"""The connector as Lambda runs it: SQS (moto) → the poller → the real handler → ledger (moto) → emulator.

The parent fills the queue (`prepare`); a fresh worker process drains it (`drain`), so the worker's
peak RSS is the function's work alone. The poller is configured from template.yaml as Lambda's
event source mapping is (BatchSize 100), with two local adjustments:

- The batching window is 0: the queue is full before draining starts, so every batch fills at once
  and the window would only delay the last, partial batch.
- Batches stop at 6 MB, as Lambda's own do (its invocation payload limit): `PayloadCappedSqs`
  holds back what does not fit for the next batch, without another receive (so no extra
  ApproximateReceiveCount). The local poller does not do this yet; 1 MB items need it.

Another fresh worker then runs the scheduled validator (`validate`, validate_pushes's own handler)
over what was pushed, against the same tables, bucket and emulator, so each push gets its verdict
and the parent can meter what the validator consumed apart from the push function.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Iterable
from typing import Any

from .common import (
    API_KEY,
    ORG,
    PROVIDER,
    SOURCE,
    TEMPLATE,
    CallCounter,
    RemoteMoto,
    peak_rss_mb,
    resources_from_json,
    resources_to_json,
)

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
VALIDATOR = "validate_pushes"
# The validator checks every push at once: the emulator indexes on receipt (no processing delay).
VALIDATOR_PARAMETERS = {"ProcessingDelaySeconds": "0"}
# What a record adds to its body in the event (ids, receipt handle, attributes, md5, ARN).
RECORD_OVERHEAD_BYTES = 1024
TEMPLATE_PARAMETERS = {"MaximumBatchingWindowInSeconds": "0"}
_runs = itertools.count(1)


def prepare(moto_url: str, queue: str, events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Provision template.yaml afresh (its own name prefix) and send the events; returns the worker's spec."""
    from aws_simulator.cloudformation import provision_from_template

    counter = CallCounter()
    aws = RemoteMoto(moto_url, counter)
    resources = provision_from_template(
        TEMPLATE, aws, api_key=API_KEY, name_prefix=f"b{next(_runs):03d}{int(time.time()) % 100000}-"
    )
    counter.calls.clear()
    counter.sqs_billed_requests = 0
    sqs = aws.client("sqs")
    url = resources.queue_url(queue)
    bodies = [json.dumps(event) for event in events]
    batch: list[str] = []
    for body in bodies:
        # SendMessageBatch takes at most 10 messages and 1 MiB in all.
        if batch and (len(batch) == 10 or sum(map(len, batch)) + len(body) > 1_000_000):
            _send(sqs, url, batch)
            batch = []
        batch.append(body)
    if batch:
        _send(sqs, url, batch)
    return {
        "moto_url": moto_url,
        "resources": resources_to_json(resources),
        "queue": queue,
        "count": len(bodies),
        "body_bytes": sum(map(len, bodies)),
        "send": counter.to_json(),
    }


def _send(sqs: Any, url: str, bodies: list[str]) -> None:
    if len(bodies) == 1:
        sqs.send_message(QueueUrl=url, MessageBody=bodies[0])
        return
    entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
    response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    if response.get("Failed"):
        raise RuntimeError(f"SQS refused messages: {response['Failed'][:3]}")


class PayloadCappedSqs:
    """An SQS client whose ReceiveMessage never lets one batch pass Lambda's 6 MB payload limit.

    `new_batch()` starts a batch. Messages that do not fit are held (still in flight on the queue)
    and handed out first next time; `release()` makes any still held visible again.
    """

    def __init__(self, sqs: Any, limit: int = LAMBDA_PAYLOAD_LIMIT) -> None:
        self._sqs = sqs
        self._limit = limit
        self._held: list[dict[str, Any]] = []
        self._batch_bytes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def new_batch(self) -> None:
        self._batch_bytes = 0

    def receive_message(self, **request: Any) -> dict[str, Any]:
        wanted = request["MaxNumberOfMessages"]
        page, self._held = self._held[:wanted], self._held[wanted:]
        if len(page) < wanted:
            more = {**request, "MaxNumberOfMessages": wanted - len(page)}
            if page:
                more["WaitTimeSeconds"] = 0
            page += self._sqs.receive_message(**more).get("Messages", [])
        kept: list[dict[str, Any]] = []
        for index, message in enumerate(page):
            size = len(message["Body"].encode()) + RECORD_OVERHEAD_BYTES
            if self._batch_bytes and self._batch_bytes + size > self._limit:
                self._held = page[index:] + self._held
                break
            kept.append(message)
            self._batch_bytes += size
        return {"Messages": kept}

    def release(self, queue_url: str) -> None:
        held, self._held = self._held, []
        for start in range(0, len(held), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(held[start : start + 10])
            ]
            self._sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def build(spec: dict[str, Any], counter: CallCounter | None = None) -> tuple[Any, PayloadCappedSqs, Any]:
    """The stack, the capped SQS client and a poller for `spec["queue"]`, cold start done."""
    from aws_simulator.poller import SqsEventSourcePoller
    from aws_simulator.stack import FUNCTIONS, CoveoTarget, LocalStack
    from connector.entry.handler import make_lambda_handler

    threads = spec.get("ledger_threads")  # None: the ledger's own concurrency
    aws = RemoteMoto(
        spec["moto_url"],
        counter,
        dynamodb_latency_ms=float(spec.get("dynamodb_latency_ms", 0)),
        max_pool_connections=max(16, int(threads or 0)),
    )
    resources = resources_from_json(spec["resources"])
    target = CoveoTarget(spec["coveo_url"], ORG, SOURCE, PROVIDER)
    stack = LocalStack(aws, resources, target, TEMPLATE, template_parameters=TEMPLATE_PARAMETERS)
    queue = spec["queue"]
    kind, function_name = FUNCTIONS[queue]
    handler = make_lambda_handler(kind, function_name)
    pipeline = stack.pipeline(queue)  # the cold-start work: secret, clients
    if threads is not None:  # bench.profile's what-if: the ledger's write concurrency
        from connector.adapters.dynamodb_ledger import DynamoDBLedger
        from connector.adapters.s3_ledger_entries import S3LedgerEntries

        entries = S3LedgerEntries(aws.client("s3"), resources.buckets["LedgerBucket"])
        ledger = DynamoDBLedger(
            aws.client("dynamodb"), resources.tables["LedgerTable"], int(threads), entries=entries
        )
        pipeline = dataclasses.replace(pipeline, ledger=ledger)

    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return handler(event, context, pipeline=pipeline)

    sqs = PayloadCappedSqs(aws.client("sqs"))
    poller = SqsEventSourcePoller.from_settings(
        stack.event_sources()[queue],
        sqs,
        resources.queue_url(queue),
        resources.queue_arn(queue),
        invoke,
        retry_visibility_s=0.2,
    )
    return pipeline, sqs, poller


def drain(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: poll until every message of the queue is settled; the clock runs from the first poll."""
    counter = CallCounter()
    pipeline, sqs, poller = build(spec, counter)
    counter.calls.clear()
    counter.sqs_billed_requests = counter.dynamodb_keys_read = counter.dynamodb_updates = 0
    rss_ready = peak_rss_mb()
    expected = spec["count"]
    settled = received = failed = errors = 0
    handler_s = 0.0
    batch_sizes: list[int] = []
    deadline = time.monotonic() + spec.get("timeout_s", 1500)
    started, cpu_started = time.perf_counter(), time.process_time()
    with poller:
        while settled < expected and time.monotonic() < deadline:
            sqs.new_batch()
            batch = poller.poll_once()
            if batch is None:
                time.sleep(0.01)
                continue
            settled += batch.deleted
            received += batch.received
            failed += batch.failed
            errors += batch.handler_error is not None
            handler_s += batch.duration_s
            batch_sizes.append(batch.received)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        sqs.release(poller.queue_url)
    return {
        "items": expected,
        "settled": settled,
        "received": received,
        "failed": failed,
        "handler_errors": errors,
        "seconds": elapsed,
        "handler_seconds": handler_s,
        "worker_cpu_seconds": cpu,
        "invocations": len(batch_sizes),
        "batch_sizes": sorted(set(batch_sizes)),
        "coveo_requests_sent": pipeline.coveo.requests_sent,
        "aws": counter.to_json(),
        "rss_after_cold_start_mb": rss_ready,
    }


def profile(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: `drain` under pyinstrument; writes the text and HTML reports next to the result."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    result = drain(spec)
    profiler.stop()
    with open(spec["profile_text"], "w") as f:
        f.write(profiler.output_text(unicode=False, color=False, show_all=False))
    with open(spec["profile_html"], "w") as f:
        f.write(profiler.output_html())
    return result


def validate(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: validate_pushes's handler (the real Validator on the run's ledger and the emulator),
    invoked as the schedule would, until nothing is pending or `max_runs` runs; each run's report
    and time. The parent meters its DynamoDB and S3 units around this worker."""
    from aws_simulator.lambda_context import LambdaContext
    from aws_simulator.stack import CoveoTarget, LocalStack
    from connector.entry.handler import make_validator_handler

    counter = CallCounter()
    aws = RemoteMoto(spec["moto_url"], counter, max_pool_connections=16)
    resources = resources_from_json(spec["resources"])
    target = CoveoTarget(spec["coveo_url"], ORG, SOURCE, PROVIDER)
    parameters = {**TEMPLATE_PARAMETERS, **VALIDATOR_PARAMETERS}
    stack = LocalStack(aws, resources, target, TEMPLATE, template_parameters=parameters)
    handler = make_validator_handler(VALIDATOR)
    validator = stack.runtime.validator(VALIDATOR)  # the cold-start work: secret, clients
    counter.calls.clear()
    counter.sqs_billed_requests = counter.dynamodb_keys_read = counter.dynamodb_updates = 0
    rss_ready = peak_rss_mb()
    runs: list[dict[str, Any]] = []
    for attempt in range(int(spec.get("max_runs", 3))):
        if attempt:
            time.sleep(float(spec.get("pause_s", 1.0)))  # the next scheduled run
        context = LambdaContext(
            VALIDATOR, timeout_s=float(spec["timeout_s"]), memory_limit_in_mb=int(spec["memory_mb"])
        )
        started = time.perf_counter()
        report = handler({}, context, validator=validator)
        seconds = time.perf_counter() - started
        runs.append(
            {
                "seconds": round(seconds, 3),
                **{name: report[name] for name in _REPORT_COUNTS},
                "failures": report["failures"][:5],
                "warnings": [w["text"] for w in report["warnings"][:5]],
            }
        )
        if not report["pending"]:
            break
    return {
        "runs": runs,
        "invocations": len(runs),
        "handler_seconds": sum(run["seconds"] for run in runs),
        **{name: sum(run[name] for run in runs) for name in _REPORT_COUNTS if name != "pending"},
        "pending": runs[-1]["pending"],
        "aws": counter.to_json(),
        "rss_after_cold_start_mb": rss_ready,
    }


_REPORT_COUNTS = (
    "verified",
    "failed",
    "pending",
    "repushed",
    "logs_api_calls",
    "coveo_requests",
    "permission_warnings",
    "permission_errors",
    "unexpected_public",
    "identities_in_error",
)
