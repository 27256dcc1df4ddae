"""The validator end to end: what the emulator's logs say becomes VERIFIED or FAILED in the ledger."""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_simulator.stack import LocalStack
from connector.domain.ledger import Status

from .stack import access, emulator, indexed

PUBLIC = [{"allowAnonymous": True}]


def upsert(document_id: str, document: dict[str, Any], version: int = 1) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"e-{document_id}",
        "source": "t",
        "type": "item.upserted",
        "data": {
            "documentId": document_id,
            "version": version,
            "document": {"permissions": PUBLIC, **document},
        },
    }


def status(stack: LocalStack, document_id: str) -> tuple[Status, str | None]:
    row = stack.runtime.ledger().get(f"item#{document_id}")
    assert row is not None
    return row.status, row.failure_reason


def test_bad_item_in_a_good_batch_fails_with_the_emulators_reason(stack: LocalStack) -> None:
    # Valid to the contract, but it grants a group the provider never received: only Coveo can
    # tell. No re-pushes here, so Coveo's verdict is what the ledger keeps.
    stack.overrides = {**stack.overrides, "MAX_REPUSHES": "0"}
    unknown_group = {
        "data": "secret",
        "permissions": [
            {
                "allowedPermissions": [
                    {
                        "identity": "Ghosts",
                        "identityType": "Group",
                        "securityProvider": stack.coveo.provider_id,
                    }
                ]
            }
        ],
    }
    stack.send(
        [
            upsert("file://v/1", {"data": "one"}),
            upsert("file://v/bad", unknown_group),
            upsert("file://v/2", {"data": "two"}),
        ]
    )
    stack.drain()
    report = stack.validate()
    assert (report.verified, report.failed) == (2, 1)
    assert status(stack, "file://v/1")[0] is Status.VERIFIED
    failed, reason = status(stack, "file://v/bad")
    assert failed is Status.FAILED
    assert reason == (f"unknown security identity: GROUP 'Ghosts' in provider '{stack.coveo.provider_id}'")


def test_push_lost_after_its_202_fails_after_the_deadline(stack: LocalStack) -> None:
    # No re-pushes allowed here: the verdict after the deadline is what this test is about.
    stack.overrides = {**stack.overrides, "VALIDATION_DEADLINE_SECONDS": "1", "MAX_REPUSHES": "0"}
    emulator(
        stack,
        "faults",
        "PUT",
        {
            "seed": 3,
            "rules": [
                {
                    "route": "PUT /push/v1/organizations/{organizationId}/sources/{sourceId}/documents",
                    "action": "lose",
                    "count": 1,
                }
            ],
        },
    )
    stack.send([upsert("file://lost", {"data": "gone"})])
    stack.drain()
    assert "file://lost" not in indexed(stack)
    row = stack.runtime.ledger().get("item#file://lost")
    assert row is not None
    # The validator as its schedule runs it, at the last millisecond of the deadline, then the first
    # one past it: no waiting on the wall clock, and no margin to guess.
    validator = stack.runtime.validator("validate_pushes")
    assert dataclasses.replace(validator, clock_ms=lambda: row.pushed_at_ms + 1000).run().pending == 1
    assert status(stack, "file://lost")[0] is Status.ACCEPTED
    report = dataclasses.replace(validator, clock_ms=lambda: row.pushed_at_ms + 1001).run()
    assert report.failed == 1
    failed, reason = status(stack, "file://lost")
    assert failed is Status.FAILED
    assert reason == "no indexing log entry within 1 seconds of the push"


def test_paging_through_the_dynamodb_index_while_marking_rows(stack: LocalStack) -> None:
    from connector.domain.validator import Validator, ValidatorSettings

    stack.send([upsert(f"file://page/{i}", {"data": str(i)}) for i in range(25)])
    stack.drain()
    settings = ValidatorSettings(
        stack.coveo.source_id, stack.coveo.provider_id, processing_delay_s=0, page_size=10
    )
    report = Validator(settings, stack.runtime.ledger(), stack.runtime.coveo).run()
    assert report.verified == 25
    assert all(status(stack, f"file://page/{i}")[0] is Status.VERIFIED for i in range(25))


def test_an_item_waits_for_its_lost_group_keeping_its_re_pushes_then_lands(stack: LocalStack) -> None:
    """Coveo answered 202 for the group and never applied it: the item granted to it is rejected
    run after run. It waits, its one re-push kept, while the group's push is unsettled; once the
    group lands, it is pushed again and indexed (before, it spent its re-push in the first run and
    was FAILED in the second, though nothing was wrong with it)."""
    stack.overrides = {**stack.overrides, "MAX_REPUSHES": "1", "VALIDATION_DEADLINE_SECONDS": "600"}
    provider = stack.coveo.provider_id
    route = "PUT /push/v1/organizations/{organizationId}/providers/{providerId}/permissions"  # one identity
    emulator(stack, "faults", "PUT", {"seed": 5, "rules": [{"route": route, "action": "lose", "count": 1}]})

    def group(version: int) -> dict[str, Any]:
        data = {
            "identity": {"name": "Latecomers", "type": "GROUP"},
            "members": [{"name": "alice", "type": "USER"}],
        }
        return {
            "specversion": "1.0",
            "id": f"latecomers-{version}",
            "source": "dir",
            "type": "identity.upserted",
            "data": {**data, "version": version},
        }

    granted = {
        "data": "for latecomers",
        "permissions": [
            {
                "allowedPermissions": [
                    {"identity": "Latecomers", "identityType": "Group", "securityProvider": provider}
                ]
            }
        ],
    }
    stack.send([group(1)])
    stack.drain()
    stack.send([upsert("file://late", granted)])
    stack.drain()
    validator = stack.runtime.validator("validate_pushes")
    for _ in range(3):
        report = validator.run()
        assert (report.waiting_for_identity, report.repushed, report.failed) == (1, 0, 0)
    row = stack.runtime.ledger().get("item#file://late")
    assert row is not None and (row.status, row.repushes) == (Status.ACCEPTED, 0)
    assert "file://late" not in indexed(stack)

    stack.send([group(2)])  # upstream sends the group again; this push is applied
    stack.drain()
    report = validator.run()
    assert (report.waiting_for_identity, report.repushed) == (0, 1)
    assert validator.run().verified == 1
    assert status(stack, "file://late")[0] is Status.VERIFIED
    assert access(stack, "file://late")["alice"] is True
