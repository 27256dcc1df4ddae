"""`coveo-push send` and `coveo-push sync` against moto (issue 19): the number of SQS calls a big
file takes, bad lines by number, hostile inputs, a sync that must not complete, the queues found
from a stack's outputs, and a kept-alive local run loaded with `send` and reconciled with `sync`
that ends with the source exact."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aws_simulator.moto_server import MotoServer
from coveo_push_cli import producer
from coveo_push_cli.main import main

from .kept_run import kept_local_run

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "mysecurityidentityprovider8d9s8d"
GROUP = {"identity": "AlphaTeam", "identityType": "Group", "securityProvider": PROVIDER}


def item(n: int, version: int = 1, **data: Any) -> dict[str, Any]:
    document_id = f"file://share/doc-{n:05d}.txt"
    return {
        "specversion": "1.0",
        "id": f"{document_id}@{version}",
        "source": "urn:example:file-share",
        "type": "item.upserted",
        "data": {
            "documentId": document_id,
            "version": version,
            "document": {
                "title": f"doc {n} v{version}",
                "data": f"version {version} of document {n}",
                "permissions": [{"allowedPermissions": [GROUP]}],
            },
            **data,
        },
    }


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


@pytest.fixture
def queues(moto_server: MotoServer, request: pytest.FixtureRequest) -> dict[str, str]:
    sqs = moto_server.client("sqs")
    name = request.node.name[:40].replace("[", "-").replace("]", "")
    return {kind: sqs.create_queue(QueueName=f"{name}-{kind}")["QueueUrl"] for kind in ("item", "identity")}


@pytest.fixture
def sqs_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HTTP request the commands' SQS clients make (botocore's retries included)."""
    made: list[str] = []
    build = producer._sqs

    def counting(local_endpoint: str | None) -> Any:
        client = build(local_endpoint)
        client.meta.events.register("before-send.sqs", lambda **kw: made.append(kw["request"].url))
        return client

    monkeypatch.setattr(producer, "_sqs", counting)
    return made


def endpoint(moto_server: MotoServer, queues: dict[str, str]) -> list[str]:
    return [
        "--local-endpoint",
        moto_server.endpoint_url,
        "--item-queue-url",
        queues["item"],
        "--identity-queue-url",
        queues["identity"],
    ]


def receive_all(moto_server: MotoServer, url: str) -> list[dict[str, Any]]:
    sqs = moto_server.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get(
            "Messages", []
        )
        if not messages:
            return found
        found += [json.loads(m["Body"]) for m in messages]


def count(moto_server: MotoServer, url: str) -> int:
    attributes = moto_server.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


# --- send ---------------------------------------------------------------------------------------


def test_send_of_25000_events_takes_at_most_2600_calls_and_reports_bad_lines_by_number(
    moto_server: MotoServer,
    queues: dict[str, str],
    sqs_calls: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines: list[Any] = [item(n) for n in range(25_000)]
    lines[6] = '{"specversion": "1.0", "id": '  # line 7: not JSON
    lines[12_344] = {**item(12_344), "type": "item.renamed"}  # line 12,345: an unknown type
    big = item(23_999)
    big["data"]["document"]["data"] = "x" * 300_000
    lines[23_999] = big  # line 24,000: over SQS's limit
    path = write_jsonl(tmp_path / "load.jsonl", lines)
    began = time.monotonic()
    code = main(["send", str(path), *endpoint(moto_server, queues), "--progress"])
    seconds = time.monotonic() - began
    out, err = capsys.readouterr()
    assert code == 1  # some lines were bad
    assert len(sqs_calls) <= 2_600, len(sqs_calls)
    assert count(moto_server, queues["item"]) == 24_997
    bad = [line for line in err.splitlines() if line.startswith(str(path))]
    assert [line.split(":")[1] for line in bad] == ["7", "12345", "24000"], err
    assert "not JSON" in bad[0]
    assert "unknown event type 'item.renamed'" in bad[1]
    assert "an SQS message holds at most 262,144" in bad[2]
    assert "sent 24,997 of 24,997 (100%)" in err  # the last progress line
    assert out.startswith("Sent 24,997 of 25,000 events in ")
    assert f"{len(sqs_calls):,} SendMessageBatch calls" in out
    assert re.search(r"bad \(not sent\): +3\n", out) and re.search(r"failed: +0\n", out)
    print(f"25,000 events: {seconds:.1f} s, {len(sqs_calls)} SQS calls")


def test_send_routes_reads_stdin_and_an_empty_file(
    moto_server: MotoServer,
    queues: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identities = json.loads((ROOT / "events/worked-example/identities.json").read_text())
    empty = tmp_path / "empty.json"
    empty.write_text("\n")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(identities).encode())))
    code = main(
        [
            "send",
            "-",
            str(ROOT / "events/worked-example/item.json"),
            str(empty),
            *endpoint(moto_server, queues),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"{empty}: no events in it" in err
    assert count(moto_server, queues["identity"]) == len(identities)
    assert count(moto_server, queues["item"]) == 1
    assert re.search(rf"identity queue: +{len(identities)} ", out)


def test_a_huge_array_of_bad_events_is_read_and_reported_within_bounds(
    moto_server: MotoServer,
    queues: dict[str, str],
    sqs_calls: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "huge.json"
    path.write_text("[" + ",".join(["{}"] * 100_000) + "]")
    began = time.monotonic()
    assert main(["send", str(path), *endpoint(moto_server, queues)]) == 1
    assert time.monotonic() - began < 30
    out, err = capsys.readouterr()
    assert not sqs_calls
    lines = err.splitlines()
    assert len(lines) == 51 and lines[0].startswith(
        f"{path}:1 [index 0]: not a CloudEvent: missing 'specversion'"
    )
    assert lines[-1] == "... and 99,950 more bad events (--verbose lists them all)"
    assert re.search(r"bad \(not sent\): +100,000\n", out)


def test_missing_queue_configuration_is_one_line_and_nothing_is_sent(
    moto_server: MotoServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("ITEM_QUEUE_URL", "IDENTITY_QUEUE_URL"):
        monkeypatch.delenv(variable, raising=False)
    path = write_jsonl(tmp_path / "one.jsonl", [item(1)])
    assert main(["send", str(path), "--local-endpoint", moto_server.endpoint_url]) == 2
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        "coveo-push send: no item queue: pass --item-queue-url URL or --stack NAME, or set ITEM_QUEUE_URL "
        "(`coveo-push local --keep` prints it); nothing was sent"
    ]


def test_the_queues_are_read_from_the_stacks_outputs(
    moto_server: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = {
        "Resources": {"Items": {"Type": "AWS::SQS::Queue"}, "Identities": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "ItemQueueUrl": {"Value": {"Ref": "Items"}},
            "IdentityQueueUrl": {"Value": {"Ref": "Identities"}},
        },
    }
    cloudformation = moto_server.client("cloudformation")
    cloudformation.create_stack(StackName="producer-outputs", TemplateBody=json.dumps(template))
    outputs = producer.stack_outputs("producer-outputs", moto_server.endpoint_url)
    path = write_jsonl(tmp_path / "one.jsonl", [item(1), item(2)])
    assert (
        main(["send", str(path), "--stack", "producer-outputs", "--local-endpoint", moto_server.endpoint_url])
        == 0
    )
    assert count(moto_server, outputs["ItemQueueUrl"]) == 2
    assert (
        main(["send", str(path), "--stack", "no-such-stack", "--local-endpoint", moto_server.endpoint_url])
        == 1
    )
    _, err = capsys.readouterr()
    assert err.splitlines()[-1].startswith("coveo-push send: ") and "no-such-stack" in err


def test_send_and_sync_load_no_simulator(tmp_path: Path) -> None:
    """A producer's machine runs them against AWS: neither loads moto or the local simulator."""
    from .test_cli_imports import SIMULATOR, run_cli

    path = write_jsonl(tmp_path / "one.jsonl", [item(1)])
    for command in (["send", "--help"], ["sync", "--scope", "items", str(path)], ["send", str(path)]):
        process, modules = run_cli(*command)
        assert not [m for m in modules if m.split(".")[0] in SIMULATOR], command
        assert process.returncode in (0, 2), process.stderr


# --- sync ---------------------------------------------------------------------------------------


def test_sync_of_a_file_with_one_bad_line_sends_no_sync_completed_and_says_why(
    moto_server: MotoServer, queues: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines: list[Any] = [item(n) for n in range(30)]
    lines[17] = item(17, documentId="not a uri")  # line 18
    path = write_jsonl(tmp_path / "sync.jsonl", lines)
    code = main(
        ["sync", "--scope", "items", "--sync-id", "bad-line-1", str(path), *endpoint(moto_server, queues)]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert f"{path}:18: data.documentId 'not a uri' is not a URI" in err
    assert (
        "Sync bad-line-1 (items): sync.completed NOT sent: 1 event(s) of the input were bad and not sent, "
        f"the first at {path}:18"
    ) in out
    assert "The sync deletes nothing" in out and "Follow it: coveo-push syncs --local-endpoint" in out
    sent = receive_all(moto_server, queues["item"])
    assert [e["type"] for e in sent].count("sync.started") == 1
    assert "sync.completed" not in [e["type"] for e in sent]
    changes = [e for e in sent if e["type"] == "item.upserted"]
    assert len(changes) == 29 and {e["data"]["syncId"] for e in changes} == {"bad-line-1"}


def test_sync_sends_started_changes_and_completed_with_the_distinct_count(
    moto_server: MotoServer, queues: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [item(n) for n in range(12)] + [item(3)]  # one event twice: the connector counts it once
    path = write_jsonl(tmp_path / "sync.jsonl", lines)
    code = main(
        ["sync", "--scope", "items", str(path), "--allow-mass-delete", *endpoint(moto_server, queues)]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    sent = receive_all(moto_server, queues["item"])
    started = [e for e in sent if e["type"] == "sync.started"]
    completed = [e for e in sent if e["type"] == "sync.completed"]
    assert len(started) == 1 and len(completed) == 1
    sync_id = started[0]["data"]["syncId"]
    assert sync_id.startswith("items-") and started[0]["data"]["scope"] == "items" and "time" in started[0]
    assert completed[0]["data"] == {"syncId": sync_id, "count": 12, "scope": "items", "allowMassDelete": True}
    assert f"Sync {sync_id} (items): sync.started, 12 change(s), and sync.completed with count 12 sent" in out
    assert "Follow it: coveo-push syncs" in out


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"sync": ', "not JSON"),
        ("SYNC_COMPLETED", "sync.completed in the input of `coveo-push sync`"),
        ("OTHER_SYNC", "data.syncId is 'other', not this sync's 'S1'"),
        ("IDENTITY", "identity.upserted is not a change of a items sync"),
    ],
)
def test_sync_refuses_input_that_is_not_its_own_changes(
    moto_server: MotoServer,
    queues: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    line: str,
    reason: str,
) -> None:
    hostile: Any = {
        "SYNC_COMPLETED": {
            "specversion": "1.0",
            "id": "c",
            "source": "s",
            "type": "sync.completed",
            "data": {"syncId": "S1", "count": 2},
        },
        "OTHER_SYNC": item(9, syncId="other"),
        "IDENTITY": json.loads((ROOT / "events/worked-example/identities.json").read_text())[0],
    }.get(line, line)
    path = write_jsonl(tmp_path / "in.jsonl", [item(1), hostile, item(2)])
    assert (
        main(["sync", "--scope", "items", "--sync-id", "S1", str(path), *endpoint(moto_server, queues)]) == 1
    )
    out, err = capsys.readouterr()
    assert f"{path}:2: " in err and reason in err
    assert "sync.completed NOT sent" in out
    assert "sync.completed" not in [e["type"] for e in receive_all(moto_server, queues["item"])]


def test_sync_of_an_empty_input_is_refused_before_anything_is_sent(
    moto_server: MotoServer, queues: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["sync", "--scope", "items", str(empty), *endpoint(moto_server, queues)]) == 2
    _, err = capsys.readouterr()
    assert "a sync of nothing would delete the whole source; nothing was sent" in err
    assert count(moto_server, queues["item"]) == 0
    assert (
        main(["sync", "--scope", "items", "--sync-id", "a/b", str(empty), *endpoint(moto_server, queues)])
        == 2
    )
    assert "--sync-id: data.syncId 'a/b' is not a sync id" in capsys.readouterr().err


# --- a kept-alive local run ---------------------------------------------------------------------


@pytest.fixture
def kept_run() -> Iterator[tuple[dict[str, str], str]]:
    """`coveo-push local --keep` in its own process: its exports and the emulator's URL."""
    with kept_local_run("--parameter", "MaximumBatchingWindowInSeconds=1") as run:
        printed, exports = run.printed, run.exports
        coveo = next(line.split(": ", 1)[1].split()[0] for line in printed if "Coveo (emulator):" in line)
        assert "ITEM_QUEUE_URL" in exports and "IDENTITY_QUEUE_URL" in exports, printed
        yield exports, coveo


def indexed(coveo: str) -> dict[str, str]:
    """The emulator's index: each indexed document and its title (which names its version)."""
    state = httpx.get(f"{coveo}/_emulator/state").json()
    return {
        doc: str(item["metadata"].get("title")) for doc, item in state["items"].items() if item["indexed"]
    }


def wait_for(what: str, check: Any, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {found!r}"
        time.sleep(1)


def test_a_kept_local_run_loaded_by_send_and_reconciled_by_sync_ends_with_the_source_exact(
    kept_run: tuple[dict[str, str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exports, coveo = kept_run
    for name, value in exports.items():
        monkeypatch.setenv(name, value)
    before = set(indexed(coveo))  # the worked example the run itself sent
    identities = json.loads((ROOT / "events/worked-example/identities.json").read_text())
    load = write_jsonl(tmp_path / "load.jsonl", [*identities, *(item(n) for n in range(40))])
    local = ["--local-endpoint", exports["AWS_ENDPOINT_URL"]]
    assert main(["send", str(load), *local]) == 0, capsys.readouterr().err
    loaded = before | {item(n)["data"]["documentId"] for n in range(40)}
    wait_for("the load indexed", lambda: set(indexed(coveo)) == loaded or None)

    # The next day: 25 unchanged, 5 changed, 10 left out (and the worked example's item), 5 added.
    synced = (
        [item(n) for n in range(25)] + [item(n, 2) for n in range(25, 30)] + [item(n) for n in range(40, 45)]
    )
    resync = write_jsonl(tmp_path / "resync.jsonl", synced)
    assert main(["sync", "--scope", "items", "--sync-id", "resync-1", str(resync), *local]) == 0
    out = capsys.readouterr().out
    assert (
        "sync.completed with count 35 sent" in out and "Follow it: coveo-push syncs --local-endpoint" in out
    )

    def completed() -> dict[str, Any] | None:
        assert main(["syncs", "--json", *local]) == 0
        records = {s["syncId"]: s for s in json.loads(capsys.readouterr().out)["syncs"]}
        record = records.get("resync-1")
        assert record is None or record["state"] in ("RUNNING", "COMPLETED"), record
        return record if record and record["state"] == "COMPLETED" else None

    record = wait_for("the sync to complete", completed)
    assert record["expected"] == 35 and record["deleted"] == len(loaded) - 30
    expected = {e["data"]["documentId"]: e["data"]["document"]["title"] for e in synced}
    deadline = time.monotonic() + 30
    while indexed(coveo) != expected and time.monotonic() < deadline:
        time.sleep(1)
    assert indexed(coveo) == expected  # the documents the sync left out are deleted, the rest as synced
