"""The items and identities every contender pushes: deterministic, so each worker rebuilds the same ones.

A small item is about 1 KB of body (title, author, metadata, ~750 characters of text) with three
permission identities: its team's group (our provider), its owner (allowed) and one denied user
(Email Security Provider); `item_identities` lists them, for the identities Coveo must know before
it indexes the items. A large item carries 1,000,000 characters of text. A group change is a
group of our provider with four members.
"""

from __future__ import annotations

import random
from typing import Any

from .common import PROVIDER

EMAIL_PROVIDER = "Email Security Provider"
_WORDS = (
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "policy",
    "report",
    "invoice",
    "contract",
    "meeting",
    "project",
    "budget",
    "release",
    "customer",
    "support",
    "account",
    "password",
    "network",
    "server",
    "storage",
    "backup",
)
SMALL_TEXT_CHARS = 750
LARGE_TEXT_CHARS = 1_000_000
GROUP_MEMBERS = 4
EVENT_TIME = "2026-11-26T09:00:00Z"


def _text(rng: random.Random, chars: int) -> str:
    # Words (~6 characters with the space) drawn in one call: the 1 MB items must be quick to make.
    words = rng.choices(_WORDS, k=chars // 5 + 1)
    return " ".join(words)[:chars]


def item(index: int, *, large: bool = False) -> dict[str, Any]:
    """One item as plain fields, from which both the CloudEvent and the official builder are made."""
    rng = random.Random(index * 7919 + (1 if large else 0))  # test data: reproducible on purpose
    return {
        "documentId": f"file://bench/{'large' if large else 'small'}/doc-{index:06d}.txt",
        "title": f"Benchmark document {index}",
        "author": f"owner{index % 97}@example.com",
        "fileExtension": ".txt",
        "data": _text(rng, LARGE_TEXT_CHARS if large else SMALL_TEXT_CHARS),
        "metadata": {"category": rng.choice(["kb", "policy", "report"]), "tags": ["bench", f"t{index % 13}"]},
        **_permission_names(index),
    }


def _permission_names(index: int) -> dict[str, str]:
    return {
        "allowedGroup": f"team-{index % 50}",
        "allowedUser": f"owner{index % 97}@example.com",
        "deniedUser": f"contractor{index % 31}@example.com",
    }


def item_identities(count: int) -> tuple[list[str], list[str]]:
    """What items 0..count-1 name in their permissions: the groups of our provider and the users of
    the Email Security Provider, each once. Coveo indexes an item only once it knows them all."""
    names = [_permission_names(i) for i in range(count)]
    groups = sorted({n["allowedGroup"] for n in names})
    users = sorted({n[k] for n in names for k in ("allowedUser", "deniedUser")})
    return groups, users


def item_event(fields: dict[str, Any]) -> dict[str, Any]:
    document = {
        "title": fields["title"],
        "author": fields["author"],
        "fileExtension": fields["fileExtension"],
        "data": fields["data"],
        **fields["metadata"],
        "permissions": [
            {
                "allowAnonymous": False,
                "allowedPermissions": [
                    {
                        "identity": fields["allowedGroup"],
                        "identityType": "Group",
                        "securityProvider": PROVIDER,
                    },
                    {
                        "identity": fields["allowedUser"],
                        "identityType": "User",
                        "securityProvider": EMAIL_PROVIDER,
                    },
                ],
                "deniedPermissions": [
                    {
                        "identity": fields["deniedUser"],
                        "identityType": "User",
                        "securityProvider": EMAIL_PROVIDER,
                    }
                ],
            }
        ],
    }
    return event(
        fields["documentId"],
        "item.upserted",
        {"documentId": fields["documentId"], "version": 1, "document": document},
    )


def official_document(fields: dict[str, Any]) -> Any:
    """The same item for Coveo's official client, with the same permissions (it defaults to public)."""
    from push_api_clientpy import DocumentBuilder, GroupSecurityIdentityBuilder, UserSecurityIdentityBuilder

    return (
        DocumentBuilder(fields["documentId"], fields["title"])
        .withData(fields["data"])
        .withAuthor(fields["author"])
        .withFileExtension(fields["fileExtension"])
        .withMetadata(dict(fields["metadata"]))
        .withAllowAnonymousUsers(False)
        .withAllowedPermissions(GroupSecurityIdentityBuilder(fields["allowedGroup"], PROVIDER))
        .withAllowedPermissions(UserSecurityIdentityBuilder(fields["allowedUser"]))
        .withDeniedPermissions(UserSecurityIdentityBuilder(fields["deniedUser"]))
    )


def group(index: int) -> dict[str, Any]:
    return {
        "name": f"bench-group-{index:05d}",
        "members": [f"user{(index * GROUP_MEMBERS + k) % 5000}@example.com" for k in range(GROUP_MEMBERS)],
    }


def group_event(fields: dict[str, Any]) -> dict[str, Any]:
    return event(
        fields["name"],
        "identity.upserted",
        {
            "identity": {"name": fields["name"], "type": "GROUP"},
            "members": [{"name": member, "type": "USER"} for member in fields["members"]],
            "version": 1,
        },
    )


def event(name: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvent every bench change travels in; its id is `bench-<name>`."""
    return {
        "specversion": "1.0",
        "id": f"bench-{name}",
        "source": "urn:bench",
        "type": event_type,
        "time": EVENT_TIME,
        "data": data,
    }


def official_group(fields: dict[str, Any]) -> Any:
    from push_api_clientpy import IdentityModel, SecurityIdentityModel

    return SecurityIdentityModel(
        Identity=IdentityModel({}, fields["name"], "GROUP"),
        Members=[IdentityModel({}, member, "USER") for member in fields["members"]],
        WellKnowns=[],
    )
