"""Loading a source from files: CloudEvents read, checked against the contract, routed to their queue
and sent with SQS SendMessageBatch (`coveo-push send` and `coveo-push sync`, wired in producer.py).

- **Reading** (`read_events`): a file holds one event (a JSON object), a JSON array of events, or
  JSON Lines (one event per line; an event may also span lines, as pretty-printed objects do); `-`
  is stdin. Every event keeps where it came from (file, line, and its index in an array), so a bad
  one is reported there.
- **Checking** (`check`): each event goes through the connector's own parser
  (`connector.domain.events.parse_message`, what the push functions apply), and must fit one SQS
  message. What the deployment's settings decide (permissions required, known providers) is the
  push function's to check.
- **Routing** (`route`): `item.*` to the item queue, `identity.*` to the identity queue, `sync.*`
  to the queue of their sync's scope; a `sync.completed` that names no scope follows its sync's
  `sync.started` in the input, or `--queue`.
- **Batching** (`batches`): pure; up to 10 messages a call and at most 256 KiB a call, counted as
  SQS counts them (the body's UTF-8 bytes plus each message attribute's name, type and value).
- **Sending** (`Sender`): a few calls in flight; entries SQS reports `Failed` for its own reasons are
  sent again with backoff, the sender's faults are reported and never retried.
"""

from __future__ import annotations

import bisect
import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TextIO

from connector.domain import strict_json
from connector.domain.errors import InvalidEvent
from connector.domain.events import (
    IDENTITY_TYPES,
    ITEM_TYPES,
    Change,
    Kind,
    SyncEnd,
    SyncStart,
    event_type_of,
    parse_message,
)

MAX_BATCH_ENTRIES = 10  # SendMessageBatch's limit
# SQS's payload limit for one message and for one SendMessageBatch call (the sum of its messages).
# Queues created since 2025 may take 1 MiB; 256 KiB reaches every queue.
MAX_BATCH_BYTES = 256 * 1024
# The key the parser builds identity keys with; keys only serve here to tell events apart.
PROVIDER_ID = "provider"
# Characters SQS refuses in a message body (it takes #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD and
# #x10000-#x10FFFF; a lone surrogate comes from bytes that were not UTF-8).
_REFUSED_BY_SQS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_LINE_REST = re.compile(r"[ \t\r]*(?:\n|$)")


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """Where an event was read: its file, the line it starts on, its index in a JSON array."""

    file: str
    line: int
    index: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" + (f" [index {self.index}]" if self.index is not None else "")


@dataclass(frozen=True)
class Read:
    """One event as written: its text, to check and send as it is."""

    where: Where
    text: str


@dataclass(frozen=True)
class Bad:
    where: Where
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


def read_events(name: str, data: bytes) -> tuple[list[Read], list[Bad]]:
    """The events of one input (`name` only says where): one JSON value, a JSON array of them, or
    JSON Lines. Text that cannot be read as JSON is a `Bad` at its line; JSON Lines go on at the
    next line, an array cannot (its end is unknown)."""
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    newlines = [match.start() for match in re.finditer("\n", text)]

    def where(position: int, index: int | None = None) -> Where:
        return Where(name, bisect.bisect_left(newlines, position) + 1, index)

    start = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
    if start < len(text) and text[start] == "[":
        return _read_array(text, start, where)
    return _read_stream(text, start, where)


def _read_array(text: str, start: int, where: Callable[..., Where]) -> tuple[list[Read], list[Bad]]:
    decoder = json.JSONDecoder()
    found: list[Read] = []
    position = _WHITESPACE.match(text, start + 1).end()  # type: ignore[union-attr]
    if text.startswith("]", position):
        return found, _trailing(text, position + 1, where)
    while True:
        index = len(found)
        try:
            _, end = decoder.raw_decode(text, position)
        except (ValueError, RecursionError) as exc:
            reason = _not_json(text[position : position + 200], exc)
            return found, [Bad(where(position, index), f"{reason}; the rest of the array cannot be read")]
        found.append(Read(where(position, index), text[position:end]))
        position = _WHITESPACE.match(text, end).end()  # type: ignore[union-attr]
        if text.startswith("]", position):
            return found, _trailing(text, position + 1, where)
        if not text.startswith(",", position):
            got = repr(text[position]) if position < len(text) else "the end of the input"
            return found, [
                Bad(where(position, index + 1), f"the array expects ',' or ']' after an element, not {got}")
            ]
        position = _WHITESPACE.match(text, position + 1).end()  # type: ignore[union-attr]


def _trailing(text: str, position: int, where: Callable[..., Where]) -> list[Bad]:
    rest = _WHITESPACE.match(text, position).end()  # type: ignore[union-attr]
    return [] if rest == len(text) else [Bad(where(rest), "text after the JSON array")]


def _read_stream(text: str, position: int, where: Callable[..., Where]) -> tuple[list[Read], list[Bad]]:
    """JSON Lines, or JSON values one after another (a pretty-printed object spans lines). A line
    that is not one JSON value is read as it is: the check says why it is bad (--raw sends it)."""
    decoder = json.JSONDecoder()
    found: list[Read] = []
    while position < len(text):
        line_end = text.find("\n", position)
        line_end = len(text) if line_end < 0 else line_end
        try:
            _, end = decoder.raw_decode(text, position)
            if _LINE_REST.match(text, end) is None:  # `{...} junk`: the line is not one value
                raise ValueError("more than one JSON value on the line")
        except (ValueError, RecursionError):
            end = line_end
        found.append(Read(where(position), text[position:end].rstrip()))
        position = _WHITESPACE.match(text, end).end()  # type: ignore[union-attr]
    return found, []


def _not_json(text: str, exc: BaseException) -> str:
    """The connector's own words for text that is not JSON, where they apply."""
    if isinstance(exc, RecursionError):
        return f"nests objects and arrays deeper than {strict_json.MAX_DEPTH} levels"
    try:
        strict_json.loads(text, what="the event")
    except strict_json.JsonRefused as refused:
        return refused.reason
    return f"the event is not JSON ({exc})"


# --- checking and routing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """An event ready to send: its body, its queue, and what the connector reads in it (None when
    it was sent with --raw though it does not parse)."""

    where: Where
    body: str
    queue: Kind
    change: Change | None

    @property
    def size(self) -> int:
        return message_size(self.body)


def check(read: Read, max_bytes: int = MAX_BATCH_BYTES) -> Change:
    """What the push functions will read in the event; InvalidEvent with the reason if it would be
    dead-lettered for its contract, or could not be sent at all."""
    problem = sendable(read.text, max_bytes)
    if problem:
        raise InvalidEvent(problem)
    return parse_message(read.text, provider_id=PROVIDER_ID)


def sendable(body: str, max_bytes: int = MAX_BATCH_BYTES) -> str | None:
    """Why SQS would refuse this body as a message, or None."""
    refused = _REFUSED_BY_SQS.search(body)
    if refused:
        char = refused.group()
        what = (
            "bytes that are not UTF-8"
            if "\udc80" <= char <= "\udcff"
            else f"the character U+{ord(char):04X}, which SQS refuses in a message body"
        )
        return f"the event holds {what} (column {refused.start() + 1} of the event; escape it in JSON as \\uXXXX)"
    size = message_size(body)
    if size > max_bytes:
        return (
            f"the event is {size:,} bytes; an SQS message holds at most {max_bytes:,} "
            "(put large content in the stack's content bucket and send data.contentRef)"
        )
    return None


def route(
    reads: Iterable[Read],
    *,
    queue: Kind | None = None,
    raw: bool = False,
    max_bytes: int = MAX_BATCH_BYTES,
    unscoped: Kind | None = None,
) -> tuple[list[Event], list[Bad]]:
    """Check every event and give it its queue: by type (`queue` None), or `queue` for all, when
    refusing those whose type says otherwise. With `raw`, events that do not parse are sent all the
    same (to `queue`, else the queue their type names) unless SQS would refuse them. `unscoped`: the
    queue of a `sync.completed` that names no scope and whose `sync.started` is not in the input
    (else, without `queue`, it is bad)."""
    checked: list[tuple[Read, Change | None, str | None]] = []
    for read in reads:
        try:
            checked.append((read, check(read, max_bytes), None))
        except InvalidEvent as exc:
            checked.append((read, None, exc.reason))
    started = {
        change.payload.sync_id: change.payload.scope
        for _, change, _ in checked
        if change is not None and isinstance(change.payload, SyncStart)
    }
    events: list[Event] = []
    bad: list[Bad] = []
    for read, change, reason in checked:
        if change is None:
            assert reason is not None
            target = queue or _queue_of_type(read.text)
            if raw and target is not None and sendable(read.text, max_bytes) is None:
                events.append(Event(read.where, read.text, target, None))
            elif raw and target is None:
                bad.append(Bad(read.where, f"{reason} (--raw: no type to route it by; pass --queue)"))
            else:
                bad.append(Bad(read.where, reason))
            continue
        own = queue_of(change, started) or unscoped
        if own is None and queue is None:
            assert isinstance(change.payload, SyncEnd)
            bad.append(
                Bad(
                    read.where,
                    f"sync.completed of sync {change.payload.sync_id!r} names no scope and its "
                    "sync.started is not in the input: add data.scope, or pass --queue item|identity",
                )
            )
        elif own is not None and queue is not None and own != queue:
            bad.append(
                Bad(
                    read.where,
                    f"{change.event_type} belongs on the {own} queue, not the {queue} queue (--queue)",
                )
            )
        else:
            events.append(Event(read.where, read.text, own or queue or Kind.ITEM, change))
    return events, bad


def queue_of(change: Change, started: Mapping[str, Kind]) -> Kind | None:
    """The change's queue; for a `sync.completed` without scope, its sync's (None if unknown)."""
    payload = change.payload
    if isinstance(payload, SyncEnd) and payload.scope is None:
        return started.get(payload.sync_id)
    return change.kind


def _queue_of_type(text: str) -> Kind | None:
    event_type = event_type_of(text)
    if event_type in ITEM_TYPES or (event_type or "").startswith("item."):
        return Kind.ITEM
    if event_type in IDENTITY_TYPES or (event_type or "").startswith("identity."):
        return Kind.IDENTITY
    return None


# --- batching (pure) ----------------------------------------------------------------------------


def message_size(body: str, attributes: Mapping[str, Mapping[str, Any]] | None = None) -> int:
    """A message's size as SQS counts it against its limits: the body's UTF-8 bytes, plus each
    message attribute's name, data type and value."""
    size = len(body.encode("utf-8", errors="surrogateescape"))
    for name, attribute in (attributes or {}).items():
        value = attribute.get("StringValue")
        data = value.encode("utf-8") if value is not None else bytes(attribute.get("BinaryValue", b""))
        size += (
            len(name.encode("utf-8")) + len(str(attribute.get("DataType", "")).encode("utf-8")) + len(data)
        )
    return size


def batches(
    sizes: Sequence[int], *, max_entries: int = MAX_BATCH_ENTRIES, max_bytes: int = MAX_BATCH_BYTES
) -> Iterator[range]:
    """The messages (by their sizes, in order) grouped into SendMessageBatch calls, as index ranges:
    in order, as full as both limits allow. A message over `max_bytes` alone raises ValueError:
    no call can carry it (`check` refuses it first)."""
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if size > max_bytes:
            raise ValueError(f"message {index} is {size:,} bytes, over the {max_bytes:,} a call may carry")
        if index - start == max_entries or total + size > max_bytes:
            yield range(start, index)
            start, total = index, 0
        total += size
    if start < len(sizes):
        yield range(start, len(sizes))


# --- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failed:
    event: Event
    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.event.where}: not sent, {self.code}: {self.reason}"


@dataclass
class Tally:
    """What the sends did, kept under a lock (the calls run in a few threads)."""

    total: int = 0
    sent: Counter[Kind] = field(default_factory=Counter)
    sent_ids: set[str] = field(default_factory=set)  # distinct event ids of the changes sent
    failed: list[Failed] = field(default_factory=list)
    calls: int = 0
    retried: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def sent_total(self) -> int:
        return sum(self.sent.values())


class StopSending(Exception):
    """A call failed as a whole (after botocore's own retries): nothing more is sent."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class Sender:
    """Sends events to their queues' URLs with SendMessageBatch, `concurrency` calls in flight."""

    sqs: Any
    urls: Mapping[Kind, str]
    tally: Tally = field(default_factory=Tally)
    concurrency: int = 4
    attempts: int = 6  # tries of an entry SQS failed for its own reasons
    backoff_s: float = 0.2  # before the first retry; doubling
    max_bytes: int = MAX_BATCH_BYTES
    sleep: Callable[[float], None] = time.sleep
    on_progress: Callable[[Tally], None] = lambda tally: None

    def send(self, events: Sequence[Event]) -> None:
        """Send `events` queue by queue (the identity queue first: groups before the items that name
        them), each in order. Raises StopSending when a call fails as a whole; the events not sent
        are then in `tally.failed`."""
        ordered = [e for e in events if e.queue is Kind.IDENTITY] + [
            e for e in events if e.queue is Kind.ITEM
        ]
        calls: list[list[Event]] = []
        for kind in (Kind.IDENTITY, Kind.ITEM):
            of_kind = [e for e in ordered if e.queue is kind]
            sizes = [e.size for e in of_kind]
            calls += [[of_kind[i] for i in span] for span in batches(sizes, max_bytes=self.max_bytes)]
        stop: list[BaseException] = []
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency), thread_name_prefix="send") as pool:
            pending: set[Future[None]] = set()
            for number, batch in enumerate(calls):
                if stop:
                    self._not_sent([e for b in calls[number:] for e in b], stop[0])
                    break
                if len(pending) >= max(1, self.concurrency):
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    self._collect(done, stop)
                    if stop:
                        self._not_sent([e for b in calls[number:] for e in b], stop[0])
                        break
                pending.add(pool.submit(self._send_batch, batch))
            done, _ = wait(pending)
            self._collect(done, stop)
        if stop:
            raise StopSending(stop[0])

    def _collect(self, done: Iterable[Future[None]], stop: list[BaseException]) -> None:
        for future in done:
            problem = future.exception()
            if problem is not None and not stop:
                stop.append(problem)

    def _not_sent(self, events: Sequence[Event], cause: BaseException) -> None:
        reason = f"not sent: a call failed ({' '.join(str(cause).split())[:200]})"
        with self.tally.lock:
            self.tally.failed += [Failed(e, "Stopped", reason) for e in events]

    def _send_batch(self, batch: Sequence[Event]) -> None:
        queue = batch[0].queue
        todo = {str(i): event for i, event in enumerate(batch)}
        for attempt in range(self.attempts):
            try:
                response = self.sqs.send_message_batch(
                    QueueUrl=self.urls[queue],
                    Entries=[{"Id": key, "MessageBody": event.body} for key, event in todo.items()],
                )
            except Exception:
                with self.tally.lock:
                    self.tally.calls += 1
                    self.tally.failed += [
                        Failed(e, "Stopped", "not sent: the call failed") for e in todo.values()
                    ]
                raise
            retry: dict[str, Event] = {}
            gave_up: list[Failed] = []
            for entry in response.get("Failed", []):
                event = todo[entry["Id"]]
                code, message = entry.get("Code", "?"), entry.get("Message", "")
                if entry.get("SenderFault") or attempt == self.attempts - 1:
                    gave_up.append(Failed(event, code, message or "(no message)"))
                else:
                    retry[entry["Id"]] = event
            succeeded = [todo[entry["Id"]] for entry in response.get("Successful", [])]
            with self.tally.lock:
                self.tally.calls += 1
                self.tally.retried += len(retry)
                self.tally.failed += gave_up
                for event in succeeded:
                    self.tally.sent[event.queue] += 1
                    if event.change is not None and not event.change.is_sync_control:
                        self.tally.sent_ids.add(event.change.event_id)
            self.on_progress(self.tally)
            if not retry:
                return
            todo = retry
            self.sleep(self.backoff_s * 2**attempt)


# --- progress and summary -----------------------------------------------------------------------


class Progress:
    """`sent N of M (P %) · R events/s · ETA S s` on stderr: one line rewritten on a terminal, a
    line every few seconds elsewhere (with --progress)."""

    def __init__(
        self, stream: TextIO, total: int, *, terminal: bool, clock: Callable[[], float] = time.monotonic
    ):
        self.stream, self.total, self.terminal, self.clock = stream, total, terminal, clock
        self.began = clock()
        self.shown_at = self.began  # the first line once there is a rate to show
        self.every_s = 0.2 if terminal else 5.0
        self.lock = threading.Lock()
        self.wrote = False

    def __call__(self, tally: Tally, final: bool = False) -> None:
        with self.lock:
            now = self.clock()
            if not final and now - self.shown_at < self.every_s:
                return
            self.shown_at = now
            self.stream.write(
                ("\r" if self.terminal else "")
                + self.line(tally.sent_total, now)
                + ("" if self.terminal else "\n")
            )
            if final and self.terminal:
                self.stream.write("\n")
            self.stream.flush()
            self.wrote = True

    def line(self, sent: int, now: float) -> str:
        elapsed = max(now - self.began, 1e-6)
        rate = sent / elapsed
        share = f" ({sent / self.total:.0%})" if self.total else ""
        left = self.total - sent
        eta = f"{left / rate:.0f} s" if rate > 0 and left > 0 else ("done" if left <= 0 else "?")
        return f"sent {sent:,} of {self.total:,}{share} · {rate:,.0f} events/s · ETA {eta}".ljust(60)


def summary(tally: Tally, bad: int, seconds: float, urls: Mapping[Kind, str]) -> str:
    rate = tally.sent_total / seconds if seconds > 0 else 0.0
    lines = [
        f"Sent {tally.sent_total:,} of {tally.total + bad:,} events in {seconds:.1f} s "
        f"({rate:,.0f} events/s), {tally.calls:,} SendMessageBatch calls"
        + (f", {tally.retried:,} entries retried" if tally.retried else "")
        + ":"
    ]
    for kind in (Kind.ITEM, Kind.IDENTITY):
        if tally.sent[kind] or kind in urls:
            lines.append(f"  {kind + ' queue:':<17}{tally.sent[kind]:>10,}  {urls.get(kind, '')}".rstrip())
    lines.append(f"  {'bad (not sent):':<17}{bad:>10,}")
    lines.append(f"  {'failed:':<17}{len(tally.failed):>10,}")
    return "\n".join(lines)


def report_problems(problems: Sequence[object], stream: TextIO, *, limit: int | None, what: str) -> None:
    """One line each on `stream`, the first `limit` of them (all with None)."""
    shown = problems if limit is None else problems[:limit]
    for problem in shown:
        stream.write(f"{strict_json.printable(str(problem), 600)}\n")
    if len(shown) < len(problems):
        stream.write(f"... and {len(problems) - len(shown):,} more {what} (--verbose lists them all)\n")


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def stdin_bytes() -> bytes:
    return sys.stdin.buffer.read()
