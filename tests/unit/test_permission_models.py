"""Permission models at their edges: what a permission set grants, which shapes of a `permissions`
array are refused rather than read as "no permissions", and Coveo's per-item limit."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connector.entry.settings import ConnectorSettings
from coveo_push_api.models import (
    MAX_PERMISSIONS_PER_ITEM,
    ItemBody,
    PermissionIdentity,
    PermissionIdentityType,
    PermissionSet,
)
from coveo_push_api.models.permissions import parse_permission_model


def identity(name: str) -> dict[str, Any]:
    return {"identity": name, "identityType": "User"}


@pytest.mark.parametrize(
    ("wire", "grants"),
    [
        ({"allowAnonymous": True}, True),
        ({"allowedPermissions": [identity("alice")]}, True),
        ({"allowAnonymous": True, "allowedPermissions": [identity("alice")]}, True),
        ({"deniedPermissions": [identity("bob")]}, False),
        ({}, False),
    ],
)
def test_a_set_grants_someone_when_it_lets_anonymous_users_or_named_identities_in(
    wire: dict[str, Any], grants: bool
) -> None:
    assert PermissionSet.model_validate(wire).grants_anyone() is grants


def test_an_identity_type_given_as_the_enum_is_kept() -> None:
    permission = PermissionIdentity(identity="AlphaTeam", identity_type=PermissionIdentityType.GROUP)
    assert permission.identity_type is PermissionIdentityType.GROUP


def test_a_permission_level_with_no_sets_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"permission_sets|permissionSets"):
        parse_permission_model([{"name": "empty", "permissionSets": []}])


@pytest.mark.parametrize("permissions", [{"allowAnonymous": False}, 5, "AlphaTeam", True])
def test_permissions_that_are_not_a_list_are_refused_as_not_a_list(permissions: object) -> None:
    """Not read as "no permissions", and refused by validation (a reason naming the field), not by
    an exception from inside the validator."""
    wire = {"documentId": "file://a", "data": "x", "permissions": permissions}
    with pytest.raises(ValidationError, match="Input should be a valid list"):
        ItemBody.from_wire(wire)
    with pytest.raises(ValidationError, match="Input should be a valid list"):
        parse_permission_model(permissions)


def test_the_published_limit_is_the_cap_the_connector_enforces_by_default() -> None:
    cap = ConnectorSettings.model_fields["max_permissions"]
    assert MAX_PERMISSIONS_PER_ITEM == cap.default == 5_000
