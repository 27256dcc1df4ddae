"""The upstream event contract: CloudEvents 1.0 (raw, SNS-wrapped or EventBridge-delivered) turned
into typed changes. Pure: no I/O. Every refusal is an `InvalidEvent` with a reason a person can act on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from coveo_push_api.models import BaseIdentityBody, IdentityBody, ItemBody, MappedIdentityBody

from .errors import InvalidEvent

ITEM_UPSERTED = "item.upserted"
ITEM_DELETED = "item.deleted"
IDENTITY_UPSERTED = "identity.upserted"
IDENTITY_ALIASED = "identity.aliased"
IDENTITY_DELETED = "identity.deleted"
ITEM_TYPES = (ITEM_UPSERTED, ITEM_DELETED)
IDENTITY_TYPES = (IDENTITY_UPSERTED, IDENTITY_ALIASED, IDENTITY_DELETED)
EVENT_TYPES = ITEM_TYPES + IDENTITY_TYPES

# A URI: a scheme, a colon, then something without whitespace or control characters.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]+$")
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<key>.+)$")
MAX_DOCUMENT_ID_LENGTH = 2048
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


Payload = ItemUpsert | ItemDelete | IdentityUpsert | IdentityAlias | IdentityDelete


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

    @property
    def kind(self) -> Literal["item", "identity"]:
        return "item" if self.event_type in ITEM_TYPES else "identity"


# --- envelopes ------------------------------------------------------------------------------------


def unwrap(body: str) -> CloudEvent:
    """The CloudEvent in an SQS message body: raw, inside an SNS notification, or as EventBridge sent it."""
    try:
        message = json.loads(body)
    except (json.JSONDecodeError, TypeError) as exc:
        raise InvalidEvent(f"message body is not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise InvalidEvent(f"message body is a JSON {type(message).__name__}, not an object")
    if message.get("Type") == "Notification" and isinstance(message.get("Message"), str):
        return unwrap(message["Message"])  # SNS → SQS without raw message delivery
    if "detail-type" in message and "detail" in message:
        return _from_eventbridge(message)
    return _from_cloudevent(message)


def _from_eventbridge(message: dict[str, Any]) -> CloudEvent:
    event_id, event_type = message.get("id"), message.get("detail-type")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidEvent("EventBridge event has no 'id'")
    if not isinstance(event_type, str):
        raise InvalidEvent("EventBridge event has no 'detail-type'")
    return CloudEvent(
        id=event_id,
        type=event_type,
        source=str(message.get("source", "")),
        time=_parse_time(message.get("time")),
        data=message.get("detail"),
    )


def _from_cloudevent(message: dict[str, Any]) -> CloudEvent:
    missing = [name for name in ("specversion", "id", "source", "type") if not message.get(name)]
    if missing:
        raise InvalidEvent(
            f"not a CloudEvent: missing {', '.join(repr(m) for m in missing)} "
            "(expected CloudEvents 1.0 structured JSON, an SNS notification or an EventBridge event)"
        )
    if message["specversion"] != "1.0":
        raise InvalidEvent(f"unsupported CloudEvents specversion {message['specversion']!r}; expected '1.0'")
    for name in ("id", "source", "type"):
        if not isinstance(message[name], str):
            raise InvalidEvent(f"CloudEvent attribute {name!r} must be a string")
    return CloudEvent(
        id=message["id"],
        type=message["type"],
        source=message["source"],
        time=_parse_time(message.get("time")),
        data=message.get("data"),
    )


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"event time must be an RFC 3339 string, got {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEvent(f"event time {value!r} is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise InvalidEvent(f"event time {value!r} has no time zone")
    return moment


# --- data of each type ----------------------------------------------------------------------------


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ItemUpsertedData(_Data):
    document_id: str = Field(alias="documentId")
    version: StrictInt | None = Field(default=None, ge=0)
    document: dict[str, Any]
    content_ref: str | None = Field(default=None, alias="contentRef")


class _ItemDeletedData(_Data):
    document_id: str = Field(alias="documentId")
    version: StrictInt | None = Field(default=None, ge=0)
    delete_children: StrictBool = Field(default=False, alias="deleteChildren")


class _Versioned(_Data):
    version: StrictInt | None = Field(default=None, ge=0)


def describe(exc: ValidationError, prefix: str = "data") -> str:
    """A pydantic error as one line a person can act on: `data.documentId: field required; ...`."""
    parts = []
    for error in exc.errors(include_url=False):
        location = ".".join([prefix, *(str(p) for p in error["loc"])]) if error["loc"] else prefix
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{location}: {message}")
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
        )
    return _identity_change(event, provider_id)


def _item_upserted(event: CloudEvent) -> Change:
    assert isinstance(event.data, dict)
    data = _validate(_ItemUpsertedData, event.data)
    document_id = _check_document_id(data.document_id)
    document = dict(data.document)
    if "documentId" in document and document["documentId"] != document_id:
        raise InvalidEvent(
            f"data.document.documentId {document['documentId']!r} differs from data.documentId {document_id!r}"
        )
    document.pop("documentId", None)
    if data.content_ref is not None:
        if not _S3_URI.match(data.content_ref):
            raise InvalidEvent(f"data.contentRef {data.content_ref!r} is not an s3://bucket/key URI")
        content_keys = {"data", "compressedbinarydata", "compressedbinarydatafileid"} & {
            k.lower() for k in document
        }
        if content_keys:
            raise InvalidEvent("an item with data.contentRef must not also carry content in data.document")
        # Placeholder content so the body validates; the handler replaces it with the fetched bytes.
        document["compressedBinaryDataFileId"] = "contentRef"
    try:
        body = ItemBody.from_wire(document)
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
    )


def _identity_change(event: CloudEvent, provider_id: str) -> Change:
    assert isinstance(event.data, dict)
    fields = {k: v for k, v in event.data.items() if k != "version"}
    version = _validate(_Versioned, {"version": event.data.get("version")}).version
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
        key=f"{family}#{provider_id}#{identity.type.value}#{identity.name}",
        version=_version(version, event),
        subject=f"{identity.type.value} {identity.name}",
        payload=payload,
        data=event.data,
    )


def item_key(document_id: str) -> str:
    return f"item#{document_id}"


def _validate(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(describe(exc)) from None


def _check_document_id(document_id: str) -> str:
    if not _URI.match(document_id):
        raise InvalidEvent(
            f"data.documentId {document_id!r} is not a URI; Coveo identifies items by URI, "
            "e.g. 'file://folder/mytext.txt' or 'https://example.com/page'"
        )
    if len(document_id) > MAX_DOCUMENT_ID_LENGTH:
        raise InvalidEvent(
            f"data.documentId is {len(document_id)} characters; at most {MAX_DOCUMENT_ID_LENGTH}"
        )
    return document_id


def _version(version: int | None, event: CloudEvent) -> int:
    if version is not None:
        return version
    if event.time is None:
        raise InvalidEvent(
            "no version: give data.version or the event's 'time' (its milliseconds stand for it)"
        )
    return int(event.time.timestamp() * 1000)


def parse_message(body: str, *, provider_id: str) -> Change:
    """An SQS message body all the way to a validated change."""
    return parse_change(unwrap(body), provider_id=provider_id)
