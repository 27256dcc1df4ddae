"""The connector as Lambda scales it: the event source mapping runs up to MaximumConcurrency
invocations at once, each in an execution environment of its own, each with up to BatchSize items.

`drain` (a worker, `python -m bench.worker esm:drain`) is the event source mapping. It starts
MaximumConcurrency *instances* (template.yaml: 5), each a process of its own (a Lambda execution
environment: its own interpreter, GIL, clients and ledger threads) that builds the stack once (the
cold start, before the clock starts) and then runs invocations one at a time. Then one thread per
instance loops: gather a batch from SQS, invoke its instance with it (the event over a pipe), settle
the batch as Lambda does (delete what did not fail); a thread that finds nothing visible waits
until a batch settles or IDLE_POLL_S passes, as a long poll would. Gathering is serialized (a lock
held from the first receive until the batch is handed over), so batches fill to BatchSize (or
Lambda's 6 MB) one after the other, as the mapping's batcher fills them, while up to
MaximumConcurrency invocations run at once: 1,000 queued items make 2 invocations of 500 running
side by side; 10,000 make 20, five at a time. The poller is aws_simulator's `SqsEventSourcePoller` with the template's settings (its
batching window set to 0: the queue is full before the clock starts).

Each instance measures its invocations: wall time, CPU time of the whole process (the ledger's
threads included), the time the handler waited for Coveo (from sending each HTTP request to its
answer's headers, httpx event hooks on the client's connection pool), and the time it waited for
the ledger (every call of the pipeline's ledger and sync-ledger adapters, DynamoDB and S3, timed
from the handler's thread). With `profile`, `ThreadCpuProfile` (bench/cpu_profile.py) charges the process's CPU to the product's functions.

AWS latency: `aws_latency_ms` ({"dynamodb": 5, "s3": 25}) makes each call of those services wait
that long before it is sent (a botocore `before-send` hook in `RemoteMoto`), in the calling thread,
so calls made in parallel wait in parallel, as DynamoDB's would. SQS gets none: the poller stands
for Lambda's own mapping, not for the function.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from .common import (
    ORG,
    PROVIDER,
    SOURCE,
    TEMPLATE,
    CallCounter,
    RemoteMoto,
    cpu_seconds,
    peak_rss_mb,
    resources_from_json,
)
from .connector import TEMPLATE_PARAMETERS, PayloadCappedSqs

STOP = None
# How long a mapping thread that found the queue empty waits before asking again (unless a batch
# settles first); the poller's retried messages become visible again after 0.2 s.
IDLE_POLL_S = 0.1


# --- an instance: one Lambda execution environment ------------------------------------------------------


class _Timed:
    """A proxy that adds the wall time of every method call to `clock[name]`."""

    def __init__(self, target: Any, clock: defaultdict[str, float], calls: Counter[str], name: str) -> None:
        self._target, self._clock, self._calls, self._name = target, clock, calls, name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._target, attribute)
        if not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                self._clock[self._name] += elapsed
                self._clock[f"{self._name}.{attribute}"] += elapsed
                self._calls[f"{self._name}.{attribute}"] += 1

        return timed


class _HttpClock:
    """httpx event hooks: the time from sending each request to its answer's headers. A request
    sent by the client's container prefetch (its own thread, while the handler waits for the
    claims) goes to `prefetch_seconds`: the handler's thread did not wait for it then."""

    def __init__(self) -> None:
        from coveo_push_api.client import PREFETCH_THREAD_NAME

        self._prefetch_thread = PREFETCH_THREAD_NAME
        self.seconds = 0.0
        self.prefetch_seconds = 0.0
        self.requests = 0
        self._sent: dict[int, float] = {}

    def attach(self, client: Any) -> None:
        hooks = client.event_hooks
        client.event_hooks = {
            "request": [*hooks["request"], self._on_request],
            "response": [*hooks["response"], self._on_response],
        }

    def _on_request(self, request: Any) -> None:
        self._sent[id(request)] = time.perf_counter()

    def _on_response(self, response: Any) -> None:
        sent = self._sent.pop(id(response.request), None)
        if sent is not None:
            if threading.current_thread().name.startswith(self._prefetch_thread):
                self.prefetch_seconds += time.perf_counter() - sent
            else:
                self.seconds += time.perf_counter() - sent
            self.requests += 1


def instance(connection: Any, spec: dict[str, Any]) -> None:
    """An execution environment: cold start, then invocations from `connection` until STOP."""
    from aws_simulator.lambda_context import LambdaContext
    from aws_simulator.stack import FUNCTIONS, CoveoTarget, LocalStack
    from connector.entry.handler import make_lambda_handler
    from coveo_push_api.client import shared_http_client

    from .cpu_profile import ThreadCpuProfile

    counter = CallCounter()
    aws = RemoteMoto(
        spec["moto_url"],
        counter,
        latency_ms_by_service=spec.get("aws_latency_ms") or {},
        max_pool_connections=16,
    )
    resources = resources_from_json(spec["resources"])
    target = CoveoTarget(spec["coveo_url"], ORG, SOURCE, PROVIDER)
    stack = LocalStack(aws, resources, target, TEMPLATE, template_parameters=TEMPLATE_PARAMETERS)
    kind, function_name = FUNCTIONS[spec["queue"]]
    handler = make_lambda_handler(kind, function_name)
    pipeline = stack.pipeline(spec["queue"])  # the cold start: secret, clients
    waits: defaultdict[str, float] = defaultdict(float)
    adapter_calls: Counter[str] = Counter()
    pipeline = dataclasses.replace(
        pipeline,
        ledger=_Timed(pipeline.ledger, waits, adapter_calls, "ledger"),
        syncs=_Timed(pipeline.syncs, waits, adapter_calls, "ledger"),
        content=_Timed(pipeline.content, waits, adapter_calls, "content") if pipeline.content else None,
        dead_letters=_Timed(pipeline.dead_letters, waits, adapter_calls, "dead_letters"),
    )
    http = _HttpClock()
    http.attach(shared_http_client())
    profile = ThreadCpuProfile() if spec.get("profile") else None
    connection.send({"ready": True, "pid": os.getpid(), "rss_after_cold_start_mb": peak_rss_mb()})
    counter.calls.clear()
    if profile:  # from here on, in this thread and every thread started later (the ledger's pool)
        profile.start()
    while True:
        message = connection.recv()
        if message is STOP:
            break
        event, context_fields = message
        context = LambdaContext(**context_fields)
        waits.clear()
        coveo_before, requests_before, prefetch_before = http.seconds, http.requests, http.prefetch_seconds
        sent_before = pipeline.coveo.requests_sent
        calls_before = Counter(counter.calls)
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            response: Any = handler(event, context, pipeline=pipeline)
            error = None
        except Exception as exc:  # reported to the mapping as Lambda reports a function error
            response, error = None, f"{type(exc).__name__}: {exc}"
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        connection.send(
            {
                "response": response,
                "error": error,
                "items": len(event["Records"]),
                "wall_s": wall,
                "cpu_s": cpu,
                "coveo_wait_s": http.seconds - coveo_before,
                "coveo_prefetch_s": http.prefetch_seconds - prefetch_before,
                "coveo_http_requests": http.requests - requests_before,
                "coveo_requests_sent": pipeline.coveo.requests_sent - sent_before,
                "ledger_wait_s": waits["ledger"],
                "ledger_wait_by_method_s": {
                    name.split(".", 1)[1]: seconds
                    for name, seconds in waits.items()
                    if name.startswith("ledger.")
                },
                "other_aws_wait_s": waits["content"] + waits["dead_letters"],
                "aws_calls": dict(Counter(counter.calls) - calls_before),
            }
        )
    if profile:
        profile.stop()
    connection.send(
        {
            "peak_rss_mb": peak_rss_mb(),
            "adapter_calls": dict(adapter_calls),
            "profile": profile.consumers() if profile else None,
        }
    )
    connection.close()


# --- the event source mapping ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Invocation:
    instance: int
    started: float  # seconds since the clock started
    gathered_s: float  # the mapping's time to gather this batch (receives)
    settled_s: float  # the mapping's time to settle it after the function returned (deletes)
    result: dict[str, Any]


def drain(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: start the instances, then run the mapping until every message is settled."""
    from aws_simulator.cloudformation import event_source_settings
    from aws_simulator.poller import SqsEventSourcePoller

    settings = event_source_settings(TEMPLATE, TEMPLATE_PARAMETERS)[spec["queue"]]
    concurrency = int(spec.get("concurrency") or settings.maximum_concurrency or 1)
    counter = CallCounter()
    aws = RemoteMoto(spec["moto_url"], counter, max_pool_connections=max(10, concurrency))
    resources = resources_from_json(spec["resources"])
    queue_url, queue_arn = resources.queue_url(spec["queue"]), resources.queue_arn(spec["queue"])
    sqs = PayloadCappedSqs(aws.client("sqs"))

    context_fields = {
        "function_name": settings.function_name,
        "timeout_s": float(settings.function_timeout_s),
        "memory_limit_in_mb": settings.memory_size_mb,
    }
    spawn = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for _ in range(concurrency):
        parent, child = spawn.Pipe()
        process = spawn.Process(target=instance, args=(child, spec), daemon=True)
        process.start()
        pipes.append(parent)
        processes.append(process)
    ready = [pipe.recv() for pipe in pipes]  # every cold start done before the clock starts

    gather_lock = threading.Lock()
    local = threading.local()
    settled_lock = threading.Lock()
    settled = threading.Condition(settled_lock)  # notified under the lock that guards `state`
    expected = spec["count"]
    state = {"settled": 0, "received": 0, "failed": 0, "errors": 0}
    finished: dict[str, float | None] = {"at": None}
    invocations: list[_Invocation] = []
    deadline = time.monotonic() + float(spec.get("timeout_s", 1500))

    def invoke(event: dict[str, Any], context: Any) -> Any:
        """The poller's handler: the batch is gathered, so the next thread may gather; the
        function runs in this thread's instance."""
        local.gathered = time.perf_counter()
        gather_lock.release()
        local.holding = False
        pipe = pipes[local.index]
        pipe.send((event, {**context_fields, "aws_request_id": context.aws_request_id}))
        result: dict[str, Any] = pipe.recv()
        local.result = result
        local.returned = time.perf_counter()
        if result["error"]:
            raise RuntimeError(result["error"])
        return result["response"]

    poller = SqsEventSourcePoller.from_settings(
        settings, sqs, queue_url, queue_arn, invoke, retry_visibility_s=0.2
    )
    moto_pid = spec.get("server_pids", {}).get("moto")
    moto_cpu_before = cpu_seconds(moto_pid) if moto_pid else 0.0
    sqs_pid = spec.get("server_pids", {}).get("moto_sqs")
    sqs_cpu_before = cpu_seconds(sqs_pid) if sqs_pid else 0.0

    def run(index: int) -> None:
        local.index = index
        while time.monotonic() < deadline:
            with settled_lock:
                if state["settled"] >= expected:
                    return
            gather_lock.acquire()
            local.holding = True
            began = time.perf_counter()
            try:
                sqs.new_batch()
                batch = poller.poll_once()
            finally:
                if local.holding:
                    gather_lock.release()
                    local.holding = False
            if batch is None:
                # Nothing visible: wait as a long poll would, until a batch settles (its failures
                # come back after retry_visibility_s) or a while passes, instead of asking SQS
                # again every few milliseconds: empty receives cost moto CPU the drain needs.
                with settled:
                    settled.wait(IDLE_POLL_S)
                continue
            done = time.perf_counter()
            with settled_lock:
                state["settled"] += batch.deleted
                if state["settled"] >= expected and finished["at"] is None:
                    finished["at"] = time.perf_counter()  # the last delete: the drain's end
                state["received"] += batch.received
                state["failed"] += batch.failed
                state["errors"] += batch.handler_error is not None
                invocations.append(
                    _Invocation(
                        instance=index,
                        started=local.gathered - started,
                        gathered_s=local.gathered - began,
                        settled_s=done - local.returned,
                        result=local.result,
                    )
                )
                settled.notify_all()

    started, cpu_started = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=run, args=(i,), name=f"esm-{i}") for i in range(concurrency)]
    with poller:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # From the first poll to the last delete (not to the last idle thread noticing it).
        elapsed = (finished["at"] or time.perf_counter()) - started
        mapping_cpu = time.process_time() - cpu_started
        moto_cpu = (cpu_seconds(moto_pid) - moto_cpu_before) if moto_pid else None
        sqs_cpu = (cpu_seconds(sqs_pid) - sqs_cpu_before) if sqs_pid else None
        sqs.release(queue_url)
    finals = []
    for pipe, process in zip(pipes, processes, strict=True):
        pipe.send(STOP)
        finals.append(pipe.recv())
        process.join(timeout=30)
    return _result(
        spec,
        settings,
        concurrency,
        state,
        invocations,
        ready,
        finals,
        elapsed,
        mapping_cpu,
        moto_cpu,
        sqs_cpu,
        counter,
    )


def _result(
    spec: dict[str, Any],
    settings: Any,
    concurrency: int,
    state: dict[str, int],
    invocations: list[_Invocation],
    ready: list[dict[str, Any]],
    finals: list[dict[str, Any]],
    elapsed: float,
    mapping_cpu: float,
    moto_cpu: float | None,
    sqs_cpu: float | None,
    counter: CallCounter,
) -> dict[str, Any]:
    results = [inv.result for inv in invocations]

    def total(key: str) -> float:
        return float(sum(r[key] for r in results))

    aws_calls: Counter[str] = Counter()
    for r in results:
        aws_calls.update(r["aws_calls"])
    spans = sorted((inv.started, inv.started + inv.result["wall_s"]) for inv in invocations)
    return {
        "items": spec["count"],
        "settled": state["settled"],
        "received": state["received"],
        "failed": state["failed"],
        "handler_errors": state["errors"],
        "seconds": elapsed,
        "concurrency": concurrency,
        "batch_size": settings.batch_size,
        "invocations": len(invocations),
        "batch_sizes": sorted({r["items"] for r in results}),
        "max_concurrent_invocations": _max_overlap(spans),
        "first_invocation_at_s": spans[0][0] if spans else None,
        "last_invocation_end_s": max((end for _, end in spans), default=None),
        "handler_seconds": total("wall_s"),
        "handler_cpu_seconds": total("cpu_s"),
        "coveo_wait_seconds": total("coveo_wait_s"),
        "coveo_prefetch_seconds": total("coveo_prefetch_s"),
        "ledger_wait_seconds": total("ledger_wait_s"),
        "ledger_wait_seconds_by_method": _sum_dicts(r["ledger_wait_by_method_s"] for r in results),
        "other_aws_wait_seconds": total("other_aws_wait_s"),
        "coveo_requests_sent": int(total("coveo_requests_sent")),
        "coveo_http_requests_timed": int(total("coveo_http_requests")),
        "mapping_gather_seconds": sum(inv.gathered_s for inv in invocations),
        "mapping_settle_seconds": sum(inv.settled_s for inv in invocations),
        "mapping_cpu_seconds": mapping_cpu,
        "moto_cpu_seconds_during_drain": moto_cpu,
        "moto_sqs_cpu_seconds_during_drain": sqs_cpu,
        "function_aws_calls": dict(sorted(aws_calls.items())),
        "mapping_aws_calls": dict(sorted(counter.calls.items())),
        "adapter_calls": _sum_dicts(final["adapter_calls"] for final in finals),
        "profile": merge_profiles([final["profile"] for final in finals if final["profile"]]),
        "rss_after_cold_start_mb": max(r["rss_after_cold_start_mb"] for r in ready),
        "instance_peak_rss_mb": max(final["peak_rss_mb"] for final in finals),
        "invocation_timeline": [
            {
                "instance": inv.instance,
                "items": inv.result["items"],
                "start_s": round(inv.started, 3),
                "wall_s": round(inv.result["wall_s"], 3),
                "coveo_wait_s": round(inv.result["coveo_wait_s"], 3),
                "ledger_wait_s": round(inv.result["ledger_wait_s"], 3),
                "cpu_s": round(inv.result["cpu_s"], 3),
                "gathered_s": round(inv.gathered_s, 3),
                "settled_s": round(inv.settled_s, 3),
            }
            for inv in sorted(invocations, key=lambda inv: inv.started)
        ],
    }


def merge_profiles(profiles: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The instances' `ThreadCpuProfile.consumers()` added up, most CPU first."""
    if not profiles:
        return None
    cpu: defaultdict[str, float] = defaultdict(float)
    libraries: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
    for profile in profiles:
        for row in profile["by_function"]:
            cpu[row["function"]] += row["cpu_s"]
            for library, seconds in row["libraries"].items():
                libraries[row["function"]][library] += seconds
    rows = [
        {"function": name, "cpu_s": seconds, "libraries": dict(libraries[name])}
        for name, seconds in sorted(cpu.items(), key=lambda item: item[1], reverse=True)
    ]
    return {"cpu_s": sum(p["cpu_s"] for p in profiles), "by_function": rows}


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    best = running = 0
    for _, step in events:
        running += step
        best = max(best, running)
    return best


def _sum_dicts(dicts: Any) -> dict[str, int]:
    total: Counter[str] = Counter()
    for d in dicts:
        total.update(d)
    return dict(sorted(total.items()))
