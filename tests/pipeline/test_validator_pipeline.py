"""The validator end to end: what the emulator's logs say becomes VERIFIED or FAILED in the ledger."""

from __future__ import annotations

import base64
import time
from typing import Any

from connector.ledger import Status
from coveo_push_cli.local_stack import LocalStack

from .stack import emulator, indexed

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
    # Valid to the contract (Base64), but not the ZLIB stream it claims to be: only Coveo can tell.
    bogus = {
        "compressedBinaryData": base64.b64encode(b"plain text, not zlib").decode(),
        "compressionType": "ZLIB",
    }
    stack.send(
        [
            upsert("file://v/1", {"data": "one"}),
            upsert("file://v/bad", bogus),
            upsert("file://v/2", {"data": "two"}),
        ]
    )
    stack.drain()
    report = stack.validate()
    assert (report.verified, report.failed) == (2, 1)
    assert status(stack, "file://v/1")[0] is Status.VERIFIED
    failed, reason = status(stack, "file://v/bad")
    assert failed is Status.FAILED
    assert reason and "zlib" in reason.lower()


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
    assert stack.validate().pending == 1
    time.sleep(1.1)
    report = stack.validate()
    assert report.failed == 1
    failed, reason = status(stack, "file://lost")
    assert failed is Status.FAILED
    assert reason == "no indexing log entry within 1 seconds of the push"


def test_paging_through_the_dynamodb_index_while_marking_rows(stack: LocalStack) -> None:
    from connector.validator import Validator, ValidatorSettings

    stack.send([upsert(f"file://page/{i}", {"data": str(i)}) for i in range(25)])
    stack.drain()
    settings = ValidatorSettings(
        stack.coveo.source_id, stack.coveo.provider_id, processing_delay_s=0, page_size=10
    )
    report = Validator(settings, stack.runtime.ledger(), stack.runtime.coveo).run()
    assert report.verified == 25
    assert all(status(stack, f"file://page/{i}")[0] is Status.VERIFIED for i in range(25))
