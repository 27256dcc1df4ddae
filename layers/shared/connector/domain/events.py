"""The upstream event contract: CloudEvents 1.0 (raw, SNS-wrapped or EventBridge-delivered) turned
into typed changes. Pure: no I/O. Every refusal is an `InvalidEvent` with a reason a person can act on.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from coveo_push_api.models import BaseIdentityBody, IdentityBody, ItemBody, MappedIdentityBody

from . import strict_json
from .errors import InvalidEvent

ITEM_UPSERTED = "item.upserted"
ITEM_DELETED = "item.deleted"
IDENTITY_UPSERTED = "identity.upserted"
IDENTITY_ALIASED = "identity.aliased"
IDENTITY_DELETED = "identity.deleted"
SYNC_STARTED = "sync.started"
SYNC_COMPLETED = "sync.completed"
ITEM_TYPES = (ITEM_UPSERTED, ITEM_DELETED)
IDENTITY_TYPES = (IDENTITY_UPSERTED, IDENTITY_ALIASED, IDENTITY_DELETED)
SYNC_TYPES = (SYNC_STARTED, SYNC_COMPLETED)
EVENT_TYPES = ITEM_TYPES + IDENTITY_TYPES + SYNC_TYPES


class Kind(StrEnum):
    """Which queue, function, ledger rows and Coveo calls a change belongs to."""

    ITEM = "item"
    IDENTITY = "identity"


# A full sync's scope, as `sync.started` names it, and the kind of change (and queue) it covers.
SCOPES = {"items": Kind.ITEM, "identities": Kind.IDENTITY}
SCOPE_NAMES = {kind: name for name, kind in SCOPES.items()}
# A syncId becomes part of a ledger key and of S3 object names: letters, digits and `._:-` only.
_SYNC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
MAX_SYNC_COUNT = 10**9


# A URI: a scheme, a colon, then something without whitespace or control characters. Matched
# whole (fullmatch): `$` would let a trailing newline through, and make it a second document.
_URI = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):(?P<rest>[^\s\x00-\x1f\x7f]+)")
_S3_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<key>[^\x00-\x1f\x7f]+)")
# Schemes a browser runs rather than opens: a search result's link must never be one.
SCRIPT_SCHEMES = frozenset({"javascript", "data", "vbscript"})
MAX_DOCUMENT_ID_LENGTH = 2048  # Coveo publishes no limit; a conservative cap (docs/decisions.md)
MAX_EVENT_ID_LENGTH = 1024
MAX_VERSION = 2**63 - 1  # versions become orderingIds' neighbours: Coveo's orderingId is an int64
# Ledger keys are DynamoDB partition keys (2,048 bytes at most); longer ones are hashed.
MAX_READABLE_KEY_BYTES = 1024
_RFC3339 = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[Tt]"
    r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<zone_hour>\d{2}):(?P<zone_minute>\d{2}))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class CloudEvent:
    id: str
    type: str
    source: str
    time: datetime | None
    data: Any


@dataclass(frozen=True)
class ItemUpsert:
    document_id: str
    body: ItemBody
    content_ref: str | None = None  # s3://bucket/key holding the content


@dataclass(frozen=True)
class ItemDelete:
    document_id: str
    delete_children: bool = False


@dataclass(frozen=True)
class IdentityUpsert:
    body: IdentityBody


@dataclass(frozen=True)
class IdentityAlias:
    body: MappedIdentityBody


@dataclass(frozen=True)
class IdentityDelete:
    body: BaseIdentityBody


@dataclass(frozen=True)
class SyncStart:
    """`sync.started`: a full sync of `scope` begins."""

    sync_id: str
    scope: Kind


@dataclass(frozen=True)
class SyncEnd:
    """`sync.completed`: the producer sent `count` changes in the sync. `scope`, when the event
    names it, must be the queue's."""

    sync_id: str
    count: int
    allow_mass_delete: bool = False
    scope: Kind | None = None


Payload = ItemUpsert | ItemDelete | IdentityUpsert | IdentityAlias | IdentityDelete | SyncStart | SyncEnd


@dataclass(frozen=True)
class Change:
    """One upstream change, validated. `key` names what it changes (coalescing and the stale guard)."""

    event_id: str
    event_type: str
    key: str
    version: int
    subject: str  # what a person calls it: the documentId, or "GROUP AlphaTeam"
    payload: Payload
    data: dict[str, Any] = field(compare=False, repr=False)  # the event's data, kept for re-pushes
    stored: bytes | None = field(default=None, compare=False, repr=False)  # compressed, for the ledger
    sync_id: str | None = None  # data.syncId: the full sync this change belongs to
    # The event's `time` in epoch ms (None when it gave none): where freshness is measured from.
    time_ms: int | None = field(default=None, compare=False)

    @property
    def kind(self) -> Kind:
        """Which queue, ledger rows and Coveo calls the event belongs to; a sync event's scope."""
        payload = self.payload
        if isinstance(payload, SyncStart | SyncEnd) and payload.scope is not None:
            return payload.scope
        return Kind.IDENTITY if self.event_type in IDENTITY_TYPES else Kind.ITEM

    @property
    def is_sync_control(self) -> bool:
        return isinstance(self.payload, SyncStart | SyncEnd)

    def belongs_on(self, queue: Kind) -> bool:
        """A `sync.completed` that names no scope is taken on either queue (its sync says which)."""
        if isinstance(self.payload, SyncEnd) and self.payload.scope is None:
            return True
        return self.kind == queue


# --- envelopes ------------------------------------------------------------------------------------


def unwrap(body: str) -> CloudEvent:
    """The CloudEvent in an SQS message body: raw, inside an SNS notification, or as EventBridge sent it."""
    message = _json_object(body, "message body")
    if message.get("Type") == "Notification":  # SNS → SQS without raw message delivery
        inner = message.get("Message")
        if not isinstance(inner, str):
            raise InvalidEvent(
                f"SNS notification's 'Message' is {_json_type(inner)}; SNS delivers the CloudEvent as a "
                "JSON string in 'Message' (publish the event's JSON text, not an object)"
            )
        return _from_envelope(_json_object(inner, "SNS notification's 'Message'"), "in an SNS notification")
    return _from_envelope(message, "")


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = strict_json.loads(text, what=what)
    except strict_json.JsonRefused as refused:
        raise InvalidEvent(refused.reason) from None
    if not isinstance(value, dict):
        raise InvalidEvent(f"{what} is {_json_type(value)}, not a JSON object")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return names.get(type(value), "an object")


def _from_envelope(message: dict[str, Any], where: str) -> CloudEvent:
    if "detail-type" in message and "detail" in message:
        return _from_eventbridge(message)
    return _from_cloudevent(message, where)


def _from_eventbridge(message: dict[str, Any]) -> CloudEvent:
    event_id, event_type = message.get("id"), message.get("detail-type")
    if not isinstance(event_id, str) or not event_id.strip():
        raise InvalidEvent("EventBridge event's 'id' must be a non-empty string")
    if not isinstance(event_type, str):
        raise InvalidEvent("EventBridge event's 'detail-type' must be a string (the event type)")
    source = message.get("source", "")
    if not isinstance(source, str):
        raise InvalidEvent("EventBridge event's 'source' must be a string")
    return CloudEvent(
        id=_check_event_id(event_id, "EventBridge event's 'id'"),
        type=event_type,
        source=source,
        time=_parse_time(message.get("time")),
        data=message.get("detail"),
    )


def _from_cloudevent(message: dict[str, Any], where: str) -> CloudEvent:
    missing = [name for name in ("specversion", "id", "source", "type") if name not in message]
    if missing:
        raise InvalidEvent(
            f"not a CloudEvent{' ' + where if where else ''}: missing {', '.join(repr(m) for m in missing)} "
            "(expected CloudEvents 1.0 structured JSON, an SNS notification or an EventBridge event)"
        )
    if message["specversion"] != "1.0":
        raise InvalidEvent(
            f"unsupported CloudEvents specversion {strict_json.printable(repr(message['specversion']))}; "
            "expected the string '1.0'"
        )
    for name in ("id", "source", "type"):
        if not isinstance(message[name], str) or not message[name].strip():
            raise InvalidEvent(f"CloudEvent attribute {name!r} must be a non-empty string")
    return CloudEvent(
        id=_check_event_id(message["id"], "CloudEvent attribute 'id'"),
        type=message["type"],
        source=message["source"],
        time=_parse_time(message.get("time")),
        data=message.get("data"),
    )


def _check_event_id(event_id: str, what: str) -> str:
    if len(event_id) > MAX_EVENT_ID_LENGTH:
        raise InvalidEvent(f"{what} is {len(event_id):,} characters; at most {MAX_EVENT_ID_LENGTH:,}")
    return event_id


def _parse_time(value: Any) -> datetime | None:
    """RFC 3339 `date-time`, whole: either case of `T` and `Z`, a leap second, not before 1970."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"event time must be an RFC 3339 string, got {_json_type(value)}")

    def shown() -> str:  # only for a refusal: most events are fine, and this is per event
        return strict_json.printable(repr(value), 80)

    match = _RFC3339.fullmatch(value)
    if match is None and _RFC3339.fullmatch(value + "Z"):
        raise InvalidEvent(f"event time {shown()} has no time zone; RFC 3339 ends with 'Z' or an offset")
    if match is None:
        raise InvalidEvent(
            f"event time {shown()} is not an RFC 3339 date-time; expected e.g. '2026-11-26T09:00:05Z' "
            "or '2026-11-26T10:00:05.123+01:00' (date, 'T', time with seconds, and a zone)"
        )
    part = {name: int(text) for name, text in match.groupdict().items() if text and text.isdigit()}
    leap = part["second"] == 60
    try:
        zone = UTC
        if match["sign"]:
            if part["zone_hour"] > 23 or part["zone_minute"] > 59:
                raise ValueError("zone offset out of range")
            offset = timedelta(hours=part["zone_hour"], minutes=part["zone_minute"])
            zone = timezone(-offset if match["sign"] == "-" else offset)
        moment = datetime(
            part["year"],
            part["month"],
            part["day"],
            part["hour"],
            part["minute"],
            59 if leap else part["second"],
            int((match["fraction"] or "0")[:6].ljust(6, "0")),
            tzinfo=zone,
        )
    except ValueError as exc:
        raise InvalidEvent(f"event time {shown()} is not a valid date-time ({exc})") from None
    if leap:  # 23:59:60 is the second after 23:59:59
        moment += timedelta(seconds=1)
    if moment < _EPOCH:
        raise InvalidEvent(
            f"event time {shown()} is before 1970; a version taken from it would be negative "
            "(send the change's real time, or data.version)"
        )
    return moment


# --- data of each type ----------------------------------------------------------------------------


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


Version = StrictInt | None


SyncId = StrictStr | None


class _ItemUpsertedData(_Data):
    document_id: StrictStr = Field(alias="documentId")
    version: Version = Field(default=None, ge=0, le=MAX_VERSION)
    document: dict[str, Any]
    content_ref: StrictStr | None = Field(default=None, alias="contentRef")
    sync_id: SyncId = Field(default=None, alias="syncId")


class _ItemDeletedData(_Data):
    document_id: StrictStr = Field(alias="documentId")
    version: Version = Field(default=None, ge=0, le=MAX_VERSION)
    delete_children: StrictBool = Field(default=False, alias="deleteChildren")
    sync_id: SyncId = Field(default=None, alias="syncId")


class _SyncStartedData(_Data):
    sync_id: StrictStr = Field(alias="syncId")
    scope: StrictStr


class _SyncCompletedData(_Data):
    sync_id: StrictStr = Field(alias="syncId")
    count: StrictInt = Field(ge=0, le=MAX_SYNC_COUNT)
    allow_mass_delete: StrictBool = Field(default=False, alias="allowMassDelete")
    scope: StrictStr | None = None


class _Versioned(_Data):
    version: Version = Field(default=None, ge=0, le=MAX_VERSION)
    sync_id: SyncId = Field(default=None, alias="syncId")


def describe(exc: ValidationError, prefix: str = "data") -> str:
    """A pydantic error as one line a person can act on: `data.documentId: field required; ...`."""
    parts = []
    for error in exc.errors(include_url=False):
        location = ".".join([prefix, *(str(p) for p in error["loc"])]) if error["loc"] else prefix
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] in ("less_than_equal", "greater_than_equal") and location.endswith("version"):
            message += " (versions are integers from 0 to 2**63-1, Coveo's orderingId range)"
        parts.append(f"{strict_json.printable(location, 120)}: {strict_json.printable(message, 400)}")
    return "; ".join(parts)


def parse_change(event: CloudEvent, *, provider_id: str) -> Change:
    """Validate the event's data for its type; the version defaults to the event time in ms."""
    if event.type not in EVENT_TYPES:
        raise InvalidEvent(f"unknown event type {event.type!r}; expected one of {', '.join(EVENT_TYPES)}")
    if not isinstance(event.data, dict):
        raise InvalidEvent(f"{event.type} event has no data object")
    if event.type == ITEM_UPSERTED:
        return _item_upserted(event)
    if event.type == ITEM_DELETED:
        data = _validate(_ItemDeletedData, event.data)
        document_id = _check_document_id(data.document_id)
        return Change(
            event_id=event.id,
            event_type=event.type,
            key=item_key(document_id),
            version=_version(data.version, event),
            subject=document_id,
            payload=ItemDelete(document_id, data.delete_children),
            data=event.data,
            sync_id=_check_sync_id(data.sync_id, "data.syncId"),
            time_ms=_time_ms(event),
        )
    if event.type in SYNC_TYPES:
        return _sync_event(event)
    return _identity_change(event, provider_id)


def _sync_event(event: CloudEvent) -> Change:
    """`sync.started` / `sync.completed`: no document or identity, so no version of their own;
    their time (if any) orders two syncs of one scope."""
    assert isinstance(event.data, dict)
    payload: Payload
    if event.type == SYNC_STARTED:
        started = _validate(_SyncStartedData, event.data)
        sync_id = _check_sync_id(started.sync_id, "data.syncId")
        payload = SyncStart(sync_id, _scope(started.scope))
    else:
        completed = _validate(_SyncCompletedData, event.data)
        sync_id = _check_sync_id(completed.sync_id, "data.syncId")
        scope = _scope(completed.scope) if completed.scope is not None else None
        payload = SyncEnd(sync_id, completed.count, completed.allow_mass_delete, scope)
    return Change(
        event_id=event.id,
        event_type=event.type,
        key=sync_key(sync_id),
        version=_version(None, event) if event.time is not None else 0,
        subject=f"sync {sync_id}",
        payload=payload,
        data=event.data,
        sync_id=sync_id,
        time_ms=_time_ms(event),
    )


def _scope(value: str) -> Kind:
    if value not in SCOPES:
        raise InvalidEvent(
            f"data.scope {strict_json.printable(repr(value), 80)} is not a sync scope; expected one of "
            f"{', '.join(repr(name) for name in SCOPES)}"
        )
    return SCOPES[value]


@overload
def _check_sync_id(sync_id: str, what: str) -> str: ...
@overload
def _check_sync_id(sync_id: None, what: str) -> None: ...
@overload
def _check_sync_id(sync_id: str | None, what: str) -> str | None: ...


def _check_sync_id(sync_id: str | None, what: str) -> str | None:
    if sync_id is None:
        return None
    if not _SYNC_ID.fullmatch(sync_id):
        raise InvalidEvent(
            f"{what} {strict_json.printable(repr(sync_id), 140)} is not a sync id: 1 to 128 letters, digits, "
            "'.', '_', ':' or '-', starting with a letter or digit (it names the sync in the ledger)"
        )
    return sync_id


def sync_key(sync_id: str) -> str:
    return f"sync#{sync_id}"


def _item_upserted(event: CloudEvent) -> Change:
    assert isinstance(event.data, dict)
    data = _validate(_ItemUpsertedData, event.data)
    document_id = _check_document_id(data.document_id)
    document = dict(data.document)
    if any(key.lower() == "compressedbinarydatafileid" for key in document):
        raise InvalidEvent(
            "data.document.compressedBinaryDataFileId is the connector's to set (it names a file container "
            "in this deployment's Coveo organization); give the content inline (data or "
            "compressedBinaryData), or put it in S3 and give data.contentRef"
        )
    if "documentId" in document and document["documentId"] != document_id:
        raise InvalidEvent(
            f"data.document.documentId {strict_json.printable(repr(document['documentId']))} differs from "
            f"data.documentId {strict_json.printable(repr(document_id))}"
        )
    document.pop("documentId", None)
    if data.content_ref is not None:
        if not _S3_URI.fullmatch(data.content_ref):
            raise InvalidEvent(
                f"data.contentRef {strict_json.printable(repr(data.content_ref))} is not an s3://bucket/key URI"
            )
        content_keys = {"data", "compressedbinarydata"} & {k.lower() for k in document}
        if content_keys:
            raise InvalidEvent("an item with data.contentRef must not also carry content in data.document")
    try:
        # With a contentRef the body has no content yet: the pipeline attaches the fetched bytes.
        body = ItemBody.from_wire(document, content_attached_later=data.content_ref is not None)
    except ValidationError as exc:
        raise InvalidEvent(describe(exc, "data.document")) from None
    return Change(
        event_id=event.id,
        event_type=event.type,
        key=item_key(document_id),
        version=_version(data.version, event),
        subject=document_id,
        payload=ItemUpsert(document_id, body, data.content_ref),
        data=event.data,
        sync_id=_check_sync_id(data.sync_id, "data.syncId"),
        time_ms=_time_ms(event),
    )


# The fields of an identity event's data that are the contract's, not Coveo's identity body.
CONTRACT_FIELDS = ("version", "syncId")


def identity_body_fields(data: dict[str, Any]) -> dict[str, Any]:
    """An identity event's data without the contract's own fields: Coveo's identity body."""
    return {k: v for k, v in data.items() if k not in CONTRACT_FIELDS}


def _identity_change(event: CloudEvent, provider_id: str) -> Change:
    assert isinstance(event.data, dict)
    fields = identity_body_fields(event.data)
    envelope = _validate(
        _Versioned, {name: event.data[name] for name in CONTRACT_FIELDS if name in event.data}
    )
    version = envelope.version
    payload: Payload
    try:
        if event.type == IDENTITY_UPSERTED:
            identity_body = IdentityBody.model_validate(fields)
            payload, identity, family = IdentityUpsert(identity_body), identity_body.identity, "identity"
        elif event.type == IDENTITY_ALIASED:
            alias_body = MappedIdentityBody.model_validate(fields)
            payload, identity, family = IdentityAlias(alias_body), alias_body.identity, "alias"
        else:
            delete_body = BaseIdentityBody.model_validate(fields)
            payload, identity, family = IdentityDelete(delete_body), delete_body.identity, "identity"
    except ValidationError as exc:
        raise InvalidEvent(describe(exc)) from None
    return Change(
        event_id=event.id,
        event_type=event.type,
        # An identity's upserts and deletes share a key (a delete supersedes an older upsert);
        # its aliases are a separate record in Coveo, so they are coalesced apart.
        key=ledger_key(f"{family}#{provider_id}#{identity.type.value}", identity.name),
        version=_version(version, event),
        subject=f"{identity.type.value} {identity.name}",
        payload=payload,
        data=event.data,
        sync_id=_check_sync_id(envelope.sync_id, "data.syncId"),
        time_ms=_time_ms(event),
    )


def item_key(document_id: str) -> str:
    return ledger_key("item", document_id)


def ledger_key(family: str, name: str) -> str:
    """`family#name`, readable; past DynamoDB's comfort (keys stop at 2,048 bytes) the name is hashed.
    The row keeps the whole name as its subject."""
    key = f"{family}#{name}"
    if len(key.encode("utf-8")) <= MAX_READABLE_KEY_BYTES:
        return key
    return f"{family}#sha256 {hashlib.sha256(name.encode('utf-8')).hexdigest()}"


def _validate(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(describe(exc)) from None


def _check_document_id(document_id: str) -> str:
    def shown() -> str:  # only for a refusal: most events are fine, and this is per event
        return strict_json.printable(repr(document_id), 120)

    if len(document_id) > MAX_DOCUMENT_ID_LENGTH:
        raise InvalidEvent(
            f"data.documentId is {len(document_id):,} characters; at most {MAX_DOCUMENT_ID_LENGTH:,}"
        )
    match = _URI.fullmatch(document_id)
    if match is None:
        raise InvalidEvent(
            f"data.documentId {shown()} is not a URI; Coveo identifies items by URI, "
            "e.g. 'file://folder/mytext.txt' or 'https://example.com/page' (no spaces or control characters)"
        )
    scheme, rest = match["scheme"].lower(), match["rest"]
    if scheme in SCRIPT_SCHEMES:
        raise InvalidEvent(
            f"data.documentId {shown()} uses the {scheme}: scheme, which a browser runs instead of opening; "
            "a search result must link to the item itself"
        )
    hierarchical = rest.removeprefix("//")
    if not re.split(r"[?#]", hierarchical, maxsplit=1)[0]:
        raise InvalidEvent(
            f"data.documentId {shown()} names no item: it has a scheme but an empty authority and path"
        )
    return document_id


def _time_ms(event: CloudEvent) -> int | None:
    return None if event.time is None else (event.time - _EPOCH) // timedelta(milliseconds=1)


def _version(version: int | None, event: CloudEvent) -> int:
    if version is not None:
        return version
    time_ms = _time_ms(event)
    if time_ms is None:
        raise InvalidEvent(
            "no version: give data.version or the event's 'time' (its milliseconds stand for it)"
        )
    return time_ms


def event_id_of(body: str) -> str | None:
    """Best effort: the `id` of a message body that may not validate, so its DLQ entry, log line or
    report row can be traced. Read strictly (bad input may nest past Python's recursion limit)."""
    try:
        message = strict_json.loads(body)
    except strict_json.JsonRefused:
        return None
    value = message.get("id") if isinstance(message, dict) else None
    return value if isinstance(value, str) else None


def _event_of(body: str) -> dict[str, Any] | None:
    """Best effort: the event object of a message body that may not validate (raw, or inside an SNS
    notification), read strictly."""
    try:
        message = strict_json.loads(body)
        if isinstance(message, dict) and message.get("Type") == "Notification":
            inner = message.get("Message")
            message = strict_json.loads(inner) if isinstance(inner, str) else None
    except strict_json.JsonRefused:
        return None
    return message if isinstance(message, dict) else None


def event_type_of(body: str) -> str | None:
    """Best effort, like `event_id_of`: the type of a message body that may not validate (`type`,
    or EventBridge's `detail-type`), so its dead letter says what kind of event failed even when the
    type was fine and its data was not."""
    message = _event_of(body)
    if message is None:
        return None
    value = message.get("detail-type") if "detail-type" in message else message.get("type")
    return value if isinstance(value, str) and value else None


def sync_id_of(body: str) -> str | None:
    """Best effort, like `event_id_of`: the `data.syncId` of a message body that may not validate,
    so that a malformed change still counts against its sync (which then deletes nothing)."""
    message = _event_of(body)
    if message is None:
        return None
    data = message.get("detail") if "detail-type" in message else message.get("data")
    value = data.get("syncId") if isinstance(data, dict) else None
    return value if isinstance(value, str) and _SYNC_ID.fullmatch(value) else None


def parse_message(body: str, *, provider_id: str) -> Change:
    """An SQS message body all the way to a validated change."""
    return parse_change(unwrap(body), provider_id=provider_id)
