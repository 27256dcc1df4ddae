"""Operator tools: what Coveo accepted and then refused, full syncs, and putting work back in motion.

`failures` lists the ledger's FAILED rows with Coveo's reason. `syncs` lists the latest full syncs:
their state, counts and why one failed or was refused. `redrive` moves dead letters back to
the queue they came from (SQS's StartMessageMoveTask in AWS; receive, resend and delete where move
tasks do not exist, as in moto), or re-pushes chosen FAILED rows from the change the ledger kept,
through the same code path as the validator's own re-pushes. Both run against AWS, configured by
the environment the template gives the functions, or against a local stack's moto endpoint.

Every command fails in one line on stderr, never a traceback, with these exit statuses:
0 done; 1 AWS (or Coveo) answered with an error or could not be reached, or a re-push was not done;
2 configuration missing or invalid (a table, bucket or queue not named, no AWS region, no
credentials, a malformed --local-endpoint, the functions' settings for --repush).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from connector.adapters.dynamodb_ledger import DynamoDBLedger
from connector.adapters.dynamodb_syncs import DynamoDBSyncs
from connector.adapters.s3_ledger_entries import S3LedgerEntries
from connector.domain.events import Kind, item_key
from connector.domain.ledger import Row, Status
from connector.domain.pipeline import Disposition, Outcome
from connector.domain.sync import SyncRecord
from connector.domain.validator import repush_stored_changes
from connector.entry.runtime import Runtime
from connector.entry.settings import ConfigurationError
from connector.ports import SyncLedger, ValidationLedger
from coveo_push_api.errors import CoveoError

ClientFactory = Callable[..., Any]  # (service name, config=None) → boto3 client
QUEUES = {
    Kind.ITEM: ("ITEM_DEAD_LETTER_QUEUE_URL", "ITEM_QUEUE_URL"),
    Kind.IDENTITY: ("IDENTITY_DEAD_LETTER_QUEUE_URL", "IDENTITY_QUEUE_URL"),
}
# A local endpoint (moto, as `coveo-push local` and the tests run it) lives in moto's default region
# and accepts any credentials: these placeholders sign requests that never reach AWS.
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
REPUSH_FUNCTION = "coveo-push-redrive"  # names the sender on anything the re-push dead-letters
EXIT_OK, EXIT_FAILED, EXIT_CONFIGURATION = 0, 1, 2


class OperatorError(Exception):
    """A problem the operator can fix (a missing setting, an ambiguous queue); the message says how."""


# --- failures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    key: str
    subject: str
    operation: str
    version: int
    event_id: str
    reason: str
    failed_at_ms: int | None
    pushed_at_ms: int
    attempts: int
    repushes: int

    @classmethod
    def of(cls, row: Row) -> Failure:
        return cls(
            key=row.key,
            subject=row.subject,
            operation=row.operation,
            version=row.version,
            event_id=row.event_id,
            reason=row.failure_reason or "(no reason recorded)",
            failed_at_ms=row.checked_at_ms,
            pushed_at_ms=row.pushed_at_ms,
            attempts=row.attempts,
            repushes=row.repushes,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "subject": self.subject,
            "operation": self.operation,
            "version": self.version,
            "eventId": self.event_id,
            "reason": self.reason,
            "failedAt": _iso(self.failed_at_ms),
            "pushedAt": _iso(self.pushed_at_ms),
            "attempts": self.attempts,
            "repushes": self.repushes,
        }


def list_failures(ledger: ValidationLedger, limit: int = 100) -> tuple[list[Failure], bool]:
    """FAILED rows, oldest push first, at most `limit`; True as well when there are more."""
    found: list[Failure] = []
    token: object | None = None
    while len(found) <= limit:  # one row past the limit tells whether there are more
        page = ledger.rows_with_status(Status.FAILED, limit=min(500, limit + 1 - len(found)), token=token)
        found += [Failure.of(row) for row in page.rows]
        token = page.next_token
        if token is None:
            break
    return found[:limit], len(found) > limit


def format_failures(failures: Sequence[Failure], more: bool = False) -> str:
    if not failures:
        return "No FAILED pushes in the ledger."
    header = ("KEY", "FAILED AT", "ATTEMPTS", "RE-PUSHES", "REASON")
    rows = [
        (f.key, _iso(f.failed_at_ms) or "-", str(f.attempts), str(f.repushes), f.reason) for f in failures
    ]
    return _table(header, rows, more, len(failures))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], more: bool, shown: int) -> str:
    # The reason goes last, unpadded: it is the long column.
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in (header, *rows)
    ]
    if more:
        lines.append(f"(the first {shown}; raise --limit to see more)")
    return "\n".join(lines)


# --- full syncs ---------------------------------------------------------------------------------


def list_syncs(syncs: SyncLedger, limit: int = 20) -> tuple[list[SyncRecord], bool]:
    """The latest syncs, newest first (every running one among them), at most `limit`; True as
    well when there are more."""
    records = syncs.recent(limit + 1)  # one past the limit tells whether there are more
    return records[:limit], len(records) > limit


def sync_to_json(record: SyncRecord) -> dict[str, Any]:
    return {
        "syncId": record.sync_id,
        **record.to_report(),
        "startedAt": _iso(record.started_ms),
        "finishedAt": _iso(record.finished_ms),
    }


def format_syncs(records: Sequence[SyncRecord], more: bool = False) -> str:
    if not records:
        return "No full syncs in the ledger."
    header = ("SYNC", "SCOPE", "STATE", "EXPECTED", "SETTLED", "DELETED", "STARTED", "FINISHED", "REASON")
    rows = [
        (
            r.sync_id,
            r.scope_name,
            r.state.value,
            _count(r.expected),
            str(r.settled),
            _count(r.deleted),
            _iso(r.started_ms) or "-",
            _iso(r.finished_ms) or "-",
            r.reason or "",
        )
        for r in records
    ]
    return _table(header, rows, more, len(records))


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


# --- dead letters back to their queue -----------------------------------------------------------


@dataclass(frozen=True)
class Move:
    dead_letter_url: str
    source_url: str
    mode: str  # "move-task" or "resend"
    messages: int  # moved by resend; in the DLQ when the move task started
    task_handle: str | None = None


def source_queue_url(sqs: Any, dead_letter_url: str, explicit: str | None = None) -> str:
    """The queue a DLQ's messages go back to: `explicit`, else the one queue whose redrive policy
    names this DLQ."""
    if explicit:
        return explicit
    urls = sqs.list_dead_letter_source_queues(QueueUrl=dead_letter_url).get("queueUrls", [])
    if len(urls) != 1:
        found = "no queue names" if not urls else f"{len(urls)} queues name"
        raise OperatorError(
            f"{found} {dead_letter_url} as their dead-letter queue: say where its messages go back "
            "with --item-queue-url / --identity-queue-url (or ITEM_QUEUE_URL / IDENTITY_QUEUE_URL)"
        )
    return str(urls[0])


def move_by_resend(sqs: Any, dead_letter_url: str, source_url: str) -> int:
    """Receive, send to the source queue, delete: the move task's effect where it does not exist.

    Body and message attributes travel as a move task carries them. A message is deleted only once
    its copy is sent, so a crash between the two can duplicate it but never lose it (the pipeline's
    stale guard makes a duplicate harmless). Returns how many messages moved.
    """
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dead_letter_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,  # out of sight while they are copied; no second pass sees them
        ).get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            request: dict[str, Any] = {"QueueUrl": source_url, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                request["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**request)  # one by one: ten large bodies would overflow a batch
        sqs.delete_message_batch(
            QueueUrl=dead_letter_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
        moved += len(messages)


def start_move_task(
    sqs: Any, dead_letter_url: str, source_url: str, max_per_second: int | None = None
) -> tuple[str, int]:
    """SQS's own redrive; returns the task handle and how many messages the DLQ held.

    The destination is named: the connector dead-letters bad input itself (SendMessage), so SQS
    knows no source queue for those messages and would not move them back on its own.
    """
    attributes = sqs.get_queue_attributes(
        QueueUrl=dead_letter_url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"]
    )["Attributes"]
    destination = sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["QueueArn"])["Attributes"]
    request: dict[str, Any] = {"SourceArn": attributes["QueueArn"], "DestinationArn": destination["QueueArn"]}
    if max_per_second:
        request["MaxNumberOfMessagesPerSecond"] = max_per_second
    handle = sqs.start_message_move_task(**request)["TaskHandle"]
    return str(handle), int(attributes.get("ApproximateNumberOfMessages", 0))


def redrive(
    sqs: Any, dead_letter_url: str, source_url: str, *, mode: str, max_per_second: int | None = None
) -> Move:
    if mode == "resend":
        return Move(dead_letter_url, source_url, mode, move_by_resend(sqs, dead_letter_url, source_url))
    if mode == "move-task":
        handle, count = start_move_task(sqs, dead_letter_url, source_url, max_per_second)
        return Move(dead_letter_url, source_url, mode, count, handle)
    raise ValueError(f"unknown redrive mode {mode!r}")


# --- re-pushing FAILED rows ---------------------------------------------------------------------


@dataclass(frozen=True)
class Repush:
    key: str
    pushed: bool
    detail: str


def repush_failed(runtime: Runtime, keys: Sequence[str], *, now_ms: int | None = None) -> list[Repush]:
    """Re-push the stored change of each FAILED row named (a ledger key, or a documentId).

    The row goes back to ACCEPTED once Coveo takes the push; the next validator run verifies it.
    """
    ledger = runtime.ledger()
    found: dict[str, Repush | Row] = {}  # by key, in the order given: a refusal, or a row to re-push
    for key in keys:
        row = ledger.get(key) or (None if key.startswith("item#") else ledger.get(item_key(key)))
        if row is None:
            found[key] = Repush(key, False, "no pushed ledger row has this key")
        elif row.status is not Status.FAILED:
            found[row.key] = Repush(row.key, False, f"is {row.status.value}, not FAILED: left alone")
        else:
            found[row.key] = row
    outcomes: dict[str, Outcome | None] = {}
    rows = [row for row in found.values() if isinstance(row, Row)]
    for kind in dict.fromkeys(row.kind for row in rows):
        outcomes |= repush_stored_changes(  # one pipeline batch per kind
            [
                (row, f"re-pushed by an operator after: {row.failure_reason}")
                for row in rows
                if row.kind == kind
            ],
            ledger,
            runtime.pipeline(kind, REPUSH_FUNCTION),
            now_ms=now_ms if now_ms is not None else int(time.time() * 1000),
            source="coveo-push/operator",
        )
    return [
        entry if isinstance(entry, Repush) else _repushed(key, outcomes[key]) for key, entry in found.items()
    ]


def _repushed(key: str, outcome: Outcome | None) -> Repush:
    if outcome is None:
        return Repush(
            key, False, "cannot be re-pushed: its change was too large to keep, or a newer push owns the row"
        )
    if outcome.disposition is Disposition.PUSHED:
        return Repush(key, True, "re-pushed: ACCEPTED, the validator will verify it")
    return Repush(key, False, f"not pushed ({outcome.disposition.value}): {outcome.reason}")


# --- command line (arguments: main.py) ----------------------------------------------------------


def client_factory(local_endpoint: str | None) -> ClientFactory:
    """boto3 clients for AWS as the environment configures it, or for a local moto endpoint."""
    import boto3

    session = boto3.session.Session()
    if not local_endpoint:
        return session.client  # type: ignore[no-any-return]
    parsed = urlparse(local_endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise OperatorError(f"--local-endpoint {local_endpoint!r} is not a URL like http://127.0.0.1:5000")

    def local_client(service: str, config: Any = None) -> Any:
        # The local run provisions in moto's default region with fake credentials.
        return session.client(
            service,
            endpoint_url=local_endpoint,
            region_name=LOCAL_REGION,
            config=config,
            **LOCAL_CREDENTIALS,
        )

    return local_client


def _configured(
    given: str | None, env: Mapping[str, str], variable: str, what: str, option: str | None = None
) -> str:
    """An option or its environment variable; OperatorError naming both if neither."""
    value = given or env.get(variable)
    if not value:
        raise OperatorError(f"no {what}: pass {option or '--' + what.split()[-1]} or set {variable}")
    return value


def _one_line(exc: BaseException, limit: int = 400) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _failing_in_one_line(command: str, run: Callable[[], int]) -> int:
    """Run a command; whatever stops it is one line on stderr and an exit status (module docstring)."""

    def say(message: str, status: int) -> int:
        print(f"coveo-push {command}: {message}", file=sys.stderr)
        return status

    try:
        return run()
    except (OperatorError, ConfigurationError) as exc:
        return say(_one_line(exc), EXIT_CONFIGURATION)
    except NoRegionError:
        return say(
            "no AWS region: set AWS_DEFAULT_REGION (or a region in the AWS profile), "
            "or pass --local-endpoint URL for a local stack",
            EXIT_CONFIGURATION,
        )
    except (NoCredentialsError, PartialCredentialsError):
        return say(
            "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or run "
            "`aws configure`), or pass --local-endpoint URL for a local stack",
            EXIT_CONFIGURATION,
        )
    except ProfileNotFound as exc:
        return say(f"{_one_line(exc)}: fix AWS_PROFILE", EXIT_CONFIGURATION)
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        return say(f"AWS endpoint unreachable: {_one_line(exc)}", EXIT_FAILED)
    except (BotoCoreError, ClientError, CoveoError) as exc:
        return say(_one_line(exc), EXIT_FAILED)


def run_failures(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    return _failing_in_one_line("failures", lambda: _failures(args, os.environ if env is None else env))


def _failures(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    table = _configured(args.table, env, "LEDGER_TABLE", "ledger table")
    bucket = _configured(args.bucket, env, "LEDGER_BUCKET", "ledger bucket")
    client = client_factory(args.local_endpoint)
    ledger = DynamoDBLedger(client("dynamodb"), table, entries=S3LedgerEntries(client("s3"), bucket))
    failures, more = list_failures(ledger, args.limit)
    if args.json:
        print(json.dumps({"failures": [f.to_json() for f in failures], "more": more}, indent=2))
    else:
        print(format_failures(failures, more))
    return EXIT_OK


def run_syncs(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    return _failing_in_one_line("syncs", lambda: _syncs(args, os.environ if env is None else env))


def _syncs(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    table = _configured(args.table, env, "LEDGER_TABLE", "ledger table")
    client = client_factory(args.local_endpoint)
    # The records are in the table; the bucket holds only each sync's members, not read here.
    syncs = DynamoDBSyncs(client("dynamodb"), table, s3=None, bucket="")
    records, more = list_syncs(syncs, args.limit)
    if args.json:
        print(json.dumps({"syncs": [sync_to_json(r) for r in records], "more": more}, indent=2))
    else:
        print(format_syncs(records, more))
    return EXIT_OK


def run_redrive(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    return _failing_in_one_line("redrive", lambda: _redrive(args, os.environ if env is None else env))


def _redrive(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    client = client_factory(args.local_endpoint)
    if args.repush:
        results = repush_failed(Runtime.from_env(env, client=client), args.repush)
        for result in results:
            print(f"{result.key}: {result.detail}")
        return EXIT_OK if all(r.pushed for r in results) else EXIT_FAILED
    mode = args.mode if args.mode != "auto" else ("resend" if args.local_endpoint else "move-task")
    queues = []  # every queue named before any message moves: a missing one stops nothing halfway
    for kind in list(Kind) if args.queue == "all" else [Kind(args.queue)]:
        dlq_variable, queue_variable = QUEUES[kind]
        dead_letter_url = _configured(
            getattr(args, f"{kind}_dlq_url"),
            env,
            dlq_variable,
            f"{kind} dead-letter queue",
            f"--{kind}-dlq-url",
        )
        queues.append((kind, dead_letter_url, getattr(args, f"{kind}_queue_url") or env.get(queue_variable)))
    sqs = client("sqs")
    for kind, dead_letter_url, explicit in queues:
        move = redrive(
            sqs,
            dead_letter_url,
            source_queue_url(sqs, dead_letter_url, explicit),
            mode=mode,
            max_per_second=args.max_per_second,
        )
        print(_describe(kind, move))
    return EXIT_OK


def _describe(kind: str, move: Move) -> str:
    if move.task_handle is None:
        return (
            f"{kind}: moved {move.messages} message(s) from {move.dead_letter_url} back to {move.source_url}"
        )
    return (
        f"{kind}: move task started for about {move.messages} message(s) to {move.source_url}\n"
        f"  follow it: aws sqs list-message-move-tasks --source-arn <the DLQ's ARN> (task {move.task_handle})"
    )


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
