"""What the contract tier checks Coveo traffic against: our condensed description of the Coveo routes
we use (always), and Coveo's published OpenAPI specs (when they are beside the checkout).

`coveo_push_subset.json`, next to this module, is the project's own condensed description: for each
route the client calls or the emulator serves, its method, its query parameters (name, type, format,
enum, minimum, whether required, how an array is serialized) and the definition of its request body;
the body definitions themselves (the spec's schemas, restricted to the ones our bodies use, without
the prose); and for the two counts the client reads, the type of the field it reads. Its header names
the published files and the versions it was condensed from. Every check runs against it, so the tier
runs for anyone who clones the project.

The published specs (Swagger 2.0 for Push and Source Logs, OpenAPI 3 for Source and Security Cache)
live outside the repository (see `SPEC_DIR`). When they are there, the same checks run against them
too (`SPEC_SOURCES`), and test_subset_agrees_with_the_published_spec checks that the condensed
description says exactly what they say, so it cannot drift.

Body checks apply, on either source, the same deliberate relaxations and tightenings:
- `$ref`s point at `#/definitions/...` (OpenAPI 3's `#/components/schemas/...` is rewritten so);
- `$ref`s carry sibling `description`s and a few schemas hold non-schema keys (vendor `x-*`, a stray
  `requestId`); JSON Schema ignores both;
- `format: int32/int64` are not JSON Schema formats; no format checker is used;
- the specs declare no `required` properties and leave every object open, so a misspelt key would
  pass: `_push_definitions` (and `_closed`) close the models our bodies use and require their
  essential fields.
We validate with Draft 7 (a superset of what the specs use) for `if`/`then`/`else`, which gives
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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = Path(
    os.environ.get("COVEO_OPENAPI_DIR") or REPO_ROOT.parent / "shared" / "reference" / "coveo-openapi"
)
SUBSET_FILE = Path(__file__).with_name("coveo_push_subset.json")

PUSH_SPEC_FILE = "coveo-push.yml"
LOGS_SPEC_FILE = "coveo-source-logs.yml"
SOURCE_SPEC_FILE = "coveo-source.yml"
SECURITY_CACHE_SPEC_FILE = "coveo-security-cache.yml"
LOGS_REQUEST = "GetLogsOrFacetsRequestBodyModel"
CACHE_MEMBER = "SecurityCacheMemberModel"

# The APIs, the published file describing each, and where its spec's paths sit under the one base URL
# the client (Endpoints.from_base_url) and the emulator share.
APIS: dict[str, tuple[str, str]] = {
    "push": (PUSH_SPEC_FILE, "/push/v1"),
    "logs": (LOGS_SPEC_FILE, "/logs/v1"),
    "source": (SOURCE_SPEC_FILE, ""),
    "securityCache": (SECURITY_CACHE_SPEC_FILE, ""),
}

SUBSET = "subset"
PUBLISHED = "published"

requires_spec = pytest.mark.skipif(
    not all((SPEC_DIR / name).is_file() for name in (PUSH_SPEC_FILE, LOGS_SPEC_FILE)),
    reason=f"Coveo OpenAPI specs not found at {SPEC_DIR}; set COVEO_OPENAPI_DIR",
)
requires_platform_specs = pytest.mark.skipif(
    not all((SPEC_DIR / name).is_file() for name in (SOURCE_SPEC_FILE, SECURITY_CACHE_SPEC_FILE)),
    reason=f"Coveo's Source and Security Cache OpenAPI specs not found at {SPEC_DIR}; set COVEO_OPENAPI_DIR",
)
requires_all_specs = pytest.mark.skipif(
    not all((SPEC_DIR / name).is_file() for name, _ in APIS.values()),
    reason=f"Coveo OpenAPI specs not found at {SPEC_DIR}; set COVEO_OPENAPI_DIR",
)

# Parametrize a test with this to run it on the condensed description always, and on the published
# specs when they are present (skipped, with the reason, when not).
SPEC_SOURCES = [
    pytest.param(SUBSET, id="subset"),
    pytest.param(PUBLISHED, id="published", marks=requires_all_specs),
]

_DATA_KEYS = ("data", "compressedBinaryData", "compressedBinaryDataFileId")
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


class SpecViolationError(AssertionError):
    """A body does not validate; `errors` holds one "<JSON path>: <message>" per violation."""

    def __init__(self, what: str, errors: list[str]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {error}" for error in errors)
        super().__init__(f"{what} violates Coveo's spec ({len(errors)} error(s)):\n{lines}")


# --- loading -------------------------------------------------------------------------------------


@functools.cache
def load_subset() -> dict[str, Any]:
    """The condensed description (shared and cached: do not mutate)."""
    with SUBSET_FILE.open(encoding="utf-8") as stream:
        subset: dict[str, Any] = json.load(stream)
    return subset


def _read_yaml(name: str) -> dict[str, Any]:
    path = SPEC_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"Coveo OpenAPI spec not found at {path}; set COVEO_OPENAPI_DIR")
    with path.open(encoding="utf-8") as stream:
        spec: dict[str, Any] = yaml.safe_load(stream)
    return spec


@functools.cache
def _load_swagger2(name: str) -> dict[str, Any]:
    spec = _read_yaml(name)
    # Everything below relies on Swagger 2.0's `definitions` and `#/definitions/...` refs.
    if spec.get("swagger") != "2.0":
        raise ValueError(f"{SPEC_DIR / name}: expected a Swagger 2.0 document")
    return spec


def load_push_spec() -> dict[str, Any]:
    """The Push API spec as published (shared and cached: do not mutate)."""
    return _load_swagger2(PUSH_SPEC_FILE)


def load_logs_spec() -> dict[str, Any]:
    """The Source Logs API spec as published (shared and cached: do not mutate)."""
    return _load_swagger2(LOGS_SPEC_FILE)


@functools.cache
def load_openapi3_spec(name: str) -> dict[str, Any]:
    """An OpenAPI 3 spec as published (shared and cached: do not mutate)."""
    spec = _read_yaml(name)
    if not str(spec.get("openapi", "")).startswith("3."):
        raise ValueError(f"{SPEC_DIR / name}: expected an OpenAPI 3 document")
    return spec


def load_published(api: str) -> dict[str, Any]:
    name = APIS[api][0]
    return _load_swagger2(name) if api in ("push", "logs") else load_openapi3_spec(name)


# --- condensing a published spec (what the subset must equal) --------------------------------------

_PROSE_KEYS = ("description", "example", "examples", "title", "summary")


def _condensed(node: Any) -> Any:
    """A schema without prose or vendor keys, its OpenAPI 3 refs spelt as Swagger 2.0's."""
    if isinstance(node, list):
        return [_condensed(value) for value in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _PROSE_KEYS or key.startswith("x-") or key == "requestId":
            continue
        if key == "$ref":
            value = "#/definitions/" + str(value).rsplit("/", 1)[-1]
        # `properties` maps names to schemas: its keys are property names, never prose to drop.
        out[key] = {k: _condensed(v) for k, v in value.items()} if key == "properties" else _condensed(value)
    return out


def _all_definitions(api: str) -> dict[str, Any]:
    spec = load_published(api)
    definitions = spec["definitions"] if "definitions" in spec else spec["components"]["schemas"]
    return dict(definitions)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield str(value).rsplit("/", 1)[-1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def condensed_definitions(api: str, roots: Iterable[str]) -> dict[str, Any]:
    """The published definitions of `roots` and every definition they refer to, condensed."""
    available = _all_definitions(api)
    found: dict[str, Any] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = _condensed(available[name])
        pending += _refs(found[name])
    return dict(sorted(found.items()))


def normalize_parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    """A query parameter in the subset's form, from Swagger 2.0 (type on the parameter) or OpenAPI 3
    (type under `schema`): name, required (only when true), type, format, enum, minimum, maximum,
    default; for an array, its items and whether each element is sent as its own `name=value`."""
    schema = parameter.get("schema") or parameter
    out: dict[str, Any] = {"name": parameter["name"]}
    if parameter.get("required"):
        out["required"] = True
    for key in ("type", "format", "enum", "minimum", "maximum", "default"):
        if key in schema:
            out[key] = schema[key]
    if schema.get("type") == "array":
        out["items"] = _condensed(schema.get("items", {}))
        out["repeated"] = _repeated(parameter)
    return out


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


def published_operation(api: str, method: str, spec_path: str) -> dict[str, Any]:
    """The raw published operation at a path template of the spec."""
    operations = load_published(api)["paths"].get(spec_path, {})
    if method.lower() not in operations:
        raise AssertionError(f"{method} {spec_path} is not a route of {APIS[api][0]}")
    return dict(operations[method.lower()])


def condensed_operation(api: str, method: str, spec_path: str) -> dict[str, Any]:
    """What the subset says of a route, as read from the published spec: its query parameters
    (sorted by name) and its body's definition (None when it takes none)."""
    operation = published_operation(api, method, spec_path)
    parameters = operation.get("parameters", [])
    query = sorted(
        (normalize_parameter(p) for p in parameters if p.get("in") == "query"), key=lambda p: p["name"]
    )
    body: str | None = None
    body_parameters = [p for p in parameters if p.get("in") == "body"]  # Swagger 2.0
    if body_parameters:
        body = body_parameters[0]["schema"]["$ref"].rsplit("/", 1)[-1]
    elif "requestBody" in operation:  # OpenAPI 3
        content = operation["requestBody"]["content"]
        body = next(iter(content.values()))["schema"]["$ref"].rsplit("/", 1)[-1]
    return {"query": query, "body": body}


# --- finding a request's route ---------------------------------------------------------------------


def _template_pattern(template: str) -> str:
    # A documentId in the item permission routes is a path segment of its own (encoded twice).
    return "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"


def subset_operation(method: str, path: str) -> dict[str, Any]:
    """The subset's route for this method and concrete (encoded) path; AssertionError if none."""
    for operation in load_subset()["operations"]:
        if operation["method"] == method and re.match(_template_pattern(operation["path"]), path):
            return dict(operation)
    raise AssertionError(f"{method} {path} is not a route of the condensed description")


def find_operation(spec: dict[str, Any], method: str, path: str, prefix: str = "") -> dict[str, Any]:
    """The operation of a published spec whose path template (after `prefix`) matches this
    concrete, encoded path."""
    relative = path.removeprefix(prefix)
    for template, operations in spec["paths"].items():
        if re.match(_template_pattern(template), relative) and method.lower() in operations:
            return operations[method.lower()]  # type: ignore[no-any-return]
    raise AssertionError(f"{method} {path} is not a route of the spec")


def route_of(method: str, path: str, source: str = SUBSET) -> dict[str, Any] | None:
    """The route (query parameters, body definition, api) a request must follow, from `source`.

    From the published specs: the spec of the API the path belongs to, found on its own (not through
    the subset's pointer); None for the routes the subset documents from Coveo's documentation
    because no published spec we hold has them (`spec: null`)."""
    ours = subset_operation(method, path)
    if source == SUBSET:
        return {"api": ours["api"], "query": ours["query"], "body": ours["body"]}
    if ours["spec"] is None:
        return None
    api = ours["api"]
    spec = load_published(api)
    relative = path.removeprefix(APIS[api][1])
    for template in spec["paths"]:
        if re.match(_template_pattern(template), relative) and method.lower() in spec["paths"][template]:
            return {"api": api, **condensed_operation(api, method, template)}
    raise AssertionError(f"{method} {path} is not a route of {APIS[api][0]}")


# --- body definitions, with our relaxations and tightenings ----------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _array_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _definitions(api: str, source: str) -> dict[str, Any]:
    if source == SUBSET:
        return copy.deepcopy(load_subset()["definitions"][api])
    return {name: _condensed(schema) for name, schema in _all_definitions(api).items()}


def _compression_types(source: str) -> list[str]:
    """The single push's compressionType values: in a batch they travel in the body (§3.1)."""
    path = "/push/v1/organizations/{organizationId}/sources/{sourceId}/documents"
    route = route_of("PUT", path, source)
    assert route is not None
    [parameter] = [p for p in route["query"] if p["name"] == "compressionType"]
    return list(parameter["enum"])


@functools.cache
def _push_definitions(source: str = SUBSET) -> dict[str, Any]:
    defs = _definitions("push", source)
    compression_types = _compression_types(source)

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
                                        "enum": compression_types,
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
    return defs


def _closed(definitions: dict[str, Any], name: str, required: list[str]) -> dict[str, Any]:
    definitions[name].setdefault("additionalProperties", False)
    if required:
        definitions[name]["required"] = sorted({*definitions[name].get("required", []), *required})
    return definitions


@functools.cache
def _definitions_of(api: str, source: str) -> dict[str, Any]:
    if api == "push":
        return _push_definitions(source)
    definitions = _definitions(api, source)
    if api == "logs":
        # Tightening: closed. An unknown filter key is silently ignored by the service, which then
        # returns unfiltered logs. Keep the spec's `sourcesIds` (sic, as in DOC-59): platform-client's
        # `sourceIds` is not accepted here (§6.1, §10.9).
        return _closed(definitions, LOGS_REQUEST, [])
    if api == "securityCache":
        # Tightening: closed, and an entity is named by its name and type (the provider is the path's).
        return _closed(definitions, CACHE_MEMBER, ["name", "type"])
    return definitions


def _validator(definitions: dict[str, Any], name: str) -> Draft7Validator:
    if name not in definitions:
        raise KeyError(f"unknown definition {name!r}; known: {', '.join(sorted(definitions))}")
    schema = {"definitions": definitions, "allOf": [_ref(name)]}
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@functools.cache
def _body_validator(api: str, definition: str, source: str) -> Draft7Validator:
    return _validator(_definitions_of(api, source), definition)


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


def body_errors(api: str, definition: str, body: object, source: str = SUBSET) -> list[str]:
    """Every violation of an API's `definition` by `body`, as "<JSON path>: <message>", by path."""
    return _errors(_body_validator(api, definition, source), body)


def push_body_errors(definition: str, body: object, source: str = SUBSET) -> list[str]:
    """Every violation of `definition` by `body`, as "<JSON path>: <message>", sorted by path."""
    return body_errors("push", definition, body, source)


def validate_push_body(definition: str, body: object, source: str = SUBSET) -> None:
    """Raise `SpecViolationError` (an AssertionError) listing every violation of a Push API definition.

    Definitions: the spec's (DocumentBody, PermissionSetsModel, PermissionIdentityModel, Identity,
    IdentityBody, MappedIdentity, MappedIdentityBody, BaseIdentityBody, ...) plus the documented shapes
    it lacks: PermissionLevelModel, Permissions (an item's `permissions` array), BatchDocumentBody,
    BatchIdentityBody.
    """
    errors = push_body_errors(definition, body, source)
    if errors:
        raise SpecViolationError(definition, errors)


def logs_request_errors(body: object, source: str = SUBSET) -> list[str]:
    """Every violation of the Logs API request body (GetLogsOrFacetsRequestBodyModel), sorted by path."""
    return body_errors("logs", LOGS_REQUEST, body, source)


def validate_logs_request(body: object, source: str = SUBSET) -> None:
    """Raise `SpecViolationError` listing every violation of the Logs API request body."""
    errors = logs_request_errors(body, source)
    if errors:
        raise SpecViolationError(LOGS_REQUEST, errors)


# --- query parameters ----------------------------------------------------------------------------


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


def query_errors(parameters: list[dict[str, Any]], params: Any) -> list[str]:
    """Every way the query (an `httpx.QueryParams`: its names, and `get_list()` per name) breaks
    the documented query parameters (in the subset's form: `normalize_parameter`).

    An array parameter is expected as its spec serializes it (`repeated`: one `name=value` per
    element, else comma-joined). Each element is checked against the items' schema, so an array
    sent comma-joined where the spec repeats it is reported as the unknown enum value it is.
    """
    documented = {p["name"]: p for p in parameters}
    errors = [f"{name}: not a documented query parameter" for name in params if name not in documented]
    for name, parameter in documented.items():
        values = list(params.get_list(name))
        if not values:
            if parameter.get("required"):
                errors.append(f"{name}: required and missing")
            continue
        if parameter.get("type") == "array":
            if parameter["repeated"]:
                elements = values
            elif len(values) > 1:
                errors.append(f"{name}: sent {len(values)} times; the spec joins the elements with commas")
                continue
            else:
                elements = values[0].split(",")
            for value in elements:
                errors += _scalar_errors(name, parameter.get("items", {}), value)
            continue
        if len(values) > 1:
            errors.append(f"{name}: sent {len(values)} times")
        errors += _scalar_errors(name, parameter, values[0])
    return errors


# --- a whole request -----------------------------------------------------------------------------


def check_request(request: httpx.Request, source: str = SUBSET) -> str | None:
    """Assert a request to Coveo follows its route in `source`: a documented method and path, its
    query parameters (names, required ones, values), and its body (the definition's, or none).
    Returns the body's definition (None: no body, or a route no published spec we hold has)."""
    route = route_of(request.method, request.url.path, source)
    if route is None:
        return None
    errors = query_errors(route["query"], request.url.params)
    assert errors == [], f"{request.method} {request.url}: {errors}"
    definition: str | None = route["body"]
    if definition is None:
        assert request.content == b"", f"{request.method} {request.url.path} takes no body"
        return None
    errors = body_errors(route["api"], definition, json.loads(request.content), source)
    if errors:
        raise SpecViolationError(f"{request.method} {request.url.path}: {definition}", errors)
    return definition


# --- responses: what the client reads --------------------------------------------------------------


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


def read_field(method: str, path: str, field: str, source: str = SUBSET) -> dict[str, Any]:
    """The type (and format) of a response field the client reads, from `source`."""
    ours = subset_operation(method, path)
    if source == SUBSET:
        return dict(ours["reads"][field])
    api, pointer = ours["api"], ours["spec"]
    operation = published_operation(api, method, pointer["path"])
    found = schema_at(load_published(api), response_schema(operation), field)
    return {key: found[key] for key in ("type", "format") if key in found}
