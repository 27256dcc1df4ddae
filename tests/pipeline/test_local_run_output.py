"""`coveo-push local` as a user meets it (issue 18): `--parameter` checked against the template, a
lost push healed within the run, a summary of bounded length (everything with `--verbose` and in
`--report`), a truthful clock, and `--keep` for trying the operator tools against the local stack.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from aws_simulator.cloudformation import load_template
from coveo_push_cli import local_run
from coveo_push_cli.main import main
from coveo_push_cli.parameters import ParameterError, check_value, no_local_effect, parse_parameters
from coveo_push_cli.report_text import format_report

from .kept_run import kept_local_run

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--parameter", "MaximumBatchingWindowInSeconds=1"]
SINGLE_PUSH = "PUT /push/v1/organizations/{organizationId}/sources/{sourceId}/documents"
# What a person may see of a run by default, whatever its size (issue 18: 3,000 events, 150 lines).
MOST_LINES = 150


def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


# --- --parameter --------------------------------------------------------------------------------


def test_parameters_are_checked_against_the_templates_declarations() -> None:
    declared = {
        "Parameters": {
            "Size": {"Type": "Number", "MinValue": 1, "MaxValue": 10},
            "Days": {"Type": "Number", "AllowedValues": [1, 7, 30]},
            "Flag": {"Type": "String", "AllowedValues": ["true", "false"]},
            "Id": {"Type": "String", "MinLength": 3, "MaxLength": 5, "AllowedPattern": "[a-z]+"},
            "Share": {
                "Type": "String",
                "AllowedPattern": "^0(\\.[0-9]+)?$",
                "ConstraintDescription": "0 to 1",
            },
        },
        "Resources": {},
    }
    assert parse_parameters(["Size=10", "Days=7.0", "Flag=true", "Id=abcd", "Share=0.5"], declared) == {
        "Size": "10",
        "Days": "7.0",
        "Flag": "true",
        "Id": "abcd",
        "Share": "0.5",
    }
    refused = {
        "Size=abc": "Size is a Number and 'abc' is not a number",
        "Size=0": "Size must be at least 1 (the template's MinValue)",
        "Size=11": "Size must be at most 10 (the template's MaxValue)",
        "Days=2": "Days must be one of 1, 7, 30",
        "Flag=yes": "Flag must be one of 'true', 'false'",
        "Id=ab": "Id must be at least 3 characters long",
        "Id=abcdef": "Id must be at most 5 characters long",
        "Id=ABC": "Id must match the template's AllowedPattern [a-z]+",
        "Share=2": "(0 to 1)",
        "Nope=1": "--parameter Nope: the template declares no parameter Nope",
        "size=1": "did you mean Size?",
        "Size": "expected NAME=VALUE",
    }
    for text, message in refused.items():
        with pytest.raises(ParameterError, match=re.escape(message)):
            parse_parameters([text], declared)
    with pytest.raises(ParameterError, match="--parameter Size: given twice"):
        parse_parameters(["Size=1", "Size=2"], declared)
    assert check_value("Id", "", declared["Parameters"]["Id"]) is not None


def test_the_real_templates_parameters_reach_the_local_run_or_say_why_not() -> None:
    declared = template()
    parameters = declared["Parameters"]
    # Read from the template at run time: every parameter it declares is known, whatever it adds.
    notes = no_local_effect(declared, dict.fromkeys(parameters, "x"))
    for reaches in ("AllowPublicItems", "ValidationDeadlineSeconds", "ItemBatchSize", "MaxReceiveCount"):
        assert reaches not in notes
    assert (
        "PushItemsLogGroup, PushIdentitiesLogGroup, ValidatePushesLogGroup (AWS::Logs::LogGroup) not created"
        in notes["LogRetentionInDays"]
    )
    assert "the emulator's own" in notes["CoveoSourceId"]
    # A fraction where Lambda takes a whole number is refused, naming where the template puts it;
    # so is a whole number not written in digits (CloudFormation would pass "1e3" on as it is), and
    # one that reaches a variable the functions read as an integer (they would stop at cold start).
    for text, where in [
        ("ItemBatchSize=1.5", "BatchSize"),
        ("ItemBatchSize=1e3", "BatchSize"),
        ("ItemBatchSize=500.0", "BatchSize"),
        ("ClaimsPerTransaction=1e1", "LEDGER_CLAIMS_PER_TRANSACTION"),
        ("ClaimsPerTransaction=5.0", "LEDGER_CLAIMS_PER_TRANSACTION"),
    ]:
        with pytest.raises(ParameterError, match=rf"must be a whole number written in digits: .*{where}"):
            parse_parameters([text], declared)
    assert parse_parameters(["ItemBatchSize=500", "ClaimsPerTransaction=1"], declared) == {
        "ItemBatchSize": "500",
        "ClaimsPerTransaction": "1",
    }
    assert parse_parameters(["ProcessingDelaySeconds=2.5"], declared) == {"ProcessingDelaySeconds": "2.5"}


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ("NoSuchParam=1", "--parameter NoSuchParam: the template declares no parameter NoSuchParam"),
        ("ItemBatchSize=abc", "--parameter ItemBatchSize=abc: ItemBatchSize is a Number"),
        ("AllowPublicItems=yes", "AllowPublicItems must be one of 'true', 'false'"),
    ],
)
def test_a_wrong_parameter_exits_2_naming_it_before_anything_starts(
    parameter: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    began = time.monotonic()
    assert main(["local", "--parameter", parameter]) == 2
    assert time.monotonic() - began < 5  # refused before the servers start
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_allow_public_items_pushes_an_item_without_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "public.json"
    document = {"title": "Open", "data": "no permission model"}
    data = {"documentId": "file://open/a.txt", "version": 1, "document": document}
    events.write_text(
        json.dumps(
            {"specversion": "1.0", "id": "open-1", "source": "t", "type": "item.upserted", "data": data}
        )
    )
    report_path = tmp_path / "report.json"
    options = ["--events", str(events), "--report", str(report_path), "--quiet", *FAST]

    assert (
        main(
            ["local", *options, "--parameter", "AllowPublicItems=true", "--parameter", "LogRetentionInDays=7"]
        )
        == 0
    )

    report = json.loads(report_path.read_text())
    assert report["documents"]["file://open/a.txt"]["indexed"] is True
    assert report["deadLetters"] == [] and report["security"]["publicByAccident"] == []
    assert report["parameters"] == {
        "AllowPublicItems": "true",
        "LogRetentionInDays": "7",
        "MaximumBatchingWindowInSeconds": "1",
    }
    err = capsys.readouterr().err
    assert "--parameter LogRetentionInDays has no effect in a local run" in err
    # Without it, the same item is refused to the DLQ: the parameter is what changed it.
    assert main(["local", *options]) == 1
    report = json.loads(report_path.read_text())
    assert report["events"]["deadLettered"] == 1 and "file://open/a.txt" not in report["documents"]


# --- the validation deadline --------------------------------------------------------------------


def test_a_push_coveo_loses_is_re_pushed_within_a_default_run(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(
        json.dumps({"seed": 1, "rules": [{"route": SINGLE_PUSH, "action": "lose", "count": 1}]})
    )
    report_path = tmp_path / "report.json"

    assert main(["local", "--faults", str(faults), "--report", str(report_path), "--quiet", *FAST]) == 0

    report = json.loads(report_path.read_text())
    validator = report["validator"]
    assert report["requests"]["faultsInjected"] == 1
    assert (validator["repushed"], validator["pending"], validator["verified"]) == (1, 0, 5)
    assert validator["deadlineSeconds"] == local_run.local_deadline_s(0) == 10
    assert report["documents"][local_run.WORKED_EXAMPLE_ITEM]["indexed"] is True


def test_a_deadline_the_user_sets_is_the_one_the_validator_uses(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    deadline = ["--parameter", "ValidationDeadlineSeconds=90", "--parameter", "ProcessingDelaySeconds=1"]
    assert main(["local", "--report", str(report_path), "--quiet", *FAST, *deadline]) == 0
    validator = json.loads(report_path.read_text())["validator"]
    assert (validator["deadlineSeconds"], validator["processingDelaySeconds"]) == (90, 1)


# --- what is printed ----------------------------------------------------------------------------


def large_report(documents: int = 1500, events: int = 3000) -> dict[str, Any]:
    """A report shaped like a 3,000-event run's, with every list long."""
    ids = [f"file://share/doc-{n:05d}.txt" for n in range(documents)]
    users = [f"user-{n:03d}" for n in range(40)]
    return {
        "timedOut": True,
        "drained": True,
        "durationSeconds": 412.3,
        "timings": {"startSeconds": 1.2, "setUpSeconds": 2.0, "validatingSeconds": 409.1},
        "events": {
            "sent": events,
            "acknowledged": events - 60,
            "pushed": 2400,
            "staleSkipped": 540,
            "syncEvents": 0,
            "deadLettered": 60,
            "unaccounted": 0,
        },
        "deadLetters": [
            {
                "queue": "ItemQueue",
                "eventId": f"bad-{n}",
                "eventType": None,
                "reason": f"reason {n % 14}",
                "errorKind": "x",
            }
            for n in range(60)
        ],
        "documents": {
            d: {
                "indexed": n % 10 != 0,
                "version": 2,
                "status": "VERIFIED" if n % 7 else "FAILED",
                "permissionState": "VALID",
                "metadata": {"title": d, "rev": 2},
            }
            for n, d in enumerate(ids)
        },
        "access": {d: {u: n % 2 == 0 for n, u in enumerate(users)} for d in ids[:200]},
        "accessScope": {"documents": documents, "checked": 200, "how": "sample of 200, seed 17"},
        "security": {"publicByAccident": [], "documentsChecked": documents},
        "identities": {f"GROUP team-{n}": "UP_TO_DATE" for n in range(300)},
        "ledger": {"VERIFIED": 2000, "FAILED": 214, "ACCEPTED": 30},
        "validator": {
            "verified": 2000,
            "failed": 214,
            "pending": 30,
            "pendingKeys": [
                {"key": f"item#{d}", "subject": d, "eventId": "e", "repushes": 3} for d in ids[:30]
            ],
            "repushed": 50,
            "runs": 90,
            "failures": [{"key": f"item#{d}", "subject": d, "reason": "refused"} for d in ids[:214]],
            "warnings": [f"warning {n}" for n in range(40)],
        },
        "requests": {
            "total": 9000,
            "byRoute": {f"GET /route/{n}": n for n in range(30)},
            "faultsInjected": 12,
        },
        "syncs": {
            f"sync-{n}": {
                "scope": "items",
                "state": "FAILED",
                "expected": 10,
                "settled": 9,
                "deleted": None,
                "reason": "short",
            }
            for n in range(40)
        },
        "stages": [
            {
                "stage": n,
                "name": f"s{n}.json",
                "sent": 100,
                "drained": True,
                "pending": 0,
                "syncsRunning": [],
                "timedOut": False,
                "durationSeconds": 1.0,
            }
            for n in range(1, 31)
        ],
        "problems": ["many"],
        "ok": False,
    }


def progress_lines(seconds: float) -> int:
    """The progress lines a run of `seconds` writes off a terminal (see local_run._Progress)."""
    lines, interval, elapsed = 0, local_run.PROGRESS_EVERY_S, 0.0
    while elapsed + interval <= seconds:
        elapsed += interval
        lines += 1
        if lines % local_run.PROGRESS_LINES_PER_INTERVAL == 0:
            interval *= 2
    return lines


def test_a_large_run_prints_a_bounded_summary_and_everything_with_verbose() -> None:
    report = large_report()
    summary = format_report(report).splitlines()
    # The summary, the verdict and its blank line, the progress of a 10-minute run: within the bound.
    assert len(summary) + 2 + progress_lines(600) <= MOST_LINES, (len(summary), progress_lines(600))
    assert progress_lines(600) <= 30 and progress_lines(7) == 2
    text = "\n".join(summary)
    assert "1,500 in the index, 1,350 indexed, 150 deleted" in text
    assert "… and 1,492 more items (--verbose lists them all" in text
    assert "Dead-letter queues: 60 message(s), 14 reason(s)" in text
    assert "… and 6 more reason(s)" in text
    assert "Identities: 300 (UP_TO_DATE 300)" in text
    assert "… and 22 more pending keys" in text
    # The summary shows what is wrong first: FAILED items before VERIFIED ones.
    assert (
        "ledger FAILED"
        in summary[summary.index(next(line for line in summary if line.startswith("Items:"))) + 1]
    )
    everything = format_report(report, verbose=True)
    assert all(document_id in everything for document_id in report["documents"])
    assert all(f"bad-{n}" in everything for n in range(60))
    assert everything.count("FAILED file://") == 214 and "warning 39" in everything


def test_progress_off_a_terminal_thins_out_and_on_a_terminal_rewrites_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_run, "PROGRESS_EVERY_S", 0.002)
    stream = io.StringIO()
    with local_run._Progress(stream, lambda: "working"):
        time.sleep(0.4)  # 200 intervals of the first length
    lines = stream.getvalue().splitlines()
    assert 5 <= len(lines) <= 30, len(lines)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    with local_run._Progress(terminal, lambda: "working"):
        time.sleep(0.05)
    assert "\n" not in terminal.getvalue() and terminal.getvalue().endswith("\r\x1b[K")


def test_a_real_run_prints_a_summary_and_its_clock_is_the_wall_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "report.json"
    began = time.monotonic()
    monkeypatch.setattr("coveo_push_cli.main.STARTED", began)
    assert main(["local", "--report", str(report_path), *FAST]) == 0
    wall = time.monotonic() - began
    out, err = capsys.readouterr()
    report = json.loads(report_path.read_text())
    assert abs(report["durationSeconds"] - wall) <= 0.3
    assert out.startswith(f"Local run: {report['durationSeconds']} s (start ")
    assert len(out.splitlines()) + len(err.splitlines()) <= 40
    assert "allowed: alice, david    denied: bob" in out


# --- --keep --------------------------------------------------------------------------------------


def test_keep_leaves_the_stack_running_for_the_operator_tools_until_interrupted(tmp_path: Path) -> None:
    with kept_local_run(*FAST) as run:
        env, printed, exports = run.env, run.printed, run.exports
        assert {"AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "LEDGER_TABLE", "LEDGER_BUCKET"} <= set(exports), (
            printed
        )
        assert "ITEM_DEAD_LETTER_QUEUE_URL" in exports and "ITEM_QUEUE_URL" in exports
        assert not any(line.startswith("export") and "xx-local-" in line for line in printed)  # no key

        # Another shell: the exports, and the operator commands as the output suggests them.
        shell = {**env, **exports}
        operator = [sys.executable, "-m", "coveo_push_cli.main"]
        endpoint = ["--local-endpoint", exports["AWS_ENDPOINT_URL"]]
        failures = subprocess.run(
            [*operator, "failures", "--json", *endpoint],
            env=shell,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert failures.returncode == 0, failures.stderr
        assert json.loads(failures.stdout) == {"failures": [], "more": False}
        # boto3 reads AWS_ENDPOINT_URL itself: the exports alone reach the stack.
        syncs = subprocess.run(
            [*operator, "syncs", "--json"], env=shell, capture_output=True, text=True, timeout=60, check=False
        )
        assert syncs.returncode == 0 and json.loads(syncs.stdout)["syncs"] == [], syncs.stderr
        redrive = subprocess.run(
            [*operator, "redrive", *endpoint],
            env=shell,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert redrive.returncode == 0 and "item: moved 0 message(s)" in redrive.stdout, redrive.stderr
    assert run.returncode == 0, run.errors
    assert "Stopped the local stack." in run.rest


def test_the_default_timeout_grows_with_the_events_sent() -> None:
    """120 s stopped a 50,000-event run while it progressed; the timeout catches a run that hangs."""
    from coveo_push_cli.timeouts import run_timeout_s

    assert run_timeout_s(None, 0) == 120
    assert run_timeout_s(None, 10_000) == 220
    assert run_timeout_s(None, 50_000) == 620
    assert run_timeout_s(30, 50_000) == 30  # one given wins
