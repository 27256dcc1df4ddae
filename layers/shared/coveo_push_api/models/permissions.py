"""Item permission models: the simple model (sets) and the complete model (levels holding sets)."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, TypeAdapter

from ._base import CoveoModel
from .identities import IdentityName

MAX_PERMISSIONS_PER_ITEM = 5_000  # Coveo accepts more with 202, then rejects the item.


class PermissionIdentityType(StrEnum):
    """`identityType` in item permissions, as the Push spec spells it (PascalCase)."""

    USER = "User"
    GROUP = "Group"
    VIRTUAL_GROUP = "VirtualGroup"
    UNKNOWN = "Unknown"


_PERMISSION_TYPE_SPELLINGS = {
    "user": PermissionIdentityType.USER,
    "group": PermissionIdentityType.GROUP,
    "virtualgroup": PermissionIdentityType.VIRTUAL_GROUP,
    "virtual_group": PermissionIdentityType.VIRTUAL_GROUP,
    "unknown": PermissionIdentityType.UNKNOWN,
}


def parse_permission_identity_type(value: Any) -> PermissionIdentityType:
    """Official clients send both `USER` and `User`; the service treats them alike."""
    if isinstance(value, PermissionIdentityType):
        return value
    if isinstance(value, str) and value.lower() in _PERMISSION_TYPE_SPELLINGS:
        return _PERMISSION_TYPE_SPELLINGS[value.lower()]
    raise ValueError(f"unknown identityType {value!r}; expected one of User, Group, VirtualGroup, Unknown")


class PermissionIdentity(CoveoModel):
    identity: IdentityName
    identity_type: Annotated[PermissionIdentityType, BeforeValidator(parse_permission_identity_type)]
    # Coveo defaults to the source's first provider when this is left out.
    security_provider: IdentityName | None = None
    additional_info: dict[str, str] | None = None


class PermissionSet(CoveoModel):
    """Allowed in every set and denied in none: that is who sees the item."""

    name: str | None = None
    allow_anonymous: bool = False
    allowed_permissions: list[PermissionIdentity] = Field(default_factory=list)
    denied_permissions: list[PermissionIdentity] = Field(default_factory=list)

    def count(self) -> int:
        return len(self.allowed_permissions) + len(self.denied_permissions)

    def grants_anyone(self) -> bool:
        return self.allow_anonymous or bool(self.allowed_permissions)


class PermissionLevel(CoveoModel):
    """Complete model: levels are evaluated in order and the first conclusive one wins."""

    name: str | None = None
    permission_sets: list[PermissionSet] = Field(min_length=1)


def _is_level(element: Any) -> bool:
    # A level is recognised by its `permissionSets` key (as Coveo's JS client tells them apart).
    return isinstance(element, dict) and "permissionSets" in element


def _parse_permissions(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    kinds = {_is_level(element) for element in value}
    if len(kinds) > 1:
        raise ValueError(
            "permissions mix permission levels (with permissionSets) and permission sets; "
            "use one model: a list of sets, or a list of levels"
        )
    if kinds == {True}:
        return [PermissionLevel.model_validate(element) for element in value]
    return [PermissionSet.model_validate(element) for element in value]


PermissionModel = Annotated[list[PermissionLevel] | list[PermissionSet], BeforeValidator(_parse_permissions)]


def permission_sets(permissions: list[PermissionLevel] | list[PermissionSet]) -> list[PermissionSet]:
    """Every set of a model, whichever shape it has."""
    sets: list[PermissionSet] = []
    for element in permissions:
        if isinstance(element, PermissionLevel):
            sets.extend(element.permission_sets)
        else:
            sets.append(element)
    return sets


def count_permissions(permissions: list[PermissionLevel] | list[PermissionSet]) -> int:
    return sum(s.count() for s in permission_sets(permissions))


def is_public(permissions: list[PermissionLevel] | list[PermissionSet]) -> bool:
    """True when every set lets anonymous users in: the item is visible to everyone."""
    sets = permission_sets(permissions)
    return bool(sets) and all(s.allow_anonymous for s in sets)


@cache
def _model_adapter() -> TypeAdapter[list[PermissionLevel] | list[PermissionSet]]:
    return TypeAdapter(PermissionModel)  # built on first use: import time is cold start


def parse_permission_model(value: Any) -> list[PermissionLevel] | list[PermissionSet]:
    """Validate a raw `permissions` array on its own (used by the event contract)."""
    return _model_adapter().validate_python(value)
