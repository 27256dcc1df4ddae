"""Shared pydantic configuration for Coveo wire models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CoveoModel(BaseModel):
    """A body Coveo documents in camelCase; Python code uses snake_case names.

    Bodies we *send* are closed (`extra="forbid"`): a misspelt key is a bug we want to hear about
    before Coveo silently ignores it. They are strict: a boolean is a boolean, a number a number, a
    string a string. Lax coercion would turn `"allowAnonymous": "yes"` into a public item.
    """

    # defer_build: a model's validator is built on first use, so a function pays only for the
    # models it touches (import time is Lambda cold start).
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        defer_build=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready body as Coveo expects it (camelCase keys, unset optionals left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_wire_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class CoveoResponse(BaseModel):
    """A body Coveo sends us: tolerant of fields we do not know (the service adds fields over time)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", defer_build=True
    )
