"""`coveo-push local` with staged events files: full syncs as a user writes them, judged by the report
(and, for "never absent", by the Logs API of the emulated Coveo).

Each scenario is events files in tmp_path, loaded as `coveo-push local --events A.json B.json ...`
loads them (`load_stages`), and run stage by stage on the test's stack; the identity scenario goes
through the command itself.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from aws_simulator.stack import LocalStack
from coveo_push_cli.local_run import (
    LOCAL_SYNC_SETTINGS,
    format_report,
    load_stages,
    local_sync_settings,
    run_on_stack,
)
from coveo_push_cli.main import main

from .test_sync_pipeline import deleted_ever, sync_event
from .test_sync_pipeline import member as in_sync

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "mysecurityidentityprovider8d9s8d"
EMAIL = "Email Security Provider"
GROUP = {"identity": "AlphaTeam", "identityType": "Group", "securityProvider": PROVIDER}
BOB = {"identity": "bob@example.com", "identityType": "User", "securityProvider": EMAIL}
# Tests wait as little as the template allows to fill batches (its MinValue: 0 would be refused).
FAST = ["--parameter", "MaximumBatchingWindowInSeconds=1"]


# --- events as a producer writes them ---------------------------------------------------------------


def identities() -> list[dict[str, Any]]:
    """The worked example's group AlphaTeam (alice, bob, david) and its members' aliases."""
    return list(json.loads((ROOT / "events/worked-example/identities.json").read_text()))


def doc(n: int) -> str:
    return f"file://share/doc-{n:03d}.txt"


def item(document_id: str, version: int, sync_id: str | None = None, allowed: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "documentId": document_id,
        "version": version,
        "document": {
            "title": f"{document_id} v{version}",
            "data": f"version {version}",
            "permissions": [{"allowedPermissions": allowed or [GROUP]}],
        },
    }
    if sync_id is not None:
        data["syncId"] = sync_id
    suffix = f"#{sync_id}" if sync_id else ""
    return {
        "specversion": "1.0",
        "id": f"{document_id}@{version}{suffix}",
        "source": "urn:example:file-share",
        "type": "item.upserted",
        "data": data,
    }


def sync_started(sync_id: str, scope: str) -> dict[str, Any]:
    return sync_event("started", sync_id, scope=scope)


def sync_completed(sync_id: str, count: int, **data: Any) -> dict[str, Any]:
    return sync_event("completed", sync_id, count=count, **data)


def files(tmp_path: Path, *stages: list[Any]) -> list[Path]:
    """One events file per stage (JSON arrays and JSON Lines alternately: both are events files)."""
    paths = []
    for number, events in enumerate(stages, start=1):
        path = tmp_path / f"stage-{number}.json{'l' if number % 2 == 0 else ''}"
        if number % 2 == 0:
            path.write_text("".join(json.dumps(event) + "\n" for event in events))
        else:
            path.write_text(json.dumps(events))
        paths.append(path)
    return paths


def load(count: int) -> list[Any]:
    """The source's first state: the identities its permissions name, then `count` items."""
    return [*identities(), *(item(doc(n), 1) for n in range(count))]


def run_stages(stack: LocalStack, paths: list[Path], timeout_s: float = 90) -> dict[str, Any]:
    return run_on_stack(stack, load_stages(paths), timeout_s=timeout_s)


# --- what the emulated Coveo says ---------------------------------------------------------------------


def indexed_in(report: dict[str, Any]) -> set[str]:
    return {d for d, document in report["documents"].items() if document["indexed"]}


# --- items --------------------------------------------------------------------------------------------


UNCHANGED, CHANGED, LEFT_OUT, ADDED = range(170), range(170, 180), range(180, 200), range(200, 220)


def full_sync(sync_id: str, *, changed_to: int = 2, sent: int = 200, count: int = 200) -> list[Any]:
    """A sync of the 200-item source that repeats 170 items unchanged, changes 10 (to version
    `changed_to`), adds 20 and leaves 20 out: `sent` of its 200 changes, and a count of `count`."""
    changes = [in_sync(item(doc(n), 1), sync_id) for n in UNCHANGED]
    changes += [item(doc(n), changed_to, sync_id) for n in CHANGED]
    changes += [in_sync(item(doc(n), 1), sync_id) for n in ADDED]
    return [sync_started(sync_id, "items"), *changes[:sent], sync_completed(sync_id, count)]


def test_a_sync_keeps_the_unchanged_updates_the_changed_and_deletes_what_it_left_out(
    stack: LocalStack, tmp_path: Path
) -> None:
    paths = files(tmp_path, load(200), full_sync("full-1"))

    report = run_stages(stack, paths)

    assert report["syncs"] == {
        "full-1": {
            "scope": "items",
            "state": "COMPLETED",
            "expected": 200,
            "settled": 200,
            "deleted": 20,
            "reason": None,
        }
    }
    assert indexed_in(report) == {doc(n) for n in (*UNCHANGED, *CHANGED, *ADDED)}
    assert {report["documents"][doc(n)]["version"] for n in CHANGED} == {2}
    # None of the 170 was ever absent: the only deletions Coveo logged are the 20 left out.
    assert deleted_ever(stack) == {doc(n) for n in LEFT_OUT}
    events = report["events"]
    assert (events["sent"], events["acknowledged"], events["syncEvents"], events["deadLettered"]) == (
        204 + 202,
        204 + 202,
        2,
        0,
    )
    assert [(s["name"], s["sent"], s["timedOut"]) for s in report["stages"]] == [
        (str(paths[0]), 204, False),
        (str(paths[1]), 202, False),
    ]
    assert (report["problems"], report["ok"]) == ([], True)
    assert "full-1  items  COMPLETED: 200 of 200 changes settled, 20 deleted" in format_report(report)


def test_a_sync_whose_count_disagrees_with_its_changes_deletes_nothing_and_fails_saying_so(
    stack: LocalStack, tmp_path: Path
) -> None:
    stack.overrides = {**stack.overrides, "SYNC_DEADLINE_SECONDS": "3"}  # not the local 20 s
    # Stage 2: the count says 200, one change never comes. Stage 3: 200 come, the count says 199.
    # Stage 3 begins only once stage 2's sync has ended: its sync.started would supersede it.
    short = full_sync("short", sent=199)
    over = full_sync("over", changed_to=3, count=199)
    paths = files(tmp_path, load(200), short, over)

    report = run_stages(stack, paths)

    short, over = report["syncs"]["short"], report["syncs"]["over"]
    assert (short["state"], short["expected"], short["settled"], short["deleted"]) == (
        "FAILED",
        200,
        199,
        None,
    )
    assert short["reason"] == (
        "only 199 of the 200 changes sync.completed counted arrived within 3 seconds of the last one; "
        "nothing was deleted"
    )
    assert (over["state"], over["expected"], over["settled"], over["deleted"]) == ("FAILED", 199, 200, None)
    assert over["reason"] == (
        "200 changes carry this syncId but sync.completed counted 199; the count does not describe "
        "the sync, so nothing was deleted"
    )
    assert indexed_in(report) == {doc(n) for n in range(220)}
    assert deleted_ever(stack) == set()
    assert report["ok"] is False
    assert [p for p in report["problems"] if "full sync" in p] == [
        f"full sync 'short' of items FAILED: {short['reason']}",
        f"full sync 'over' of items FAILED: {over['reason']}",
    ]
    assert report["events"]["deadLettered"] == 0


def test_a_sync_that_would_delete_most_of_the_source_is_refused_unless_it_says_so(
    stack: LocalStack, tmp_path: Path
) -> None:
    kept = [item(doc(n), 1) for n in range(4)]

    def sync(sync_id: str, **completed: Any) -> list[Any]:
        members = [in_sync(e, sync_id) for e in kept]
        return [sync_started(sync_id, "items"), *members, sync_completed(sync_id, 4, **completed)]

    paths = files(tmp_path, load(40), sync("partial"), sync("confirmed", allowMassDelete=True))

    report = run_stages(stack, paths)

    refused, confirmed = report["syncs"]["partial"], report["syncs"]["confirmed"]
    assert (refused["state"], refused["settled"], refused["deleted"]) == ("REFUSED", 4, None)
    assert refused["reason"].startswith("would delete 36 of 40 documents (90%)")
    assert '"allowMassDelete": true' in refused["reason"]
    assert (confirmed["state"], confirmed["settled"], confirmed["deleted"]) == ("COMPLETED", 4, 36)
    assert indexed_in(report) == {doc(n) for n in range(4)}
    assert deleted_ever(stack) == {doc(n) for n in range(4, 40)}  # all by the confirmed sync
    assert [p for p in report["problems"] if "full sync" in p] == [
        f"full sync 'partial' of items REFUSED: {refused['reason']}"
    ]


def test_a_sync_that_never_completes_fails_by_the_end_of_the_run_and_deletes_nothing(
    stack: LocalStack, tmp_path: Path
) -> None:
    stack.overrides = {**stack.overrides, "SYNC_DEADLINE_SECONDS": "2"}
    # The last stage starts a sync and sends its one change; no sync.completed ever comes.
    paths = files(tmp_path, load(3), [sync_started("open", "items"), in_sync(item(doc(0), 1), "open")])

    report = run_stages(stack, paths)

    assert (report["syncs"]["open"]["state"], report["syncs"]["open"]["deleted"]) == ("FAILED", None)
    assert report["syncs"]["open"]["reason"].startswith("no sync.completed within 2 seconds")
    assert indexed_in(report) == {doc(n) for n in range(3)}
    assert report["timedOut"] is False


def test_a_sync_still_running_when_the_run_times_out_is_a_problem(stack: LocalStack, tmp_path: Path) -> None:
    # The local deadline (20 s) is longer than the run's timeout. The run does not move on to stage 3
    # while stage 2's sync runs, so the sync is still RUNNING when the timeout passes.
    slow = [sync_started("slow", "items"), in_sync(item(doc(0), 1), "slow"), sync_completed("slow", 2)]
    paths = files(tmp_path, load(3), slow, [item(doc(3), 1)])

    report = run_stages(stack, paths, timeout_s=6)

    assert report["syncs"]["slow"]["state"] == "RUNNING"
    assert report["problems"] == [
        "full sync 'slow' of items still RUNNING at the end of the run (1 of 2 changes settled)",
        f"timed out in stage 2/3 ({paths[1]}) before full sync(s) slow ended; not sent: {paths[2]}",
    ]
    assert doc(3) not in report["documents"]
    assert [(s["stage"], s["syncsRunning"]) for s in report["stages"]] == [(1, []), (2, ["slow"])]


# --- identities ---------------------------------------------------------------------------------------


def test_an_identity_sync_disables_the_user_it_left_out_and_what_he_saw_is_hidden_from_him(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group, alice, bob, david = identities()
    team, bobs = "file://share/team-notes.txt", "file://share/bob-notes.txt"
    first = [group, alice, bob, david, item(team, 1), item(bobs, 1, allowed=[BOB])]
    # The directory's sync: AlphaTeam without bob, and the aliases of alice and david, not bob's.
    members = group["data"]["members"][::2]
    without_bob = {**group, "time": "2026-11-27T09:00:00Z", "data": {**group["data"], "members": members}}
    changes = [item_of(without_bob, "dir-2", "wx-identity-alphateam-2"), in_sync(alice, "dir-2")]
    changes.append(in_sync(david, "dir-2"))
    # sync.completed comes in a stage of its own and names no scope: the run remembers the sync's.
    paths = files(
        tmp_path, first, [sync_started("dir-2", "identities"), *changes], [sync_completed("dir-2", 3)]
    )
    report_path = tmp_path / "report.json"
    before_path = tmp_path / "before.json"

    main(["local", "--events", str(paths[0]), "--report", str(before_path), "--quiet", *FAST])
    code = main(["local", "--events", *map(str, paths), "--report", str(report_path), "--quiet", *FAST])

    before = json.loads(before_path.read_text())  # the first stage alone: bob sees both items
    assert (before["access"][team]["bob"], before["access"][bobs]["bob"]) == (True, True)
    report = json.loads(report_path.read_text())
    assert report["syncs"]["dir-2"] == {
        "scope": "identities",
        "state": "COMPLETED",
        "expected": 3,
        "settled": 3,
        "deleted": 1,
        "reason": None,
    }
    assert report["identities"]["USER bob"] == "DISABLED"
    assert {report["identities"][f"USER {user}"] for user in ("alice", "david")} == {"UP_TO_DATE"}
    assert report["access"][team] == {"alice": True, "bob": False, "david": True}
    assert report["access"][bobs] == {"alice": False, "bob": False, "david": False}
    assert report["deadLetters"] == []
    assert [s["sent"] for s in report["stages"]] == [6, 4, 1]
    assert (code, report["ok"]) == (0, True)
    assert capsys.readouterr().out.splitlines()[-1].startswith("Result: OK")


def item_of(event: dict[str, Any], sync_id: str, event_id: str) -> dict[str, Any]:
    return {**event, "id": event_id, "data": {**event["data"], "syncId": sync_id}}


# --- the local settings ---------------------------------------------------------------------------------


def test_locally_a_sync_deletes_at_once_and_fails_within_the_run_unless_the_user_says_otherwise(
    stack: LocalStack, tmp_path: Path
) -> None:
    assert local_sync_settings(stack) == {"SYNC_QUEUE_DELAY_MINUTES": "0", "SYNC_DEADLINE_SECONDS": "20"}
    # A value the stack's environment overrides give is the user's.
    given = dataclasses.replace(stack, overrides={"SYNC_DEADLINE_SECONDS": "600"})
    assert local_sync_settings(given) == {"SYNC_QUEUE_DELAY_MINUTES": "0"}
    # So is one the template takes from a parameter given with --parameter.
    template = tmp_path / "template.yaml"
    template.write_text(
        "Parameters:\n  SyncQueueDelayMinutes: {Type: Number, Default: 15}\n"
        "Globals:\n  Function:\n    Environment:\n      Variables:\n"
        "        SYNC_QUEUE_DELAY_MINUTES: !Ref SyncQueueDelayMinutes\n"
        "Resources: {}\n"
    )
    from_template = dataclasses.replace(stack, template_path=template)
    assert local_sync_settings(from_template) == LOCAL_SYNC_SETTINGS  # its default is not the user's
    chosen = dataclasses.replace(from_template, template_parameters={"SyncQueueDelayMinutes": "2"})
    assert local_sync_settings(chosen) == {"SYNC_DEADLINE_SECONDS": "20"}
