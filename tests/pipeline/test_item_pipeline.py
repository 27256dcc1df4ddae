"""push_items end to end: moto's SQS and DynamoDB, the Coveo emulator over HTTP, a Lambda-like poller."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

from aws_simulator.stack import LocalStack

from .stack import ANONYMOUS, access, emulator, indexed

ROOT = Path(__file__).resolve().parents[2]
PERMISSIONS = [
    {
        "allowedPermissions": [
            {
                "identity": "AlphaTeam",
                "identityType": "Group",
                "securityProvider": "mysecurityidentityprovider8d9s8d",
            }
        ],
        "deniedPermissions": [
            {
                "identity": "bob@example.com",
                "identityType": "User",
                "securityProvider": "Email Security Provider",
            }
        ],
    }
]


def worked_example() -> list[dict[str, Any]]:
    identities = json.loads((ROOT / "events/worked-example/identities.json").read_text())
    return [*identities, json.loads((ROOT / "events/worked-example/item.json").read_text())]


def upsert(document_id: str, version: int, public: bool = False) -> dict[str, Any]:
    permissions = [{"allowAnonymous": True}] if public else PERMISSIONS
    return {
        "specversion": "1.0",
        "id": f"{document_id}@{version}",
        "source": "test",
        "type": "item.upserted",
        "data": {
            "documentId": document_id,
            "version": version,
            "document": {"data": f"version {version}", "rev": version, "permissions": permissions},
        },
    }


def test_worked_example_lands_with_the_right_access(stack: LocalStack) -> None:
    stack.send(worked_example())
    stack.drain()
    item = indexed(stack)["file://folder/mytext.txt"]
    assert item["metadata"]["author"] == "Alice Smith"
    assert item["permissionState"] == "VALID"
    users = access(stack, "file://folder/mytext.txt")
    assert (users["alice"], users["david"], users["bob"], users[ANONYMOUS]) == (True, True, False, False)
    report = stack.validate()
    assert (report.verified, report.failed, report.pending) == (5, 0, 0)
    assert stack.dead_letters() == []


def test_an_item_whose_permissions_do_not_mention_anonymous_stays_private(stack: LocalStack) -> None:
    """The upstream system says who may see the item and nothing about anonymous users: nobody else
    may see it. Next to it, an item that says it is public is open to anyone (the check can tell)."""
    identities = json.loads((ROOT / "events/worked-example/identities.json").read_text())
    stack.send([*identities, upsert("file://secured", 1), upsert("file://public", 1, public=True)])
    stack.drain()
    assert set(indexed(stack)) == {"file://secured", "file://public"}
    users = access(stack, "file://secured")
    assert (users["alice"], users["david"], users["bob"], users[ANONYMOUS]) == (True, True, False, False)
    assert access(stack, "file://public")[ANONYMOUS] is True


def test_the_local_functions_run_with_the_templates_environment(stack: LocalStack) -> None:
    """What the template says reaches the local functions: public items stay refused unless the
    template (or a parameter given to it) says otherwise, and an item without permissions goes to
    the DLQ with its reason."""
    assert stack.env()["ALLOW_PUBLIC_ITEMS"] == "false"
    assert stack.runtime.settings.allow_public_items is False
    for function_id, service in [
        ("PushItemsFunction", "push_items"),
        ("ValidatePushesFunction", "validate_pushes"),
    ]:
        env = stack.function_env(function_id)
        assert (env["ALLOW_PUBLIC_ITEMS"], env["POWERTOOLS_SERVICE_NAME"]) == ("false", service)
        assert env["LEDGER_TABLE"] == stack.resources.tables["LedgerTable"]
    unsecured = upsert("file://no-permissions", 1)
    del unsecured["data"]["document"]["permissions"]
    stack.send([unsecured])
    stack.drain()
    assert indexed(stack) == {}
    (dead,) = stack.dead_letters()
    assert "has no permissions" in (dead["reason"] or "")
    # The parameter, not a value the local run chose, decides.
    public = dataclasses.replace(stack, template_parameters={"AllowPublicItems": "true"}, _runtime=None)
    assert public.env()["ALLOW_PUBLIC_ITEMS"] == "true"


def test_out_of_order_and_duplicated_deliveries_end_with_the_newest_version(stack: LocalStack) -> None:
    rng = random.Random(42)
    events = [upsert(f"file://docs/{d}", v, public=True) for d in range(20) for v in range(1, 5)]
    events = [e for e in events for _ in range(rng.randint(1, 3))]
    rng.shuffle(events)
    # Two sends with a drain between: later-arriving older versions must be skipped, not applied.
    half = len(events) // 2
    stack.send(events[:half])
    stack.drain()
    stack.send(events[half:])
    stack.drain()
    items = indexed(stack)
    assert {doc: item["metadata"]["rev"] for doc, item in items.items()} == {
        f"file://docs/{d}": 4 for d in range(20)
    }
    assert stack.dead_letters() == []


def test_ten_changes_cost_three_coveo_requests(stack: LocalStack) -> None:
    stack.send([upsert(f"file://ten/{i}", 1, public=True) for i in range(10)])
    before = emulator(stack, "stats")["total"]
    with stack.poller("ItemQueue") as poller:
        result = poller.poll_once()
    assert result is not None and result.received == 10
    stats = emulator(stack, "stats")
    assert stats["total"] - before == 3, stats["byRoute"]
    assert len(indexed(stack)) == 10


def test_throttling_and_unavailability_are_survived(stack: LocalStack) -> None:
    emulator(
        stack,
        "faults",
        "PUT",
        {
            "seed": 7,
            "rules": [
                {
                    "route": "PUT /push/v1/organizations/{organizationId}/sources/{sourceId}/documents/batch",
                    "action": "429",
                    "retryAfter": 1,
                    "count": 1,
                },
                {"route": "POST /push/v1/organizations/{organizationId}/files", "action": "503", "count": 2},
            ],
        },
    )
    stack.send([upsert(f"file://t/{i}", 1, public=True) for i in range(5)])
    stack.drain()
    assert len(indexed(stack)) == 5
    injected = emulator(stack, "stats")
    assert stack.dead_letters() == []
    assert injected["total"] >= 3 + 3  # the faults were really answered, and retried


def test_deadline_hit_mid_batch_loses_nothing(stack: LocalStack) -> None:
    # The batch PUT answers after 3 s once; the function has 30 s and stops 28 s before: the push
    # runs out of time, the batch is reported failed, and SQS redelivers it.
    stack.overrides = {"SAFETY_MARGIN_SECONDS": "28"}
    stack.template_parameters = {**stack.template_parameters, "FunctionTimeoutSeconds": "30"}
    emulator(
        stack,
        "faults",
        "PUT",
        {
            "seed": 1,
            "rules": [
                {
                    "route": "PUT /push/v1/organizations/{organizationId}/sources/{sourceId}/documents/batch",
                    "action": "delay",
                    "delaySeconds": 3,
                    "count": 1,
                }
            ],
        },
    )
    stack.send([upsert(f"file://d/{i}", 1, public=True) for i in range(4)])
    results = stack.drain(timeout_s=60)
    assert results["ItemQueue"].failed >= 4  # the first delivery failed as a whole
    assert len(indexed(stack)) == 4
    assert stack.dead_letters() == []


def test_bad_input_goes_to_the_dlq_with_its_reason_while_neighbours_land(stack: LocalStack) -> None:
    stack.send(
        [
            "not json at all",
            upsert("file://ok", 1, public=True),
            {**upsert("file://nope", 1), "type": "item.moved"},
        ]
    )
    stack.drain()
    assert list(indexed(stack)) == ["file://ok"]
    reasons = sorted(d["reason"] for d in stack.dead_letters())
    assert reasons[0].startswith("message body is not JSON")
    assert reasons[1].startswith("unknown event type 'item.moved'")
