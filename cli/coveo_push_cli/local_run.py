"""`coveo-push local` and `coveo-push demo`: the whole connector on one machine, and what became of each event.

moto plays AWS, the emulator plays Coveo, and `LocalStack` runs the real handlers behind Lambda-like
pollers. This module is the run around them: send the events, drain both queues (identities
first), run the validator until nothing is pending, then report what a user wants to know: what
got indexed, who can see it, what was dead-lettered and why, and what it cost in Coveo requests.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import re
import secrets
import shutil
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from aws_simulator.cloudformation import load_template
from aws_simulator.stack import FUNCTION_IDS, IDENTITY_QUEUE, ITEM_QUEUE, CoveoTarget, LocalStack
from connector.adapters.secrets import api_key_from_secret
from connector.domain import strict_json
from connector.domain.events import item_key
from connector.domain.freshness import Freshness, FreshnessSample
from connector.domain.ledger import Row, Status
from connector.domain.pipeline import BatchReport, Disposition, Message, Pipeline
from connector.domain.stored_change import declared_public_in
from connector.domain.sync import SyncRecord, SyncState
from connector.domain.validator import ValidationReport, Validator
from connector.entry.settings import ConnectorSettings
from connector.ports import SyncLedger, ValidationLedger

from .parameters import no_local_effect, parse_parameters
from .report_text import NO_REASON as NO_REASON  # re-exported: tests and callers read it here
from .report_text import QUEUE_LABELS, format_report
from .timeouts import run_timeout_s

# The project directory (a checkout, or a copy of template.yaml and events/) is the current one
# unless --template names the template: nothing is looked up next to this module, which may be
# installed anywhere.
TEMPLATE_NAME = "template.yaml"
WORKED_EXAMPLE = ("events/worked-example/identities.json", "events/worked-example/item.json")
WORKED_EXAMPLE_ITEM = "file://folder/mytext.txt"
WORKED_EXAMPLE_ACCESS = {"alice": True, "bob": False, "david": True}

PROGRESS_EVERY_S = 3.0
PROGRESS_LINES_PER_INTERVAL = 5  # off a terminal: then the interval doubles (see _Progress)
# Events handed to LocalStack.send at a time (10 SendMessageBatch calls): progress counts them as
# they go, rather than showing nothing sent until the whole stage is.
SEND_CHUNK_EVENTS = 100
# The report's `access` section asks Coveo's effective permissions for every indexed document up to
# this many; above it, for a deterministic sample of about this many (see `plan_access_checks`). The
# public-by-accident check always covers every document.
ACCESS_CHECK_ALL_UP_TO = 200
ACCESS_SAMPLE_SEED = 17
# How often the validator runs while only a full sync is left to end (it waits for its deadline).
SYNC_CHECK_EVERY_S = 1.0
# Full syncs in a local run, unless the user set them: Coveo applies a sync's deletion at once (no
# queue delay), and a sync short of its count FAILs within the run, 20 s after its last event,
# rather than after the deployed two hours.
LOCAL_SYNC_SETTINGS = {"SYNC_QUEUE_DELAY_MINUTES": "0", "SYNC_DEADLINE_SECONDS": "20"}
# The validator in a local run, unless the user set them: it asks once the emulator's processing
# delay has passed, and a push with no log entry this long after it (Coveo answered 202 and lost it:
# the emulator's `lose` fault) is re-pushed within the run, not after the deployed hour.
LOCAL_DEADLINE_MARGIN_S = 10.0


def local_deadline_s(processing_delay_s: float) -> float:
    """The validation deadline of a local run: twice the emulator's processing delay, plus a margin
    for a busy machine (10 s with no delay, 16 s for the demo's 3 s)."""
    return 2 * processing_delay_s + LOCAL_DEADLINE_MARGIN_S


# The syncs a report lists at most (newest first; the running ones always).
REPORT_SYNCS = 1000
assert set(QUEUE_LABELS) == {IDENTITY_QUEUE, ITEM_QUEUE}  # report_text names them without the simulator


# --- events files -------------------------------------------------------------------------------


class EventsFileError(ValueError):
    """An events file that is not one CloudEvent, a JSON array of them, or JSON Lines."""


def load_events(path: Path) -> list[Any]:
    """The events of a file: one CloudEvent, a JSON array, or JSON Lines. A JSON string element is a
    raw message body (to try malformed input); anything else but an object is refused.

    An element the connector's strict reader would refuse (a duplicate key, NaN, nesting past the
    limit, a lone surrogate) is sent as it is written, so the connector sees, and refuses, exactly
    that: parsing it here with Python's lenient reader would quietly change it first.
    """
    text = path.read_text(encoding="utf-8")
    try:
        parsed = strict_json.loads(text, what=str(path))
        events: list[Any] = parsed if isinstance(parsed, list) else [parsed]
    except strict_json.JsonRefused:
        events = _elements_as_written(path, text)
    if not events:
        raise EventsFileError(f"{path}: holds no events")
    for position, event in enumerate(events, start=1):
        if not isinstance(event, dict | str):
            raise EventsFileError(
                f"{path}: event {position} is a JSON {type(event).__name__}; expected a CloudEvent "
                "object, or a string to send as a raw message body"
            )
    return events


def _elements_as_written(path: Path, text: str) -> list[Any]:
    """Each element of a JSON array (or each line of JSON Lines): parsed when the strict reader
    takes it, else its text as written (a raw body)."""
    if text.lstrip().startswith("["):
        pieces = _array_elements(text)
        if pieces is not None:
            return [_element(piece) for piece in pieces]
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    elements = [(number, line, _element(line)) for number, line in lines]
    bad = [number for number, line, element in elements if element is line and not _looks_like_json(line)]
    if not bad:
        return [element for _, _, element in elements]
    if _looks_like_json(text.strip()):
        return [text.strip()]  # one event over several lines, sent as written
    raise EventsFileError(
        f"{path}:{bad[0]}: not JSON; an events file holds one CloudEvent, "
        "a JSON array of them, or one JSON value per line"
    )


def _element(text: str) -> Any:
    try:
        return strict_json.loads(text)
    except strict_json.JsonRefused:
        return text  # sent as written; the connector says what is wrong with it


def _looks_like_json(line: str) -> bool:
    """JSON that only the strict reader refuses (Python's own reader, without recursion, takes it)."""
    return line.lstrip()[:1] in ("{", "[", '"') and line.rstrip()[-1:] in ("}", "]", '"')


_ARRAY_TOKEN = re.compile(strict_json.STRING_PATTERN + r"|[\[\]{},]", re.DOTALL)


def _array_elements(text: str) -> list[str] | None:
    """The top-level elements of a JSON array, as written; None when the brackets do not balance."""
    depth, start, pieces = 0, -1, []
    for match in _ARRAY_TOKEN.finditer(text):
        mark = match.group()
        if mark in ("[", "{"):
            depth += 1
            if depth == 1:
                start = match.end()
        elif mark in ("]", "}"):
            depth -= 1
            if depth == 0:
                pieces.append(text[start : match.start()])
                return [p.strip() for p in pieces if p.strip()] if not text[match.end() :].strip() else None
        elif mark == "," and depth == 1:
            pieces.append(text[start : match.start()])
            start = match.end()
    return None


def worked_example(project: Path | None = None) -> list[Any]:
    """The worked example's events, from `project` (default: the current directory)."""
    root = Path() if project is None else project
    return [event for path in WORKED_EXAMPLE for event in load_events(root / path)]


@dataclass(frozen=True)
class Stage:
    """The events of one file of `--events A.json B.json ...`: sent once the previous stage is
    drained and validated."""

    name: str
    events: Sequence[Any]


def load_stages(paths: Sequence[Path]) -> list[Stage]:
    """One stage per events file, in the order given."""
    return [Stage(str(path), load_events(path)) for path in paths]


def as_stages(events: Sequence[Any] | Sequence[Stage]) -> list[Stage]:
    """`events` as stages: a list of `Stage`s as it is, anything else (events) as one stage."""
    if events and all(isinstance(stage, Stage) for stage in events):
        return list(events)
    return [Stage("events", list(events))]


# --- the template -------------------------------------------------------------------------------


class TemplateNotFoundError(FileNotFoundError):
    """No SAM template where the command looked; the message says what to do."""


def find_template(explicit: Path | None = None) -> Path:
    """The SAM template to provision from: `explicit` (--template), else template.yaml in the
    current directory."""
    if explicit is not None:
        if not explicit.is_file():
            raise TemplateNotFoundError(
                f"--template {explicit}: no such file; pass the path of the project's {TEMPLATE_NAME}"
            )
        return explicit.resolve()
    found = Path(TEMPLATE_NAME)
    if not found.is_file():
        raise TemplateNotFoundError(
            f"no {TEMPLATE_NAME} in the current directory ({Path.cwd()}): "
            "run from the project directory or pass --template PATH"
        )
    return found.resolve()


# --- what the handlers reported -----------------------------------------------------------------


class OutcomeTally:
    """Each SQS message's disposition as the pipeline reported it, last report wins.

    A message retried and later pushed counts once, as pushed; one pushed and then seen again as
    stale (its delete was lost) still counts as pushed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_message: dict[str, Disposition] = {}

    def record(self, report: BatchReport) -> None:
        with self._lock:
            for outcome in report.outcomes.values():
                previous = self._by_message.get(outcome.message_id)
                if previous is Disposition.PUSHED and outcome.disposition is Disposition.STALE:
                    continue
                self._by_message[outcome.message_id] = outcome.disposition

    def counts(self) -> Counter[Disposition]:
        with self._lock:
            return Counter(self._by_message.values())


@dataclass
class _ObservedPipeline(Pipeline):
    """The real pipeline, telling the tally what it did with each batch."""

    on_report: Callable[[BatchReport], None] = lambda report: None

    def process(self, messages: Sequence[Message], remaining_s: Callable[[], float]) -> BatchReport:
        report = super().process(messages, remaining_s)
        self.on_report(report)
        return report


@dataclass
class CountingStack(LocalStack):
    """A LocalStack whose pollers' pipelines report their outcomes to `tally`."""

    tally: OutcomeTally = field(default_factory=OutcomeTally)

    @classmethod
    def of(cls, stack: LocalStack, overrides: Mapping[str, str]) -> CountingStack:
        # Same resources and Coveo target; a runtime of its own so the overrides apply.
        values = {f.name: getattr(stack, f.name) for f in fields(LocalStack) if f.name != "_runtime"}
        values["overrides"] = {**stack.overrides, **overrides}
        return cls(**values)

    def pipeline(self, queue: str) -> Pipeline:
        pipeline = super().pipeline(queue)
        values = {f.name: getattr(pipeline, f.name) for f in fields(Pipeline)}
        return _ObservedPipeline(**values, on_report=self.tally.record)


# --- where the functions' own output goes -------------------------------------------------------


class _FunctionOutput(io.TextIOBase):
    """Stands in for stdout while the handlers run: their JSON logs and EMF metrics go to CloudWatch
    in AWS, and here to `--function-logs FILE` or nowhere, so they do not bury the report.

    One object for the process: Powertools' Logger keeps the stream it saw first.
    """

    target: TextIO | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.target is not None:
            self.target.write(text)
        return len(text)


FUNCTION_OUTPUT = _FunctionOutput()


# --- progress -----------------------------------------------------------------------------------


class _Progress:
    """Progress on stderr while the run lasts (none for a run shorter than `PROGRESS_EVERY_S`, none
    at all without a stream: `--quiet`).

    On a terminal, one line rewritten in place every `PROGRESS_EVERY_S`, and cleared at the end.
    Elsewhere (a file, a pipe, a CI log) a line every `PROGRESS_EVERY_S` at first, the interval
    doubling after each `PROGRESS_LINES_PER_INTERVAL` lines: a long run logs a few dozen lines,
    not one per interval (about 25 lines over 8 minutes)."""

    def __init__(self, stream: TextIO | None, describe: Callable[[], str]) -> None:
        self._stream = stream
        self._describe = describe
        self._stop = threading.Event()
        self._started = time.monotonic()
        self.phase = "starting"
        self._thread = threading.Thread(target=self._loop, name="local-run-progress", daemon=True)

    def __enter__(self) -> _Progress:
        if self._stream is not None:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._rewriting and self._stream is not None:
            self._stream.write("\r\x1b[K")  # the terminal's progress line gives way to the report
            self._stream.flush()

    @property
    def _rewriting(self) -> bool:
        isatty = getattr(self._stream, "isatty", None)
        return bool(isatty and isatty())

    def _loop(self) -> None:
        stream = self._stream
        assert stream is not None
        rewriting = self._rewriting
        interval, written = PROGRESS_EVERY_S, 0
        while not self._stop.wait(interval):
            elapsed = time.monotonic() - self._started
            line = f"[{elapsed:5.1f}s] {self.phase}: {self._describe()}"
            if rewriting:
                width = shutil.get_terminal_size().columns - 1
                stream.write("\r\x1b[K" + line[:width])
            else:
                stream.write(line + "\n")
                written += 1
                if written % PROGRESS_LINES_PER_INTERVAL == 0:
                    interval *= 2
            stream.flush()


class _Rate:
    """Events per second over the interval since the last reading, and the time left at the rate
    of about the last `ETA_WINDOW_S` (a poller settles a whole batch at once, up to hundreds of
    events, so one interval may see none and the next many)."""

    ETA_WINDOW_S = 30.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # the run restarts it, the progress thread reads it
        self._readings: list[tuple[float, int]] = []

    def restart(self, count: int) -> None:
        """A new phase: the next reading's interval begins now, at `count`."""
        with self._lock:
            self._readings = [(self._clock(), count)]

    def read(self, count: int, remaining: int) -> str:
        """What follows a count on the progress line: `" (N/s, ETA T)"`; empty when nothing is
        left to do or no time has passed since the last reading."""
        now = self._clock()
        with self._lock:
            readings = self._readings or [(now, count)]
            then, before = readings[-1]
            readings.append((now, count))
            # The oldest reading kept is the last one at least the window old: the ETA spans it.
            while len(readings) > 2 and now - readings[1][0] >= self.ETA_WINDOW_S:
                readings.pop(0)
            self._readings = readings
        if remaining <= 0 or now <= then:
            return ""
        first, oldest = readings[0]
        rate = (count - before) / (now - then)
        recent = (count - oldest) / (now - first)
        eta = f"ETA {_duration(remaining / recent)}" if recent > 0 else "ETA unknown"
        return f" ({rate:,.0f}/s, {eta})"


def _duration(seconds: float) -> str:
    whole = max(1, round(seconds))
    return f"{whole} s" if whole < 120 else f"{whole // 60} min {whole % 60:02d} s"


class _Timings:
    """Where the run's wall clock went: contiguous laps, so the parts add up to the whole."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.monotonic() if started is None else started
        self._last = self.started
        self.seconds: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """The time since the previous lap (or the start) was spent on `name`."""
        now = time.monotonic()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self._last = now

    def total(self) -> float:
        return self._last - self.started

    def report(self) -> dict[str, float]:
        return {f"{name}Seconds": round(seconds, 1) for name, seconds in self.seconds.items()}


# --- the run ------------------------------------------------------------------------------------


@dataclass
class _ValidatorTotals:
    runs: int = 0
    verified: int = 0
    failed: int = 0
    repushed: int = 0
    permission_warnings: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    freshness: list[FreshnessSample] = field(default_factory=list)  # every verified change's times

    def add(self, report: ValidationReport) -> None:
        self.runs += 1
        self.verified += report.verified
        self.failed += report.failed
        self.repushed += report.repushed
        self.permission_warnings += report.permission_warnings
        self.failures += report.failures
        self.warnings += [w.text for w in report.warnings if w.text not in self.warnings]
        self.freshness += report.freshness


def run_on_stack(
    stack: LocalStack,
    events: Sequence[Any] | Sequence[Stage],
    *,
    faults: Mapping[str, Any] | None = None,
    timeout_s: float,
    progress: TextIO | None = None,
    function_logs: TextIO | None = None,
    access_check_all_up_to: int = ACCESS_CHECK_ALL_UP_TO,
    access_sample_seed: int = ACCESS_SAMPLE_SEED,
    timings: _Timings | None = None,
    keep: Callable[[dict[str, Any], CountingStack], None] | None = None,
) -> dict[str, Any]:
    """Send `events` through `stack`, drain, validate until nothing is pending; the JSON report.

    `events` may be stages (`Stage`, one per events file): each is sent once the previous one is
    drained, validated, and every full sync whose sync.completed has arrived has ended; a sync still
    waiting for its sync.completed may go on in a later stage. After the last stage, the run waits
    for every running sync to end. One report covers the whole run, with a line per stage.

    The validator waits as long as the emulator's processing delay, as it would wait for Coveo in
    AWS. `timeout_s` bounds the whole run; when it passes, `timedOut` says so and the stages not
    begun are not sent. The report's `access` covers every indexed document up to
    `access_check_all_up_to` of them, else a sample drawn with `access_sample_seed`
    (`accessScope` says which). `timings` (run_local's) carries the clock of what came before.
    `keep`, when given, is called with the report and the stack the functions ran on before this
    returns (see `run_local`).
    """
    clock = _Timings() if timings is None else timings
    deadline = time.monotonic() + timeout_s
    stages = as_stages(events)
    with contextlib.closing(_Emulator(stack.coveo.base_url)) as emulator:
        delay_s = float(emulator.get("state")["processingDelaySeconds"])
        if faults is not None:
            emulator.put("faults", faults)
        overrides = local_settings(stack, delay_s)
        counting = CountingStack.of(stack, overrides)
        totals = _ValidatorTotals()
        run = _StagedRun(counting, stages, deadline, delay_s, totals, clock)
        with _Progress(progress, run.describe) as ticker:
            with function_output(function_logs):
                validator = counting.runtime.validator("validate_pushes")
                ledger, syncs = counting.runtime.ledger(), counting.runtime.syncs()
                clock.lap("setUp")
                for number, stage in enumerate(stages, start=1):
                    summary = run.stage(number, stage, ticker, validator, ledger, syncs)
                    if summary["timedOut"]:
                        break
            ticker.phase = "reporting"
            run.reporting = True
            requests = emulator.get("stats")  # before the report's own permission queries
            report = _report(
                counting,
                emulator,
                sent=run.sent,
                drained=run.drained,
                timed_out=run.timed_out,
                pending=run.pending,
                settings=counting.runtime.settings,
                totals=totals,
                requests=requests,
                stages=run.summaries,
                not_sent=[stage.name for stage in stages[len(run.summaries) :]],
                access_plan=(access_check_all_up_to, access_sample_seed),
                on_access=run.checking_access,
            )
        clock.lap("report")
        report["durationSeconds"] = round(clock.total(), 1)
        report["timings"] = clock.report()
    if keep is not None:
        keep(report, counting)
    return report


def local_settings(stack: LocalStack, processing_delay_s: float) -> dict[str, str]:
    """The settings a local run gives the functions but those the user set (see
    `local_sync_settings`): the full-sync ones, and the validator's processing delay (the
    emulator's) and deadline (`local_deadline_s`)."""
    validator = {
        "PROCESSING_DELAY_SECONDS": f"{processing_delay_s:g}",
        "VALIDATION_DEADLINE_SECONDS": f"{local_deadline_s(processing_delay_s):g}",
    }
    return {**local_sync_settings(stack), **_not_given(stack, validator)}


def local_sync_settings(stack: LocalStack) -> dict[str, str]:
    """`LOCAL_SYNC_SETTINGS` but those the user set: a variable the stack's overrides name, or one
    the template sets from a parameter given with `--parameter`."""
    return _not_given(stack, LOCAL_SYNC_SETTINGS)


def _not_given(stack: LocalStack, settings: Mapping[str, str]) -> dict[str, str]:
    given = set(stack.overrides) | _set_by_parameters(stack.template_path, stack.template_parameters)
    return {name: value for name, value in settings.items() if name not in given}


def _set_by_parameters(template_path: Path, parameters: Mapping[str, str]) -> set[str]:
    """The functions' environment variables whose value refers to one of `parameters`."""
    if not parameters:
        return set()
    template = load_template(template_path)
    functions = [((template.get("Globals") or {}).get("Function") or {})]
    functions += [(template["Resources"].get(f) or {}).get("Properties") or {} for f in FUNCTION_IDS]
    found = set()
    for function in functions:
        for name, value in ((function.get("Environment") or {}).get("Variables") or {}).items():
            if _refers_to(value, parameters):
                found.add(name)
    return found


def _refers_to(value: Any, parameters: Mapping[str, str]) -> bool:
    if isinstance(value, Mapping):
        if value.get("Ref") in parameters:
            return True
        sub = value.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) and sub else sub
        if isinstance(text, str) and any(f"${{{name}}}" in text for name in parameters):
            return True
        return any(_refers_to(inner, parameters) for inner in value.values())
    if isinstance(value, list):
        return any(_refers_to(inner, parameters) for inner in value)
    return False


class _StagedRun:
    """The run's state across its stages: what was sent, whether each stage drained and validated."""

    def __init__(
        self,
        stack: CountingStack,
        stages: Sequence[Stage],
        deadline: float,
        delay_s: float,
        totals: _ValidatorTotals,
        clock: _Timings,
    ) -> None:
        self.stack = stack
        self.stages = stages
        self.deadline = deadline
        self.delay_s = delay_s
        self.totals = totals
        self.scopes: dict[str, str] = {}  # syncId → scope, across stages: routes a sync.completed
        self.sent = 0
        self.drained = True
        self.pending: list[Row] = []
        self.waiting: list[SyncRecord] = []  # running syncs the stage (or the run) waits for
        self.summaries: list[dict[str, Any]] = []
        self.clock = clock
        self.to_send = 0  # events of the stages begun (sent, or being sent)
        self.sending = False
        self.reporting = False
        self.access_checks = (0, 0)  # permission queries the report made, of how many it plans
        self._sent_rate = _Rate()
        self._settled_rate = _Rate()

    @property
    def timed_out(self) -> bool:
        return any(summary["timedOut"] for summary in self.summaries)

    def label(self, number: int, stage: Stage) -> str:
        return f"stage {number}/{len(self.stages)} ({stage.name}): " if len(self.stages) > 1 else ""

    def settled(self) -> int:
        done = self.stack.tally.counts()
        return sum(done[d] for d in Disposition if d is not Disposition.RETRY)

    def describe(self) -> str:
        """The progress line: while sending, events sent; then events settled (pushed, skipped as
        stale, recorded or dead-lettered); each with its rate over the last interval and an ETA."""
        if self.reporting:
            done, planned = self.access_checks
            if not planned:
                return "reading the index, the ledger and the dead-letter queues"
            return f"effective permissions of {done}/{planned} documents checked"
        if not self.to_send:
            return "setting up"
        if self.sending:
            rate = self._sent_rate.read(self.sent, self.to_send - self.sent)
            return f"{self.sent}/{self.to_send} events sent{rate}"
        settled = self.settled()
        text = f"{settled}/{self.sent} events settled{self._settled_rate.read(settled, self.sent - settled)}"
        if self.totals.runs:
            text += (
                f"; validator {self.totals.verified} verified, {self.totals.failed} failed, "
                f"{len(self.pending)} pending"
            )
        if self.waiting:
            text += f"; waiting for sync(s) {', '.join(r.sync_id for r in self.waiting)} to end"
        return text

    def checking_access(self, done: int, planned: int) -> None:
        self.access_checks = (done, planned)

    def send(self, events: Sequence[Any]) -> int:
        """Send a stage's events a chunk at a time (`SEND_CHUNK_EVENTS`), counting them as they go."""
        self.to_send += len(events)
        self._sent_rate.restart(self.sent)
        self.sending = True
        sent = 0
        try:
            for start in range(0, len(events), SEND_CHUNK_EVENTS):
                chunk = events[start : start + SEND_CHUNK_EVENTS]
                count = sum(self.stack.send(chunk, self.scopes).values())
                sent += count
                self.sent += count
        finally:
            self.sending = False
            self._settled_rate.restart(self.settled())
        return sent

    def stage(
        self,
        number: int,
        stage: Stage,
        ticker: _Progress,
        validator: Validator,
        ledger: ValidationLedger,
        syncs: SyncLedger,
    ) -> dict[str, Any]:
        """Send one stage, drain both queues, validate until nothing is pending and the syncs the
        stage waits for have ended (all of them after the last stage)."""
        began = time.monotonic()
        label = self.label(number, stage)
        last = number == len(self.stages)
        ticker.phase = f"{label}sending"
        sent = self.send(stage.events)
        self.clock.lap("sending")
        # Identities first (Coveo's advice), each queue until empty or out of time. Not
        # LocalStack.drain: the budget is shared by both queues, not granted to each.
        drained = True
        for queue in (IDENTITY_QUEUE, ITEM_QUEUE):
            ticker.phase = f"{label}draining the {QUEUE_LABELS[queue]} queue"
            with self.stack.poller(queue) as poller:
                drained &= poller.run_until_drained(max(0.0, self.deadline - time.monotonic())).drained
        self.drained &= drained
        self.clock.lap("draining")
        ticker.phase = f"{label}validating"
        while True:
            self.totals.add(validator.run())  # verdicts, then the syncs that can end now
            self.pending = _accepted_rows(ledger)
            # A sync that has its count must end before the next stage; one still waiting for its
            # sync.completed may go on in a later stage, but not past the last.
            self.waiting = [r for r in syncs.running() if last or r.expected is not None]
            if (not self.pending and not self.waiting) or time.monotonic() >= self.deadline:
                break
            if self.pending:
                ticker.phase = f"{label}validating"
                time.sleep(_until_next_check(self.pending, self.delay_s, self.deadline))
            else:
                ticker.phase = f"{label}waiting for full syncs to end"
                time.sleep(max(0.0, min(SYNC_CHECK_EVERY_S, self.deadline - time.monotonic())))
        summary = {
            "stage": number,
            "name": stage.name,
            "sent": sent,
            "drained": drained,
            "pending": len(self.pending),
            "syncsRunning": [r.sync_id for r in self.waiting],
            "timedOut": not drained or bool(self.pending) or bool(self.waiting),
            "durationSeconds": round(time.monotonic() - began, 1),
        }
        self.clock.lap("validating")
        self.summaries.append(summary)
        return summary


@contextlib.contextmanager
def function_output(target: TextIO | None) -> Iterator[None]:
    FUNCTION_OUTPUT.target = target
    try:
        with contextlib.redirect_stdout(FUNCTION_OUTPUT):
            yield
    finally:
        FUNCTION_OUTPUT.target = None


def _accepted_rows(ledger: ValidationLedger) -> list[Row]:
    rows: list[Row] = []
    token: object | None = None
    while True:
        page = ledger.rows_with_status(Status.ACCEPTED, limit=500, token=token)
        rows += page.rows
        token = page.next_token
        if token is None:
            return rows


def _until_next_check(pending: Sequence[Row], delay_s: float, deadline: float) -> float:
    """Sleep until the oldest pending push is past the processing delay; then poll every second."""
    # A push is stamped just before Coveo receives it: half a second more and its verdict is there.
    due_in = (min(r.pushed_at_ms for r in pending) / 1000 + delay_s + 0.5) - time.time()
    wait = due_in if due_in > 0 else 1.0
    return max(0.2, min(wait, deadline - time.monotonic()))


class _Emulator:
    """The emulator's control surface (no auth) and its real effective-permissions route.

    One connection for the run: the report asks for indexed items' permissions, and a new
    connection per request (httpx.get) costs tens of milliseconds each."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = httpx.Client(timeout=30)

    def close(self) -> None:
        self._http.close()

    def get(self, path: str) -> Any:
        response = self._http.get(f"{self.base_url}/_emulator/{path}")
        response.raise_for_status()
        return response.json()

    def put(self, path: str, body: Any) -> Any:
        response = self._http.put(f"{self.base_url}/_emulator/{path}", json=body)
        if response.status_code == 400:
            raise ValueError(f"the emulator refused {path}: {response.json().get('message')}")
        response.raise_for_status()
        return response.json()

    def effective_permissions(self, target: CoveoTarget, index_id: str, document_id: str, key: str) -> Any:
        url = (
            f"{self.base_url}/rest/organizations/{target.organization_id}/indexes/{index_id}"
            f"/documents/{quote(document_id, safe='')}/permissions/effective"
        )
        response = self._http.get(url, headers={"Authorization": f"Bearer {key}"}, params={"perPage": 1000})
        response.raise_for_status()
        return response.json()


# --- the report ---------------------------------------------------------------------------------


def _report(
    stack: CountingStack,
    emulator: _Emulator,
    *,
    sent: int,
    drained: bool,
    timed_out: bool,
    pending: Sequence[Row],
    totals: _ValidatorTotals,
    settings: ConnectorSettings | None = None,
    requests: dict[str, Any],
    stages: Sequence[Mapping[str, Any]] = (),
    not_sent: Sequence[str] = (),
    access_plan: tuple[int, int] = (ACCESS_CHECK_ALL_UP_TO, ACCESS_SAMPLE_SEED),
    on_access: Callable[[int, int], None] = lambda done, planned: None,
) -> dict[str, Any]:
    """The report, but `durationSeconds` and `timings`, which the caller sets when it is done."""
    counts = stack.tally.counts()
    dead_letters = stack.dead_letters()
    # SQS moved these after maxReceiveCount without a reason (the pipeline gives its own one, even
    # when it gives up on the last delivery): the tally never saw them dead-lettered.
    moved_by_sqs = sum(1 for d in dead_letters if d["reason"] is None)
    # A sync.started or sync.completed is acknowledged once the ledger recorded it.
    acknowledged = counts[Disposition.PUSHED] + counts[Disposition.STALE] + counts[Disposition.RECORDED]
    dead_lettered = counts[Disposition.DEAD_LETTERED] + moved_by_sqs
    state = emulator.get("state")
    items: dict[str, Any] = state["items"]
    models = {document_id: item["permissionModel"] for document_id, item in items.items() if item["indexed"]}
    # One scan of the ledger: every key's state (the documents' among them), and the stored change
    # of each document whose model could let anonymous users in (did its event say so?).
    candidates = {item_key(document_id) for document_id, model in models.items() if _allows_anonymous(model)}
    document_keys = {item_key(document_id) for document_id in items}
    ledger_states: Counter[str] = Counter()
    # Each document's version and status (not its row: a row holds its stored change).
    states: dict[str, tuple[int, Status]] = {}
    changes: dict[str, bytes | None] = {}
    for row in stack.runtime.ledger().all_rows():
        ledger_states[row.status.value] += 1
        if row.key in document_keys:
            states[row.key] = (row.version, row.status)
        if row.key in candidates:
            changes[row.key] = row.change if isinstance(row, Row) else None
    documents = _documents(items, states)
    reader = _AccessReader(stack, emulator, state, on_access)
    public_by_accident = _public_by_accident(stack, reader, models, changes)
    bound, seed = access_plan
    always = [d for d in (WORKED_EXAMPLE_ITEM, *public_by_accident) if d in models]
    checked, scope = plan_access_checks(models, bound=bound, seed=seed, always=always)
    report: dict[str, Any] = {
        "timedOut": timed_out,
        "drained": drained,
        "durationSeconds": None,  # the caller's, once everything (this report too) is done
        "events": {
            "sent": sent,
            "acknowledged": acknowledged,
            "pushed": counts[Disposition.PUSHED],
            "staleSkipped": counts[Disposition.STALE],
            "syncEvents": counts[Disposition.RECORDED],
            "deadLettered": dead_lettered,
            "unaccounted": sent - acknowledged - dead_lettered,
        },
        "deadLetters": [
            {key: d[key] for key in ("queue", "eventId", "eventType", "reason", "errorKind")}
            for d in dead_letters
        ],
        "documents": documents,
        "access": reader.access(checked),
        "accessScope": scope,
        "security": {"publicByAccident": public_by_accident, "documentsChecked": len(models)},
        "identities": {
            f"{i['type']} {i['name']}": i["state"]
            for i in state["identities"].get(stack.coveo.provider_id, [])
        },
        # Every key's state as the ledger reads it: a push left CLAIMED after a drained run is one
        # Coveo never answered (its message retried, or dead-lettered on its last delivery).
        "ledger": dict(sorted(ledger_states.items())),
        "validator": {
            "verified": totals.verified,
            "failed": totals.failed,
            "pending": len(pending),
            # What Coveo accepted (202) and has not indexed by the end: each key, oldest push first.
            "pendingKeys": [
                {"key": row.key, "subject": row.subject, "eventId": row.event_id, "repushes": row.repushes}
                for row in sorted(pending, key=lambda row: row.pushed_at_ms)
            ],
            # The validator's own settings in this run (the local ones unless --parameter set them).
            "processingDelaySeconds": settings and settings.processing_delay_s,
            "deadlineSeconds": settings and settings.deadline_s,
            "maxRepushes": settings and settings.max_repushes,
            "repushed": totals.repushed,
            "runs": totals.runs,
            "permissionWarnings": totals.permission_warnings,
            "failures": [
                {"key": f["key"], "subject": f["subject"], "reason": f["reason"]} for f in totals.failures
            ],
            "warnings": totals.warnings,
        },
        # Event time → pushed → indexed over every change the run verified: p50/p95/max seconds.
        "freshness": Freshness.of(totals.freshness).report(),
        "requests": {key: requests[key] for key in ("total", "byRoute", "byStatus", "faultsInjected")},
        "syncs": _syncs(stack.runtime.syncs()),
        "stages": [dict(stage) for stage in stages],
        # The --parameter values the run was given (the template's defaults for the rest).
        "parameters": dict(stack.template_parameters),
    }
    if not_sent:
        report["stagesNotSent"] = list(not_sent)
    report["problems"] = problems(report)
    report["ok"] = not report["problems"]
    return report


def _syncs(syncs: SyncLedger) -> dict[str, Any]:
    """Every full sync of the run as the ledger records it, in the order they began."""
    records = sorted(syncs.recent(REPORT_SYNCS), key=lambda record: record.started_ms)
    return {record.sync_id: record.to_report() for record in records}


def _documents(items: Mapping[str, Any], states: Mapping[str, tuple[int, Status]]) -> dict[str, Any]:
    """Each document Coveo holds, with its key's version and status in the ledger (`states`, by key)."""
    documents = {}
    for document_id, item in sorted(items.items()):
        version, status = states.get(item_key(document_id), (None, None))
        documents[document_id] = {
            "indexed": item["indexed"],
            "version": version,
            "status": status.value if status is not None else None,  # the ledger's: VERIFIED, FAILED, ...
            "permissionState": item["permissionState"],
            "metadata": item["metadata"],
        }
    return documents


# --- who can see what ----------------------------------------------------------------------------


def _sets(model: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """The permission sets of an item's model as /_emulator/state shows it (levels of sets)."""
    for level in model:
        yield from level.get("permissionSets") or ()


def _allows_anonymous(model: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any set of the model says `allowAnonymous`: only such a model can let anonymous
    users read the item (an anonymous user matches no identity), so this finds every candidate."""
    return any(permission_set.get("allowAnonymous") for permission_set in _sets(model))


def _has_denials(model: Sequence[Mapping[str, Any]]) -> bool:
    return any(permission_set.get("deniedPermissions") for permission_set in _sets(model))


def plan_access_checks(
    models: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    bound: int = ACCESS_CHECK_ALL_UP_TO,
    seed: int = ACCESS_SAMPLE_SEED,
    always: Sequence[str] = (),
) -> tuple[list[str], dict[str, Any]]:
    """Which indexed documents (documentId → permission model) the report asks Coveo's effective
    permissions about, and the report's `accessScope` saying so.

    Up to `bound` documents: all of them. Above it, a sample of `bound` that depends only on the
    documents and `seed`: `always` first (the worked example, the documents public by accident),
    then in turn one public document (a set allows anonymous users), one with denials, one of the
    others, each kind in a seeded order, so that every public and every denying document is
    checked when they fit, and each kind gets an even share when they do not.
    """
    ids = sorted(models)
    public = [d for d in ids if _allows_anonymous(models[d])]
    open_ = set(public)
    denials = [d for d in ids if d not in open_ and _has_denials(models[d])]
    kinds = {"public": public, "withDenials": denials}
    if len(ids) <= bound:
        chosen = ids
        how = "all"
    else:
        rng = random.Random(seed)
        taken = open_ | set(denials)
        queues = [list(public), list(denials), [d for d in ids if d not in taken]]
        for queue in queues:
            rng.shuffle(queue)
        chosen = list(dict.fromkeys(d for d in always if d in models))
        seen = set(chosen)
        while len(chosen) < bound and any(queues):
            for queue in queues:
                while queue and queue[-1] in seen:
                    queue.pop()
                if queue and len(chosen) < bound:
                    seen.add(queue[-1])
                    chosen.append(queue.pop())
        chosen = sorted(chosen)
        how = f"sample of {len(chosen)}, seed {seed}"
    picked = set(chosen)
    scope: dict[str, Any] = {"documents": len(ids), "checked": len(chosen), "how": how, "checkAllUpTo": bound}
    for name, members in kinds.items():
        scope[name] = {"documents": len(members), "checked": sum(1 for d in members if d in picked)}
    return chosen, scope


class _AccessReader:
    """Coveo's effective permissions of indexed documents, each asked once per report."""

    def __init__(
        self,
        stack: LocalStack,
        emulator: _Emulator,
        state: Mapping[str, Any],
        on_progress: Callable[[int, int], None],
    ) -> None:
        self._stack = stack
        self._emulator = emulator
        self._index_id = state["indexId"]
        provider = stack.coveo.provider_id
        self._provider = provider
        self.users = sorted(i["name"] for i in state["identities"].get(provider, []) if i["type"] == "USER")
        self._key: str | None = None
        self._answers: dict[str, Any] = {}
        self._on_progress = on_progress

    def answer(self, document_id: str) -> Any:
        if document_id not in self._answers:
            if self._key is None:
                secrets_manager = self._stack.aws.client("secretsmanager")
                self._key = api_key_from_secret(self._stack.resources.api_key_secret_name, secrets_manager)
            self._answers[document_id] = self._emulator.effective_permissions(
                self._stack.coveo, self._index_id, document_id, self._key
            )
        return self._answers[document_id]

    def anonymous_allowed(self, document_id: str) -> bool:
        return bool(self.answer(document_id)["anonymousAllowed"])

    def access(self, document_ids: Sequence[str]) -> dict[str, dict[str, bool]]:
        """Per document, every user of the provider: allowed or not, as Coveo's effective
        permissions answer it. A user the model does not reach is allowed only if anonymous users
        are."""
        found: dict[str, dict[str, bool]] = {}
        for done, document_id in enumerate(document_ids):
            self._on_progress(done, len(document_ids))
            answer = self.answer(document_id)
            anonymous = bool(answer["anonymousAllowed"])
            reached = {
                row["identity"]: bool(row["allowed"])
                for row in answer["items"]
                if row["securityProvider"] == self._provider
            }
            found[document_id] = {user: reached.get(user, anonymous) for user in self.users}
        self._on_progress(len(document_ids), len(document_ids))
        return found


def _public_by_accident(
    stack: LocalStack,
    reader: _AccessReader,
    models: Mapping[str, Sequence[Mapping[str, Any]]],
    changes: Mapping[str, bytes | None],
) -> list[str]:
    """Indexed documents anonymous users can read although their events did not say
    `"allowAnonymous": true` (and the deployment does not allow public items): each one is a
    security failure. Complete whatever the access sample: every document whose model has a set
    allowing anonymous users (only those can) and whose ledger row does not say it was declared
    public (`changes`: item key → stored change) is asked of Coveo's effective permissions."""
    if stack.runtime.settings.allow_public_items:
        return []
    found = []
    for document_id, model in sorted(models.items()):
        if not _allows_anonymous(model) or declared_public_in(changes.get(item_key(document_id))):
            continue
        if reader.anonymous_allowed(document_id):
            found.append(document_id)
    return found


def problems(report: Mapping[str, Any]) -> list[str]:
    """What keeps a run from being a success, in words; empty when everything landed."""
    found = []
    events, validator = report["events"], report["validator"]
    public = report.get("security", {}).get("publicByAccident", [])
    if public:
        found.append(
            f"SECURITY: {len(public)} item(s) readable by anonymous users although their events did not "
            f'say "allowAnonymous": true ({", ".join(public[:5])})'
        )
    if events["deadLettered"]:
        found.append(f"{events['deadLettered']} event(s) dead-lettered")
    if validator["failed"]:
        found.append(f"{validator['failed']} push(es) FAILED validation")
    if validator["pending"]:
        found.append(_pending(validator, report["timedOut"]))
    for sync_id, sync in report.get("syncs", {}).items():
        if sync["state"] in (SyncState.FAILED, SyncState.REFUSED):
            found.append(f"full sync {sync_id!r} of {sync['scope']} {sync['state']}: {sync['reason']}")
        elif sync["state"] == SyncState.RUNNING:
            expected = "?" if sync["expected"] is None else sync["expected"]
            found.append(
                f"full sync {sync_id!r} of {sync['scope']} still RUNNING at the end of the run "
                f"({sync['settled']} of {expected} changes settled)"
            )
    if report["timedOut"]:
        found.append(_timed_out(report))
    if report["drained"] and events["unaccounted"]:
        found.append(
            f"{events['unaccounted']} event(s) unaccounted for (neither acknowledged nor dead-lettered)"
        )
    return found


def _pending(validator: Mapping[str, Any], timed_out: bool) -> str:
    """Pushes Coveo accepted and has not indexed by the end: which, and what to do."""
    keys = [entry["subject"] for entry in validator.get("pendingKeys") or []]
    named = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    deadline = validator.get("deadlineSeconds")
    text = f"{validator['pending']} push(es) still pending validation" + (f" ({named})" if named else "")
    text += ": Coveo answered 202 and has not indexed them"
    if deadline is not None:
        text += (
            f"; the validator re-pushes a push not indexed {deadline:g} s after it "
            f"(ValidationDeadlineSeconds), up to {validator.get('maxRepushes')} times"
        )
    if timed_out:
        text += (
            "; give the run a longer --timeout (or a smaller --parameter ValidationDeadlineSeconds), "
            "and see validator.pendingKeys in --report FILE"
        )
    return text


def _timed_out(report: Mapping[str, Any]) -> str:
    """Where the run's timeout caught it: in which stage, and before what."""
    stages = report.get("stages") or []
    stage = next((stage for stage in stages if stage["timedOut"]), None)
    if stage is None or not stage["drained"]:
        what = "the queues drained" if not report["drained"] else "validation ended"
    elif stage["pending"]:
        what = "validation ended"
    else:
        what = f"full sync(s) {', '.join(stage['syncsRunning'])} ended"
    not_sent = report.get("stagesNotSent") or []
    total = len(stages) + len(not_sent)
    where = f" in stage {stage['stage']}/{total} ({stage['name']})" if stage and total > 1 else ""
    text = f"timed out{where} before {what}"
    if not_sent:
        text += f"; not sent: {', '.join(not_sent)}"
    return text


def worked_example_problems(report: Mapping[str, Any]) -> list[str]:
    """The demo's own check: the worked example's truth, as DESIGN.md states it."""
    document = report["documents"].get(WORKED_EXAMPLE_ITEM)
    if not document or not document["indexed"]:
        return [f"{WORKED_EXAMPLE_ITEM} is not indexed"]
    access = report["access"].get(WORKED_EXAMPLE_ITEM, {})
    wrong = [
        f"{user} should be {'allowed' if allowed else 'denied'}"
        for user, allowed in WORKED_EXAMPLE_ACCESS.items()
        if access.get(user) is not allowed
    ]
    return [f"{WORKED_EXAMPLE_ITEM}: {', '.join(wrong)}"] if wrong else []


# --- starting everything ------------------------------------------------------------------------


def run_local(
    events: Sequence[Any] | Sequence[Stage],
    *,
    faults: Mapping[str, Any] | None = None,
    processing_delay_s: float = 0.0,
    timeout_s: float,
    template: Path | None = None,
    parameters: Mapping[str, str] | None = None,
    progress: TextIO | None = None,
    function_logs: TextIO | None = None,
    access_check_all_up_to: int = ACCESS_CHECK_ALL_UP_TO,
    access_sample_seed: int = ACCESS_SAMPLE_SEED,
    started: float | None = None,
    keep: Callable[[dict[str, Any], CountingStack], None] | None = None,
) -> dict[str, Any]:
    """Start moto and the emulator on free ports, provision from the template, run, report.

    `events`: the events, or stages of them (see `run_on_stack`). `template` defaults to
    template.yaml in the current directory (see `find_template`). The report's `durationSeconds` is
    the wall clock of all of it: from `started` (the command's start, `time.monotonic()`; default:
    now) through starting the servers, the run and the report, to stopping them; `timings` splits it
    (`startSeconds`: what came before the servers). With `keep`, it is called with the report and
    the stack once the report is made, before anything stops (`coveo-push local --keep` serves the
    stack until it returns); the report's clock then ends with the report."""
    clock = _Timings(started)
    template = find_template(template)
    # The web stacks load here, not at import: `coveo-push --help` stays fast.
    from aws_simulator.cloudformation import provision_from_template
    from aws_simulator.moto_server import MotoServer
    from coveo_emulator.config import EmulatorConfig
    from coveo_emulator.server import EmulatorServer

    if started is not None:
        clock.lap("start")
    api_key = _new_api_key()
    config = EmulatorConfig(api_key=api_key, processing_delay_s=processing_delay_s)
    with MotoServer() as aws, EmulatorServer(config) as coveo:
        # The connector reads the key from Secrets Manager, as in AWS; it is never printed.
        # moto keeps one state per process: a prefix of its own keeps this run's resources apart.
        prefix = f"local-{secrets.token_hex(3)}-"
        resources = provision_from_template(template, aws, parameters, api_key=api_key, name_prefix=prefix)
        target = CoveoTarget(coveo.base_url, config.organization_id, config.source_id, config.provider_id)
        stack = LocalStack(aws, resources, target, template, template_parameters=dict(parameters or {}))
        report = run_on_stack(
            stack,
            events,
            faults=faults,
            timeout_s=timeout_s,
            progress=progress,
            function_logs=function_logs,
            access_check_all_up_to=access_check_all_up_to,
            access_sample_seed=access_sample_seed,
            timings=clock,
            keep=keep,
        )
        if keep is not None:
            return report
    clock.lap("tearDown")
    report["durationSeconds"] = round(clock.total(), 1)
    report["timings"] = clock.report()
    return report


def _new_api_key() -> str:
    return "xx-local-" + secrets.token_urlsafe(24)


# --- command line (arguments: main.py, so that `coveo-push --help` stays fast) ---------------


def run(args: argparse.Namespace, *, demo: bool = False) -> int:
    """`coveo-push local` and `coveo-push demo`. Exit status: 0 the run is OK, 1 it is not (or the
    run itself broke: a report says why), 2 the command line or an input file is wrong."""
    started = getattr(args, "started", None)
    try:
        template = find_template(args.template)
        parameters = _parameters(template, [] if demo else args.parameter)
        events: Sequence[Any] | Sequence[Stage] = (
            _events_of(load_stages(args.events))
            if not demo and args.events
            else worked_example(template.parent)
        )
        faults = json.loads(args.faults.read_text(encoding="utf-8")) if not demo and args.faults else None
    except (OSError, ValueError) as exc:  # no template, unreadable file (OSError); bad JSON (ValueError)
        print(f"coveo-push: {exc}", file=sys.stderr)
        return 2
    keep_logs = args.function_logs.open("w", encoding="utf-8") if args.function_logs else None
    shown: list[int] = []  # the exit status, once the report is out (with --keep, before serving)

    def show(report: dict[str, Any], stack: CountingStack | None = None) -> None:
        shown.append(_show(report, args, demo))
        if stack is not None:
            from .keep import serve_until_interrupted

            serve_until_interrupted(stack, out=sys.stdout, function_logs=logs)

    with keep_logs or contextlib.nullcontext() as logs:
        try:
            report = run_local(
                events,
                faults=faults,
                processing_delay_s=args.processing_delay,
                timeout_s=run_timeout_s(args.timeout, sum(len(stage.events) for stage in as_stages(events))),
                template=template,
                parameters=parameters,
                progress=None if args.quiet else sys.stderr,
                function_logs=logs,
                started=started,
                keep=show if getattr(args, "keep", False) else None,
            )
        except ValueError as exc:  # e.g. fault rules the emulator refused
            if isinstance(exc, ValidationError):  # a model refusing data deep in the run is a defect
                return _defect(exc, args)
            print(f"coveo-push: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:  # a defect: still leave a report that says so, and why
            return _defect(exc, args)
    return shown[0] if shown else _show(report, args, demo)


def _parameters(template: Path, texts: Sequence[str]) -> dict[str, str]:
    """`--parameter` values checked against the template (ParameterError names the parameter);
    a note on stderr for each one the local run does not read."""
    if not texts:
        return {}
    declared = load_template(template)
    parameters = parse_parameters(texts, declared)
    for name, note in no_local_effect(declared, parameters).items():
        print(f"coveo-push: note: --parameter {name} has no effect in a local run: {note}", file=sys.stderr)
    return parameters


def _show(report: dict[str, Any], args: argparse.Namespace, demo: bool) -> int:
    """Write the JSON report, print the summary (or all of it) and the verdict; the exit status."""
    if demo:
        report["problems"] += worked_example_problems(report)
        report["ok"] = not report["problems"]
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.quiet:
        print(format_report(report, verbose=getattr(args, "verbose", False)))
        print()
    if report["ok"]:
        what = (
            "the worked example landed: item indexed, alice and david allowed, bob denied" if demo else "OK"
        )
        print(f"Result: {what}; nothing dead-lettered, every push VERIFIED.", flush=True)
        return 0
    print("Result: NOT OK: " + "; ".join(report["problems"]) + ".", flush=True)
    return 1


def _events_of(stages: list[Stage]) -> Sequence[Any] | Sequence[Stage]:
    """One events file is a run of one stage: its events, as they are."""
    return stages[0].events if len(stages) == 1 else stages


def _defect(exc: BaseException, args: argparse.Namespace) -> int:
    """A defect, not the user's input: the traceback, and a report that says so and why."""
    traceback.print_exception(exc, file=sys.stderr)
    problem = f"the local run failed: {type(exc).__name__}: {exc}"
    report: dict[str, Any] = {
        "ok": False,
        "problems": [problem],
        "error": "".join(traceback.format_exception(exc)),
    }
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"Result: NOT OK: {problem}.")
    return 1
