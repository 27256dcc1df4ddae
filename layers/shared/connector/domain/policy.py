"""What this deployment refuses before anything reaches Coveo (secure by default)."""

from __future__ import annotations

import base64

from coveo_push_api.models import (
    CompressionType,
    IdentityType,
    ItemBody,
    MappedIdentityBody,
    PermissionSet,
)
from coveo_push_api.models.identities import MEMBER_HOLDING_TYPES
from coveo_push_api.models.permissions import permission_sets

from .compression import decode_problem
from .errors import RefusedChange
from .events import IdentityAlias, IdentityUpsert, Payload

PUBLIC_PERMISSIONS = [PermissionSet(allow_anonymous=True)]


def check_item(
    document_id: str,
    body: ItemBody,
    *,
    allow_public: bool,
    max_permissions: int,
    known_providers: frozenset[str] | None = None,
) -> ItemBody:
    """The body to push, or `RefusedChange`. A secured source never gets an implied permission model.

    `known_providers`: the security providers a permission may name (the deployment's own and those
    it cascades to); None accepts any.
    """
    if body.compressed_binary_data is not None:
        # Coveo's default for inline compressedBinaryData is ZLIB.
        content = base64.b64decode(body.compressed_binary_data)
        check_content(document_id, content, body.compression_type, default=CompressionType.ZLIB)
    if not body.permissions:
        if not allow_public:
            raise RefusedChange(
                f"item {document_id!r} has no permissions; a secured source never implies a permission "
                'model: give data.document.permissions, mark the item public with [{"allowAnonymous": true}], '
                "or deploy with ALLOW_PUBLIC_ITEMS=true"
            )
        # Public by the deployment's choice: say so explicitly rather than leave Coveo to guess.
        return body.model_copy(update={"permissions": PUBLIC_PERMISSIONS})
    if known_providers is not None:
        _check_providers(document_id, body, known_providers)
    count = body.permission_count()
    if count > max_permissions:
        raise RefusedChange(
            f"item {document_id!r} has {count:,} permissions; Coveo allows at most {max_permissions:,} per "
            "item (it would accept the push, then reject the item): grant a group instead of many users"
        )
    return body


def _check_providers(document_id: str, body: ItemBody, known: frozenset[str]) -> None:
    """Coveo accepts a permission on a provider the source does not use, then never resolves it."""
    for permission_set in permission_sets(body.permission_model()):
        for identity in permission_set.allowed_permissions + permission_set.denied_permissions:
            provider = identity.security_provider
            if provider is not None and provider not in known:
                raise RefusedChange(
                    f"item {document_id!r}: permission for {identity.identity!r} names securityProvider "
                    f"{provider!r}, which is neither this deployment's provider nor one it cascades to "
                    f"(known: {', '.join(sorted(known))}); Coveo would accept the item and never resolve it"
                )


def declared_public(data: object) -> bool:
    """True when an item event's own data says `"allowAnonymous": true` (the JSON literal) in a
    permission set: the only way an item may be public when the deployment does not allow public
    items. Read from the stored event, not the model, so a coercion anywhere cannot fake it."""
    document = data.get("document") if isinstance(data, dict) else None
    permissions = document.get("permissions") if isinstance(document, dict) else None
    if not isinstance(permissions, list):
        return False
    sets: list[object] = []
    for element in permissions:
        if isinstance(element, dict) and isinstance(element.get("permissionSets"), list):
            sets.extend(element["permissionSets"])
        else:
            sets.append(element)
    return any(isinstance(s, dict) and s.get("allowAnonymous") is True for s in sets)


def check_content(
    document_id: str, content: bytes, compression: CompressionType | None, *, default: CompressionType
) -> None:
    """Refuse content that is not what its compressionType says: Coveo accepts the push and rejects
    the item later. `default` is what an absent compressionType means for this content."""
    problem = decode_problem(content, compression or default)
    if problem is not None:
        stated = "says" if compression else "defaults to"
        raise RefusedChange(
            f"item {document_id!r}: compressionType {stated} {(compression or default).value} but {problem}; "
            "compress the content that way, or set compressionType to how it is encoded"
        )


def check_identity(
    payload: Payload, *, alias_providers: frozenset[str], default_alias_provider: str | None
) -> Payload:
    """Refuse identity changes Coveo would accept with 202 and then reject, or apply wrongly."""
    if isinstance(payload, IdentityUpsert):
        body = payload.body
        if body.members and body.identity.type not in MEMBER_HOLDING_TYPES:
            raise RefusedChange(
                f"{body.identity.type.value} {body.identity.name!r} has members; only GROUP and VIRTUAL_GROUP "
                "identities hold members"
            )
        for granted in body.well_knowns or []:
            if granted.type not in MEMBER_HOLDING_TYPES:
                raise RefusedChange(
                    f"wellKnowns of {body.identity.name!r} names {granted.type.value} {granted.name!r}; granted "
                    "identities must be GROUP or VIRTUAL_GROUP"
                )
        for member in body.members or []:
            if member.name == body.identity.name and member.type == body.identity.type:
                raise RefusedChange(
                    f"{body.identity.type.value} {body.identity.name!r} lists itself as a member"
                )
        return payload
    if isinstance(payload, IdentityAlias):
        return IdentityAlias(_check_alias(payload.body, alias_providers, default_alias_provider))
    return payload


def _check_alias(
    body: MappedIdentityBody, alias_providers: frozenset[str], default_provider: str | None
) -> MappedIdentityBody:
    mappings = []
    for mapping in body.mappings:
        provider = mapping.provider or default_provider
        if provider is None:
            raise RefusedChange(
                f"alias {mapping.name!r} of {body.identity.name!r} names no provider and the deployment has no "
                "default alias provider"
            )
        if provider not in alias_providers:
            known = ", ".join(sorted(alias_providers)) or "none"
            raise RefusedChange(
                f"alias {mapping.name!r} of {body.identity.name!r} targets provider {provider!r}, which this "
                f"deployment's provider does not cascade to (cascades to: {known})"
            )
        if body.identity.type is IdentityType.USER and mapping.type is not IdentityType.USER:
            raise RefusedChange(
                f"alias of user {body.identity.name!r} maps to {mapping.type.value} {mapping.name!r}; aliases "
                "map a user to a user"
            )
        mappings.append(mapping.model_copy(update={"provider": provider}))
    return body.model_copy(update={"mappings": mappings})
