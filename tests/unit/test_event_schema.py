"""events/schema/cloudevent.schema.json says what connector/domain/events.py enforces.

Every sample under events/ validates against the schema and parses; hostile and malformed events
(sync events above all: their syncId names ledger keys and S3 objects) are refused by both; the
schema's limits and names are the parser's own constants.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from connector.domain import events
from connector.domain.errors import InvalidEvent
from coveo_push_api.models import RESERVED_KEYS, CompressionType, IdentityType

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
SCHEMA_PATH = EVENTS / "schema" / "cloudevent.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
PROVIDER = "mysecurityidentityprovider8d9s8d"


def schema_errors(event: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(event)]


def parse(event: Any) -> events.Change:
    return events.parse_message(json.dumps(event), provider_id=PROVIDER)


def parser_refuses(event: Any) -> str | None:
    try:
        parse(event)
    except InvalidEvent as refused:
        return str(refused)
    return None


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


# --- the samples --------------------------------------------------------------------------------------


def sample_events() -> Iterator[tuple[str, Any]]:
    """Every CloudEvent of the events files (one event or an array), by file and position."""
    for path in sorted(EVENTS.rglob("*.json")):
        relative = path.relative_to(EVENTS).as_posix()
        if relative.startswith(("schema/", "sqs/")) or relative == "env.local.json":
            continue  # the schema, SQS batches, and `sam local invoke`'s environment file
        content = json.loads(path.read_text(encoding="utf-8"))
        for index, event in enumerate(content if isinstance(content, list) else [content]):
            yield f"{relative}[{index}]", event


SAMPLES = dict(sample_events())


def test_the_samples_include_the_worked_example_and_a_full_sync() -> None:
    assert any(name.startswith("worked-example/") for name in SAMPLES)
    types = {event["type"] for name, event in SAMPLES.items() if name.startswith("sync/")}
    assert {"sync.started", "sync.completed", "item.upserted", "identity.upserted"} <= types


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_sample_validates_against_the_schema_and_parses(name: str) -> None:
    event = SAMPLES[name]
    assert schema_errors(event) == [], name
    assert parser_refuses(event) is None, name


def test_a_sync_samples_count_is_the_changes_it_sent() -> None:
    """What `coveo-push local --events events/sync/...` would need to complete each sync."""
    started, counted, sent = {}, {}, {}
    for name, event in SAMPLES.items():
        if not name.startswith("sync/"):
            continue
        change = parse(event)
        if isinstance(change.payload, events.SyncStart):
            started[change.sync_id] = change.payload.scope
        elif isinstance(change.payload, events.SyncEnd):
            counted[change.sync_id] = change.payload.count
        else:
            assert change.sync_id is not None, name
            sent[change.sync_id] = sent.get(change.sync_id, 0) + 1
            assert change.kind is started[change.sync_id], name  # the sync's scope, its queue
    assert started and set(started) == set(counted) == set(sent)
    assert counted == sent


def sqs_bodies() -> Iterator[tuple[str, str]]:
    for path in sorted((EVENTS / "sqs").glob("*.json")):
        for index, record in enumerate(json.loads(path.read_text(encoding="utf-8"))["Records"]):
            yield f"{path.name}[{index}]", record["body"]


def structured(body: str) -> Any:
    """The CloudEvent in an SQS body, as structured JSON: SNS's Message, or EventBridge's fields
    (detail-type is the type, detail the data); None when the body is no JSON object."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if isinstance(message, dict) and message.get("Type") == "Notification":
        return structured(message["Message"])
    if isinstance(message, dict) and "detail-type" in message:
        event = {"specversion": "1.0", "type": message["detail-type"], "data": message.get("detail")}
        event |= {k: message[k] for k in ("id", "source", "time") if k in message}
        return event
    return message


SQS_BODIES = dict(sqs_bodies())


@pytest.mark.parametrize("name", sorted(SQS_BODIES))
def test_the_schema_and_the_parser_agree_on_every_sqs_sample_body(name: str) -> None:
    """The SQS samples hold valid events (raw, SNS, EventBridge) and deliberately broken ones."""
    body = SQS_BODIES[name]
    event = structured(body)
    try:
        events.parse_message(body, provider_id=PROVIDER)
        parsed = True
    except InvalidEvent:
        parsed = False
    valid = event is not None and not schema_errors(event)
    assert valid == parsed, (name, schema_errors(event) if event is not None else "not JSON")


def test_the_sqs_samples_hold_valid_events_of_every_envelope() -> None:
    valid = [name for name, body in SQS_BODIES.items() if not schema_errors(structured(body))]
    assert len(valid) >= 5
    enveloped = [json.loads(SQS_BODIES[name]) for name in valid]
    assert any(e.get("Type") == "Notification" for e in enveloped)
    assert any("detail-type" in e for e in enveloped)


# --- hostile and malformed events -----------------------------------------------------------------


def event(type_: str, data: Any, **attributes: Any) -> dict[str, Any]:
    base = {"specversion": "1.0", "id": "e-1", "source": "urn:example:test", "type": type_}
    base["time"] = "2026-11-26T09:00:00Z"
    base["data"] = data
    for name, value in attributes.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def started(**data: Any) -> dict[str, Any]:
    return event("sync.started", {"syncId": "sync-1", "scope": "items", **data})


def completed(**data: Any) -> dict[str, Any]:
    return event("sync.completed", {"syncId": "sync-1", "count": 3, **data})


ITEM = {
    "documentId": "file://folder/a.txt",
    "version": 1,
    "document": {
        "data": "text",
        "permissions": [
            {
                "allowedPermissions": [{"identity": "AlphaTeam", "identityType": "Group"}],
                "deniedPermissions": [],
            }
        ],
    },
}


def upserted(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(ITEM)
    for name, value in changes.items():
        if value is _ABSENT:
            data.pop(name, None)
        else:
            data[name] = value
    return event("item.upserted", data)


def document(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(ITEM["document"])
    for name, value in changes.items():
        if value is _ABSENT:
            body.pop(name, None)
        else:
            body[name] = value
    return upserted(document=body)


_ABSENT = object()
GROUP = {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "members": [{"name": "alice", "type": "USER"}]}

HOSTILE_SYNC: dict[str, dict[str, Any]] = {
    # syncId: it names a ledger key and S3 objects (syncs/<syncId>/...)
    "syncId with a space": started(syncId="sync 1"),
    "syncId with a slash": started(syncId="sync/1"),
    "syncId path traversal": started(syncId="../x"),
    "syncId dot-dot": started(syncId=".."),
    "syncId nested traversal": completed(syncId="a/../../b"),
    "syncId starting with a dot": started(syncId=".hidden"),
    "syncId starting with a dash": started(syncId="-rf"),
    "syncId empty": started(syncId=""),
    "syncId 129 characters": started(syncId="a" * 129),
    "syncId with a trailing newline": started(syncId="sync-1\n"),
    "syncId with a NUL": started(syncId="sync\x001"),
    "syncId with a ledger key separator": started(syncId="a#b"),
    "syncId percent-encoded slash": completed(syncId="a%2F..%2Fb"),
    "syncId non-ASCII": started(syncId="syncé"),
    "syncId a number": started(syncId=123),
    "syncId null on sync.started": started(syncId=None),
    "syncId a list": completed(syncId=["sync-1"]),
    "syncId missing on sync.completed": event("sync.completed", {"count": 3}),
    "item's syncId path traversal": upserted(syncId="../x"),
    "item deletion's syncId with a slash": event(
        "item.deleted", {"documentId": "file://a", "version": 1, "syncId": "syncs/x"}
    ),
    "identity's syncId path traversal": event("identity.upserted", {**GROUP, "syncId": "../../etc"}),
    "alias's syncId a number": event(
        "identity.aliased",
        {
            "identity": {"name": "a", "type": "USER"},
            "mappings": [{"name": "a@x", "type": "USER"}],
            "syncId": 7,
        },
    ),
    # count
    "count negative": completed(count=-1),
    "count a string": completed(count="3"),
    "count a float": completed(count=3.5),
    "count true": completed(count=True),
    "count null": completed(count=None),
    "count missing": event("sync.completed", {"syncId": "sync-1"}),
    "count above 10^9": completed(count=10**9 + 1),
    "count huge": completed(count=10**30),
    # scope
    "scope ITEMS": started(scope="ITEMS"),
    "scope Items": started(scope="Items"),
    "scope singular": started(scope="item"),
    "scope missing": event("sync.started", {"syncId": "sync-1"}),
    "scope null on sync.started": started(scope=None),
    "scope empty": started(scope=""),
    "scope a list": started(scope=["items"]),
    "scope ITEMS on sync.completed": completed(scope="ITEMS"),
    # extra and misspelt fields
    "sync.started with a count": started(count=3),
    "sync.completed with a force flag": completed(force=True),
    "allowMassDelete misspelt": completed(allowMassDeletes=True),
    "syncId misspelt on an item": upserted(syncID="sync-1"),
    # allowMassDelete: only the JSON boolean true says yes
    "allowMassDelete the string true": completed(allowMassDelete="true"),
    "allowMassDelete 1": completed(allowMassDelete=1),
    "allowMassDelete yes": completed(allowMassDelete="yes"),
    "allowMassDelete null": completed(allowMassDelete=None),
    # the data itself
    "sync.started without data": {k: v for k, v in started().items() if k != "data"},
    "sync.completed data null": event("sync.completed", None),
    "sync.completed data an array": event("sync.completed", [{"syncId": "sync-1", "count": 3}]),
    "sync.started data a string": event("sync.started", "sync-1"),
}

HOSTILE_OTHER: dict[str, dict[str, Any]] = {
    "specversion 1.1": event("item.upserted", ITEM, specversion="1.1"),
    "specversion a number": event("item.upserted", ITEM, specversion=1.0),
    "id blank": event("item.upserted", ITEM, id="   "),
    "id too long": event("item.upserted", ITEM, id="x" * 1025),
    "source missing": event("item.upserted", ITEM, source=None),
    "unknown type": event("item.renamed", ITEM),
    "time without a zone": event("item.upserted", ITEM, time="2026-11-26T09:00:00"),
    "time a number": event("item.upserted", ITEM, time=1764147600),
    "time without seconds": event("item.upserted", ITEM, time="2026-11-26T09:00Z"),
    "time with a trailing newline": event("item.upserted", ITEM, time="2026-11-26T09:00:00Z\n"),
    "time in 1969": event("item.upserted", ITEM, time="1969-12-31T23:00:00Z"),
    "no version and no time": event("item.upserted", {**ITEM, "version": None}, time=None),
    "version negative": upserted(version=-1),
    "version above int64": upserted(version=2**63),
    "version a string": upserted(version="2"),
    "documentId not a URI": upserted(documentId="mytext.txt"),
    "documentId javascript": upserted(documentId="javascript:alert(1)"),
    "documentId DATA scheme": upserted(documentId="DATA:text/html,<script>"),
    "documentId empty authority": upserted(documentId="file://"),
    "documentId only a query": upserted(documentId="https://?q=1"),
    "documentId with a space": upserted(documentId="file://a b"),
    "documentId with a newline": upserted(documentId="file://a\n"),
    "documentId too long": upserted(documentId="file://" + "a" * 2042),
    "document missing": upserted(document=_ABSENT),
    "extra data field": upserted(priority=1),
    "orderingId in the document": document(orderingId=5),
    "a reserved key in another casing": document(Permissions="all"),
    "compressedBinaryDataFileId": document(compressedBinaryDataFileId="f-1"),
    "compressedBinaryDataFileId in another casing": document(compressedbinarydatafileid="f-1"),
    "both data and compressedBinaryData": document(compressedBinaryData="YQ=="),
    "no content": document(data=_ABSENT),
    "compressedBinaryData not Base64": document(data=_ABSENT, compressedBinaryData="not base64!"),
    "compressedBinaryData badly padded": document(data=_ABSENT, compressedBinaryData="YQ="),
    "compressionType with plain data": document(compressionType="GZIP"),
    "compressionType unknown": document(data=_ABSENT, compressedBinaryData="YQ==", compressionType="ZIP"),
    "contentRef with inline data": upserted(contentRef="s3://bucket/key"),
    "contentRef not s3": upserted(contentRef="https://bucket/key", document={"title": "t"}),
    "fileExtension without a dot": document(fileExtension="txt"),
    "metadata an object": document(owner={"name": "alice"}),
    "metadata a nested array": document(tags=[["a"]]),
    "metadata null": document(title=None),
    "metadata key empty": document(**{"": "x"}),
    "allowAnonymous a string": document(permissions=[{"allowAnonymous": "true"}]),
    "permission identityType unknown": document(
        permissions=[{"allowedPermissions": [{"identity": "a", "identityType": "Admin"}]}]
    ),
    "permission identity blank": document(
        permissions=[{"allowedPermissions": [{"identity": " ", "identityType": "User"}]}]
    ),
    "permissions mixing sets and levels": document(
        permissions=[{"allowAnonymous": True}, {"permissionSets": [{"allowAnonymous": True}]}]
    ),
    "permission level without sets": document(permissions=[{"permissionSets": []}]),
    "item.deleted deleteChildren a string": event(
        "item.deleted", {"documentId": "file://a", "version": 1, "deleteChildren": "true"}
    ),
    "identity type unknown": event("identity.upserted", {"identity": {"name": "a", "type": "ADMIN"}}),
    "identity name blank": event("identity.upserted", {"identity": {"name": "  ", "type": "USER"}}),
    "identity extra field": event(
        "identity.deleted", {"identity": {"name": "a", "type": "USER"}, "why": "x"}
    ),
    "member listed twice": event(
        "identity.upserted",
        {"identity": {"name": "g", "type": "GROUP"}, "members": [{"name": "a", "type": "USER"}] * 2},
    ),
    "alias without mappings": event(
        "identity.aliased", {"identity": {"name": "a", "type": "USER"}, "mappings": []}
    ),
    "identity additionalInfo not strings": event(
        "identity.upserted", {"identity": {"name": "a", "type": "USER", "additionalInfo": {"n": 1}}}
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_SYNC))
def test_a_hostile_sync_event_is_refused_by_the_schema_and_the_parser(name: str) -> None:
    hostile = HOSTILE_SYNC[name]
    assert schema_errors(hostile), f"the schema accepts {name}"
    assert parser_refuses(hostile) is not None, f"the parser accepts {name}"


@pytest.mark.parametrize("name", sorted(HOSTILE_OTHER))
def test_a_malformed_change_is_refused_by_the_schema_and_the_parser(name: str) -> None:
    malformed = HOSTILE_OTHER[name]
    assert schema_errors(malformed), f"the schema accepts {name}"
    assert parser_refuses(malformed) is not None, f"the parser accepts {name}"


# Edge cases both must accept: a schema stricter than the parser would refuse good producers.
ACCEPTED: dict[str, dict[str, Any]] = {
    "syncId of one character": started(syncId="a"),
    "syncId of 128 characters": started(syncId="A" + "b" * 127),
    "syncId with every allowed punctuation": started(syncId="0.a_b:c-d"),
    "sync of identities": started(scope="identities"),
    "sync.started without a time": event("sync.started", {"syncId": "s", "scope": "items"}, time=None),
    "count zero": completed(count=0),
    "count 10^9": completed(count=10**9),
    "allowMassDelete true": completed(allowMassDelete=True),
    "allowMassDelete false": completed(allowMassDelete=False),
    "scope on sync.completed": completed(scope="identities"),
    "scope null on sync.completed": completed(scope=None),
    "item with a syncId": upserted(syncId="sync-1"),
    "item with a null syncId": upserted(syncId=None),
    "item.deleted in a sync": event(
        "item.deleted", {"documentId": "file://a", "version": 3, "deleteChildren": True, "syncId": "s"}
    ),
    "identity.deleted in a sync": event(
        "identity.deleted", {"identity": {"name": "a", "type": "user"}, "syncId": "s"}
    ),
    "identity.upserted in a sync, no version": event(
        "identity.upserted", {**GROUP, "syncId": "s", "wellKnowns": None}
    ),
    "a version and no time": event("item.upserted", ITEM, time=None),
    "time with an offset and a fraction": event("item.upserted", ITEM, time="2026-11-26t10:00:05.123+01:00"),
    "time a leap second": event("item.upserted", ITEM, time="2016-12-31T23:59:60Z"),
    "an extension attribute": event(
        "item.upserted", ITEM, datacontenttype="application/json", traceparent="x"
    ),
    "contentRef without inline content": upserted(
        contentRef="s3://my-bucket/big/file.pdf", document={"title": "t", "fileExtension": ".pdf"}
    ),
    "compressed content": document(
        data=_ABSENT, compressedBinaryData="eJwrSS0uAQAEXQHB", compressionType="zlib"
    ),
    "public item": document(permissions=[{"allowAnonymous": True}]),
    "permission levels": document(
        permissions=[{"name": "l1", "permissionSets": [{"allowAnonymous": False, "deniedPermissions": []}]}]
    ),
    "metadata of every kind": document(n=1, f=1.5, b=True, tags=["a", 1, False], parent_id="metadata"),
    "documentId equal to data.documentId": document(documentId="file://folder/a.txt"),
    "item without permissions (the deployment decides)": document(permissions=_ABSENT),
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_an_edge_of_the_contract_is_accepted_by_the_schema_and_the_parser(name: str) -> None:
    good = ACCEPTED[name]
    assert schema_errors(good) == [], name
    assert parser_refuses(good) is None, name


# --- the schema's limits are the parser's --------------------------------------------------------------


def test_the_schemas_names_and_limits_are_the_parsers() -> None:
    defs = SCHEMA["$defs"]
    assert SCHEMA["properties"]["type"]["enum"] == list(events.EVENT_TYPES)
    assert SCHEMA["properties"]["id"]["maxLength"] == events.MAX_EVENT_ID_LENGTH
    assert defs["syncStarted"]["properties"]["scope"]["enum"] == list(events.SCOPES)
    assert defs["syncCompleted"]["properties"]["count"]["maximum"] == events.MAX_SYNC_COUNT
    assert defs["optionalSyncId"]["pattern"] == defs["syncId"]["pattern"]
    assert defs["version"]["maximum"] == events.MAX_VERSION
    assert defs["documentId"]["maxLength"] == events.MAX_DOCUMENT_ID_LENGTH
    # Every type has its data; every data schema is closed (no field the parser would refuse).
    branches = {b["if"]["properties"]["type"]["const"]: b for b in SCHEMA["allOf"] if "const" in str(b["if"])}
    assert set(branches) == set(events.EVENT_TYPES)
    for type_, branch in branches.items():
        data = defs[branch["then"]["properties"]["data"]["$ref"].removeprefix("#/$defs/")]
        assert data["additionalProperties"] is False, type_


SYNC_ID_PROBES = [
    *(chr(c) for c in range(0x80)),
    *("a" + chr(c) for c in range(0x80)),
    *("é", "a\u00a0", "a\u2028", "\uff41", "a" * 128, "a" * 129, "a\n", "\na"),
]


def test_the_schema_takes_exactly_the_sync_ids_the_parser_takes() -> None:
    """Every ASCII character, first and second, and a few others: the same verdict from both."""
    differ = [
        probe
        for probe in SYNC_ID_PROBES
        if (not schema_errors(started(syncId=probe))) != (parser_refuses(started(syncId=probe)) is None)
    ]
    assert differ == []
    assert sum(not schema_errors(started(syncId=probe)) for probe in SYNC_ID_PROBES) > 100


def test_every_reserved_key_of_an_item_is_typed_or_refused() -> None:
    document_schema = SCHEMA["$defs"]["itemDocument"]
    reserved = set(RESERVED_KEYS.values())
    refused = {"orderingId", "compressedBinaryDataFileId"}
    assert reserved - refused <= set(document_schema["properties"])
    for name in reserved:
        for spelling in (name, name.lower(), name.upper()):
            errors = schema_errors(document(**{spelling: "x"}))
            if spelling != name or name in refused:
                assert errors, spelling


@pytest.mark.parametrize(
    ("kind", "values"),
    [("compression", [c.value for c in CompressionType]), ("identity", [t.value for t in IdentityType])],
)
def test_the_enumerations_are_the_models(kind: str, values: list[str]) -> None:
    for value in values:
        for spelling in (value, value.lower()):
            if kind == "compression":
                good = document(data=_ABSENT, compressedBinaryData="YQ==", compressionType=spelling)
            else:
                good = event("identity.deleted", {"identity": {"name": "a", "type": spelling}})
            assert schema_errors(good) == [], spelling
            assert parser_refuses(good) is None, spelling
