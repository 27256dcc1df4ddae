"""Lambda's SQS event source mapping, run locally against a real (moto) SQS queue.

It gathers a batch the way Lambda does (batch size, batching window), hands the handler the exact
SQS event and a context with a real deadline, and settles the batch as Lambda would: with partial
batch responses, delete all but the reported failures (an invalid response fails the whole batch);
without them, delete all on success and nothing on error. What is not deleted comes back after the
visibility timeout, and SQS itself (moto) moves it to the DLQ after `maxReceiveCount` receives.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from aws_simulator.lambda_context import LambdaContext

if TYPE_CHECKING:
    from aws_simulator.cloudformation import EventSourceSettings

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# The context is typed Any so handlers annotated with Powertools' LambdaContext fit; the return
# value is Any because checking it (as Lambda does) is this module's job.
LambdaHandler = Callable[[dict[str, Any], Any], Any]

SQS_MAX_MESSAGES_PER_CALL = 10
# System attributes Lambda copies into a record: the first four always, the rest when SQS has them.
_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
)


@dataclass(frozen=True)
class BatchResult:
    """One invocation: what it received, what was deleted, and what was left for redelivery."""

    message_ids: tuple[str, ...]
    deleted_ids: tuple[str, ...]
    failed_ids: tuple[str, ...]  # not deleted: redelivered after the visibility timeout
    handler_error: str | None  # why the whole batch failed, if it did
    duration_s: float  # the handler's run time

    @property
    def received(self) -> int:
        return len(self.message_ids)

    @property
    def deleted(self) -> int:
        return len(self.deleted_ids)

    @property
    def failed(self) -> int:
        return len(self.failed_ids)


@dataclass
class DrainResult:
    """Totals of `run_until_drained`; `drained` is False when it stopped on its timeout."""

    drained: bool = False
    duration_s: float = 0.0
    batches: list[BatchResult] = field(default_factory=list)

    @property
    def invocations(self) -> int:
        return len(self.batches)

    @property
    def received(self) -> int:
        return sum(batch.received for batch in self.batches)

    @property
    def deleted(self) -> int:
        return sum(batch.deleted for batch in self.batches)

    @property
    def failed(self) -> int:
        return sum(batch.failed for batch in self.batches)

    @property
    def handler_errors(self) -> int:
        return sum(batch.handler_error is not None for batch in self.batches)


class SqsEventSourcePoller:
    """One poller of Lambda's SQS event source mapping, invoking `handler` in this thread.

    `retry_visibility_s` is how long a message left on the queue (reported failure, failed batch)
    stays invisible before redelivery; None leaves the queue's VisibilityTimeout as Lambda does.
    SQS only takes whole seconds, so a fractional value (tests use 0.2) hides the message for the
    next whole second and a timer makes it visible again at `retry_visibility_s`; `close()` cancels
    pending timers (those messages then reappear at the whole second).

    The batching window starts when the batch's first message arrives: a poll that finds the queue
    empty returns None at once. A handler that runs past `function_timeout_s` cannot be stopped
    here; its batch is failed as Lambda fails a timed-out invocation, whatever it returned.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: LambdaHandler,
        *,
        batch_size: int = 10,
        batching_window_s: float = 0.0,
        function_timeout_s: float = 3.0,
        report_batch_item_failures: bool = True,
        retry_visibility_s: float | None = None,
        function_name: str = "local-function",
        memory_limit_in_mb: int = 128,
        poll_interval_s: float = 0.02,
    ) -> None:
        if not 1 <= batch_size <= 10_000:
            raise ValueError(f"batch_size must be 1..10000, not {batch_size}")
        if batching_window_s < 0 or function_timeout_s <= 0:
            raise ValueError("batching_window_s must be >= 0 and function_timeout_s > 0")
        if retry_visibility_s is not None and not 0 <= retry_visibility_s <= 43_200:
            raise ValueError(f"retry_visibility_s must be 0..43200 (SQS's maximum), not {retry_visibility_s}")
        self._sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self._handler = handler
        self.batch_size = batch_size
        self.batching_window_s = batching_window_s
        self.function_timeout_s = function_timeout_s
        self.report_batch_item_failures = report_batch_item_failures
        self.retry_visibility_s = retry_visibility_s
        self.function_name = function_name
        self.memory_limit_in_mb = memory_limit_in_mb
        self._poll_interval_s = poll_interval_s
        # arn:aws:sqs:<region>:<account>:<name>
        _, _, _, self.region, self.account_id, _ = queue_arn.split(":", 5)
        self._timers: set[threading.Timer] = set()
        self._timers_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: EventSourceSettings,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: LambdaHandler,
        *,
        retry_visibility_s: float | None = None,
    ) -> Self:
        """A poller configured as the template configures this function's SQS event."""
        return cls(
            sqs,
            queue_url,
            queue_arn,
            handler,
            batch_size=settings.batch_size,
            batching_window_s=settings.batching_window_s,
            function_timeout_s=settings.function_timeout_s,
            report_batch_item_failures=settings.report_batch_item_failures,
            retry_visibility_s=retry_visibility_s,
            function_name=settings.function_name,
            memory_limit_in_mb=settings.memory_size_mb,
        )

    # --- one invocation ---------------------------------------------------------------------

    def poll_once(self) -> BatchResult | None:
        """Gather one batch and invoke the handler with it; None when the queue had nothing visible."""
        messages = self._gather()
        if not messages:
            return None
        return self._invoke(messages)

    def _gather(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        window_closes: float | None = None
        remaining = 0.0
        while len(batch) < self.batch_size:
            wanted = min(SQS_MAX_MESSAGES_PER_CALL, self.batch_size - len(batch))
            page = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=wanted,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                # Long-poll the whole seconds left of an open window (SQS waits in whole seconds).
                WaitTimeSeconds=min(20, int(remaining)),
            ).get("Messages", [])
            batch.extend(page)
            if not batch:
                return batch
            if window_closes is None:
                window_closes = time.monotonic() + self.batching_window_s
            remaining = window_closes - time.monotonic()
            if remaining <= 0:
                # No window (or it has closed): keep reading only while SQS returns full pages.
                if len(page) < wanted:
                    break
                remaining = 0.0
                continue
            if not page and remaining < 1:
                time.sleep(min(self._poll_interval_s, remaining))
        return batch

    def _invoke(self, messages: list[dict[str, Any]]) -> BatchResult:
        ids = [message["MessageId"] for message in messages]
        event = {"Records": [self._record(message) for message in messages]}
        context = LambdaContext(
            function_name=self.function_name,
            timeout_s=self.function_timeout_s,
            memory_limit_in_mb=self.memory_limit_in_mb,
            region=self.region,
            account_id=self.account_id,
        )
        started = time.monotonic()
        error: str | None = None
        response: Any = None
        try:
            # Through JSON, as the runtime sends it: a response it cannot serialize is an error.
            response = json.loads(json.dumps(self._handler(event, context)))
        except Exception as exc:
            log.warning("%s failed a batch of %d", self.function_name, len(ids), exc_info=True)
            error = f"{type(exc).__name__}: {exc}"
        duration = time.monotonic() - started
        if error is None and duration > self.function_timeout_s:
            error = f"Task timed out after {self.function_timeout_s:.2f} seconds"

        failed: set[str] = set(ids)
        if error is None:
            if self.report_batch_item_failures:
                failed, error = _reported_failures(response, ids)
            else:
                failed = set()
        keep = [message for message in messages if message["MessageId"] in failed]
        deleted = self._delete([message for message in messages if message["MessageId"] not in failed])
        self._retry_later(keep)
        return BatchResult(
            message_ids=tuple(ids),
            deleted_ids=tuple(deleted),
            failed_ids=tuple(message_id for message_id in ids if message_id not in deleted),
            handler_error=error,
            duration_s=duration,
        )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {name: attributes[name] for name in _RECORD_ATTRIBUTES if name in attributes},
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
        }
        # Real events carry the attributes' digest when the message has attributes.
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        record["eventSource"] = "aws:sqs"
        record["eventSourceARN"] = self.queue_arn
        record["awsRegion"] = self.region
        return record

    def _delete(self, messages: Sequence[dict[str, Any]]) -> list[str]:
        deleted: list[str] = []
        for chunk in _chunks(messages, SQS_MAX_MESSAGES_PER_CALL):
            response = self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(chunk)
                ],
            )
            deleted.extend(chunk[int(entry["Id"])]["MessageId"] for entry in response.get("Successful", []))
            for entry in response.get("Failed", []):
                # A stale receipt handle (the message was received again meanwhile): SQS redelivers it.
                log.warning("could not delete %s: %s", chunk[int(entry["Id"])]["MessageId"], entry)
        return deleted

    # --- retries ----------------------------------------------------------------------------

    def _retry_later(self, messages: Sequence[dict[str, Any]]) -> None:
        if self.retry_visibility_s is None or not messages:
            return
        handles = [message["ReceiptHandle"] for message in messages]
        whole_seconds = math.ceil(self.retry_visibility_s)
        self._change_visibility(handles, whole_seconds)
        if whole_seconds != self.retry_visibility_s:
            timer = threading.Timer(self.retry_visibility_s, self._release, args=(handles,))
            timer.daemon = True
            with self._timers_lock:
                self._timers = {pending for pending in self._timers if pending.is_alive()}
                self._timers.add(timer)
            timer.start()

    def _release(self, handles: list[str]) -> None:
        try:
            self._change_visibility(handles, 0)
        except Exception:
            # The message may be gone (deleted by another poller, moved to the DLQ) or the server
            # stopped; either way it no longer needs releasing.
            log.debug("could not make messages visible again", exc_info=True)

    def _change_visibility(self, handles: list[str], seconds: int) -> None:
        for chunk in _chunks(handles, SQS_MAX_MESSAGES_PER_CALL):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                    for index, handle in enumerate(chunk)
                ],
            )

    def close(self) -> None:
        """Cancel pending release timers."""
        with self._timers_lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- until drained ----------------------------------------------------------------------

    def queue_is_empty(self) -> bool:
        """No visible, in-flight or delayed message (moto's counts are exact, SQS's approximate)."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return all(int(value) == 0 for value in attributes.values())

    def run_until_drained(
        self, timeout_s: float, *, idle_polls: int = 2, idle_sleep_s: float = 0.05
    ) -> DrainResult:
        """Poll until `idle_polls` polls in a row find nothing and the queue is empty, or `timeout_s`.

        Messages waiting for redelivery count as in flight, so it keeps polling until they come back
        and are settled (deleted, or moved to the DLQ by SQS). A batch in progress when the timeout
        passes finishes first.
        """
        result = DrainResult()
        started = time.monotonic()
        idle = 0
        while time.monotonic() - started < timeout_s:
            batch = self.poll_once()
            if batch is not None:
                result.batches.append(batch)
                idle = 0
                continue
            idle = idle + 1 if self.queue_is_empty() else 0
            if idle >= idle_polls:
                result.drained = True
                break
            time.sleep(idle_sleep_s)
        result.duration_s = time.monotonic() - started
        return result


def _reported_failures(response: Any, ids: Sequence[str]) -> tuple[set[str], str | None]:
    """The message ids a partial batch response reports as failed, or every id and why it is invalid.

    Lambda's rules: None, {}, and a null or empty `batchItemFailures` mean success; anything else
    that is not a list of {"itemIdentifier": <an id of this batch>} fails the whole batch.
    """
    everything = set(ids)
    if response is None:
        return set(), None
    if not isinstance(response, dict):
        return (
            everything,
            f"invalid partial batch response: expected an object, got {type(response).__name__}",
        )
    failures = response.get("batchItemFailures")
    if failures is None:
        return set(), None
    if not isinstance(failures, list):
        return everything, "invalid partial batch response: batchItemFailures is not a list"
    reported: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or not identifier:
            return everything, f"invalid partial batch response: no itemIdentifier in {failure!r}"
        if identifier not in everything:
            return everything, f"invalid partial batch response: {identifier!r} is not in the batch"
        reported.add(identifier)
    return reported, None


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # SQS's API shape (StringValue, BinaryValue as bytes) -> Lambda's (camelCase, binary as base64).
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [
        base64.b64encode(item).decode("ascii") for item in value.get("BinaryListValues", [])
    ]
    attribute["dataType"] = value["DataType"]
    return attribute


def _chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    return (items[start : start + size] for start in range(0, len(items), size))


def drain_concurrently(
    make_poller: Callable[[int], SqsEventSourcePoller],
    workers: int,
    timeout_s: float,
    *,
    idle_polls: int = 2,
) -> list[DrainResult]:
    """Run `workers` pollers on their own threads against one queue until it drains.

    `make_poller(i)` is called on worker i's thread, so each poller builds its own boto3 client
    there. The handler is shared by all workers and must be thread-safe. Results are in worker
    order; the first worker exception is raised once every worker has stopped.
    """

    def drain(index: int) -> DrainResult:
        with make_poller(index) as poller:
            return poller.run_until_drained(timeout_s, idle_polls=idle_polls)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sqs-poller") as pool:
        futures = [pool.submit(drain, index) for index in range(workers)]
        return [future.result() for future in futures]
