"""The local run's report for a person: a summary by default, everything with `--verbose`.

The summary has a bounded length whatever the run's size: counts, then at most a few lines of each
list (items, who can see what, full syncs, dead letters grouped by reason, failures, pending keys),
each followed by how many it leaves out. `--verbose` lists everything; the JSON report
(`--report FILE`) always holds everything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

# The queues' labels, by the template's logical ids (aws_simulator.stack's ITEM_QUEUE and
# IDENTITY_QUEUE; not imported, so that rendering a report loads nothing of the simulator).
QUEUE_LABELS = {"IdentityQueue": "identity", "ItemQueue": "item"}
# Shown for a dead letter without a reason: SQS moves a message after maxReceiveCount deliveries.
NO_REASON = "(no reason given: SQS moved it after maxReceiveCount failed deliveries)"
# How many entries of each list the summary shows.
SUMMARY_ITEMS = 8
SUMMARY_ACCESS = 5
SUMMARY_SYNCS = 5
SUMMARY_STAGES = 8
SUMMARY_REASONS = 8
SUMMARY_EXAMPLES = 3  # event ids shown per dead-letter reason
SUMMARY_FAILURES = 8
SUMMARY_WARNINGS = 3
SUMMARY_PENDING = 8
SUMMARY_ROUTES = 16
SUMMARY_PARTS = 6  # identity states
MORE_HINT = "--verbose lists them all; --report FILE keeps everything"

PHASES = {
    "startSeconds": "start",
    "setUpSeconds": "set-up",
    "sendingSeconds": "sending",
    "drainingSeconds": "draining",
    "validatingSeconds": "validating",
    "reportSeconds": "report",
    "tearDownSeconds": "tear-down",
}


def format_report(report: Mapping[str, Any], *, verbose: bool = False) -> str:
    """The report for a person: a summary of bounded length, or everything with `verbose`."""
    lines: list[str] = []
    _header(report, lines)
    _stages(report, lines, verbose)
    _items(report, lines, verbose)
    _access(report, lines, verbose)
    _identities(report, lines, verbose)
    _syncs(report, lines, verbose)
    _dead_letters(report, lines, verbose)
    _validator(report, lines, verbose)
    _requests(report, lines, verbose)
    return "\n".join(lines)


def _more(shown: int, total: int, what: str) -> list[str]:
    """The line that says what a list leaves out; none when it shows everything."""
    if total <= shown:
        return []
    return [f"  … and {total - shown:,} more {what} ({MORE_HINT})"]


def _header(report: Mapping[str, Any], lines: list[str]) -> None:
    events = report["events"]
    timings = report.get("timings") or {}
    spent = ", ".join(f"{PHASES[k]} {v} s" for k, v in timings.items() if k in PHASES)
    lines += [
        f"Local run: {report['durationSeconds']} s" + (f" ({spent})" if spent else ""),
        "",
        f"Events: {events['sent']:,} sent, {events['acknowledged']:,} acknowledged "
        f"({events['pushed']:,} pushed, {events['staleSkipped']:,} skipped as stale"
        + (f", {events['syncEvents']:,} sync events recorded" if events.get("syncEvents") else "")
        + f"), {events['deadLettered']:,} dead-lettered",
    ]


def _stages(report: Mapping[str, Any], lines: list[str], verbose: bool) -> None:
    stages = report.get("stages") or []
    not_sent = report.get("stagesNotSent") or []
    if len(stages) + len(not_sent) <= 1:
        return
    lines += ["", "Stages:"]
    shown = stages if verbose else stages[:SUMMARY_STAGES]
    for stage in shown:
        state = "timed out" if stage["timedOut"] else "drained and validated"
        lines.append(
            f"  {stage['stage']}. {stage['name']}: {stage['sent']:,} sent, {state} ({stage['durationSeconds']} s)"
        )
    lines += _more(len(shown), len(stages), "stages")
    if not_sent:
        names = not_sent if verbose else not_sent[:SUMMARY_STAGES]
        lines.append(f"  not sent: {', '.join(names)}" + (" …" if len(names) < len(not_sent) else ""))


def _items(report: Mapping[str, Any], lines: list[str], verbose: bool) -> None:
    documents: Mapping[str, Any] = report["documents"]
    indexed = sum(1 for d in documents.values() if d["indexed"])
    ledger = report.get("ledger") or {}
    states = ", ".join(f"{state} {count:,}" for state, count in ledger.items())
    lines += [
        "",
        f"Items: {len(documents):,} in the index, {indexed:,} indexed, {len(documents) - indexed:,} deleted"
        + (f"; ledger keys: {states}" if states else ""),
    ]
    # The summary shows first what is not right (not indexed and not deleted by the ledger's
    # word, not VERIFIED), then the rest in order.
    ordered = sorted(documents.items(), key=lambda pair: (_item_is_fine(pair[1]), pair[0]))
    shown = ordered if verbose else ordered[:SUMMARY_ITEMS]
    for document_id, document in shown:
        state = "indexed" if document["indexed"] else "not indexed"
        lines.append(
            f"  {document_id}  {state}, version {document['version']}, ledger {document['status']}, "
            f"permissions {document['permissionState']}"
        )
        metadata = {k: v for k, v in document["metadata"].items() if isinstance(v, str | int | float)}
        if verbose and metadata:
            lines.append("      " + ", ".join(f"{k}: {_short(v)}" for k, v in sorted(metadata.items())))
    lines += _more(len(shown), len(documents), "items")
    if not documents:
        lines.append("  (none)")


def _item_is_fine(document: Mapping[str, Any]) -> bool:
    return document["status"] == "VERIFIED" and document["permissionState"] in ("VALID", None)


def _access(report: Mapping[str, Any], lines: list[str], verbose: bool) -> None:
    access: Mapping[str, Mapping[str, bool]] = report["access"]
    scope = report.get("accessScope")
    public = (report.get("security") or {}).get("publicByAccident") or []
    checked = (
        f"{scope['checked']:,} of {scope['documents']:,} indexed items, {scope['how']}; "
        "public-by-accident checked on all"
        if scope is not None and scope["how"] != "all"
        else ""
    )
    shown_ids = list(access)
    if not verbose:
        # Items public by accident first, then the worked example's, then in order.
        first = [d for d in public if d in access]
        shown_ids = list(dict.fromkeys([*first, *sorted(access)]))[:SUMMARY_ACCESS]
    extent = checked
    if len(shown_ids) < len(access):
        extent = f"{len(shown_ids)} of {len(access):,} shown" + (f"; {checked}" if checked else "")
    lines += ["", "Who can see what" + (f" ({extent})" if extent else "") + ":"]
    for document_id in shown_ids:
        users = access[document_id]
        allowed = [u for u, ok in users.items() if ok]
        denied = [u for u, ok in users.items() if not ok]
        lines.append(f"  {document_id}")
        lines.append(f"      allowed: {_names(allowed, verbose)}    denied: {_names(denied, verbose)}")
    lines += _more(len(shown_ids), len(access), "items' access")
    if not access:
        lines.append("  (no indexed item)")


def _names(names: Sequence[str], verbose: bool, most: int = 12) -> str:
    if not names:
        return "-"
    if verbose or len(names) <= most:
        return ", ".join(names)
    return ", ".join(names[:most]) + f" and {len(names) - most} more"


def _identities(report: Mapping[str, Any], lines: list[str], verbose: bool) -> None:
    identities: Mapping[str, str] = report["identities"]
    if not identities:
        return
    if verbose:
        lines += ["", "Identities: " + ", ".join(f"{k} {v}" for k, v in identities.items())]
        return
    states = Counter(identities.values()).most_common()
    parts = ", ".join(f"{state} {count:,}" for state, count in states[:SUMMARY_PARTS])
    lines += ["", f"Identities: {len(identities):,} ({parts})"]


def _syncs(report: Mapping[str, Any], lines: list[str], verbose: bool) -> None:
    syncs: Mapping[str, Any] = report.get("syncs") or {}
    if not syncs:
        return
    lines += ["", "Full syncs:"]
    # Not COMPLETED first: those are what the summary is for.
    ordered = sorted(syncs.items(), key=lambda pair: pair[1]["state"] == "COMPLETED")
    shown = ordered if verbose else ordered[:SUMMARY_SYNCS]
    for sync_id, sync in shown:
        expected = "?" if sync["expected"] is None else sync["expected"]
        deleted = "" if sync["deleted"] is None else f", {sync['deleted']} deleted"
        lines.append(
            f"  {sync_id}  {sync['scope']}  {sync['state']}: {sync['settled']} of {expected} "
            f"changes settled{deleted}"
        )
        if sync["reason"]:
            lines.append(f"      {sync['reason']}")
    lines += _more(len(shown), len(syncs), "full syncs")


def _dead_letters(report: Mapping[str, Any], lines: list[str], verbose: bool) -> None:
    dead: Sequence[Mapping[str, Any]] = report["deadLetters"]
    if verbose or not dead:
        lines += ["", f"Dead-letter queues: {len(dead) or 'empty'}"]
        for letter in dead:
            lines.append(
                f"  [{QUEUE_LABELS.get(letter['queue'], letter['queue'])}] {letter['eventId'] or '(no event id)'}"
            )
            lines.append(f"      {letter['reason'] or NO_REASON}")
        return
    groups: dict[tuple[str, str], list[str]] = {}
    for letter in dead:
        label = QUEUE_LABELS.get(letter["queue"], letter["queue"])
        groups.setdefault((label, letter["reason"] or NO_REASON), []).append(
            letter["eventId"] or "(no event id)"
        )
    ordered = sorted(groups.items(), key=lambda pair: (-len(pair[1]), pair[0]))
    lines += ["", f"Dead-letter queues: {len(dead):,} message(s), {len(groups)} reason(s)"]
    for (label, reason), ids in ordered[:SUMMARY_REASONS]:
        examples = ", ".join(ids[:SUMMARY_EXAMPLES]) + (" …" if len(ids) > SUMMARY_EXAMPLES else "")
        lines.append(f"  {len(ids):5,}  [{label}] {_short(reason, 160)}")
        lines.append(f"         e.g. {examples}")
    if len(ordered) > SUMMARY_REASONS:
        others = sum(len(ids) for _, ids in ordered[SUMMARY_REASONS:])
        lines.append(
            f"  … and {len(ordered) - SUMMARY_REASONS} more reason(s), {others:,} message(s) ({MORE_HINT})"
        )


def _validator(report: Mapping[str, Any], lines: list[str], verbose: bool) -> None:
    validator = report["validator"]
    lines += [
        "",
        f"Validator: {validator['verified']:,} verified, {validator['failed']:,} failed, "
        f"{validator['pending']:,} pending, {validator['repushed']:,} re-pushed ({validator['runs']} run(s))",
    ]
    failures = validator["failures"]
    shown = failures if verbose else failures[:SUMMARY_FAILURES]
    lines += [f"  FAILED {f['subject']}: {f['reason']}" for f in shown]
    lines += _more(len(shown), len(failures), "failures")
    pending = validator.get("pendingKeys") or []
    shown_pending = pending if verbose else pending[:SUMMARY_PENDING]
    lines += [
        f"  pending {p['subject']} (event {p['eventId']}, {p['repushes']} re-push(es))" for p in shown_pending
    ]
    lines += _more(len(shown_pending), len(pending), "pending keys")
    warnings = validator["warnings"]
    shown_warnings = warnings if verbose else warnings[:SUMMARY_WARNINGS]
    lines += [f"  warning: {w}" for w in shown_warnings]
    lines += _more(len(shown_warnings), len(warnings), "warnings")


def _requests(report: Mapping[str, Any], lines: list[str], verbose: bool) -> None:
    requests = report["requests"]
    lines += ["", f"Coveo requests: {requests['total']:,}"]
    routes = sorted(requests["byRoute"].items(), key=lambda pair: (-pair[1], pair[0]))
    shown = routes if verbose else routes[:SUMMARY_ROUTES]
    lines += [f"  {count:5,}  {route}" for route, count in sorted(shown, key=lambda pair: pair[0])]
    lines += _more(len(shown), len(routes), "routes")
    if requests.get("faultsInjected"):
        lines.append(f"  (faults injected: {requests['faultsInjected']:,})")


def _short(value: Any, width: int = 60) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
