"""What the deployment refuses (connector/domain/policy.py) seen where it matters: a message dead-lettered with
a reason and nothing sent to Coveo, or the change pushed as it should be. Each limit is tried at
exactly the limit."""

from __future__ import annotations

import json
from typing import Any

from connector.domain.pipeline import Disposition, Message
from tests import worked_example as wx
from tests.handler.conftest import make_pipeline

EMAIL = wx.EMAIL_PROVIDER


def item_with_users(count: int) -> dict[str, Any]:
    users = [
        {"identity": f"user{n}@example.com", "identityType": "User", "securityProvider": EMAIL}
        for n in range(count)
    ]
    document = {"data": "x", "permissions": [{"allowedPermissions": users}]}
    return {
        "specversion": "1.0",
        "id": "e-1",
        "source": "urn:test",
        "type": "item.upserted",
        "data": {"documentId": "file://folder/a.txt", "version": 1, "document": document},
    }


def alias(identity_type: str, mapping: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "e-2",
        "source": "urn:test",
        "type": "identity.aliased",
        "data": {"identity": {"name": "alpha", "type": identity_type}, "mappings": [mapping], "version": 1},
    }


def group_with_members(members: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "e-3",
        "source": "urn:test",
        "type": "identity.upserted",
        "data": {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "members": members, "version": 1},
    }


def run(kind: str, event: dict[str, Any], **settings: Any) -> tuple[Any, list[Any]]:
    pipeline = make_pipeline(kind, **settings)
    report = pipeline.process([Message("m", json.dumps(event))], lambda: 60.0)
    return report.outcomes["m"], pipeline.coveo.calls  # type: ignore[attr-defined]


def refusal(kind: str, event: dict[str, Any], **settings: Any) -> str:
    outcome, calls = run(kind, event, **settings)
    assert outcome.disposition is Disposition.DEAD_LETTERED, outcome
    assert calls == []
    return outcome.reason or ""


def pushed(kind: str, event: dict[str, Any], **settings: Any) -> Any:
    outcome, calls = run(kind, event, **settings)
    assert outcome.disposition is Disposition.PUSHED, outcome
    return calls[-1]


# --- the permission cap --------------------------------------------------------------------------


def test_an_item_with_exactly_the_cap_of_permissions_is_pushed() -> None:
    call = pushed("item", item_with_users(3), max_permissions=3)
    assert call.name == "push_item" and call.payload.permission_count() == 3


def test_an_item_one_past_the_cap_is_refused_with_the_count_and_the_cap() -> None:
    reason = refusal("item", item_with_users(4), max_permissions=3)
    assert "has 4 permissions; Coveo allows at most 3 per item" in reason


# --- a group that lists itself ---------------------------------------------------------------------


def test_a_member_with_the_groups_name_but_another_type_is_not_the_group_itself() -> None:
    # USER AlphaTeam and GROUP AlphaTeam are two identities in Coveo.
    call = pushed("identity", group_with_members([{"name": "AlphaTeam", "type": "USER"}]))
    assert [(m.name, m.type.value) for m in call.payload.members] == [("AlphaTeam", "USER")]


def test_a_group_listing_itself_is_refused() -> None:
    reason = refusal("identity", group_with_members([{"name": "AlphaTeam", "type": "GROUP"}]))
    assert "GROUP 'AlphaTeam' lists itself as a member" in reason


def test_a_member_of_another_name_and_the_same_type_is_kept() -> None:
    call = pushed("identity", group_with_members([{"name": "BetaTeam", "type": "GROUP"}]))
    assert [(m.name, m.type.value) for m in call.payload.members] == [("BetaTeam", "GROUP")]


# --- aliases -------------------------------------------------------------------------------------


def test_an_alias_without_a_provider_and_no_default_is_refused_saying_so() -> None:
    reason = refusal(
        "identity", alias("USER", {"name": "alpha@example.com", "type": "USER"}), default_alias_provider=None
    )
    assert reason == (
        "alias 'alpha@example.com' of 'alpha' names no provider and the deployment has no default alias provider"
    )


def test_an_alias_to_an_unknown_provider_names_the_providers_cascaded_to() -> None:
    mapping = {"name": "alpha@okta", "type": "USER", "provider": "Okta"}
    reason = refusal("identity", alias("USER", mapping), alias_providers=frozenset({EMAIL, "Azure AD"}))
    assert reason.endswith("does not cascade to (cascades to: Azure AD, Email Security Provider)")


def test_an_alias_in_a_deployment_that_cascades_nowhere_says_none() -> None:
    mapping = {"name": "alpha@example.com", "type": "USER", "provider": EMAIL}
    reason = refusal(
        "identity", alias("USER", mapping), alias_providers=frozenset(), default_alias_provider=None
    )
    assert reason.endswith("does not cascade to (cascades to: none)")


def test_a_user_aliased_to_a_group_is_refused() -> None:
    mapping = {"name": "everyone@example.com", "type": "GROUP", "provider": EMAIL}
    reason = refusal("identity", alias("USER", mapping))
    assert (
        "alias of user 'alpha' maps to GROUP 'everyone@example.com'; aliases map a user to a user" in reason
    )


def test_a_group_may_be_aliased_to_a_group() -> None:
    mapping = {"name": "alpha-team@example.com", "type": "GROUP"}
    call = pushed("identity", alias("GROUP", mapping))
    assert call.name == "push_alias"
    assert [(m.name, m.type.value, m.provider) for m in call.payload.mappings] == [
        ("alpha-team@example.com", "GROUP", EMAIL)
    ]
