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
import re
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


# --- query parameters and the platform specs (OpenAPI 3) -----------------------------------------
#
# The full-sync calls go beyond the Push spec: the source's size comes from the Source API
# (coveo-source.yml, getSource) and the provider's from the Security Cache API
# (coveo-security-cache.yml, getEntities). Both are OpenAPI 3.0 documents (`components/schemas`,
# parameters with a `schema`), loaded apart from the Swagger 2.0 ones above. Requests are checked
# on their route, their query parameters (names, required ones, and each value against the
# parameter's type, format, minimum and enum) and on the absence of a body.

SOURCE_SPEC_FILE = "coveo-source.yml"
SECURITY_CACHE_SPEC_FILE = "coveo-security-cache.yml"

requires_platform_specs = pytest.mark.skipif(
    not all((SPEC_DIR / name).is_file() for name in (SOURCE_SPEC_FILE, SECURITY_CACHE_SPEC_FILE)),
    reason=f"Coveo's Source and Security Cache OpenAPI specs not found at {SPEC_DIR}; set COVEO_OPENAPI_DIR",
)

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


@functools.cache
def load_openapi3_spec(name: str) -> dict[str, Any]:
    """An OpenAPI 3 spec as published (shared and cached: do not mutate)."""
    path = SPEC_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"Coveo OpenAPI spec not found at {path}; set COVEO_OPENAPI_DIR")
    with path.open(encoding="utf-8") as stream:
        spec: dict[str, Any] = yaml.safe_load(stream)
    if not str(spec.get("openapi", "")).startswith("3."):
        raise ValueError(f"{path}: expected an OpenAPI 3 document")
    return spec


def find_operation(spec: dict[str, Any], method: str, path: str, prefix: str = "") -> dict[str, Any]:
    """The operation whose path template (after `prefix`) matches this concrete, encoded path."""
    relative = path.removeprefix(prefix)
    for template, operations in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, relative) and method.lower() in operations:
            return operations[method.lower()]  # type: ignore[no-any-return]
    raise AssertionError(f"{method} {path} is not a route of the spec")


def _parameter_schema(parameter: dict[str, Any]) -> dict[str, Any]:
    # OpenAPI 3 nests the type under `schema`; Swagger 2.0 puts it on the parameter itself.
    return dict(parameter.get("schema") or parameter)


def _scalar_errors(name: str, schema: dict[str, Any], value: str) -> list[str]:
    kind = schema.get("type", "string")
    errors: list[str] = []
    if kind == "integer":
        if not re.fullmatch(r"-?[0-9]+", value):
            return [f"{name}={value!r}: not an integer"]
        number = int(value)
        low, high = _INT_RANGES.get(schema.get("format", "int64"), _INT_RANGES["int64"])
        if not low <= number <= high:
            errors.append(f"{name}={value!r}: outside {schema.get('format', 'int64')}")
        if "minimum" in schema and number < schema["minimum"]:
            errors.append(f"{name}={value!r}: below the minimum {schema['minimum']}")
    elif kind == "boolean" and value not in ("true", "false"):
        errors.append(f"{name}={value!r}: not a boolean")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{name}={value!r}: not one of {schema['enum']}")
    return errors


def _repeated(parameter: dict[str, Any]) -> bool:
    """Whether an array query parameter is serialized as one `name=value` per element."""
    if "schema" in parameter:  # OpenAPI 3: style form (the default) explodes by default
        style = parameter.get("style", "form")
        if style != "form":
            raise NotImplementedError(f"{parameter['name']}: style {style!r} is not checked")
        return bool(parameter.get("explode", True))
    collection = parameter.get("collectionFormat", "csv")  # Swagger 2.0's default is csv
    if collection not in ("csv", "multi"):
        raise NotImplementedError(f"{parameter['name']}: collectionFormat {collection!r} is not checked")
    return bool(collection == "multi")


def query_errors(operation: dict[str, Any], params: Any) -> list[str]:
    """Every way the query (an `httpx.QueryParams`: its names, and `get_list()` per name) breaks
    the operation's documented query parameters.

    An array parameter is expected as its spec serializes it: in OpenAPI 3 `style: form` with
    `explode: true` by default (one `name=value` per element), in Swagger 2.0 `collectionFormat`
    `csv` by default or `multi`. Each element is checked against the items' schema, so an array
    sent comma-joined where the spec repeats it is reported as the unknown enum value it is.
    """
    documented = {p["name"]: p for p in operation.get("parameters", []) if p.get("in") == "query"}
    errors = [f"{name}: not a documented query parameter" for name in params if name not in documented]
    for name, parameter in documented.items():
        values = list(params.get_list(name))
        if not values:
            if parameter.get("required"):
                errors.append(f"{name}: required and missing")
            continue
        schema = _parameter_schema(parameter)
        if schema.get("type") == "array":
            if _repeated(parameter):
                elements = values
            elif len(values) > 1:
                errors.append(f"{name}: sent {len(values)} times; the spec joins the elements with commas")
                continue
            else:
                elements = values[0].split(",")
            for value in elements:
                errors += _scalar_errors(name, schema.get("items", {}), value)
            continue
        if len(values) > 1:
            errors.append(f"{name}: sent {len(values)} times")
        errors += _scalar_errors(name, schema, values[0])
    return errors


def schema_at(spec: dict[str, Any], schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The schema of the property at dotted `path` inside `schema`, following `$ref`, `allOf` and
    `oneOf` (the first alternative that has the property). AssertionError if no branch has it."""

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def find(node: dict[str, Any], key: str) -> dict[str, Any] | None:
        node = resolve(node)
        if key in node.get("properties", {}):
            return resolve(node["properties"][key])
        for branch in (*node.get("allOf", ()), *node.get("oneOf", ())):
            found = find(branch, key)
            if found is not None:
                return found
        return None

    node = schema
    for key in path.split("."):
        found = find(node, key)
        assert found is not None, f"{path}: no property {key!r} in the spec's schema"
        node = found
    return node


def response_schema(operation: dict[str, Any], status: str = "200") -> dict[str, Any]:
    """An OpenAPI 3 operation's response schema (whatever its media type)."""
    content = operation["responses"][status]["content"]
    return dict(next(iter(content.values()))["schema"])
