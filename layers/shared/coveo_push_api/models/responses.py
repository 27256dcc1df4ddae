"""Bodies Coveo sends back, and the requests of the read APIs (Logs, index permissions, security cache)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from ._base import CoveoModel, CoveoResponse


class FileContainer(CoveoResponse):
    """`POST /files`: where to upload, under which id, with exactly which headers."""

    upload_uri: str
    file_id: str
    required_headers: dict[str, str] = Field(default_factory=dict)


class CoveoErrorBody(CoveoResponse):
    """Coveo's error body; both fields are sometimes absent (e.g. `{"message": "Forbidden"}`)."""

    error_code: str | None = None
    message: str | None = None


class SourceStatus(StrEnum):
    INCREMENTAL = "INCREMENTAL"
    REFRESH = "REFRESH"
    REBUILD = "REBUILD"
    IDLE = "IDLE"


# --- Logs API -------------------------------------------------------------------------------------


class LogOperation(StrEnum):
    ADD = "ADD"
    ADD_BY_REFERENCE = "ADD_BY_REFERENCE"
    BATCH_FILE = "BATCH_FILE"
    DELETE = "DELETE"
    DELETE_AND_CHILDREN = "DELETE_AND_CHILDREN"
    DELETE_OLDER_THAN = "DELETE_OLDER_THAN"
    UPDATE = "UPDATE"


class LogResult(StrEnum):
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    REJECTED = "REJECTED"
    SKIPPED = "SKIPPED"
    WARNING = "WARNING"


class LogTask(StrEnum):
    CONSUMING = "CONSUMING"
    CONSUMING_BATCH = "CONSUMING_BATCH"
    CRAWLING = "CRAWLING"
    STREAMING_EXTENSION = "STREAMING_EXTENSION"
    EXTENSION = "EXTENSION"
    INDEXING = "INDEXING"
    MAPPING = "MAPPING"
    PROCESSING = "PROCESSING"
    STREAMING = "STREAMING"
    STREAMING_BATCH = "STREAMING_BATCH"
    PREINDEXING = "PREINDEXING"
    VALIDATION = "VALIDATION"


class DocumentIdMatching(StrEnum):
    EXACT = "EXACT"
    PARTIAL = "PARTIAL"
    WILDCARD = "WILDCARD"


class LogsRequest(CoveoModel):
    """Body of `POST /logs/v1/organizations/{org}` (include lists win over exclude lists)."""

    # Built by our own code, never from upstream input: enum names may be given as strings.
    model_config = ConfigDict(strict=False)

    # The spec spells the include key `sourcesIds`; the alias keeps that spelling on the wire.
    sources_ids: list[str] | None = Field(default=None, alias="sourcesIds")
    operations: list[LogOperation] | None = None
    results: list[LogResult] | None = None
    tasks: list[LogTask] | None = None
    resource_ids: list[str] | None = None
    exclude_source_ids: list[str] | None = None
    exclude_operations: list[LogOperation] | None = None
    exclude_results: list[LogResult] | None = None
    exclude_tasks: list[LogTask] | None = None
    exclude_resource_ids: list[str] | None = None


class LogEntry(CoveoResponse):
    datetime: datetime
    id: str | None = None  # the item's documentId
    guid: str | None = None
    operation: str | None = None
    result: str | None = None
    task: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    organization_id: str | None = None
    source_id: str | None = None
    request_id: str | None = None
    resource_id: str | None = None

    @field_validator("datetime")
    @classmethod
    def _in_utc(cls, value: Any) -> Any:
        # Coveo's times are UTC whether they say so or not: a time without an offset is made aware, so
        # it compares with the validator's (a naive one would stop the whole run with a TypeError).
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    def reason(self) -> str | None:
        """The human-readable reason Coveo gives in `meta`, where it gives one."""
        for key in ("error", "reason", "message", "errorMessage", "warning"):
            value = self.meta.get(key)
            if value:
                return str(value)
        return None


class LogsResponse(CoveoResponse):
    document_log_entries: list[LogEntry] = Field(default_factory=list)
    has_next_page: bool = False


# --- Index permissions ----------------------------------------------------------------------------


class PermissionState(StrEnum):
    VALID = "VALID"
    PENDING = "PENDING"
    INCOMPLETE = "INCOMPLETE"
    IN_ERROR = "IN_ERROR"
    WARNING = "WARNING"
    UNKNOWN = "UNKNOWN"


class SinglePermission(CoveoResponse):
    allowed: bool | None = None
    identity: str
    identity_type: str | None = None
    security_provider: str | None = None
    additional_info: dict[str, str] | None = None
    last_update_date: int | str | None = None
    last_update_result: str | None = None
    last_update_error_detail: str | None = None
    state: str | None = None


class IndexedPermissionSet(CoveoResponse):
    name: str | None = None
    anonymous_allowed: bool = False
    permissions: list[SinglePermission] = Field(default_factory=list)


class IndexedPermissionLevel(CoveoResponse):
    name: str | None = None
    permission_sets: list[IndexedPermissionSet] = Field(default_factory=list)


class DocumentPermissionModel(CoveoResponse):
    """`GET .../indexes/{indexId}/documents/{documentId}/permissions`."""

    state: PermissionState | str = PermissionState.UNKNOWN
    last_updated_date: int | str | None = None
    permission_levels: list[IndexedPermissionLevel] = Field(default_factory=list)
    permission_model_state_root_cause_model: dict[str, Any] | None = None


class EffectivePermissionsPage(CoveoResponse):
    """`GET .../permissions/effective`: the model expanded to users, one page."""

    items: list[SinglePermission] = Field(default_factory=list)
    total_entries: int = 0
    total_pages: int = 0
    anonymous_allowed: bool = False


# --- Security cache -------------------------------------------------------------------------------


class SecurityCacheState(StrEnum):
    UNKNOWN = "UNKNOWN"
    UP_TO_DATE = "UP_TO_DATE"
    NOT_UPDATED = "NOT_UPDATED"
    OUT_OF_DATE = "OUT_OF_DATE"
    IN_ERROR = "IN_ERROR"
    DISABLED = "DISABLED"


class SecurityCacheEntityRequest(CoveoModel):
    """Body of `POST /rest/organizations/{org}/securitycache/entities/{providerId}/entity`."""

    name: str
    type: str  # the security cache spells types `User`, `Group`, `VirtualGroup`, `Unknown`
    provider: str
    infos: list[dict[str, str]] = Field(default_factory=list)


class SecurityCacheEntity(CoveoResponse):
    name: str | None = None
    type: str | None = None
    provider: str | None = None
    state: SecurityCacheState | str = SecurityCacheState.UNKNOWN
    last_update_date: int | str | None = None
    last_update_result: str | None = None
    last_update_error_detail: str | None = None


class SecurityCacheMembersPage(CoveoResponse):
    """`POST .../securitycache/entities/{providerId}/members/children`: an identity's members, one page."""

    items: list[SecurityCacheEntity] = Field(default_factory=list)
    total_entries: int = 0
    total_pages: int = 0
