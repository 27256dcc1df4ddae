"""`coveo-push local` at scale: the report's `access` section checks every document up to a bound
and a deterministic sample above it (and says which), while the public-by-accident check stays
complete; progress on stderr counts events sent while sending, with a rate and an ETA; and the
report's durations are the wall clock's.

The bound is a parameter: a few documents stand for the thousands it takes by default.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from aws_simulator.stack import LocalStack
from coveo_push_api.models import ItemBody, PermissionSet
from coveo_push_cli import local_run
from coveo_push_cli.local_run import (
    WORKED_EXAMPLE_ITEM,
    CountingStack,
    plan_access_checks,
    run_local,
    run_on_stack,
    worked_example,
    worked_example_problems,
)

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "mysecurityidentityprovider8d9s8d"
GROUP = {"identity": "AlphaTeam", "identityType": "Group", "securityProvider": PROVIDER}
BOB = {"identity": "bob@example.com", "identityType": "User", "securityProvider": "Email Security Provider"}
LEAKED = "file://elsewhere/leaked.txt"
EVERYONE = {"alice": True, "bob": True, "david": True}


def item(document_id: str, *, public: bool = False, deny_bob: bool = False) -> dict[str, Any]:
    permissions: dict[str, Any] = {"allowAnonymous": True} if public else {"allowedPermissions": [GROUP]}
    if deny_bob:
        permissions["deniedPermissions"] = [BOB]
    return {
        "specversion": "1.0",
        "id": f"{document_id}@1",
        "source": "urn:test",
        "type": "item.upserted",
        "data": {
            "documentId": document_id,
            "version": 1,
            "document": {"data": document_id, "permissions": [permissions]},
        },
    }


def plain(n: int) -> str:
    return f"file://share/plain-{n:02d}.txt"


# --- which documents the report checks ------------------------------------------------------------


def model(*, public: bool = False, denied: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """A permission model as /_emulator/state shows it."""
    sets = [{"allowAnonymous": public, "allowedPermissions": [GROUP], "deniedPermissions": list(denied)}]
    return [{"name": None, "permissionSets": sets}]


def corpus(plain_count: int, public: int = 0, denying: int = 0) -> dict[str, list[dict[str, Any]]]:
    models = {f"file://p/{n:03d}": model() for n in range(plain_count)}
    models |= {f"file://open/{n:03d}": model(public=True) for n in range(public)}
    models |= {f"file://deny/{n:03d}": model(denied=[BOB]) for n in range(denying)}
    return models


def test_up_to_the_bound_every_document_is_checked() -> None:
    models = corpus(7, public=2, denying=1)
    checked, scope = plan_access_checks(models, bound=10, seed=3)
    assert checked == sorted(models)
    assert scope == {
        "documents": 10,
        "checked": 10,
        "how": "all",
        "checkAllUpTo": 10,
        "public": {"documents": 2, "checked": 2},
        "withDenials": {"documents": 1, "checked": 1},
    }


def test_above_the_bound_a_seeded_sample_holds_the_public_and_denying_documents_and_the_always_ones() -> None:
    models = corpus(300, public=3, denying=4)
    always = ["file://p/123"]
    checked, scope = plan_access_checks(models, bound=20, seed=5, always=always)

    assert len(checked) == 20 and len(set(checked)) == 20 and set(checked) <= set(models)
    assert "file://p/123" in checked
    assert {d for d in models if d.startswith(("file://open/", "file://deny/"))} <= set(checked)
    assert scope["how"] == "sample of 20, seed 5"
    assert (scope["documents"], scope["checked"]) == (307, 20)
    assert scope["public"] == {"documents": 3, "checked": 3}
    assert scope["withDenials"] == {"documents": 4, "checked": 4}
    # The same documents and seed, the same sample; another seed, another one.
    assert plan_access_checks(dict(reversed(models.items())), bound=20, seed=5, always=always)[0] == checked
    assert plan_access_checks(models, bound=20, seed=6, always=always)[0] != checked


def test_when_every_document_denies_someone_the_kinds_share_the_sample() -> None:
    # The worked example's shape copied a thousand times: each item denies bob.
    models = corpus(0, public=50, denying=1000)
    checked, scope = plan_access_checks(models, bound=30, seed=1)
    assert len(checked) == 30
    assert scope["public"] == {"documents": 50, "checked": 15}
    assert scope["withDenials"] == {"documents": 1000, "checked": 15}


# --- the report on a real run ---------------------------------------------------------------------


def test_a_run_above_the_bound_is_sampled_and_says_so_and_the_public_by_accident_check_stays_complete(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Something other than the connector pushes a public item into the secured source.
    leaked = ItemBody(data="leaked", permissions=[PermissionSet(allow_anonymous=True)])
    stack.runtime.coveo.push_item(stack.coveo.source_id, LEAKED, leaked)
    # The access sample leaves out every document but the worked example: the leak is still found,
    # by its model and the ledger, not by the sample.
    plan = plan_access_checks
    monkeypatch.setattr(
        local_run,
        "plan_access_checks",
        lambda models, **options: plan(models, **{**options, "always": [WORKED_EXAMPLE_ITEM]}),
    )
    declared = item("file://open/faq.txt", public=True)
    events = [*worked_example(), declared, *(item(plain(n)) for n in range(6))]

    report = run_on_stack(stack, events, timeout_s=30, access_check_all_up_to=1, access_sample_seed=9)

    scope = report["accessScope"]
    assert (scope["documents"], scope["checked"], scope["how"]) == (9, 1, "sample of 1, seed 9")
    assert scope["public"] == {"documents": 2, "checked": 0}  # the leaked item and the declared one
    assert list(report["access"]) == [WORKED_EXAMPLE_ITEM]
    assert worked_example_problems(report) == []
    assert report["security"] == {"publicByAccident": [LEAKED], "documentsChecked": 9}
    assert report["ok"] is False
    assert "(1 of 9 indexed items, sample of 1, seed 9" in local_run.format_report(report)


def test_a_sampled_run_checks_the_worked_example_the_leak_and_the_public_and_denying_items(
    stack: LocalStack,
) -> None:
    leaked = ItemBody(data="leaked", permissions=[PermissionSet(allow_anonymous=True)])
    stack.runtime.coveo.push_item(stack.coveo.source_id, LEAKED, leaked)
    special = [item("file://open/faq.txt", public=True), item("file://deny/secret.txt", deny_bob=True)]
    events = [*worked_example(), *special, *(item(plain(n)) for n in range(8))]

    report = run_on_stack(stack, events, timeout_s=30, access_check_all_up_to=5)

    scope = report["accessScope"]
    assert (scope["documents"], scope["checked"], scope["how"]) == (12, 5, "sample of 5, seed 17")
    access = report["access"]
    assert {WORKED_EXAMPLE_ITEM, LEAKED, "file://open/faq.txt", "file://deny/secret.txt"} <= set(access)
    assert access[WORKED_EXAMPLE_ITEM] == {"alice": True, "bob": False, "david": True}
    assert access[LEAKED] == access["file://open/faq.txt"] == EVERYONE
    assert access["file://deny/secret.txt"] == {"alice": True, "bob": False, "david": True}
    assert report["security"]["publicByAccident"] == [LEAKED]
    # Every user the provider knows, for each document checked.
    assert all(set(users) == {"alice", "bob", "david"} for users in access.values())


def test_a_run_up_to_the_bound_checks_every_indexed_document(stack: LocalStack) -> None:
    events = [*worked_example(), *(item(plain(n), deny_bob=n % 2 == 0) for n in range(4))]

    report = run_on_stack(stack, events, timeout_s=30, access_check_all_up_to=5)

    indexed = [d for d, document in report["documents"].items() if document["indexed"]]
    assert list(report["access"]) == indexed and len(indexed) == 5
    assert report["accessScope"]["how"] == "all"
    assert report["accessScope"]["withDenials"] == {"documents": 3, "checked": 3}
    assert report["access"][plain(0)]["bob"] is False and report["access"][plain(1)]["bob"] is True
    assert report["ok"] is True, report["problems"]


# --- progress and durations -----------------------------------------------------------------------

SENDING = re.compile(r"\] sending: (\d+)/(\d+) events sent \(([\d,]+)/s, ETA (\d+ s|unknown)\)$")
SETTLED = re.compile(r"\] (?:draining|validating)[^:]*: (\d+)/(\d+) events settled")


def test_progress_counts_events_as_they_are_sent_with_a_rate_and_the_durations_are_the_wall_clocks(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_run, "PROGRESS_EVERY_S", 0.05)
    monkeypatch.setattr(local_run, "SEND_CHUNK_EVENTS", 4)
    send = LocalStack.send

    def slow_send(self: LocalStack, events: Any, scopes: Any = None) -> dict[str, int]:
        time.sleep(0.03)  # an SQS a little slower than moto's, so that sending spans a few lines
        return send(self, events, scopes)

    monkeypatch.setattr(CountingStack, "send", slow_send)
    events = [*worked_example(), *(item(plain(n)) for n in range(35))]
    stderr = io.StringIO()

    began = time.monotonic()
    report = run_on_stack(stack, events, timeout_s=30, progress=stderr)
    wall = time.monotonic() - began

    lines = stderr.getvalue().splitlines()
    sending = [SENDING.search(line) for line in lines]
    counts = [(int(m[1]), int(m[2])) for m in sending if m]
    assert len(counts) >= 2, lines
    assert all(total == 40 and 0 <= sent <= 40 for sent, total in counts), lines
    assert [sent for sent, _ in counts] == sorted(sent for sent, _ in counts)
    assert any(int(m[3].replace(",", "")) > 0 for m in sending if m), lines
    assert "0/0 events settled" not in stderr.getvalue()
    settled = [SETTLED.search(line) for line in lines]
    assert all(int(m[2]) == 40 for m in settled if m), lines  # once sent, settled counts out of all
    assert report["events"]["sent"] == 40 and report["ok"] is True, report["problems"]
    # The report's clock is the wall clock, and its parts add up to it.
    assert abs(report["durationSeconds"] - wall) <= 0.2
    timings = report["timings"]
    assert set(timings) == {
        "setUpSeconds",
        "sendingSeconds",
        "drainingSeconds",
        "validatingSeconds",
        "reportSeconds",
    }
    assert abs(sum(timings.values()) - report["durationSeconds"]) <= 0.3
    assert timings["sendingSeconds"] >= 10 * 0.03  # ten chunks, each slowed


def test_the_rate_is_the_last_intervals_and_the_eta_that_of_the_last_half_minute() -> None:
    now = [100.0]
    rate = local_run._Rate(clock=lambda: now[0])
    rate.restart(0)
    readings = []
    # A poller settles 500 events at a time, every 12 s: most 3-second intervals see none.
    for step in range(1, 13):
        now[0] += 3
        settled = 500 * (step // 4)
        readings.append(rate.read(settled, 3000 - settled))
    assert readings[0] == " (0/s, ETA unknown)"
    assert readings[3] == " (167/s, ETA 60 s)"  # 500 in 12 s: 2,500 left at 42/s
    assert readings[4] == " (0/s, ETA 75 s)"  # none in this interval: 500 in 15 s still
    assert readings[11] == " (167/s, ETA 30 s)"  # 1,500 in the last 30 s: 1,500 left at 50/s
    now[0] += 300
    assert rate.read(1500, 1500) == " (0/s, ETA unknown)"  # stalled: no rate to promise an end by
    assert rate.read(3000, 0) == ""  # nothing left


def test_quiet_runs_stay_quiet(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(local_run, "PROGRESS_EVERY_S", 0.01)
    report = run_on_stack(stack, worked_example(), timeout_s=30, progress=None)
    assert report["ok"] is True
    assert capsys.readouterr().err == ""


def test_the_whole_local_run_is_in_its_duration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    began = time.monotonic()
    report = run_local(worked_example(ROOT), timeout_s=30, parameters={"MaximumBatchingWindowInSeconds": "0"})
    wall = time.monotonic() - began
    assert report["ok"] is True, report["problems"]
    # From starting moto and the emulator to stopping them.
    assert abs(report["durationSeconds"] - wall) <= 0.2
    assert {"setUpSeconds", "tearDownSeconds"} <= set(report["timings"])
    assert report["timings"]["setUpSeconds"] > 0
    json.dumps(report)  # the report is JSON throughout
