"""Wire dialects → normalized models.

Coveo binds JSON keys case-insensitively (camelCase from current clients, PascalCase from the 2017
docs and the labs SDK), accepts identity types as ``USER``/``User``/``VIRTUAL_GROUP``/``VirtualGroup``
and treats metadata keys case-insensitively (``permanentid`` = ``permanentId``). Everything here is
pure: a body in, a model or a :class:`WireError` out. The same parser serves single pushes (where an
error becomes a 400/413 answer) and batch files (where it becomes a REJECTED log entry).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

IDENTITY_TYPES = ("USER", "GROUP", "VIRTUAL_GROUP", "UNKNOWN")
_TYPE_ALIASES = {
    "user": "USER",
    "group": "GROUP",
    "virtual_group": "VIRTUAL_GROUP",
    "virtualgroup": "VIRTUAL_GROUP",
    "unknown": "UNKNOWN",
}
COMPRESSION_TYPES = ("UNCOMPRESSED", "DEFLATE", "GZIP", "LZMA", "ZLIB")
_DATA_KEYS = ("data", "compressedbinarydata", "compressedbinarydatafileid")
# Keys that are not metadata (DOC-78 reserved key names, plus compressionType which batches carry in
# the body). ``orderingid`` is reserved but has no meaning in a body: using it is an error.
RESERVED_KEYS = frozenset(
    {
        "data",
        "compressedbinarydata",
        "compressedbinarydatafileid",
        "compressiontype",
        "parentid",
        "fileextension",
        "permissions",
        "documentid",
        "orderingid",
    }
)
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class WireError(Exception):
    """A body Coveo would refuse. ``status`` is what a single (synchronous) call answers."""

    def __init__(self, message: str, status: int = 400, error_code: str = "INVALID_JSON") -> None:
        super().__init__(message)
        self.detail = message
        self.status = status
        self.error_code = error_code
        self.path: list[str] = []  # where in the body, filled in on the way up (cheap when valid)

    def at(self, segment: str) -> WireError:
        self.path.insert(0, segment)
        return self

    @property
    def message(self) -> str:
        if not self.path:
            return self.detail
        return f"{''.join(self.path).lstrip('.')}: {self.detail}"

    def __str__(self) -> str:
        return self.message


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise WireError(f"duplicate key '{key}'")
            seen.add(key)
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates)


def loads(raw: bytes) -> Any:
    """Parse JSON the way Coveo does: duplicate keys are an error, not 'last one wins'."""
    try:
        return _DECODER.decode(raw.decode("utf-8-sig"))
    except WireError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"the body is not valid JSON ({exc})") from None


def fold(obj: dict[str, Any], where: str = "the object") -> dict[str, Any]:
    """Lower-case the keys of a JSON object; two keys differing only by case are duplicates."""
    out = {key.lower(): value for key, value in obj.items()}
    if len(out) != len(obj):
        seen: set[str] = set()
        for key in obj:
            if key.lower() in seen:
                raise WireError(f"duplicate key '{key}' in {where} (keys are case-insensitive)")
            seen.add(key.lower())
    return out


def normalize_identity_type(value: object, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if isinstance(value, str):
        found = _TYPE_ALIASES.get(value.lower())
        if found:
            return found
    raise WireError(f"invalid identity type {value!r}; expected one of {', '.join(IDENTITY_TYPES)}")


def is_uri(document_id: str) -> bool:
    return bool(_URI_SCHEME.match(document_id))


# --------------------------------------------------------------------------------------------
# Permission models (reference §3.2)


@dataclass(frozen=True, slots=True)
class PermissionIdentity:
    identity: str
    identity_type: str
    provider: str
    additional_info: tuple[tuple[str, str], ...] = ()

    @property
    def is_pattern(self) -> bool:
        # Coveo's public-item example allows "*@*"; such entries are patterns, not identities.
        return "*" in self.identity


@dataclass(slots=True)
class PermissionSet:
    name: str
    allow_anonymous: bool
    allowed: list[PermissionIdentity]
    denied: list[PermissionIdentity]


@dataclass(slots=True)
class PermissionLevel:
    name: str
    sets: list[PermissionSet]


def _string_map(value: object, name: str) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    if not isinstance(value, dict):
        raise WireError(f"'{name}' must be an object of strings")
    out = []
    for key, item in value.items():
        if isinstance(item, dict | list):
            raise WireError(f"'{name}.{key}' must be a string")
        out.append((key, item if isinstance(item, str) else json.dumps(item)))
    return tuple(out)


def _permission_identity(obj: object, default_provider: str) -> PermissionIdentity:
    if not isinstance(obj, dict):
        raise WireError("must be an object with 'identity', 'identityType', 'securityProvider'")
    f = fold(obj)
    name = f.get("identity")
    if not isinstance(name, str) or not name:
        raise WireError("'identity' must be a non-empty string")
    provider = f.get("securityprovider")
    if provider is None or provider == "":
        provider = default_provider
    if not isinstance(provider, str):
        raise WireError("'securityProvider' must be a string")
    return PermissionIdentity(
        identity=name,
        identity_type=normalize_identity_type(f.get("identitytype"), default="UNKNOWN"),
        provider=provider,
        additional_info=_string_map(f.get("additionalinfo"), "additionalInfo"),
    )


def _identity_list(value: object, default_provider: str, name: str) -> list[PermissionIdentity]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise WireError(f"'{name}' must be an array")
    out = []
    for position, element in enumerate(value):
        try:
            out.append(_permission_identity(element, default_provider))
        except WireError as exc:
            raise exc.at(f".{name}[{position}]") from None
    return out


def _permission_set(obj: object, default_provider: str) -> PermissionSet:
    if not isinstance(obj, dict):
        raise WireError("must be a permission set object")
    f = fold(obj)
    anonymous = f.get("allowanonymous", False)
    if anonymous is None:
        anonymous = False
    if not isinstance(anonymous, bool):
        raise WireError("'allowAnonymous' must be a boolean")
    name = f.get("name") or ""
    if not isinstance(name, str):
        raise WireError("'name' must be a string")
    return PermissionSet(
        name=name,
        allow_anonymous=anonymous,
        allowed=_identity_list(f.get("allowedpermissions"), default_provider, "allowedPermissions"),
        denied=_identity_list(f.get("deniedpermissions"), default_provider, "deniedPermissions"),
    )


def _set_list(sets: list[Any], default_provider: str, prefix: str) -> list[PermissionSet]:
    out = []
    for position, element in enumerate(sets):
        try:
            out.append(_permission_set(element, default_provider))
        except WireError as exc:
            raise exc.at(f"{prefix}[{position}]") from None
    return out


def parse_permissions(value: object, default_provider: str) -> tuple[list[PermissionLevel], int]:
    """Return (levels, number of permissions). The simplified model becomes one unnamed level."""
    if value is None:
        return [], 0
    if not isinstance(value, list):
        raise WireError("'permissions' must be an array of permission sets or permission levels")
    if not value:
        return [], 0
    levels: list[PermissionLevel] = []
    is_level = [isinstance(e, dict) and any(k.lower() == "permissionsets" for k in e) for e in value]
    if any(is_level):
        if not all(is_level):
            raise WireError("'permissions' mixes permission levels and permission sets")
        for i, element in enumerate(value):
            f = fold(element, f"permissions[{i}]")
            sets = f.get("permissionsets")
            if not isinstance(sets, list):
                raise WireError(f"permissions[{i}].permissionSets must be an array")
            name = f.get("name") or ""
            if not isinstance(name, str):
                raise WireError(f"permissions[{i}].name must be a string")
            levels.append(
                PermissionLevel(name, _set_list(sets, default_provider, f"permissions[{i}].permissionSets"))
            )
    else:
        levels.append(PermissionLevel("", _set_list(value, default_provider, "permissions")))
    count = sum(len(s.allowed) + len(s.denied) for level in levels for s in level.sets)
    return levels, count


def permission_model_json(levels: list[PermissionLevel]) -> list[dict[str, Any]]:
    """The normalized model in the complete-model shape (for /_emulator/state)."""
    return [
        {
            "name": level.name,
            "permissionSets": [
                {
                    "name": s.name,
                    "allowAnonymous": s.allow_anonymous,
                    "allowedPermissions": [_pi_json(p) for p in s.allowed],
                    "deniedPermissions": [_pi_json(p) for p in s.denied],
                }
                for s in level.sets
            ],
        }
        for level in levels
    ]


def _pi_json(p: PermissionIdentity) -> dict[str, Any]:
    return {"identity": p.identity, "identityType": p.identity_type, "securityProvider": p.provider}


# --------------------------------------------------------------------------------------------
# Items (reference §3.1, §3.7)


@dataclass(slots=True)
class ParsedDocument:
    document_id: str
    metadata: dict[str, Any]
    data_kind: str | None = None  # "data" | "compressedbinarydata" | "compressedbinarydatafileid"
    data_value: str | None = None
    compression_type: str | None = None
    parent_id: str | None = None
    file_extension: str | None = None
    permissions: list[PermissionLevel] = field(default_factory=list)
    permission_count: int = 0
    warnings: list[str] = field(default_factory=list)


def _compression(value: object, where: str) -> str:
    if not isinstance(value, str) or value.upper() not in COMPRESSION_TYPES:
        raise WireError(f"{where} must be one of {', '.join(COMPRESSION_TYPES)}, got {value!r}")
    return value.upper()


def parse_compression_param(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return _compression(value, "compressionType")
    except WireError as exc:
        raise WireError(exc.message, status=412, error_code="INVALID_PARAMETER") from None


def parse_document(
    body: object,
    *,
    default_provider: str,
    max_inline_bytes: int,
    query_document_id: str | None = None,
    query_compression: str | None = None,
) -> ParsedDocument:
    """Validate one item body (a single push, or one ``addOrUpdate`` element of a batch)."""
    if not isinstance(body, dict):
        raise WireError("an item must be a JSON object")
    document_id = query_document_id
    metadata: dict[str, Any] = {}
    doc = ParsedDocument(document_id="", metadata=metadata)
    permissions_value: object = None
    seen: set[str] = set()
    for key, value in body.items():
        low = key.lower()
        if low in seen:
            raise WireError(f"duplicate key '{key}' (metadata keys are case-insensitive)")
        seen.add(low)
        if low in RESERVED_KEYS:
            if low == "documentid":
                if not isinstance(value, str) or not value:
                    raise WireError("'documentId' must be a non-empty string")
                if query_document_id is not None and value != query_document_id:
                    raise WireError(
                        f"the documentId in the body ({value!r}) does not match the documentId "
                        f"query parameter ({query_document_id!r})"
                    )
                document_id = value
            elif low == "orderingid":
                raise WireError(
                    f"reserved key '{key}' cannot be used as metadata (orderingId is a query parameter)"
                )
            elif low == "permissions":
                permissions_value = value
            elif low == "compressiontype":
                if value is not None:
                    doc.compression_type = _compression(value, "compressionType")
            elif value is None:
                continue
            elif not isinstance(value, str):
                raise WireError(f"reserved key '{key}' must be a string, not metadata of another type")
            elif low in _DATA_KEYS:
                if doc.data_kind is not None:
                    raise WireError(
                        "an item can have only one of 'data', 'compressedBinaryData', 'compressedBinaryDataFileId'"
                    )
                doc.data_kind = low
                doc.data_value = value
            elif low == "parentid":
                doc.parent_id = value
            else:  # fileextension
                doc.file_extension = value
                if not value.startswith("."):
                    doc.warnings.append(f"fileExtension {value!r} should start with '.'")
            continue
        if value is None:
            continue
        if isinstance(value, str | int | float | bool):
            metadata[low] = value
        elif isinstance(value, list):
            for element in value:
                if not isinstance(element, str | int | float | bool):
                    raise WireError(
                        f"metadata '{key}' holds a sub-object or nested array; only primitives and arrays of primitives are allowed"
                    )
            metadata[low] = value
        else:
            raise WireError(f"metadata '{key}' is a sub-object; sub-objects are not supported")
    if document_id is None:
        raise WireError("the item has no 'documentId'", status=412, error_code="MISSING_PARAMETER")
    if not is_uri(document_id):
        raise WireError(f"documentId {document_id!r} is not a URI (e.g. file://folder/item.txt)")
    doc.document_id = document_id
    if query_compression is not None:
        doc.compression_type = query_compression
    if doc.data_value is not None and doc.data_kind != "compressedbinarydatafileid":
        size = _inline_size(doc.data_kind, doc.data_value)
        if size > max_inline_bytes:
            raise WireError(
                f"inline item data is {size} bytes; the limit is {max_inline_bytes} bytes "
                "(use a file container and compressedBinaryDataFileId)",
                status=413,
                error_code="REQUEST_ENTITY_TOO_LARGE",
            )
    doc.permissions, doc.permission_count = parse_permissions(permissions_value, default_provider)
    return doc


def _inline_size(kind: str | None, value: str) -> int:
    if kind == "compressedbinarydata":
        return len(value) * 3 // 4  # the decoded (binary) size
    return len(value) if value.isascii() else len(value.encode())


# --------------------------------------------------------------------------------------------
# Security identities (reference §3.4)


@dataclass(frozen=True, slots=True)
class IdentityRef:
    name: str
    type: str
    additional_info: tuple[tuple[str, str], ...] = ()
    provider: str | None = None  # only for alias mappings


@dataclass(slots=True)
class IdentityBody:
    identity: IdentityRef
    members: list[IdentityRef] | None = None
    well_knowns: list[IdentityRef] | None = None
    mappings: list[IdentityRef] | None = None
    # Optional EntityUpdateResult: lets a pusher report that the identity could not be fetched.
    result: str | None = None
    error_details: str | None = None


def _identity_ref(obj: object, *, with_provider: bool = False) -> IdentityRef:
    if not isinstance(obj, dict):
        raise WireError("must be an identity object with 'name' and 'type'")
    f = fold(obj)
    name = f.get("name")
    if not isinstance(name, str) or not name:
        raise WireError("'name' must be a non-empty string")
    provider = f.get("provider") if with_provider else None
    if provider is not None and not isinstance(provider, str):
        raise WireError("'provider' must be a string")
    return IdentityRef(
        name=name,
        type=normalize_identity_type(f.get("type"), default="UNKNOWN"),
        additional_info=_string_map(f.get("additionalinfo"), "additionalInfo"),
        provider=provider or None,
    )


def _ref_list(value: object, name: str, *, with_provider: bool = False) -> list[IdentityRef] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise WireError(f"'{name}' must be an array")
    out = []
    for position, element in enumerate(value):
        try:
            out.append(_identity_ref(element, with_provider=with_provider))
        except WireError as exc:
            raise exc.at(f".{name}[{position}]") from None
    return out


def _screaming(value: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", value).upper()


def parse_identity_body(obj: object, kind: str, where: str = "body") -> IdentityBody:
    """kind: 'identity' (IdentityBody), 'mapping' (MappedIdentityBody) or 'delete' (BaseIdentityBody)."""
    try:
        return _identity_body(obj, kind)
    except WireError as exc:
        raise exc.at(where) from None


def _identity_body(obj: object, kind: str) -> IdentityBody:
    if not isinstance(obj, dict):
        raise WireError("must be a JSON object")
    f = fold(obj)
    if "identity" not in f:
        raise WireError("has no 'identity'")
    try:
        body = IdentityBody(identity=_identity_ref(f["identity"]))
    except WireError as exc:
        raise exc.at(".identity") from None
    if kind == "delete":
        return body
    body.well_knowns = _ref_list(f.get("wellknowns"), "wellKnowns")
    if kind == "mapping":
        mappings = _ref_list(f.get("mappings"), "mappings", with_provider=True)
        if mappings is None:
            raise WireError("has no 'mappings'")
        body.mappings = mappings
    else:
        body.members = _ref_list(f.get("members"), "members")
    result = f.get("result")
    if isinstance(result, dict):
        r = fold(result, "Result")
        if isinstance(r.get("result"), str):
            body.result = _screaming(r["result"])
        if isinstance(r.get("errordetails"), str):
            body.error_details = r["errordetails"]
    return body
