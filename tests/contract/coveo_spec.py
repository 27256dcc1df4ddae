"""Validate request bodies against Coveo's published Push and Source Logs specs (Swagger 2.0).

Contract tests use this to assert "this body validates against Coveo's spec". The specs live outside
the repository (see `SPEC_DIR`); tests marked `@requires_spec` skip when they are absent.

Swagger 2.0 definitions are close to JSON Schema draft 4. The differences met here:
- `$ref`s point at `#/definitions/...` of the Swagger document, so every schema we validate with is
  `{"definitions": <all definitions>, "allOf": [{"$ref": ...}]}`;
- `$ref`s carry sibling `description`s, and a few schemas hold non-schema keys (vendor `x-*`, a stray
  `requestId`); JSON Schema ignores both, which is what we want;
- `format: int32/int64` are not JSON Schema formats; no format checker is used;
- the spec declares no `required` properties and leaves every object open, so a misspelt key would
  pass: `_push_definitions` closes the models our bodies use and requires their essential fields.
We validate with Draft 7 (a superset of what the spec uses) for `if`/`then`/`else`, which gives
precise error paths where a permission array mixes sets and levels.

References like "§3.6" point at ../shared/reference/coveo-push-api.md.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = Path(
    os.environ.get("COVEO_OPENAPI_DIR") or REPO_ROOT.parent / "shared" / "reference" / "coveo-openapi"
)
PUSH_SPEC_FILE = "coveo-push.yml"
LOGS_SPEC_FILE = "coveo-source-logs.yml"
LOGS_REQUEST = "GetLogsOrFacetsRequestBodyModel"

requires_spec = pytest.mark.skipif(
    not all((SPEC_DIR / name).is_file() for name in (PUSH_SPEC_FILE, LOGS_SPEC_FILE)),
    reason=f"Coveo OpenAPI specs not found at {SPEC_DIR}; set COVEO_OPENAPI_DIR",
)

_DATA_KEYS = ("data", "compressedBinaryData", "compressedBinaryDataFileId")


class SpecViolationError(AssertionError):
    """A body does not validate; `errors` holds one "<JSON path>: <message>" per violation."""

    def __init__(self, what: str, errors: list[str]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {error}" for error in errors)
        super().__init__(f"{what} violates Coveo's spec ({len(errors)} error(s)):\n{lines}")


def _load(name: str) -> dict[str, Any]:
    path = SPEC_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"Coveo OpenAPI spec not found at {path}; set COVEO_OPENAPI_DIR")
    with path.open(encoding="utf-8") as stream:
        spec: dict[str, Any] = yaml.safe_load(stream)
    # Everything below relies on Swagger 2.0's `definitions` and `#/definitions/...` refs.
    if spec.get("swagger") != "2.0":
        raise ValueError(f"{path}: expected a Swagger 2.0 document")
    return spec


@functools.cache
def load_push_spec() -> dict[str, Any]:
    """The Push API spec as published (shared and cached: do not mutate)."""
    return _load(PUSH_SPEC_FILE)


@functools.cache
def load_logs_spec() -> dict[str, Any]:
    """The Source Logs API spec as published (shared and cached: do not mutate)."""
    return _load(LOGS_SPEC_FILE)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _array_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _query_enum(spec: dict[str, Any], parameter: str) -> list[str]:
    """The enum of a query parameter, wherever the spec declares it first."""
    for operations in spec["paths"].values():
        for operation in operations.values():
            for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if param.get("name") == parameter and param.get("in") == "query" and "enum" in param:
                    return list(param["enum"])
    raise KeyError(f"query parameter {parameter!r} with an enum not found in the spec")


@functools.cache
def _push_definitions() -> dict[str, Any]:
    spec = load_push_spec()
    defs: dict[str, Any] = copy.deepcopy(spec["definitions"])

    # Relaxation: identity types. The spec spells Identity.type USER/GROUP/VIRTUAL_GROUP/UNKNOWN but
    # PermissionIdentityModel.identityType User/Group/VirtualGroup/Unknown; the docs use either spelling
    # for both and the official clients send both (§3.6, §10.1). Accept exactly these two documented
    # spellings everywhere a type appears; any other value (or casing, e.g. "user") still fails.
    identity_types = defs["Identity"]["properties"]["type"]["enum"]
    permission_types = defs["PermissionIdentityModel"]["properties"]["identityType"]["enum"]
    both_spellings = list(dict.fromkeys(identity_types + permission_types))
    defs["Identity"]["properties"]["type"]["enum"] = both_spellings
    defs["MappedIdentity"]["properties"]["type"]["enum"] = both_spellings
    defs["PermissionIdentityModel"]["properties"]["identityType"]["enum"] = both_spellings

    # Not in this spec's PermissionIdentityModel but documented for it (§3.3); typed as on Identity.
    defs["PermissionIdentityModel"]["properties"].setdefault(
        "additionalInfo", copy.deepcopy(defs["Identity"]["properties"]["additionalInfo"])
    )

    # Tightening: the spec leaves every model open and requires nothing, so a misspelt key ("member")
    # or a forgotten field would pass while Coveo ignores or rejects it. Close the models our bodies
    # use and require the fields the documented examples always carry (§2.1, §3.2-3.4): our choice,
    # not Coveo's. Optional by documentation: securityProvider (defaults to the source's provider),
    # MappedIdentity.provider (set by the service when unambiguous), additionalInfo, members,
    # wellKnowns, Result.
    required = {
        "Identity": ["name", "type"],
        "MappedIdentity": ["name", "type"],
        "IdentityBody": ["identity"],
        "MappedIdentityBody": ["identity", "mappings"],
        "BaseIdentityBody": ["identity"],
        "PermissionIdentityModel": ["identity", "identityType"],
        "PermissionSetsModel": [],
        "EntityUpdateResult": [],
    }
    for name, fields in required.items():
        defs[name].setdefault("additionalProperties", False)
        if fields:
            defs[name]["required"] = sorted({*defs[name].get("required", []), *fields})

    # Complete permission model (§3.2, DOC-25/1526): levels holding named permission sets. Not in the
    # spec. Like the official JS client, an element with `permissionSets` is a level, else a set.
    named_set = copy.deepcopy(defs["PermissionSetsModel"])
    named_set["properties"]["name"] = {"type": "string"}
    defs.setdefault(
        "PermissionLevelModel",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["permissionSets"],
            "properties": {
                "name": {"type": "string"},
                "permissionSets": {"type": "array", "items": named_set},
            },
        },
    )
    defs.setdefault(
        "Permissions",
        {
            "type": "array",
            "items": {
                "if": {"type": "object", "required": ["permissionSets"]},
                "then": _ref("PermissionLevelModel"),
                "else": _ref("PermissionSetsModel"),
            },
        },
    )

    document = defs["DocumentBody"]
    # Relaxation: the spec types metadata (`additionalProperties`) as string, and says itself that other
    # types are supported: any primitive or a flat array of primitives; no objects, no nested arrays
    # (§3.7 DOC-162, §8; "must not contain ... sub-objects", DOC-95). null is not documented: rejected.
    document["additionalProperties"] = {
        "type": ["string", "number", "boolean", "array"],
        "items": {"type": ["string", "number", "boolean"]},
    }
    # Reserved key, optional in a single push (must match the query parameter), required in a batch (§3.1).
    document["properties"].setdefault("documentId", {"type": "string"})
    document["properties"]["permissions"] = _ref("Permissions")
    # "you can either use the data, compressedBinaryData, or compressedBinaryDataFileId property" (spec).
    document["allOf"] = [
        {
            "description": f"use at most one of {', '.join(_DATA_KEYS)} (DocumentBody, §3.1)",
            "not": {"anyOf": [{"required": list(pair)} for pair in itertools.combinations(_DATA_KEYS, 2)]},
        }
    ]

    # The spec has no batch bodies (the batch operations take a fileId); build the documented ones
    # (§2.1, DOC-90/DOC-55) from spec definitions. Closed: a misspelt "deletes" would drop deletions.
    defs.setdefault(
        "BatchDocumentBody",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "addOrUpdate": {
                    "type": "array",
                    "items": {
                        "allOf": [
                            _ref("DocumentBody"),
                            # In a batch, documentId is required and compressionType travels in the
                            # body, with the query parameter's (case-sensitive, DOC-164) values.
                            {
                                "required": ["documentId"],
                                "properties": {
                                    "compressionType": {
                                        "type": "string",
                                        "enum": _query_enum(spec, "compressionType"),
                                    }
                                },
                            },
                        ]
                    },
                },
                "delete": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["documentId"],
                        "properties": {
                            "documentId": {"type": "string"},
                            "deleteChildren": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    )
    defs.setdefault(
        "BatchIdentityBody",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "members": _array_of("IdentityBody"),
                "mappings": _array_of("MappedIdentityBody"),
                "deleted": _array_of("BaseIdentityBody"),
            },
        },
    )
    return defs


def _validator(definitions: dict[str, Any], name: str) -> Draft7Validator:
    if name not in definitions:
        raise KeyError(f"unknown definition {name!r}; known: {', '.join(sorted(definitions))}")
    schema = {"definitions": definitions, "allOf": [_ref(name)]}
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@functools.cache
def _push_validator(definition: str) -> Draft7Validator:
    return _validator(_push_definitions(), definition)


@functools.cache
def _logs_validator() -> Draft7Validator:
    defs: dict[str, Any] = copy.deepcopy(load_logs_spec()["definitions"])
    # Tightening: closed. An unknown filter key is silently ignored by the service, which then returns
    # unfiltered logs. Keep the spec's `sourcesIds` (sic, as in DOC-59): platform-client's `sourceIds`
    # is not accepted here (§6.1, §10.9).
    defs[LOGS_REQUEST].setdefault("additionalProperties", False)
    return _validator(defs, LOGS_REQUEST)


def _json_path(parts: Iterable[str | int]) -> str:
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.isidentifier():
            path += f".{part}"
        else:
            path += f"[{json.dumps(part)}]"
    return path


def _describe(error: ValidationError) -> str:
    # A failed `not` reports the whole instance; the schema's description says what is wrong.
    message = error.message
    if error.validator == "not" and isinstance(error.schema, dict) and "description" in error.schema:
        message = str(error.schema["description"])
    if len(message) > 300:
        message = message[:300] + "..."
    return f"{_json_path(error.absolute_path)}: {message}"


def _errors(validator: Draft7Validator, body: object) -> list[str]:
    # Sorted by path, parents first; (0, int) and (1, str) keep mixed path parts comparable.
    def order(error: ValidationError) -> tuple[list[tuple[int, int | str]], str]:
        parts = [(0, part) if isinstance(part, int) else (1, part) for part in error.absolute_path]
        return parts, error.message

    return [_describe(error) for error in sorted(validator.iter_errors(body), key=order)]


def push_body_errors(definition: str, body: object) -> list[str]:
    """Every violation of `definition` by `body`, as "<JSON path>: <message>", sorted by path."""
    return _errors(_push_validator(definition), body)


def validate_push_body(definition: str, body: object) -> None:
    """Raise `SpecViolationError` (an AssertionError) listing every violation of a Push API definition.

    Definitions: the spec's (DocumentBody, PermissionSetsModel, PermissionIdentityModel, Identity,
    IdentityBody, MappedIdentity, MappedIdentityBody, BaseIdentityBody, ...) plus the documented shapes
    it lacks: PermissionLevelModel, Permissions (an item's `permissions` array), BatchDocumentBody,
    BatchIdentityBody.
    """
    errors = push_body_errors(definition, body)
    if errors:
        raise SpecViolationError(definition, errors)


def logs_request_errors(body: object) -> list[str]:
    """Every violation of the Logs API request body (GetLogsOrFacetsRequestBodyModel), sorted by path."""
    return _errors(_logs_validator(), body)


def validate_logs_request(body: object) -> None:
    """Raise `SpecViolationError` listing every violation of the Logs API request body."""
    errors = logs_request_errors(body)
    if errors:
        raise SpecViolationError(LOGS_REQUEST, errors)
