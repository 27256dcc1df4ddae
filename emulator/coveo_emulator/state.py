"""What the emulated organization holds: the index, the security cache, file containers and logs.

Pure data and the small amount of logic that keeps its indexes consistent; no HTTP and no
asynchrony here (see processing.py for when changes happen).
"""

from __future__ import annotations

import bisect
import fnmatch
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coveo_emulator.wire import PermissionIdentity, PermissionLevel

EntityKey = tuple[str, str, str]  # (provider, TYPE, name)

GROUP_TYPES = ("GROUP", "VIRTUAL_GROUP")


class Clock:
    """Wall clock in ms, which tests may move forward (container expiry, queueDelay)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms


def iso_ms(ms: int) -> str:
    """W3C date-time with milliseconds, as the Logs API writes it (2018-05-22T23:35:59.825Z)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


# --------------------------------------------------------------------------------------------
# The index


@dataclass(slots=True)
class Item:
    document_id: str
    ordering_id: int
    indexed: bool
    last_operation: str
    updated_ms: int
    metadata: dict[str, Any] = field(default_factory=dict)
    permissions: list[PermissionLevel] = field(default_factory=list)
    parent_id: str | None = None
    file_extension: str | None = None
    data_size: int = 0
    permissions_updated_ms: int = 0


class Index:
    """Items by documentId. A deleted item stays as a tombstone (indexed=False) with the
    orderingId of its delete, so that an older add arriving later is still recognised as stale."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self._children: dict[str, set[str]] = {}
        # Set by "delete older than": adds with a lower orderingId are rejected afterwards (DOC-147).
        self.older_than_watermark = 0

    def get(self, document_id: str) -> Item | None:
        return self.items.get(document_id)

    def put(self, item: Item) -> None:
        old = self.items.get(item.document_id)
        if old is not None and old.parent_id and old.parent_id != item.parent_id:
            self._children.get(old.parent_id, set()).discard(item.document_id)
        if item.parent_id:
            self._children.setdefault(item.parent_id, set()).add(item.document_id)
        self.items[item.document_id] = item

    def children(self, document_id: str) -> list[str]:
        return sorted(
            c
            for c in self._children.get(document_id, ())
            if (i := self.items.get(c)) is not None and i.indexed
        )

    def indexed(self) -> Iterator[Item]:
        return (i for i in self.items.values() if i.indexed)


# --------------------------------------------------------------------------------------------
# The security cache


@dataclass(slots=True)
class Entity:
    provider: str
    type: str
    name: str
    origin: str  # "pushed", "alias" (created by an alias), "member" or "wellKnown" (referenced)
    state: str  # UP_TO_DATE, NOT_UPDATED, OUT_OF_DATE, IN_ERROR, DISABLED
    created_ms: int
    ordering_id: int | None = None
    additional_info: dict[str, str] = field(default_factory=dict)
    members: list[EntityKey] = field(default_factory=list)
    well_knowns: list[EntityKey] = field(default_factory=list)
    mappings: list[EntityKey] = field(default_factory=list)
    last_update_ms: int = 0
    last_success_ms: int | None = None
    last_update_result: str = "NONE"
    last_error: str | None = None

    @property
    def key(self) -> EntityKey:
        return (self.provider, self.type, self.name)

    @property
    def enabled(self) -> bool:
        return self.state != "DISABLED"


class SecurityCache:
    """Identities per provider with the reverse indexes permission evaluation needs."""

    def __init__(self) -> None:
        self.entities: dict[EntityKey, Entity] = {}
        self._by_name: dict[tuple[str, str], list[EntityKey]] = {}
        self._member_of: dict[EntityKey, set[EntityKey]] = {}  # member -> groups listing it
        self._well_known_of: dict[EntityKey, set[EntityKey]] = {}  # identity -> groups it declares
        self._declarers: dict[EntityKey, set[EntityKey]] = {}  # group -> identities declaring it
        self._aliases: dict[EntityKey, set[EntityKey]] = {}  # both directions

    def get(self, key: EntityKey) -> Entity | None:
        return self.entities.get(key)

    def ensure(self, key: EntityKey, origin: str, state: str, now_ms: int, ordering_id: int | None) -> Entity:
        entity = self.entities.get(key)
        if entity is None:
            entity = Entity(
                provider=key[0],
                type=key[1],
                name=key[2],
                origin=origin,
                state=state,
                created_ms=now_ms,
                ordering_id=ordering_id,
                last_update_ms=now_ms,
            )
            if state == "UP_TO_DATE":
                entity.last_success_ms = now_ms
                entity.last_update_result = "SUCCESS"
            self.entities[key] = entity
            self._by_name.setdefault((key[0], key[2]), []).append(key)
        return entity

    def resolve(self, provider: str, identity_type: str, name: str) -> list[EntityKey]:
        """Entities a permission entry refers to (UNKNOWN matches any type, either way round)."""
        if "*" in name:
            return [
                k
                for k in self.entities
                if k[0] == provider and fnmatch.fnmatchcase(k[2], name) and k[1] == "USER"
            ]
        if identity_type == "UNKNOWN":
            return list(self._by_name.get((provider, name), ()))
        key = (provider, identity_type, name)
        if key in self.entities:
            return [key]
        return [k for k in self._by_name.get((provider, name), ()) if k[1] == "UNKNOWN"]

    def set_members(self, group: EntityKey, members: list[EntityKey]) -> None:
        entity = self.entities[group]
        for old in entity.members:
            self._member_of.get(old, set()).discard(group)
        entity.members = members
        for new in members:
            self._member_of.setdefault(new, set()).add(group)

    def set_well_knowns(self, key: EntityKey, groups: list[EntityKey]) -> None:
        """wellKnowns are granted groups: membership declared by the member, not the group."""
        entity = self.entities[key]
        for old in entity.well_knowns:
            self._well_known_of.get(key, set()).discard(old)
            self._declarers.get(old, set()).discard(key)
        entity.well_knowns = groups
        for new in groups:
            self._well_known_of.setdefault(key, set()).add(new)
            self._declarers.setdefault(new, set()).add(key)

    def set_mappings(self, key: EntityKey, targets: list[EntityKey]) -> None:
        entity = self.entities[key]
        for old in entity.mappings:
            self._aliases.get(key, set()).discard(old)
            self._aliases.get(old, set()).discard(key)
        entity.mappings = targets
        for new in targets:
            self._aliases.setdefault(key, set()).add(new)
            self._aliases.setdefault(new, set()).add(key)

    # Graph accessors used by permissions.py (disabled identities neither expand nor are reached).
    def groups_of(self, key: EntityKey) -> Iterable[EntityKey]:
        return (*self._member_of.get(key, ()), *self._well_known_of.get(key, ()))

    def members_of(self, key: EntityKey) -> Iterable[EntityKey]:
        entity = self.entities.get(key)
        own = entity.members if entity is not None else ()
        return (*own, *self._declarers.get(key, ()))

    def aliases_of(self, key: EntityKey) -> Iterable[EntityKey]:
        return self._aliases.get(key, ())

    def is_enabled(self, key: EntityKey) -> bool:
        entity = self.entities.get(key)
        return entity is not None and entity.enabled

    def state_of(self, p: PermissionIdentity) -> str:
        """Security-cache state of a permission entry (UNKNOWN when not in the cache)."""
        if p.is_pattern:
            return "UP_TO_DATE"
        keys = self.resolve(p.provider, p.identity_type, p.identity)
        if not keys:
            return "UNKNOWN"
        states = [self.entities[k].state for k in keys]
        for preferred in ("UP_TO_DATE", "OUT_OF_DATE", "NOT_UPDATED", "IN_ERROR", "DISABLED"):
            if preferred in states:
                return preferred
        return states[0]


# --------------------------------------------------------------------------------------------
# File containers (the S3-like upload area)


@dataclass(slots=True)
class Container:
    file_id: str
    created_ms: int
    expires_ms: int
    signature: str
    content: bytes | None = None
    size: int = 0
    oversize: bool = False
    consumed: bool = False
    uploads: int = 0


# --------------------------------------------------------------------------------------------
# Logs API entries


class LogEntry:
    __slots__ = ("document_id", "meta", "ms", "operation", "result", "seq", "source_id", "task")

    def __init__(
        self,
        ms: int,
        seq: int,
        document_id: str,
        operation: str,
        task: str,
        result: str,
        meta: dict[str, Any] | None,
        source_id: str,
    ) -> None:
        self.ms = ms
        self.seq = seq
        self.document_id = document_id
        self.operation = operation
        self.task = task
        self.result = result
        self.meta = meta
        self.source_id = source_id

    def to_json(self, organization_id: str, request_id: str, guid_base: int) -> dict[str, Any]:
        return {
            "datetime": iso_ms(self.ms),
            "guid": str(uuid.UUID(int=(guid_base + self.seq) & ((1 << 128) - 1))),
            "id": self.document_id,
            "meta": self.meta or {},
            "operation": self.operation,
            "organizationId": organization_id,
            "requestId": request_id,
            "resourceId": "",
            "result": self.result,
            "sourceId": self.source_id,
            "task": self.task,
        }


@dataclass(slots=True)
class LogFilter:
    source_ids: list[str] | None = None
    exclude_source_ids: list[str] | None = None
    operations: list[str] | None = None
    exclude_operations: list[str] | None = None
    results: list[str] | None = None
    exclude_results: list[str] | None = None
    tasks: list[str] | None = None
    exclude_tasks: list[str] | None = None
    resource_ids: list[str] | None = None
    exclude_resource_ids: list[str] | None = None
    document_id: str | None = None
    matching: str = "EXACT"

    def accepts(self, e: LogEntry) -> bool:
        return (
            _in(e.source_id, self.source_ids, self.exclude_source_ids)
            and _in(e.operation, self.operations, self.exclude_operations)
            and _in(e.result, self.results, self.exclude_results)
            and _in(e.task, self.tasks, self.exclude_tasks)
            and _in("", self.resource_ids, self.exclude_resource_ids)
        )


def _in(value: str, include: list[str] | None, exclude: list[str] | None) -> bool:
    # "has priority over exclude…": a non-empty include list decides alone.
    if include:
        return value in include
    if exclude:
        return value not in exclude
    return True


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """Logs API WILDCARD: '*' is one or more characters, '?' exactly one."""
    parts = [".+" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


class LogStore:
    """Entries in the order they were written (which is chronological: see processing.py)."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self._times: list[int] = []
        self._by_id: dict[str, list[int]] = {}
        self.guid_base = uuid.uuid4().int

    def append(
        self,
        ms: int,
        document_id: str,
        operation: str,
        task: str,
        result: str,
        source_id: str,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if self._times and ms < self._times[-1]:
            ms = self._times[-1]  # keep the list sorted even if operations complete out of order
        position = len(self.entries)
        self.entries.append(LogEntry(ms, position, document_id, operation, task, result, meta, source_id))
        self._times.append(ms)
        self._by_id.setdefault(document_id, []).append(position)

    def query(self, from_ms: int, to_ms: int, flt: LogFilter) -> Iterator[LogEntry]:
        if flt.document_id is not None and flt.matching == "EXACT":
            positions: Iterable[int] = self._by_id.get(flt.document_id, ())
            candidates: Iterable[LogEntry] = (self.entries[p] for p in positions)
        else:
            lo = bisect.bisect_left(self._times, from_ms)
            hi = bisect.bisect_right(self._times, to_ms)
            candidates = (self.entries[p] for p in range(lo, hi))
        matcher = None
        if flt.document_id is not None and flt.matching == "WILDCARD":
            matcher = wildcard_regex(flt.document_id)
        for e in candidates:
            if e.ms < from_ms or e.ms > to_ms or not flt.accepts(e):
                continue
            if flt.document_id is not None:
                if flt.matching == "PARTIAL" and flt.document_id not in e.document_id:
                    continue
                if matcher is not None and not matcher.match(e.document_id):
                    continue
            yield e


# --------------------------------------------------------------------------------------------
# Everything together


@dataclass(slots=True)
class IdentityLogEntry:
    """What happened to an identity operation (Coveo shows this in the security provider's
    activity, not in the Logs API; the emulator exposes it through /_emulator/state)."""

    ms: int
    provider: str
    operation: str
    identity: str
    result: str
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "datetime": iso_ms(self.ms),
            "provider": self.provider,
            "operation": self.operation,
            "identity": self.identity,
            "result": self.result,
        }
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(slots=True)
class Activity:
    """A source activity, opened by an active statusType (REBUILD, REFRESH, INCREMENTAL) and
    closed by IDLE (SPEC-PUSH setSourceStatus)."""

    activity_id: str
    status_type: str
    started_ms: int
    log_position: int  # Logs API entries written before it opened (what it processed comes after)
    ended_ms: int | None = None


@dataclass(slots=True)
class SourceStatus:
    status_type: str = "IDLE"  # the last statusType pushed
    activity: Activity | None = None  # the open activity, if any
    last_activity: Activity | None = None  # the last one IDLE (or another status) closed
    # statusType -> when its last activity ended (SourceInformation.last*EndDate)
    ended_ms: dict[str, int] = field(default_factory=dict)

    def push(self, status_type: str, now_ms: int, log_position: int) -> None:
        """An active status opens an activity (a different one closes the open one first: one
        activity at a time); IDLE closes the open one and marks it completed; IDLE with nothing
        open changes nothing."""
        self.status_type = status_type
        open_activity = self.activity
        if open_activity is not None and open_activity.status_type == status_type:
            return  # the same activity goes on
        if open_activity is not None:
            open_activity.ended_ms = now_ms
            self.last_activity = open_activity
            self.ended_ms[open_activity.status_type] = now_ms
            self.activity = None
        if status_type != "IDLE":
            self.activity = Activity(str(uuid.uuid4()), status_type, now_ms, log_position)


class EmulatorState:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.index = Index()
        self.cache = SecurityCache()
        self.containers: dict[str, Container] = {}
        self.logs = LogStore()
        self.identity_log: list[IdentityLogEntry] = []
        self.source_status = SourceStatus()
