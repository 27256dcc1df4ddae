"""`contentRef` on real (moto) S3: the content lands, and a reference to a missing object is tried
once more and then dead-lettered with a reason that names the object, never retried to exhaustion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_simulator.stack import LocalStack

from .stack import indexed

ROOT = Path(__file__).resolve().parents[2]
GROUP = {
    "identity": "AlphaTeam",
    "identityType": "Group",
    "securityProvider": "mysecurityidentityprovider8d9s8d",
}


def with_content_ref(document_id: str, uri: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{document_id}@1",
        "source": "test",
        "type": "item.upserted",
        "data": {
            "documentId": document_id,
            "version": 1,
            "contentRef": uri,
            "document": {"fileExtension": ".txt", "permissions": [{"allowedPermissions": [GROUP]}]},
        },
    }


def test_a_missing_object_is_dead_lettered_naming_it_and_its_neighbour_lands(stack: LocalStack) -> None:
    bucket = stack.resources.buckets["ContentBucket"]
    stack.aws.client("s3").put_object(Bucket=bucket, Key="present.txt", Body=b"hello from S3")
    missing = f"s3://{bucket}/never-uploaded.bin"
    identities = json.loads((ROOT / "events/worked-example/identities.json").read_text())
    stack.send(
        [
            *identities,
            with_content_ref("file://s3/present.txt", f"s3://{bucket}/present.txt"),
            with_content_ref("file://s3/missing.txt", missing),
        ]
    )
    results = stack.drain(timeout_s=60)
    assert all(r.drained for r in results.values())
    assert indexed(stack)["file://s3/present.txt"]["indexed"]
    [letter] = stack.dead_letters()
    assert json.loads(letter["body"])["data"]["documentId"] == "file://s3/missing.txt"
    assert missing in (letter["reason"] or "") and "names no object" in (letter["reason"] or "")
    assert letter["errorKind"] == "refused"
    # Dead-lettered by the connector (a reason, errorKind refused) after one retry, not moved by SQS
    # after five deliveries without a reason.
    assert "file://s3/missing.txt" not in indexed(stack)
