"""`coveo-push send` and `coveo-push sync`: a producer's files to the connector's queues.

`send FILE ...` checks every event against the contract, routes it to its queue and sends it in
SendMessageBatch calls (send.py). `sync --scope items|identities FILE ...` does the same inside a
full sync: `sync.started`, the changes with their `data.syncId`, and `sync.completed` with the
number of distinct changes sent, only when every event of the input was good and sent.

The queues are found as the operator commands find their configuration: `--item-queue-url` /
`--identity-queue-url`, else the stack's outputs (`--stack NAME`, CloudFormation DescribeStacks),
else `ITEM_QUEUE_URL` / `IDENTITY_QUEUE_URL` (what `coveo-push local --keep` exports).
`--local-endpoint URL` talks to a local moto instead of AWS. Exit statuses: 0 everything sent (and
for `sync`, sync.completed sent); 1 an event was bad or not sent, or the sync was not completed;
2 configuration missing or invalid (one line on stderr, nothing sent).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from connector.domain import strict_json
from connector.domain.errors import InvalidEvent
from connector.domain.events import SCOPE_NAMES, SCOPES, SYNC_COMPLETED, SYNC_STARTED, Kind, parse_message

from .operator import (
    EXIT_CONFIGURATION,
    EXIT_FAILED,
    EXIT_OK,
    OperatorError,
    _failing_in_one_line,
    client_factory,
)
from .send import (
    MAX_BATCH_BYTES,
    PROVIDER_ID,
    Bad,
    Event,
    Progress,
    Read,
    Sender,
    StopSending,
    Tally,
    Where,
    is_terminal,
    read_events,
    report_problems,
    route,
    sendable,
    stdin_bytes,
    summary,
)

QUEUE_VARIABLES = {Kind.ITEM: "ITEM_QUEUE_URL", Kind.IDENTITY: "IDENTITY_QUEUE_URL"}  # as --keep exports
STACK_OUTPUTS = {Kind.ITEM: "ItemQueueUrl", Kind.IDENTITY: "IdentityQueueUrl"}
SHOWN_PROBLEMS = 50  # bad and failed events listed without --verbose
SYNC_SOURCE = "urn:coveo-push:sync"


# --- commands -----------------------------------------------------------------------------------


@dataclass
class Streams:
    out: TextIO
    err: TextIO
    stdin: Callable[[], bytes] = stdin_bytes


def run_send(
    args: argparse.Namespace, env: Mapping[str, str] | None = None, streams: Streams | None = None
) -> int:
    io = streams or Streams(sys.stdout, sys.stderr)
    return _failing_in_one_line("send", lambda: _send(args, os.environ if env is None else env, io))


def run_sync(
    args: argparse.Namespace, env: Mapping[str, str] | None = None, streams: Streams | None = None
) -> int:
    io = streams or Streams(sys.stdout, sys.stderr)
    return _failing_in_one_line("sync", lambda: _sync(args, os.environ if env is None else env, io))


def _read_all(files: Sequence[str], io: Streams) -> tuple[list[Read], list[Bad], list[str]]:
    reads: list[Read] = []
    bad: list[Bad] = []
    empty: list[str] = []
    for name in files:
        if name == "-":
            data, shown = io.stdin(), "<stdin>"
        else:
            try:
                data, shown = Path(name).read_bytes(), name
            except OSError as exc:
                raise OperatorError(f"cannot read {name}: {exc.strerror or exc}") from None
        found, refused = read_events(shown, data)
        if not found and not refused:
            empty.append(shown)
        reads += found
        bad += refused
    return reads, bad, empty


def _send(args: argparse.Namespace, env: Mapping[str, str], io: Streams) -> int:
    began = time.monotonic()
    _check_concurrency(args)
    reads, bad, empty = _read_all(args.files, io)
    queue = None if args.queue == "auto" else Kind(args.queue)
    events, refused = route(reads, queue=queue, raw=args.raw)
    bad = sorted(bad + refused, key=_order)
    _say_empty(empty, io)
    report_problems(bad, io.err, limit=None if args.verbose else SHOWN_PROBLEMS, what="bad events")
    needed = {event.queue for event in events}
    urls = queue_urls(args, env, needed)
    tally = Tally(total=len(events))
    progress = _progress(args, io, tally.total)
    stopped = _deliver(args, events, urls, tally, progress)
    _progress_done(progress, tally)
    report_problems(
        tally.failed, io.err, limit=None if args.verbose else SHOWN_PROBLEMS, what="failed events"
    )
    io.out.write(summary(tally, len(bad), time.monotonic() - began, urls) + "\n")
    io.out.flush()
    if stopped is not None:
        raise stopped.cause
    return EXIT_OK if not bad and not tally.failed else EXIT_FAILED


def _deliver(
    args: argparse.Namespace,
    events: Sequence[Event],
    urls: Mapping[Kind, str],
    tally: Tally,
    progress: Progress | None,
) -> StopSending | None:
    """Send with progress; a call that failed as a whole is returned, the rest being unsent."""
    if not events:
        return None
    sender = Sender(
        _sqs(args.local_endpoint),
        urls,
        tally,
        concurrency=args.concurrency,
        on_progress=progress or (lambda tally: None),
    )
    try:
        sender.send(events)
    except StopSending as stop:
        return stop
    return None


def _progress(args: argparse.Namespace, io: Streams, total: int) -> Progress | None:
    if not (args.progress or is_terminal(io.err)) or total == 0:
        return None
    return Progress(io.err, total, terminal=is_terminal(io.err))


def _progress_done(progress: Progress | None, tally: Tally) -> None:
    if progress is not None:
        progress(tally, final=True)


def _sqs(local_endpoint: str | None) -> Any:
    from botocore.config import Config

    client = client_factory(local_endpoint)
    # Throttling and 5xx of a whole call: botocore's standard retries, with jittered backoff.
    return client(
        "sqs", config=Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=16)
    )


def _check_concurrency(args: argparse.Namespace) -> None:
    if not 1 <= args.concurrency <= 16:
        raise OperatorError(f"--concurrency {args.concurrency}: give 1 to 16 calls in flight")


def _say_empty(empty: Sequence[str], io: Streams) -> None:
    for name in empty:
        io.err.write(f"{name}: no events in it\n")


def _order(bad: Bad) -> tuple[str, int, int]:
    return (bad.where.file, bad.where.line, bad.where.index or 0)


def queue_urls(args: argparse.Namespace, env: Mapping[str, str], needed: set[Kind]) -> dict[Kind, str]:
    """The URL of each queue needed: its option, else the stack's output, else its variable."""
    urls: dict[Kind, str] = {}
    outputs: dict[str, str] | None = None
    for kind in (Kind.ITEM, Kind.IDENTITY):
        url = getattr(args, f"{kind}_queue_url", None)
        if not url and args.stack and kind in needed:
            if outputs is None:
                outputs = stack_outputs(args.stack, args.local_endpoint)
            url = outputs.get(STACK_OUTPUTS[kind])
            if not url:
                raise OperatorError(f"stack {args.stack!r} has no output {STACK_OUTPUTS[kind]}")
        url = url or env.get(QUEUE_VARIABLES[kind])
        if url:
            urls[kind] = url
        elif kind in needed:
            raise OperatorError(
                f"no {kind} queue: pass --{kind}-queue-url URL or --stack NAME, or set {QUEUE_VARIABLES[kind]} "
                "(`coveo-push local --keep` prints it); nothing was sent"
            )
    return urls


def stack_outputs(stack: str, local_endpoint: str | None) -> dict[str, str]:
    cloudformation = client_factory(local_endpoint)("cloudformation")
    found = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs", [])} if found else {}


# --- sync ---------------------------------------------------------------------------------------


def new_sync_id(scope: str, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{scope}-{moment}-{secrets.token_hex(3)}"


def control_event(kind: str, sync_id: str, data: dict[str, Any], now: datetime | None = None) -> str:
    """`sync.started` or `sync.completed` as the command sends it, with its time."""
    moment = (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"{sync_id}-{kind.removeprefix('sync.')}",
            "source": SYNC_SOURCE,
            "type": kind,
            "time": moment,
            "data": {"syncId": sync_id, **data},
        },
        separators=(",", ":"),
    )


def in_sync(events: Sequence[Event], sync_id: str, scope: Kind) -> tuple[list[Event], list[Bad]]:
    """The changes with `data.syncId` set; refused: sync events (the command sends its own), changes
    of the other scope, changes that name another sync, and those too large once the id is in."""
    kept: list[Event] = []
    bad: list[Bad] = []
    for event in events:
        change = event.change
        assert change is not None
        if change.is_sync_control:
            bad.append(
                Bad(
                    event.where,
                    f"{change.event_type} in the input of `coveo-push sync`: the command sends its own "
                    "sync.started and sync.completed; remove it (or use `coveo-push send`)",
                )
            )
        elif event.queue is not scope:
            bad.append(
                Bad(
                    event.where,
                    f"{change.event_type} is not a change of a {SCOPE_NAMES[scope]} sync "
                    f"(it belongs on the {event.queue} queue)",
                )
            )
        elif change.sync_id is not None and change.sync_id != sync_id:
            bad.append(Bad(event.where, f"data.syncId is {change.sync_id!r}, not this sync's {sync_id!r}"))
        else:
            body = with_sync_id(event.body, sync_id)
            problem = sendable(body)
            if problem:
                bad.append(Bad(event.where, f"with its syncId, {problem}"))
            else:
                kept.append(replace(event, body=body))
    return kept, bad


def with_sync_id(body: str, sync_id: str) -> str:
    """The body with `data.syncId` (in whichever envelope it came: raw, SNS, EventBridge)."""
    message = strict_json.loads(body)
    if message.get("Type") == "Notification":
        message["Message"] = with_sync_id(message["Message"], sync_id)
    else:
        message["detail" if "detail-type" in message and "detail" in message else "data"]["syncId"] = sync_id
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def _sync(args: argparse.Namespace, env: Mapping[str, str], io: Streams) -> int:
    began = time.monotonic()
    _check_concurrency(args)
    scope = SCOPES[args.scope]
    sync_id = args.sync_id or new_sync_id(args.scope)
    started_body = control_event(SYNC_STARTED, sync_id, {"scope": args.scope})
    try:
        parse_message(started_body, provider_id=PROVIDER_ID)  # the contract's rules for a syncId
    except InvalidEvent as exc:
        raise OperatorError(f"--sync-id: {exc.reason}") from None
    reads, bad, empty = _read_all(args.files, io)
    events, refused = route(reads, unscoped=scope)  # sync events are refused next, with why
    changes, outside = in_sync(events, sync_id, scope)
    bad = sorted(bad + refused + outside, key=_order)
    _say_empty(empty, io)
    report_problems(bad, io.err, limit=None if args.verbose else SHOWN_PROBLEMS, what="bad events")
    if not changes and not bad and not args.allow_mass_delete:
        raise OperatorError(
            "the input holds no changes: a sync of nothing would delete the whole "
            f"{'source' if scope is Kind.ITEM else 'provider'}; nothing was sent (add --allow-mass-delete "
            "if that is what you mean)"
        )
    urls = queue_urls(args, env, {scope})
    url = {scope: urls[scope]}
    where = f"coveo-push sync --scope {args.scope}"
    started = Event(
        _nowhere(where, "sync.started"),
        started_body,
        scope,
        parse_message(started_body, provider_id=PROVIDER_ID),
    )
    tally = Tally(total=len(changes) + 2)
    progress = _progress(args, io, tally.total)
    stopped = _deliver(args, [started], url, tally, progress)
    if stopped is None and tally.sent_total == 1:
        stopped = _deliver(args, changes, url, tally, progress)
    report_problems(
        tally.failed, io.err, limit=None if args.verbose else SHOWN_PROBLEMS, what="failed events"
    )
    count = len(tally.sent_ids)
    why_not = _why_not_complete(bad, tally, stopped, started_sent=tally.sent_total >= 1)
    if why_not is None:
        completed_data: dict[str, Any] = {"count": count, "scope": args.scope}
        if args.allow_mass_delete:
            completed_data["allowMassDelete"] = True
        body = control_event(SYNC_COMPLETED, sync_id, completed_data)
        before = tally.sent_total
        stopped = _deliver(
            args,
            [
                Event(
                    _nowhere(where, "sync.completed"),
                    body,
                    scope,
                    parse_message(body, provider_id=PROVIDER_ID),
                )
            ],
            url,
            tally,
            progress,
        )
        if tally.sent_total == before:
            why_not = f"sync.completed itself could not be sent ({_failure_text(tally, stopped)})"
    else:
        tally.total -= 1  # sync.completed is not sent
    _progress_done(progress, tally)
    io.out.write(summary(tally, len(bad), time.monotonic() - began, url) + "\n")
    follow = "coveo-push syncs" + (f" --local-endpoint {args.local_endpoint}" if args.local_endpoint else "")
    if why_not is None:
        io.out.write(
            f"Sync {sync_id} ({args.scope}): sync.started, {count:,} change(s), and sync.completed with "
            f"count {count:,} sent{' (allowMassDelete)' if args.allow_mass_delete else ''}.\n"
            f"Once every change is verified in the index, the connector deletes what the sync left out.\n"
            f"Follow it: {follow}\n"
        )
    else:
        io.out.write(
            f"Sync {sync_id} ({args.scope}): sync.completed NOT sent: {why_not}.\n"
            "The sync deletes nothing: it ends FAILED at its deadline (SyncDeadlineSeconds after its last "
            f"event), or when a new sync of {args.scope} starts. Fix the input and run `coveo-push sync` "
            f"again (a new syncId).\nFollow it: {follow}\n"
        )
    io.out.flush()
    if stopped is not None:
        raise stopped.cause
    return EXIT_OK if why_not is None else EXIT_FAILED


def _why_not_complete(
    bad: Sequence[Bad], tally: Tally, stopped: StopSending | None, *, started_sent: bool
) -> str | None:
    if not started_sent:
        return f"sync.started could not be sent ({_failure_text(tally, stopped)})"
    if bad:
        first = bad[0]
        return (
            f"{len(bad):,} event(s) of the input were bad and not sent, the first at {first.where} "
            f"({strict_json.printable(first.reason, 200)}); the count would not describe the source"
        )
    if stopped is not None or tally.failed:
        return f"{len(tally.failed):,} event(s) could not be sent ({_failure_text(tally, stopped)})"
    return None


def _failure_text(tally: Tally, stopped: StopSending | None) -> str:
    if stopped is not None:
        return " ".join(str(stopped.cause).split())[:200]
    if tally.failed:
        failed = tally.failed[0]
        return f"{failed.code}: {failed.reason}"
    return "no answer"


def _nowhere(command: str, what: str) -> Where:
    return Where(f"({command}: {what})", 0)


__all__ = ["EXIT_CONFIGURATION", "MAX_BATCH_BYTES", "run_send", "run_sync"]
