"""Item bodies of the Push API: one item, batch deletions, and the item batch file."""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Any, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ._base import CoveoModel
from .permissions import (
    PermissionLevel,
    PermissionModel,
    PermissionSet,
    count_permissions,
    is_public,
)

MAX_INLINE_DATA_BYTES = 5 * 1024 * 1024  # `data` / `compressedBinaryData` on one item


class CompressionType(StrEnum):
    UNCOMPRESSED = "UNCOMPRESSED"
    DEFLATE = "DEFLATE"
    GZIP = "GZIP"
    LZMA = "LZMA"
    ZLIB = "ZLIB"


# Reserved key names of an item body (Coveo's "JSON document reserved key names"), by lower-case name.
RESERVED_KEYS: dict[str, str] = {
    name.lower(): name
    for name in (
        "data",
        "compressedBinaryData",
        "compressedBinaryDataFileId",
        "compressionType",
        "fileExtension",
        "parentId",
        "permissions",
        "documentId",
        "orderingId",
    )
}

Primitive = str | int | float | bool
MetadataValue = Primitive | list[Primitive]


def _metadata_problem(key: str, value: Any) -> str | None:
    """Why `value` cannot be a metadata value, or None. Coveo takes primitives and flat arrays only."""
    if isinstance(value, bool | int | float | str):
        return None
    if value is None:
        return f"metadata {key!r} is null; leave the key out instead"
    if isinstance(value, dict):
        return f"metadata {key!r} is an object; Coveo accepts only primitives or arrays of primitives"
    if isinstance(value, list):
        for element in value:
            if isinstance(element, list):
                return f"metadata {key!r} is a nested array; Coveo accepts only flat arrays of primitives"
            if isinstance(element, dict):
                return f"metadata {key!r} holds an object; Coveo accepts only arrays of primitives"
            if element is None:
                return f"metadata {key!r} holds a null element"
        return None
    return f"metadata {key!r} has unsupported type {type(value).__name__}"


CONTENT_ATTACHED_LATER = "content_attached_later"  # validation context key (`ItemBody.from_wire`)


class ItemBody(CoveoModel, extra="allow"):
    """An item: reserved keys plus flat metadata (any other key).

    Build it from wire JSON with `ItemBody.from_wire(...)`, which binds reserved keys by their Coveo
    names only (so metadata such as `parent_id` stays metadata).
    """

    __pydantic_extra__: dict[str, MetadataValue] = Field(init=False)

    document_id: str | None = Field(default=None, min_length=1)
    data: str | None = None
    compressed_binary_data: str | None = None
    compressed_binary_data_file_id: str | None = None
    compression_type: CompressionType | None = None
    file_extension: str | None = None
    parent_id: str | None = None
    permissions: PermissionModel | None = None

    @classmethod
    def from_wire(cls, raw: Any, *, content_attached_later: bool = False) -> Self:
        """`content_attached_later`: the body may come without content, because its caller attaches
        it (`model_copy`) before sending, e.g. bytes fetched from storage; never more than one."""
        context = {CONTENT_ATTACHED_LATER: True} if content_attached_later else None
        return cls.model_validate(raw, by_alias=True, by_name=False, context=context)

    @model_validator(mode="before")
    @classmethod
    def _check_metadata(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        field_names = {f.alias or n for n, f in cls.model_fields.items()}
        seen: dict[str, str] = {}
        problems: list[str] = []
        for key, value in raw.items():
            if not isinstance(key, str) or not key:
                problems.append(f"metadata key {key!r} must be a non-empty string")
                continue
            lower = key.lower()
            if lower in seen:
                problems.append(
                    f"keys {seen[lower]!r} and {key!r} are the same metadata: Coveo metadata keys are "
                    "case-insensitive"
                )
            seen[lower] = key
            if key in field_names:
                continue
            if lower in RESERVED_KEYS:
                if lower == "orderingid":
                    problems.append(
                        "'orderingId' is reserved: pass it as the operation's ordering id, not in the body"
                    )
                else:
                    problems.append(
                        f"{key!r} is the reserved key {RESERVED_KEYS[lower]!r} in another casing; "
                        "reserved names cannot be metadata in any casing"
                    )
                continue
            problem = _metadata_problem(key, value)
            if problem:
                problems.append(problem)
        if problems:
            raise ValueError("; ".join(problems))
        return raw

    @field_validator("file_extension")
    @classmethod
    def _extension_has_dot(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith(".") or len(value) < 2):
            raise ValueError(f"fileExtension must start with a dot, like '.html' (got {value!r})")
        return value

    @field_validator("compression_type", mode="before")
    @classmethod
    def _compression_upper(cls, value: Any) -> Any:
        # 2017 docs spelled these `ZLib`, `GZip`...; the service now wants upper case.
        if isinstance(value, str):
            try:
                return CompressionType(value.upper())
            except ValueError:
                raise ValueError(
                    f"unknown compressionType {value!r}; expected one of "
                    + ", ".join(c.value for c in CompressionType)
                ) from None
        return value

    @field_validator("compressed_binary_data")
    @classmethod
    def _is_base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("compressedBinaryData must be Base64-encoded") from None
        return value

    @model_validator(mode="after")
    def _exactly_one_content(self, info: ValidationInfo) -> Self:
        given = [
            name
            for name, value in (
                ("data", self.data),
                ("compressedBinaryData", self.compressed_binary_data),
                ("compressedBinaryDataFileId", self.compressed_binary_data_file_id),
            )
            if value is not None
        ]
        later = bool(info.context and info.context.get(CONTENT_ATTACHED_LATER))
        if len(given) != 1 and not (later and not given):
            what = "none" if not given else " and ".join(given)
            raise ValueError(
                "an item carries exactly one of data, compressedBinaryData or "
                f"compressedBinaryDataFileId (got {what})"
            )
        if self.data is not None and self.compression_type not in (None, CompressionType.UNCOMPRESSED):
            raise ValueError("compressionType applies to compressedBinaryData, not to plain data")
        return self

    @property
    def metadata(self) -> dict[str, MetadataValue]:
        return dict(self.__pydantic_extra__ or {})

    def inline_data_size(self) -> int:
        """Bytes of inline content as sent (Base64 text counts as sent)."""
        if self.data is not None:
            return len(self.data.encode())
        if self.compressed_binary_data is not None:
            return len(self.compressed_binary_data)
        return 0

    def permission_count(self) -> int:
        return count_permissions(self.permissions) if self.permissions else 0

    def is_public(self) -> bool:
        return self.permissions is not None and is_public(self.permissions)

    def permission_model(self) -> list[PermissionLevel] | list[PermissionSet]:
        return self.permissions or []


class BatchDelete(CoveoModel):
    document_id: str = Field(min_length=1)
    delete_children: bool = False


class ItemBatchBody(CoveoModel):
    """The content of a file container pushed with `PUT .../documents/batch`."""

    add_or_update: list[ItemBody] = Field(default_factory=list)
    delete: list[BatchDelete] = Field(default_factory=list)

    @model_validator(mode="after")
    def _batch_items_have_ids(self) -> Self:
        for index, item in enumerate(self.add_or_update):
            if not item.document_id:
                raise ValueError(f"addOrUpdate[{index}] has no documentId; every batch item needs one")
        return self
