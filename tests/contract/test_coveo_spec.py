"""The spec validator itself: the worked example validates, known mistakes are reported with their path.

Bodies are literal JSON (the product's code is not imported): they are what Coveo's "Push API usage
example" sends, per ../shared/DESIGN.md.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from . import coveo_spec
from .coveo_spec import (
    SPEC_SOURCES,
    SUBSET,
    SpecViolationError,
    logs_request_errors,
    push_body_errors,
    validate_logs_request,
    validate_push_body,
)

PROVIDER = "mysecurityidentityprovider8d9s8d"
EMAIL_PROVIDER = "Email Security Provider"

ITEM: dict[str, Any] = {
    "author": "Alice Smith",
    "title": "My text",
    "data": "This is a sample text written by Alice Smith.",
    "fileExtension": ".txt",
    "permissions": [
        {
            "allowAnonymous": False,
            "allowedPermissions": [
                {"identity": "AlphaTeam", "identityType": "Group", "securityProvider": PROVIDER}
            ],
            "deniedPermissions": [
                {"identity": "bob@example.com", "identityType": "User", "securityProvider": EMAIL_PROVIDER}
            ],
        }
    ],
}

GROUP: dict[str, Any] = {
    "identity": {"name": "AlphaTeam", "type": "GROUP"},
    "members": [{"name": member, "type": "USER"} for member in ("alice", "bob", "david")],
}


def alias(user: str) -> dict[str, Any]:
    return {
        "identity": {"name": user, "type": "USER"},
        "mappings": [{"name": f"{user}@example.com", "type": "USER", "provider": EMAIL_PROVIDER}],
    }


IDENTITY_BATCH: dict[str, Any] = {
    "members": [GROUP],
    "mappings": [alias(user) for user in ("alice", "bob", "david")],
    "deleted": [{"identity": {"name": "carol", "type": "USER"}}],
}

DOCUMENT_BATCH: dict[str, Any] = {
    "addOrUpdate": [{**ITEM, "documentId": "file://folder/mytext.txt"}],
    "delete": [{"documentId": "file://folder/old.txt", "deleteChildren": True}],
}

LOGS_REQUEST: dict[str, Any] = {
    "sourcesIds": ["mysourceidg3c5d1r2"],
    "operations": ["BATCH_FILE"],
    "tasks": ["CONSUMING_BATCH"],
    "results": ["COMPLETED", "WARNING"],
}


DELETE = object()


def edited(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A deep copy of body with the value at path replaced (or deleted when value is DELETE)."""
    copied = copy.deepcopy(body)
    *parents, last = path
    target: Any = copied
    for part in parents:
        target = target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return copied


@pytest.mark.contract
@pytest.mark.parametrize("source", SPEC_SOURCES)
@pytest.mark.parametrize(
    ("definition", "body"),
    [
        pytest.param("DocumentBody", ITEM, id="item"),
        pytest.param("IdentityBody", GROUP, id="group-AlphaTeam"),
        pytest.param("MappedIdentityBody", alias("alice"), id="alias-alice"),
        pytest.param(
            "BaseIdentityBody", {"identity": {"name": "carol", "type": "USER"}}, id="delete-identity"
        ),
        pytest.param("BatchIdentityBody", IDENTITY_BATCH, id="identity-batch"),
        pytest.param("BatchDocumentBody", DOCUMENT_BATCH, id="document-batch"),
        pytest.param("Permissions", ITEM["permissions"], id="permissions"),
        pytest.param("PermissionSetsModel", ITEM["permissions"][0], id="permission-set"),
    ],
)
def test_worked_example_validates(definition: str, body: dict[str, Any], source: str) -> None:
    validate_push_body(definition, body, source)


@pytest.mark.contract
@pytest.mark.parametrize("source", SPEC_SOURCES)
@pytest.mark.parametrize(
    ("definition", "body"),
    [
        # Metadata of any primitive type or flat array of primitives (spec says string: relaxed).
        pytest.param(
            "DocumentBody",
            {**ITEM, "size": 42, "rating": 4.5, "draft": False, "tags": ["a", "b"], "mixed": [1, "x", True]},
            id="primitive-metadata",
        ),
        # A public item (DOC-75 example), a single push with documentId in the body, binary data.
        pytest.param(
            "DocumentBody",
            {
                "permissions": [
                    {
                        "allowAnonymous": True,
                        "allowedPermissions": [{"identity": "*@*", "identityType": "User"}],
                    }
                ]
            },
            id="public-item",
        ),
        pytest.param("DocumentBody", {**ITEM, "documentId": "file://folder/mytext.txt"}, id="documentId"),
        pytest.param(
            "BatchDocumentBody",
            {
                "addOrUpdate": [
                    {"documentId": "file://a", "compressedBinaryData": "eJwLAQ==", "compressionType": "ZLIB"}
                ]
            },
            id="compressed-batch-item",
        ),
        # The complete permission model: levels of named sets (§3.2).
        pytest.param(
            "DocumentBody",
            {
                **ITEM,
                "permissions": [
                    {"name": "level1", "permissionSets": [{**ITEM["permissions"][0], "name": "set1"}]},
                    {"permissionSets": [{"allowAnonymous": True}]},
                ],
            },
            id="permission-levels",
        ),
        # Both documented spellings of identity types, in both places (§3.6).
        pytest.param(
            "IdentityBody",
            {
                "identity": {"name": "AlphaTeam", "type": "Group", "additionalInfo": {"origin": "ldap"}},
                "members": [{"name": "alice", "type": "User"}, {"name": "Everyone", "type": "VirtualGroup"}],
                "wellKnowns": [{"name": "Everyone", "type": "VIRTUAL_GROUP"}],
            },
            id="identity-type-casing",
        ),
        pytest.param(
            "PermissionIdentityModel",
            {"identity": "AlphaTeam", "identityType": "VIRTUAL_GROUP"},
            id="permission-type-casing",
        ),
    ],
)
def test_documented_variants_validate(definition: str, body: dict[str, Any], source: str) -> None:
    validate_push_body(definition, body, source)


@pytest.mark.contract
@pytest.mark.parametrize("source", SPEC_SOURCES)
@pytest.mark.parametrize(
    ("definition", "body", "path", "message"),
    [
        pytest.param(
            "IdentityBody",
            edited(GROUP, ("members", 1, "type"), "ROLE"),
            "$.members[1].type",
            "'ROLE' is not one of",
            id="wrong-identity-type",
        ),
        pytest.param(
            "MappedIdentityBody",
            edited(alias("alice"), ("mappings", 0, "type"), "user"),
            "$.mappings[0].type",
            "'user' is not one of",
            id="undocumented-casing",
        ),
        pytest.param(
            "MappedIdentityBody",
            edited(alias("alice"), ("mappings",), DELETE),
            "$",
            "'mappings' is a required property",
            id="missing-mappings",
        ),
        pytest.param(
            "IdentityBody",
            edited(GROUP, ("members", 2, "name"), DELETE),
            "$.members[2]",
            "'name' is a required property",
            id="member-without-name",
        ),
        pytest.param(
            "DocumentBody",
            edited(ITEM, ("permissions", 0, "allowedPermissions", 0, "identity"), DELETE),
            "$.permissions[0].allowedPermissions[0]",
            "'identity' is a required property",
            id="permission-without-identity",
        ),
        pytest.param(
            "DocumentBody",
            edited(ITEM, ("permissions", 0, "allowAnonymous"), "true"),
            "$.permissions[0].allowAnonymous",
            "'true' is not of type 'boolean'",
            id="string-allowAnonymous",
        ),
        pytest.param(
            "DocumentBody",
            edited(ITEM, ("author",), {"name": "Alice Smith"}),
            "$.author",
            "is not of type 'string', 'number', 'boolean', 'array'",
            id="sub-object-metadata",
        ),
        pytest.param(
            "DocumentBody",
            edited(ITEM, ("tags",), [["nested"]]),
            "$.tags[0]",
            "is not of type 'string', 'number', 'boolean'",
            id="nested-array-metadata",
        ),
        pytest.param(
            "DocumentBody",
            edited(ITEM, ("compressedBinaryData",), "eJwLAQ=="),
            "$",
            "use at most one of data, compressedBinaryData, compressedBinaryDataFileId",
            id="two-data-properties",
        ),
        pytest.param(
            "IdentityBody",
            {**edited(GROUP, ("members",), DELETE), "member": GROUP["members"]},
            "$",
            "'member' was unexpected",
            id="misspelt-identity-key",
        ),
        pytest.param(
            "DocumentBody",
            edited(ITEM, ("permissions", 0, "denyPermissions"), []),
            "$.permissions[0]",
            "'denyPermissions' was unexpected",
            id="misspelt-permission-key",
        ),
        pytest.param(
            "DocumentBody",
            {**ITEM, "permissions": [{"name": "level1", "permissionSets": [{"allowedPermissions": [{}]}]}]},
            "$.permissions[0].permissionSets[0].allowedPermissions[0]",
            "'identity' is a required property",
            id="level-set-without-identity",
        ),
        pytest.param(
            "BatchDocumentBody",
            edited(DOCUMENT_BATCH, ("addOrUpdate", 0, "documentId"), DELETE),
            "$.addOrUpdate[0]",
            "'documentId' is a required property",
            id="batch-item-without-documentId",
        ),
        pytest.param(
            "BatchDocumentBody",
            edited(DOCUMENT_BATCH, ("addOrUpdate", 0, "compressionType"), "gzip"),
            "$.addOrUpdate[0].compressionType",
            "'gzip' is not one of",
            id="batch-compressionType-casing",
        ),
        pytest.param(
            "BatchDocumentBody",
            edited(DOCUMENT_BATCH, ("delete", 0, "deleteChildren"), "false"),
            "$.delete[0].deleteChildren",
            "'false' is not of type 'boolean'",
            id="batch-deleteChildren-string",
        ),
        pytest.param(
            "BatchIdentityBody",
            {**IDENTITY_BATCH, "deletes": []},
            "$",
            "'deletes' was unexpected",
            id="misspelt-batch-key",
        ),
        pytest.param(
            "BatchIdentityBody",
            edited(IDENTITY_BATCH, ("deleted", 0, "identity", "type"), "ROLE"),
            "$.deleted[0].identity.type",
            "'ROLE' is not one of",
            id="batch-deleted-wrong-type",
        ),
    ],
)
def test_violation_is_reported_with_its_path(
    definition: str, body: dict[str, Any], path: str, message: str, source: str
) -> None:
    errors = push_body_errors(definition, body, source)
    assert any(error.startswith(f"{path}: ") and message in error for error in errors), errors
    with pytest.raises(AssertionError, match="violates Coveo's spec"):
        validate_push_body(definition, body, source)


@pytest.mark.contract
@pytest.mark.parametrize("source", SPEC_SOURCES)
def test_every_violation_is_listed(source: str) -> None:
    body = edited(GROUP, ("identity", "type"), "ROLE")
    body["members"][0] = {"type": "USER"}
    body["wellKnown"] = []
    with pytest.raises(SpecViolationError) as caught:
        validate_push_body("IdentityBody", body, source)
    assert len(caught.value.errors) == 3, caught.value.errors
    for path in ("$: ", "$.identity.type: ", "$.members[0]: "):
        assert path in str(caught.value)


@pytest.mark.contract
@pytest.mark.parametrize("source", SPEC_SOURCES)
def test_unknown_definition_is_refused(source: str) -> None:
    with pytest.raises(KeyError, match="IdentityBody"):
        validate_push_body("IdentityBodyy", GROUP, source)


@pytest.mark.contract
@pytest.mark.parametrize("source", SPEC_SOURCES)
def test_spec_as_published_is_what_the_relaxations_assume(source: str) -> None:
    """If Coveo fixes its spec, these assumptions (and the comments in coveo_spec) need revisiting."""
    definitions = (
        coveo_spec.load_subset()["definitions"]["push"]
        if source == SUBSET
        else coveo_spec.load_push_spec()["definitions"]
    )
    assert definitions["DocumentBody"]["additionalProperties"]["type"] == "string"
    assert "USER" in definitions["Identity"]["properties"]["type"]["enum"]
    assert "User" in definitions["PermissionIdentityModel"]["properties"]["identityType"]["enum"]
    assert not {"BatchDocumentBody", "BatchIdentityBody", "PermissionLevelModel"} & definitions.keys()


@pytest.mark.contract
@pytest.mark.parametrize("source", SPEC_SOURCES)
def test_logs_request(source: str) -> None:
    validate_logs_request(LOGS_REQUEST, source)
    validate_logs_request({}, source)
    errors = logs_request_errors(
        {"sourceIds": ["mysourceidg3c5d1r2"], "results": ["FAILED"], "tasks": "INDEXING"}, source
    )
    assert len(errors) == 3, errors
    assert errors[0].startswith("$: ") and "'sourceIds' was unexpected" in errors[0]
    assert errors[1].startswith("$.results[0]: ") and "'FAILED' is not one of" in errors[1]
    assert errors[2].startswith("$.tasks: ") and "is not of type 'array'" in errors[2]
    with pytest.raises(AssertionError, match="GetLogsOrFacetsRequestBodyModel"):
        validate_logs_request({"operations": ["ADDED"]}, source)


def fresh_module(monkeypatch: pytest.MonkeyPatch, spec_dir: Path | None) -> ModuleType:
    """coveo_spec imported anew under a given COVEO_OPENAPI_DIR (None: unset)."""
    if spec_dir is None:
        monkeypatch.delenv("COVEO_OPENAPI_DIR", raising=False)
    else:
        monkeypatch.setenv("COVEO_OPENAPI_DIR", str(spec_dir))
    spec = importlib.util.spec_from_file_location("coveo_spec_fresh", coveo_spec.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spec_dir_defaults_next_to_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    module = fresh_module(monkeypatch, None)
    repo = Path(coveo_spec.__file__).resolve().parents[2]
    spec_dir = module.SPEC_DIR
    assert spec_dir == repo.parent / "shared" / "reference" / "coveo-openapi"


def test_without_the_published_specs_the_subset_still_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A newcomer's clone: the published checks skip and say where the specs are looked for; every
    check against the condensed description still runs and still refuses what it must."""
    module = fresh_module(monkeypatch, tmp_path / "absent")
    spec_dir = module.SPEC_DIR
    assert spec_dir == tmp_path / "absent"
    for marker in (module.requires_spec, module.requires_platform_specs, module.requires_all_specs):
        assert marker.args == (True,)
        reason = marker.kwargs["reason"]
        assert str(tmp_path / "absent") in reason and "set COVEO_OPENAPI_DIR" in reason
    published = next(p for p in module.SPEC_SOURCES if p.values == (module.PUBLISHED,))
    assert published.marks[0].args == (True,)
    with pytest.raises(FileNotFoundError, match="COVEO_OPENAPI_DIR"):
        module.load_push_spec()
    with pytest.raises(FileNotFoundError, match="COVEO_OPENAPI_DIR"):
        module.load_openapi3_spec(module.SOURCE_SPEC_FILE)
    module.validate_push_body("IdentityBody", GROUP)
    assert module.push_body_errors("IdentityBody", {**GROUP, "member": []}) != []
    assert module.query_errors(
        module.route_of("DELETE", OLDER_THAN)["query"], httpx.QueryParams("orderingId=1&delay=3")
    ) == ["delay: not a documented query parameter"]


# --- the query checker (full-sync calls) ---------------------------------------------------------

ORG = "mycoveocloudv2organizationg8tp8wu3"
OLDER_THAN = f"/push/v1/organizations/{ORG}/sources/mysourceidg3c5d1r2/documents/olderthan"
STATUS = f"/push/v1/organizations/{ORG}/sources/mysourceidg3c5d1r2/status"
ENTITIES = f"/rest/organizations/{ORG}/securitycache/entities/{PROVIDER}"


def route_query_errors(method: str, path: str, query: str, source: str) -> list[str]:
    route = coveo_spec.route_of(method, path, source)
    assert route is not None
    return coveo_spec.query_errors(route["query"], httpx.QueryParams(query))


@pytest.mark.parametrize("source", SPEC_SOURCES)
@pytest.mark.parametrize(
    ("method", "path", "query", "errors"),
    [
        ("DELETE", OLDER_THAN, "orderingId=1700000000000&queueDelay=15", []),
        ("DELETE", OLDER_THAN, "queueDelay=15", ["orderingId: required and missing"]),
        ("DELETE", OLDER_THAN, "orderingId=1.5", ["orderingId='1.5': not an integer"]),
        ("DELETE", OLDER_THAN, "orderingId=1&queueDelay=-1", ["queueDelay='-1': below the minimum 0"]),
        ("DELETE", OLDER_THAN, f"orderingId=1&queueDelay={2**31}", [f"queueDelay='{2**31}': outside int32"]),
        ("DELETE", OLDER_THAN, "orderingId=1&orderingId=2", ["orderingId: sent 2 times"]),
        ("DELETE", OLDER_THAN, "orderingId=1&delay=3", ["delay: not a documented query parameter"]),
        ("POST", STATUS, "statusType=REBUILD", []),
        (
            "POST",
            STATUS,
            "statusType=rebuild",
            ["statusType='rebuild': not one of ['INCREMENTAL', 'REFRESH', 'REBUILD', 'IDLE']"],
        ),
    ],
)
def test_push_query_values_are_checked_against_their_parameter(
    method: str, path: str, query: str, errors: list[str], source: str
) -> None:
    assert route_query_errors(method, path, query, source) == errors


@pytest.mark.parametrize("source", SPEC_SOURCES)
def test_an_array_parameter_is_checked_in_the_form_the_spec_serializes_it(source: str) -> None:
    """getEntities' `states` is an OpenAPI 3 query array: `style: form`, `explode: true` (defaults),
    i.e. one `states=` per element."""
    states = "['UNKNOWN', 'UP_TO_DATE', 'NOT_UPDATED', 'OUT_OF_DATE', 'IN_ERROR', 'DISABLED']"
    assert (
        route_query_errors("GET", ENTITIES, "states=UP_TO_DATE&states=DISABLED&page=0&perPage=1", source)
        == []
    )
    assert route_query_errors("GET", ENTITIES, "states=UP_TO_DATE,DISABLED", source) == [
        f"states='UP_TO_DATE,DISABLED': not one of {states}"
    ]
    assert route_query_errors("GET", ENTITIES, "states=GONE&perPage=x", source) == [
        "perPage='x': not an integer",
        f"states='GONE': not one of {states}",
    ]


def test_swagger2_arrays_default_to_comma_joined() -> None:
    """Swagger 2.0's `collectionFormat` defaults to csv; `multi` repeats the name."""
    csv = {"name": "ids", "in": "query", "type": "array", "items": {"type": "integer"}}
    assert coveo_spec.query_errors([coveo_spec.normalize_parameter(csv)], httpx.QueryParams("ids=1,2")) == []
    assert coveo_spec.query_errors(
        [coveo_spec.normalize_parameter(csv)], httpx.QueryParams("ids=1&ids=2")
    ) == ["ids: sent 2 times; the spec joins the elements with commas"]
    multi = coveo_spec.normalize_parameter({**csv, "collectionFormat": "multi"})
    assert coveo_spec.query_errors([multi], httpx.QueryParams("ids=1&ids=2")) == []
    assert coveo_spec.query_errors([multi], httpx.QueryParams("ids=1,x")) == ["ids='1,x': not an integer"]


@coveo_spec.requires_platform_specs
def test_schema_at_follows_refs_and_compositions() -> None:
    spec = coveo_spec.load_openapi3_spec(coveo_spec.SOURCE_SPEC_FILE)
    operation = coveo_spec.find_operation(spec, "GET", f"/rest/organizations/{ORG}/sources/abc")
    root = coveo_spec.response_schema(operation)  # a oneOf of source models
    assert coveo_spec.schema_at(spec, root, "information.sourceStatus.type")["enum"][-1] == "PUSH_READY"
    with pytest.raises(AssertionError, match="no property 'numberOfItems'"):
        coveo_spec.schema_at(spec, root, "information.numberOfItems")
