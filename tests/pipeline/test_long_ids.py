"""Long ids work end to end: a document id and a group name of about 2,000 characters (4 KB and more
in UTF-8, past DynamoDB's 2,048-byte key limit) are pushed, recorded under a hashed ledger key that
keeps the whole id as the row's subject, and verified."""

from __future__ import annotations

from pathlib import Path

from aws_simulator.stack import LocalStack
from connector.domain.events import item_key
from connector.domain.ledger import Status

from .stack import indexed

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "mysecurityidentityprovider8d9s8d"


def test_a_2000_character_document_id_and_group_name_are_pushed_and_verified(stack: LocalStack) -> None:
    document_id = "file://long/" + "é" * 1990  # 2,002 characters, 3,992 bytes
    group = "Ω" * 2000
    events = [
        {
            "specversion": "1.0",
            "id": "long-group",
            "source": "test",
            "type": "identity.upserted",
            "data": {
                "identity": {"name": group, "type": "GROUP"},
                "members": [{"name": "alice", "type": "USER"}],
                "version": 1,
            },
        },
        {
            "specversion": "1.0",
            "id": "long-item",
            "source": "test",
            "type": "item.upserted",
            "data": {
                "documentId": document_id,
                "version": 1,
                "document": {
                    "data": "x",
                    "permissions": [
                        {
                            "allowedPermissions": [
                                {"identity": group, "identityType": "Group", "securityProvider": PROVIDER}
                            ]
                        }
                    ],
                },
            },
        },
    ]
    stack.send(events)
    stack.drain()
    assert stack.dead_letters() == []
    assert document_id in indexed(stack)
    report = stack.validate()
    assert (report.verified, report.failed, report.pending) == (2, 0, 0)
    row = stack.runtime.ledger().get(item_key(document_id))
    assert row is not None and row.subject == document_id and row.status is Status.VERIFIED
    assert len(row.key.encode()) < 2048
