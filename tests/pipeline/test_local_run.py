"""`coveo-push local`: the whole pipeline on one machine, judged by its JSON report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aws_simulator.stack import LocalStack
from coveo_push_cli import local_run
from coveo_push_cli.local_run import EventsFileError, format_report, load_events, run_on_stack, worked_example
from coveo_push_cli.main import main

ITEM = "file://folder/mytext.txt"
SINGLE_PUSH = "PUT /push/v1/organizations/{organizationId}/sources/{sourceId}/documents"
# Tests wait as little as the template allows to fill batches (its MinValue: 0 would be refused).
FAST = ["--parameter", "MaximumBatchingWindowInSeconds=1"]


def test_worked_example_lands_and_the_report_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "xx-local-test-key-a81f3c"
    monkeypatch.setattr(local_run, "_new_api_key", lambda: key)
    report_path = tmp_path / "report.json"

    assert main(["local", "--report", str(report_path), *FAST]) == 0

    report = json.loads(report_path.read_text())
    assert report["events"] == {
        "sent": 5,
        "acknowledged": 5,
        "pushed": 5,
        "staleSkipped": 0,
        "syncEvents": 0,
        "deadLettered": 0,
        "unaccounted": 0,
    }
    document = report["documents"][ITEM]
    assert (document["indexed"], document["version"], document["permissionState"]) == (True, 1, "VALID")
    assert document["metadata"]["author"] == "Alice Smith"
    assert report["access"][ITEM] == {"alice": True, "bob": False, "david": True}
    assert report["deadLetters"] == []
    assert {k: report["validator"][k] for k in ("verified", "failed", "pending")} == {
        "verified": 5,
        "failed": 0,
        "pending": 0,
    }
    assert report["ledger"] == {"VERIFIED": 5}  # every key's state as the ledger reads it back
    assert report["requests"]["byRoute"][SINGLE_PUSH] == 1
    assert report["requests"]["total"] == sum(report["requests"]["byRoute"].values())
    assert (report["timedOut"], report["ok"]) == (False, True)
    out = capsys.readouterr()
    assert "allowed: alice, david    denied: bob" in out.out
    assert "batch done" not in out.out  # the functions' JSON logs stay out of the report
    assert key not in out.out + out.err + report_path.read_text()


def test_bad_input_is_dead_lettered_with_reasons_while_the_rest_lands(stack: LocalStack) -> None:
    newer = json.loads(json.dumps(worked_example()[-1]))
    newer["id"], newer["data"]["version"] = "wx-item-mytext-2", 2
    newer["data"]["document"]["title"] = "My text, second edition"
    unknown_type = {**newer, "id": "bad-type-1", "type": "item.moved"}
    events = ["not json at all", unknown_type, *worked_example(), newer]

    report = run_on_stack(stack, events, timeout_s=30)

    reasons = {d["eventId"]: d["reason"] for d in report["deadLetters"]}
    assert reasons["bad-type-1"].startswith("unknown event type 'item.moved'")
    assert reasons[None].startswith("message body is not JSON")
    events_count = report["events"]
    assert (events_count["sent"], events_count["deadLettered"], events_count["staleSkipped"]) == (8, 2, 1)
    assert events_count["sent"] == events_count["acknowledged"] + events_count["deadLettered"]
    document = report["documents"][ITEM]
    assert (document["indexed"], document["version"]) == (True, 2)
    assert document["metadata"]["title"] == "My text, second edition"
    assert report["access"][ITEM] == {"alice": True, "bob": False, "david": True}
    assert report["problems"] == ["2 event(s) dead-lettered"]
    assert report["ok"] is False


def test_a_wrong_api_key_retries_every_event_into_the_dlq_and_each_counts_once(stack: LocalStack) -> None:
    # Coveo answers 401: the change is fine, so it is retried; on the delivery that maxReceiveCount
    # makes the last, the connector dead-letters it with the 401 as the reason (SQS would move it
    # with none).
    secrets = stack.aws.client("secretsmanager")
    secrets.put_secret_value(SecretId=stack.resources.api_key_secret_name, SecretString="xx-wrong-key")

    report = run_on_stack(stack, worked_example(), timeout_s=30)

    assert report["events"]["sent"] == report["events"]["deadLettered"] == 5
    assert (report["events"]["acknowledged"], report["events"]["unaccounted"]) == (0, 0)
    assert {d["errorKind"] for d in report["deadLetters"]} == {"retries-exhausted"}
    for letter in report["deadLetters"]:
        assert "gave up after 5 deliveries" in letter["reason"] and "401" in letter["reason"], letter
    assert format_report(report).count(local_run.NO_REASON) == 0
    assert report["documents"] == {}
    assert list(report["requests"]["byStatus"]) == ["401"]


def test_faults_file_is_honoured_and_a_lost_push_times_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # JSON Lines: the identities, then the item, whose push Coveo answers 202 and then loses.
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in worked_example()) + "\n")
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"seed": 1, "rules": [{"route": f"{SINGLE_PUSH}", "action": "lose"}]}))
    report_path = tmp_path / "report.json"

    options = ["--events", str(events), "--faults", str(faults), "--report", str(report_path)]
    # 6 s: the queues drain in well under a second, even on a loaded 2-core machine (3 s was not
    # always enough there, and the run then timed out before the queues drained).
    code = main(["local", *options, "--timeout", "6", "--quiet", *FAST])

    report = json.loads(report_path.read_text())
    assert code == 1
    assert report["requests"]["faultsInjected"] == 1
    assert report["events"]["acknowledged"] == 5  # Coveo said 202 ...
    assert ITEM not in report["documents"]  # ... and never indexed it
    assert (report["validator"]["verified"], report["validator"]["pending"]) == (4, 1)
    assert report["timedOut"] is True
    # The run says which push is pending, and what to do about it.
    assert [entry["subject"] for entry in report["validator"]["pendingKeys"]] == [ITEM]
    out = capsys.readouterr().out
    assert "timed out before validation ended" in out
    assert f"1 push(es) still pending validation ({ITEM})" in out
    assert "give the run a longer --timeout" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type": "item.upserted"}', [{"type": "item.upserted"}]),
        ('[{"type": "identity.upserted"}, "raw body"]', [{"type": "identity.upserted"}, "raw body"]),
        ('{"type": "a"}\n\n"not json"\n{"type": "b"}\n', [{"type": "a"}, "not json", {"type": "b"}]),
    ],
)
def test_events_file_forms(tmp_path: Path, text: str, expected: list[Any]) -> None:
    path = tmp_path / "events"
    path.write_text(text)
    assert load_events(path) == expected


@pytest.mark.parametrize(
    ("text", "message"), [("[1]", "event 1 is a JSON int"), ("{}\n{oops", ":2: not JSON")]
)
def test_events_file_errors_say_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "events"
    path.write_text(text)
    with pytest.raises(EventsFileError, match=message):
        load_events(path)
