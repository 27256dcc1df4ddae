"""Security identity bodies of the Push API (identities, aliases, deletions, identity batches)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from ._base import CoveoModel


class IdentityType(StrEnum):
    """`Identity.type` as the Push spec spells it (upper case)."""

    USER = "USER"
    GROUP = "GROUP"
    VIRTUAL_GROUP = "VIRTUAL_GROUP"
    UNKNOWN = "UNKNOWN"


_IDENTITY_TYPE_SPELLINGS = {
    "user": IdentityType.USER,
    "group": IdentityType.GROUP,
    "virtualgroup": IdentityType.VIRTUAL_GROUP,
    "virtual_group": IdentityType.VIRTUAL_GROUP,
    "unknown": IdentityType.UNKNOWN,
}


def parse_identity_type(value: Any) -> IdentityType:
    """Accept every casing the docs and official clients use (`USER`, `User`, `VirtualGroup`...)."""
    if isinstance(value, IdentityType):
        return value
    if isinstance(value, str) and value.lower() in _IDENTITY_TYPE_SPELLINGS:
        return _IDENTITY_TYPE_SPELLINGS[value.lower()]
    raise ValueError(f"unknown identity type {value!r}; expected one of USER, GROUP, VIRTUAL_GROUP, UNKNOWN")


LenientIdentityType = Annotated[IdentityType, BeforeValidator(parse_identity_type)]
# Coveo publishes no number for a name's length; this cap keeps a name a name (docs/decisions.md).
MAX_IDENTITY_NAME_LENGTH = 2048


def _name_not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("identity name must not be blank")
    if len(value) > MAX_IDENTITY_NAME_LENGTH:
        raise ValueError(f"identity name is {len(value):,} characters; at most {MAX_IDENTITY_NAME_LENGTH:,}")
    return value


# Coveo accepts a blank name with 202 and fails the identity later: refuse it here.
IdentityName = Annotated[str, Field(min_length=1), AfterValidator(_name_not_blank)]
AdditionalInfo = dict[str, str]

# Only groups have members; a member may itself be any valid identity type.
MEMBER_HOLDING_TYPES = frozenset({IdentityType.GROUP, IdentityType.VIRTUAL_GROUP})


class Identity(CoveoModel):
    name: IdentityName
    type: LenientIdentityType
    additional_info: AdditionalInfo = Field(default_factory=dict)

    def key(self) -> tuple[str, IdentityType]:
        """How Coveo tells identities apart within one provider."""
        return (self.name, self.type)


class IdentityBody(CoveoModel):
    """Add or update one identity. Pushing a group replaces its members."""

    identity: Identity
    members: list[Identity] | None = None
    well_knowns: list[Identity] | None = None

    @field_validator("members")
    @classmethod
    def _members_unique(cls, members: list[Identity] | None) -> list[Identity] | None:
        if members:
            seen: set[tuple[str, IdentityType]] = set()
            for member in members:
                if member.key() in seen:
                    raise ValueError(f"member {member.name!r} ({member.type}) is listed twice")
                seen.add(member.key())
        return members


class MappedIdentity(CoveoModel):
    """The target of an alias. `provider` may be left out when the source provider cascades to one only."""

    name: IdentityName
    type: LenientIdentityType
    provider: IdentityName | None = None
    additional_info: AdditionalInfo = Field(default_factory=dict)


class MappedIdentityBody(CoveoModel):
    """Add or update the aliases of one identity."""

    identity: Identity
    mappings: list[MappedIdentity] = Field(min_length=1)
    well_knowns: list[Identity] | None = None


class BaseIdentityBody(CoveoModel):
    """Delete (disable) one identity; also an element of an identity batch's `deleted`."""

    identity: Identity


class IdentityBatchBody(CoveoModel):
    """The content of a file container pushed with `PUT .../permissions/batch`."""

    members: list[IdentityBody] = Field(default_factory=list)
    mappings: list[MappedIdentityBody] = Field(default_factory=list)
    deleted: list[BaseIdentityBody] = Field(default_factory=list)
