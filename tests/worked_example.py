"""Coveo's "Push API usage example" (DESIGN.md), as the bodies the connector sends."""

from __future__ import annotations

from typing import Any

ORGANIZATION_ID = "mycoveocloudv2organizationg8tp8wu3"
SOURCE_ID = "mysourceidg3c5d1r2"
PROVIDER_ID = "mysecurityidentityprovider8d9s8d"
EMAIL_PROVIDER = "Email Security Provider"
DOCUMENT_ID = "file://folder/mytext.txt"
MEMBERS = ("alice", "bob", "david")


def item_wire() -> dict[str, Any]:
    return {
        "author": "Alice Smith",
        "title": "My text",
        "data": "This is a sample text written by Alice Smith.",
        "fileExtension": ".txt",
        "permissions": [
            {
                "allowAnonymous": False,
                "allowedPermissions": [
                    {"identity": "AlphaTeam", "identityType": "Group", "securityProvider": PROVIDER_ID}
                ],
                "deniedPermissions": [
                    {
                        "identity": "bob@example.com",
                        "identityType": "User",
                        "securityProvider": EMAIL_PROVIDER,
                    }
                ],
            }
        ],
    }


def group_wire() -> dict[str, Any]:
    return {
        "identity": {"name": "AlphaTeam", "type": "GROUP"},
        "members": [{"name": name, "type": "USER"} for name in MEMBERS],
    }


def alias_wire(member: str) -> dict[str, Any]:
    return {
        "identity": {"name": member, "type": "USER"},
        "mappings": [{"name": f"{member}@example.com", "type": "USER", "provider": EMAIL_PROVIDER}],
    }
