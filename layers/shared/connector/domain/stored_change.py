"""What the ledger keeps of a pushed change, so the validator and the operator can push it again.

The one place that writes and reads those bytes: the event's id, type, version, data and time (epoch
ms, when the event had one: a re-push keeps measuring freshness from it) as compact JSON,
zlib-compressed. A re-push turns them back into a `Change` through the event contract's own
validation (`parse_change`), never through a message body.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from . import strict_json
from .events import Change, CloudEvent, parse_change
from .policy import declared_public


class UnreadableStoredChange(ValueError):
    """The ledger's bytes are not a stored change (corrupt, or written by something else)."""


@dataclass(frozen=True)
class StoredChange:
    event_id: str
    event_type: str
    version: int
    data: dict[str, Any]
    time_ms: int | None = None  # the event's time; None when it had none (or was stored before)

    @classmethod
    def of(cls, change: Change) -> StoredChange:
        return cls(change.event_id, change.event_type, change.version, change.data, change.time_ms)

    def encode(self) -> bytes:
        document = {"id": self.event_id, "type": self.event_type, "version": self.version, "data": self.data}
        if self.time_ms is not None:
            document["time"] = self.time_ms
        return zlib.compress(json.dumps(document, separators=(",", ":"), allow_nan=False).encode())

    @classmethod
    def decode(cls, packed: bytes) -> StoredChange:
        """Read strictly, as any input: a ledger row is only as trustworthy as what wrote it."""
        try:
            value = strict_json.loads(zlib.decompress(packed), what="stored change")
        except (zlib.error, strict_json.JsonRefused) as exc:
            raise UnreadableStoredChange(f"stored change is unreadable: {exc}") from None
        if not isinstance(value, dict):
            raise UnreadableStoredChange("stored change is not an event object")
        event_id, event_type, version, data = (value.get(k) for k in ("id", "type", "version", "data"))
        if not (isinstance(event_id, str) and isinstance(event_type, str) and isinstance(data, dict)):
            raise UnreadableStoredChange("stored change lacks its event's id, type or data")
        if type(version) is not int:
            raise UnreadableStoredChange("stored change has no integer version")
        time_ms = value.get("time")
        if time_ms is not None and type(time_ms) is not int:
            raise UnreadableStoredChange("stored change has a time that is not epoch milliseconds")
        return cls(event_id, event_type, version, data, time_ms)

    def to_change(self, *, provider_id: str) -> Change:
        """The change again, validated by the same contract as when it arrived (`InvalidEvent` if
        the contract changed meanwhile and no longer accepts it)."""
        event = CloudEvent(
            id=self.event_id,
            type=self.event_type,
            source="ledger",
            time=None,
            data={**self.data, "version": self.version},
        )
        # The version is written out, so the time decides nothing here: it is carried as it came.
        return replace(parse_change(event, provider_id=provider_id), time_ms=self.time_ms)

    def to_event_json(self, source: str) -> str:
        """As a CloudEvent body, for where a re-push must be sent as a message: its dead letter, which
        `coveo-push redrive` puts back on the queue."""
        event = {
            "specversion": "1.0",
            "id": self.event_id,
            "source": source,
            "type": self.event_type,
            "data": {**self.data, "version": self.version},
        }
        if self.time_ms is not None:
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=self.time_ms)
            event["time"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return json.dumps(event, separators=(",", ":"), allow_nan=False)

    def declared_public(self) -> bool:
        """Whether the event said `"allowAnonymous": true` (see `policy.declared_public`)."""
        return declared_public(self.data)


def declared_public_in(packed: bytes | None) -> bool:
    """Whether a ledger row's stored change said `"allowAnonymous": true`; False when nothing readable
    was stored, so an unknown item is never taken as declared public."""
    if packed is None:
        return False
    try:
        return StoredChange.decode(packed).declared_public()
    except UnreadableStoredChange:
        return False
