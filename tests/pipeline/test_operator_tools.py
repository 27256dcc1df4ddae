"""`coveo-push failures`, `coveo-push syncs` and `coveo-push redrive` against a local stack: moto, the emulator, the real handlers."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from aws_simulator.stack import LocalStack
from connector.domain.ledger import Status
from coveo_push_cli.local_run import FUNCTION_OUTPUT, worked_example
from coveo_push_cli.main import main
from coveo_push_cli.operator import list_failures, repush_failed, start_move_task

from .stack import ANONYMOUS, access, indexed
from .test_item_pipeline import upsert
from .test_sync_pipeline import member, sync_event

ITEM = "file://folder/mytext.txt"
ITEM_KEY = f"item#{ITEM}"


def drain(stack: LocalStack) -> None:
    # The functions' JSON logs and metrics go where the local run sends them, not into the
    # output the tests read (and Powertools never keeps a captured stream that closes).
    with contextlib.redirect_stdout(FUNCTION_OUTPUT):
        stack.drain()


def failed_item(stack: LocalStack) -> None:
    """The worked example's item pushed before its group: Coveo rejects it, and with no automatic
    re-push allowed the validator marks it FAILED."""
    stack.overrides = {**stack.overrides, "MAX_REPUSHES": "0"}
    stack.send(worked_example()[-1:])
    drain(stack)
    assert stack.validate().failed == 1


def use_stack_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The environment the template gives the functions, and the CLI option that points at moto."""
    for name, value in stack.env().items():
        monkeypatch.setenv(name, value)
    return ["--local-endpoint", stack.aws.endpoint_url]


def test_failures_lists_the_failed_row_with_coveos_reason(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failed_item(stack)
    local = use_stack_env(stack, monkeypatch)

    failures, more = list_failures(stack.runtime.ledger())
    assert [(f.key, f.attempts, f.repushes) for f in failures] == [(ITEM_KEY, 1, 0)]
    assert failures[0].reason.startswith("unknown security identity")
    assert "AlphaTeam" in failures[0].reason
    assert more is False

    assert main(["failures", "--json", *local]) == 0
    listed = json.loads(capsys.readouterr().out)["failures"]
    assert [(f["key"], f["subject"], f["reason"]) for f in listed] == [(ITEM_KEY, ITEM, failures[0].reason)]
    assert listed[0]["failedAt"].endswith("Z")

    assert main(["failures", *local]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["KEY", "FAILED", "AT", "ATTEMPTS", "RE-PUSHES", "REASON"]
    assert row.startswith(ITEM_KEY) and row.endswith(failures[0].reason)


def test_repush_after_the_group_lands_ends_verified(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failed_item(stack)
    stack.send(worked_example()[:-1])  # the group and the aliases arrive
    drain(stack)
    assert stack.validate().verified == 4

    assert main(["redrive", "--repush", ITEM, *use_stack_env(stack, monkeypatch)]) == 0
    assert capsys.readouterr().out.startswith(f"{ITEM_KEY}: re-pushed")
    assert stack.validate().verified == 1
    row = stack.runtime.ledger().get(ITEM_KEY)
    assert row is not None and (row.status, row.repushes) == (Status.VERIFIED, 1)
    users = access(stack, ITEM)
    assert (users["alice"], users["david"], users["bob"], users[ANONYMOUS]) == (True, True, False, False)
    # A row that is not FAILED is left alone.
    (again,) = repush_failed(stack.runtime, [ITEM_KEY])
    assert (again.pushed, again.detail) == (False, "is VERIFIED, not FAILED: left alone")


def test_redrive_moves_dead_letters_back_to_their_queues(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_identity = {**worked_example()[0], "id": "bad-group-1", "data": {"members": []}}
    stack.send(["not json at all", bad_identity])
    drain(stack)
    before = {d["queue"]: d for d in stack.dead_letters()}
    assert set(before) == {"ItemQueue", "IdentityQueue"}

    # No source queue given: each DLQ's is found from the redrive policy that names it.
    assert main(["redrive", *use_stack_env(stack, monkeypatch)]) == 0
    assert capsys.readouterr().out.count("moved 1 message(s)") == 2

    assert stack.dead_letters() == []
    for queue, dead in before.items():
        (message,) = receive_all(stack, queue)
        assert message["Body"] == dead["body"]
        # As a move task would, the message keeps its attributes, the reason among them.
        assert message["MessageAttributes"]["reason"]["StringValue"] == dead["reason"]


def test_move_task_names_the_source_queue_as_destination() -> None:
    # moto has no StartMessageMoveTask: this checks the request AWS would receive.
    class Sqs:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
            name = QueueUrl.rsplit("/", 1)[1]
            return {
                "Attributes": {
                    "QueueArn": f"arn:aws:sqs:eu-west-1:1:{name}",
                    "ApproximateNumberOfMessages": "3",
                }
            }

        def start_message_move_task(self, **request: Any) -> dict[str, str]:
            self.calls.append(request)
            return {"TaskHandle": "handle-1"}

    sqs = Sqs()
    assert start_move_task(sqs, "https://sqs/1/dlq", "https://sqs/1/items", max_per_second=50) == (
        "handle-1",
        3,
    )
    assert sqs.calls == [
        {
            "SourceArn": "arn:aws:sqs:eu-west-1:1:dlq",
            "DestinationArn": "arn:aws:sqs:eu-west-1:1:items",
            "MaxNumberOfMessagesPerSecond": 50,
        }
    ]


def receive_all(stack: LocalStack, queue: str) -> list[dict[str, Any]]:
    sqs = stack.aws.client("sqs")
    response = sqs.receive_message(
        QueueUrl=stack.resources.queue_url(queue), MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return list(response.get("Messages", []))


def test_syncs_lists_the_latest_syncs_newest_first_with_their_counts_and_why_one_failed(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.overrides = {**stack.overrides, "SYNC_QUEUE_DELAY_MINUTES": "0"}
    kept, dropped = "file://docs/kept.txt", "file://docs/dropped.txt"
    settle(stack, [*worked_example()[:-1], upsert(kept, 1), upsert(dropped, 1)])
    # "s1" keeps one of the two documents; "s2" counts none of the change it sends.
    for sync_id, count in (("s1", 1), ("s2", 0)):
        started = sync_event("started", sync_id, scope="items")
        settle(
            stack, [started, member(upsert(kept, 1), sync_id), sync_event("completed", sync_id, count=count)]
        )
    assert set(indexed(stack)) == {kept}
    local = use_stack_env(stack, monkeypatch)

    assert main(["syncs", "--json", *local]) == 0
    listed = json.loads(capsys.readouterr().out)
    rows = [
        (s["syncId"], s["scope"], s["state"], s["expected"], s["settled"], s["deleted"])
        for s in listed["syncs"]
    ]
    assert rows == [("s2", "items", "FAILED", 0, 1, None), ("s1", "items", "COMPLETED", 1, 1, 1)]
    failed, completed = listed["syncs"]
    assert failed["reason"].startswith("1 changes carry this syncId but sync.completed counted 0")
    assert completed["reason"] is None
    assert all(s["startedAt"].endswith("Z") and s["finishedAt"].endswith("Z") for s in listed["syncs"])
    assert listed["more"] is False

    assert main(["syncs", *local]) == 0
    header, first, second = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "SYNC", "SCOPE", "STATE", "EXPECTED", "SETTLED", "DELETED", "STARTED", "FINISHED", "REASON"
    ]  # fmt: skip
    assert first.split()[:6] == ["s2", "items", "FAILED", "0", "1", "-"] and first.endswith(failed["reason"])
    assert second.split() == [
        "s1",
        "items",
        "COMPLETED",
        "1",
        "1",
        "1",
        completed["startedAt"],
        completed["finishedAt"],
    ]

    assert main(["syncs", "--limit", "1", *local]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "(the first 1; raise --limit to see more)"


def test_syncs_without_a_ledger_table_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LEDGER_TABLE", raising=False)

    assert main(["syncs", "--local-endpoint", "http://127.0.0.1:1"]) == 2

    assert capsys.readouterr().err == "coveo-push syncs: no ledger table: pass --table or set LEDGER_TABLE\n"


def settle(stack: LocalStack, events: list[Any]) -> None:
    stack.send(events)
    drain(stack)
    stack.validate()


# --- every operator command fails in one line on missing configuration -------------------------------

UNREACHABLE = "http://127.0.0.1:1"  # nothing listens on port 1: connection refused at once
DLQS = {
    "ITEM_DEAD_LETTER_QUEUE_URL": "http://q/item-dlq",
    "IDENTITY_DEAD_LETTER_QUEUE_URL": "http://q/id-dlq",
}
NO_REGION = "no AWS region: set AWS_DEFAULT_REGION"
NO_CREDENTIALS = "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"


def bare_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, **env: str) -> None:
    """An operator's shell with nothing configured but `env`: no AWS region, profile, credentials or
    config files, no instance metadata, none of the functions' variables."""
    import os

    for name in list(os.environ):
        if name.startswith(("AWS_", "COVEO_", "LEDGER_")) or name.endswith("_QUEUE_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("argv", "env", "status", "message"),
    [
        # failures
        (["failures"], {}, 2, "no ledger table: pass --table or set LEDGER_TABLE"),
        (["failures", "--table", "t"], {}, 2, "no ledger bucket: pass --bucket or set LEDGER_BUCKET"),
        (["failures"], {"LEDGER_TABLE": "t", "LEDGER_BUCKET": "b"}, 2, NO_REGION),
        (
            ["failures"],
            {"LEDGER_TABLE": "t", "LEDGER_BUCKET": "b", "AWS_DEFAULT_REGION": "eu-west-1"},
            2,
            NO_CREDENTIALS,
        ),
        (
            ["failures"],
            {"LEDGER_TABLE": "t", "LEDGER_BUCKET": "b", "AWS_PROFILE": "nosuch"},
            2,
            "The config profile (nosuch) could not be found: fix AWS_PROFILE",
        ),
        (
            ["failures", "--local-endpoint", UNREACHABLE],
            {"LEDGER_TABLE": "t", "LEDGER_BUCKET": "b"},
            1,
            f'AWS endpoint unreachable: Could not connect to the endpoint URL: "{UNREACHABLE}/"',
        ),
        (
            ["failures", "--local-endpoint", "localhost:5000"],
            {"LEDGER_TABLE": "t", "LEDGER_BUCKET": "b"},
            2,
            "--local-endpoint 'localhost:5000' is not a URL like http://127.0.0.1:5000",
        ),
        # syncs
        (["syncs"], {}, 2, "no ledger table: pass --table or set LEDGER_TABLE"),
        (["syncs"], {"LEDGER_TABLE": "t"}, 2, NO_REGION),
        (["syncs", "--table", "t"], {"AWS_DEFAULT_REGION": "eu-west-1"}, 2, NO_CREDENTIALS),
        (
            ["syncs", "--local-endpoint", UNREACHABLE],
            {"LEDGER_TABLE": "t"},
            1,
            f'AWS endpoint unreachable: Could not connect to the endpoint URL: "{UNREACHABLE}/"',
        ),
        # redrive: dead letters
        (
            ["redrive"],
            {},
            2,
            "no item dead-letter queue: pass --item-dlq-url or set ITEM_DEAD_LETTER_QUEUE_URL",
        ),
        (
            ["redrive", "--item-dlq-url", "http://q/item-dlq"],
            {},
            2,
            "no identity dead-letter queue: pass --identity-dlq-url or set IDENTITY_DEAD_LETTER_QUEUE_URL",
        ),
        (["redrive"], DLQS, 2, NO_REGION),
        (["redrive", "--queue", "item"], {**DLQS, "AWS_DEFAULT_REGION": "eu-west-1"}, 2, NO_CREDENTIALS),
        (
            ["redrive", "--local-endpoint", UNREACHABLE],
            DLQS,
            1,
            f'AWS endpoint unreachable: Could not connect to the endpoint URL: "{UNREACHABLE}/"',
        ),
        # redrive: re-pushes need the functions' configuration
        (
            ["redrive", "--repush", "k"],
            {},
            2,
            "invalid connector configuration: COVEO_ORGANIZATION_ID: is not set",
        ),
    ],
)
def test_an_operator_command_fails_in_one_line_on_missing_configuration(
    argv: list[str],
    env: dict[str, str],
    status: int,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    bare_environment(monkeypatch, tmp_path, **env)

    assert main(argv) == status

    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()  # one line, no traceback
    assert line.startswith(f"coveo-push {argv[0]}: {message}"), line


def test_a_missing_table_on_a_reachable_endpoint_is_one_line_and_exit_1(
    moto_server: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    bare_environment(monkeypatch, tmp_path, LEDGER_TABLE="no-such-table", LEDGER_BUCKET="no-such-bucket")

    assert main(["syncs", "--local-endpoint", moto_server.endpoint_url]) == 1
    assert main(["failures", "--local-endpoint", moto_server.endpoint_url]) == 1

    [syncs, failures] = capsys.readouterr().err.splitlines()
    for command, line in (("syncs", syncs), ("failures", failures)):
        assert line.startswith(f"coveo-push {command}: "), line
        assert "ResourceNotFoundException" in line or "no-such-table" in line, line
