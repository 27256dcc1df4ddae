"""Deployment configuration, read from the environment once per cold start; fails fast and clearly."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..domain.pipeline import PipelineSettings
from ..domain.sync import SyncSettings
from ..domain.validator import ValidatorSettings

_D = TypeVar("_D")


def _default(settings: type[Any], name: str) -> Any:
    """The domain's own default for one of its settings: stated there, once."""
    return next(f.default for f in dataclasses.fields(settings) if f.name == name)


class ConfigurationError(Exception):
    """The function cannot run with this environment; the message names each variable to fix."""


class ConnectorSettings(BaseModel):
    """What the environment configures. A field named as a field of the domain's settings
    (`PipelineSettings`, `ValidatorSettings`) flows into it (`domain`), with the domain's default."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    organization_id: str = Field(alias="COVEO_ORGANIZATION_ID", min_length=1)
    source_id: str = Field(alias="COVEO_SOURCE_ID", min_length=1)
    provider_id: str = Field(alias="COVEO_PROVIDER_ID", min_length=1)
    region: Literal["us", "ca", "eu", "au"] = Field(default="us", alias="COVEO_REGION")
    base_url: str | None = Field(default=None, alias="COVEO_BASE_URL")  # the local emulator
    api_key_secret: str = Field(alias="COVEO_API_KEY_SECRET", min_length=1)  # a Secrets Manager name or ARN
    ledger_table: str = Field(alias="LEDGER_TABLE", min_length=1)
    # Where the ledger keeps what it records of each accepted change (one object per batch).
    ledger_bucket: str = Field(alias="LEDGER_BUCKET", min_length=1)
    item_dead_letter_queue_url: str = Field(alias="ITEM_DEAD_LETTER_QUEUE_URL", min_length=1)
    identity_dead_letter_queue_url: str = Field(alias="IDENTITY_DEAD_LETTER_QUEUE_URL", min_length=1)
    max_container_bytes: int | None = Field(default=None, alias="MAX_CONTAINER_BYTES", ge=1024)
    # --- flowing into the domain's settings ---
    allow_public_items: bool = Field(
        default=_default(PipelineSettings, "allow_public_items"), alias="ALLOW_PUBLIC_ITEMS"
    )
    max_permissions: int = Field(
        default=_default(PipelineSettings, "max_permissions"),
        alias="MAX_PERMISSIONS_PER_ITEM",
        ge=1,
        le=5_000,
    )
    alias_providers: frozenset[str] = Field(
        default=_default(PipelineSettings, "alias_providers"), alias="ALIAS_PROVIDERS"
    )
    default_alias_provider: str | None = Field(
        default=_default(PipelineSettings, "default_alias_provider"), alias="DEFAULT_ALIAS_PROVIDER"
    )
    safety_margin_s: float = Field(
        default=_default(PipelineSettings, "safety_margin_s"), alias="SAFETY_MARGIN_SECONDS", ge=0
    )
    ledger_ttl_days: int = Field(
        default=_default(PipelineSettings, "ledger_ttl_days"), alias="LEDGER_TTL_DAYS", ge=1
    )
    # 1: each claim is its own conditional write; 2 to 100 (DynamoDB's limit): claims in transactions.
    claims_per_transaction: int = Field(default=100, alias="LEDGER_CLAIMS_PER_TRANSACTION", ge=1, le=100)
    # The source queues' maxReceiveCount (the template sets both from one parameter).
    max_receive_count: int | None = Field(
        default=_default(PipelineSettings, "max_receive_count"), alias="MAX_RECEIVE_COUNT", ge=1
    )
    processing_delay_s: float = Field(
        default=_default(ValidatorSettings, "processing_delay_s"), alias="PROCESSING_DELAY_SECONDS", ge=0
    )
    deadline_s: float = Field(
        default=_default(ValidatorSettings, "deadline_s"), alias="VALIDATION_DEADLINE_SECONDS", gt=0
    )
    max_repushes: int = Field(default=_default(ValidatorSettings, "max_repushes"), alias="MAX_REPUSHES", ge=0)
    permission_sample: int = Field(
        default=_default(ValidatorSettings, "permission_sample"), alias="PERMISSION_SAMPLE", ge=0
    )
    sync_deadline_s: float = Field(
        default=_default(SyncSettings, "sync_deadline_s"), alias="SYNC_DEADLINE_SECONDS", gt=0
    )
    max_delete_share: float = Field(
        default=_default(SyncSettings, "max_delete_share"), alias="SYNC_MAX_DELETE_SHARE", ge=0, le=1
    )
    sync_queue_delay_minutes: int = Field(
        default=_default(SyncSettings, "sync_queue_delay_minutes"), alias="SYNC_QUEUE_DELAY_MINUTES", ge=0
    )

    @field_validator("alias_providers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("base_url", "default_alias_provider", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def domain(self, settings: type[_D], **given: Any) -> _D:
        """The domain's `settings` (a dataclass), from this model's fields of the same names, plus
        what `given` adds; fields neither names keep the domain's default."""
        names = {f.name for f in dataclasses.fields(settings) if f.init} & set(type(self).model_fields)  # type: ignore[arg-type]
        return settings(**{name: getattr(self, name) for name in names - set(given)}, **given)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ConnectorSettings:
        try:
            return cls.model_validate(dict(env))
        except ValidationError as exc:
            problems = []
            for error in exc.errors(include_url=False):
                name = str(error["loc"][0]) if error["loc"] else "?"
                problems.append(f"{name}: {'is not set' if error['type'] == 'missing' else error['msg']}")
            raise ConfigurationError("invalid connector configuration: " + "; ".join(problems)) from None
