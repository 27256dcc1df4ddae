"""push_identities end to end, and what identities do to who can see an item."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_simulator.stack import LocalStack

from .stack import ANONYMOUS, access, emulator, indexed

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "mysecurityidentityprovider8d9s8d"


def events(name: str) -> Any:
    return json.loads((ROOT / "events/worked-example" / name).read_text())


def group(members: list[str], version: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"alphateam-{version}",
        "source": "dir",
        "type": "identity.upserted",
        "data": {
            "identity": {"name": "AlphaTeam", "type": "GROUP"},
            "members": [{"name": m, "type": "USER"} for m in members],
            "version": version,
        },
    }


def test_group_and_three_aliases_are_one_identity_batch(stack: LocalStack) -> None:
    stack.send(events("identities.json"))
    before = emulator(stack, "stats")
    stack.drain()
    stats = emulator(stack, "stats")
    batch_route = "PUT /push/v1/organizations/{organizationId}/providers/{providerId}/permissions/batch"
    assert stats["byRoute"].get(batch_route, 0) - before["byRoute"].get(batch_route, 0) == 1
    assert stats["total"] - before["total"] == 3  # container, upload, batch
    identities = {(i["type"], i["name"]): i for i in emulator(stack, "state")["identities"][PROVIDER]}
    assert [m["name"] for m in identities[("GROUP", "AlphaTeam")]["members"]] == ["alice", "bob", "david"]
    assert identities[("USER", "alice")]["mappings"] == [
        {"name": "alice@example.com", "type": "USER", "provider": "Email Security Provider"}
    ]


def test_worked_example_access_then_david_removed_from_the_group(stack: LocalStack) -> None:
    stack.send([*events("identities.json"), events("item.json")])
    stack.drain()
    users = access(stack, "file://folder/mytext.txt")
    assert (users["alice"], users["bob"], users["david"], users[ANONYMOUS]) == (True, False, True, False)
    # A group push replaces its members: without david, david loses access; bob stays denied.
    stack.send([group(["alice", "bob"], version=2_000_000_000_000)])
    stack.drain()
    users = access(stack, "file://folder/mytext.txt")
    assert (users["alice"], users["bob"], users.get("david", False), users[ANONYMOUS]) == (
        True,
        False,
        False,
        False,
    )


def test_an_older_group_delivered_late_does_not_restore_david(stack: LocalStack) -> None:
    stack.send(
        [*events("identities.json"), events("item.json"), group(["alice", "bob"], version=2_000_000_000_000)]
    )
    stack.drain()
    stack.send([group(["alice", "bob", "david"], version=1_000_000_000_000)])  # stale
    stack.drain()
    assert access(stack, "file://folder/mytext.txt").get("david", False) is False


def test_item_pushed_before_its_identities_is_rejected_then_repushed_by_the_validator(
    stack: LocalStack,
) -> None:
    """Coveo accepts an item naming an unknown identity (202) and rejects it while processing; the
    validator sees the rejection, and once the identities are there re-pushes the stored change."""
    stack.send([events("item.json")])
    stack.drain()
    assert "file://folder/mytext.txt" not in indexed(stack)
    logs = emulator(stack, "state")  # the emulator's own view: the item is not in the index
    assert "file://folder/mytext.txt" not in {d for d, i in logs["items"].items() if i["indexed"]}
    stack.send(events("identities.json"))
    stack.drain()
    report = stack.validate()
    assert report.repushed == 1
    assert "file://folder/mytext.txt" in indexed(stack)
    report = stack.validate()
    assert report.failed == 0 and report.pending == 0
    row = stack.runtime.ledger().get("item#file://folder/mytext.txt")
    assert row is not None and row.status.value == "VERIFIED" and row.repushes == 1
    users = access(stack, "file://folder/mytext.txt")
    assert (users["alice"], users["bob"], users["david"], users[ANONYMOUS]) == (True, False, True, False)


def test_identity_delete_disables_it(stack: LocalStack) -> None:
    stack.send(events("identities.json"))
    stack.drain()
    stack.send(
        [
            {
                "specversion": "1.0",
                "id": "del",
                "source": "dir",
                "type": "identity.deleted",
                "data": {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "version": 2_000_000_000_000},
            }
        ]
    )
    stack.drain()
    identities = {(i["type"], i["name"]): i for i in emulator(stack, "state")["identities"][PROVIDER]}
    assert identities[("GROUP", "AlphaTeam")]["state"] == "DISABLED"
    assert stack.validate().failed == 0
