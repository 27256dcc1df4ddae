"""Verification routes: Source Logs API (§6.1), item permissions (§6.3), security cache (§6.4),
source status (§6.2). What a validator reads after a 202 to learn what really happened."""

from __future__ import annotations

import itertools
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from starlette.responses import JSONResponse, Response

from coveo_emulator import calls, errors, wire
from coveo_emulator.calls import Call
from coveo_emulator.errors import CoveoError
from coveo_emulator.permissions import ANONYMOUS, is_allowed, model_state, principal_of, reachable_users
from coveo_emulator.state import Entity, EntityKey, Item, LogEntry, LogFilter, iso_ms
from coveo_emulator.wire import WireError

LOG_OPERATIONS = (
    "ADD",
    "ADD_BY_REFERENCE",
    "BATCH_FILE",
    "DELETE",
    "DELETE_AND_CHILDREN",
    "DELETE_OLDER_THAN",
    "UPDATE",
)
LOG_RESULTS = ("COMPLETED", "ERROR", "REJECTED", "SKIPPED", "WARNING")
LOG_TASKS = (
    "CONSUMING",
    "CONSUMING_BATCH",
    "CRAWLING",
    "STREAMING_EXTENSION",
    "EXTENSION",
    "INDEXING",
    "MAPPING",
    "PROCESSING",
    "STREAMING",
    "STREAMING_BATCH",
    "PREINDEXING",
    "VALIDATION",
)
MATCHING = ("EXACT", "PARTIAL", "WILDCARD")
ENTITY_STATES = ("UNKNOWN", "UP_TO_DATE", "NOT_UPDATED", "OUT_OF_DATE", "IN_ERROR", "DISABLED")
_W3C = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*([Zz]|[+-]\d{2}:?\d{2})?$"
)
_PERMISSIONS_PATH = re.compile(
    r"^/rest/organizations/[^/]+/indexes/[^/]+/documents/(.+?)/permissions(?:/effective)?/?$"
)
_CACHE_TYPES = {"USER": "User", "GROUP": "Group", "VIRTUAL_GROUP": "VirtualGroup", "UNKNOWN": "Unknown"}


def bad_param(name: str, detail: str) -> CoveoError:
    return errors.bad_request("INVALID_PARAMETER", f"Parameter '{name}' is invalid: {detail}")


def parse_w3c(raw: str, name: str) -> int:
    """W3C date-time (2018-05-22T23:36:30.589Z, 2018-5-21T19:57:09Z, 2018-05-22) → epoch ms."""
    text = raw.strip()
    if text.isdigit():
        return int(text)
    m = _W3C.match(text)
    if m is None:
        raise bad_param(name, f"{raw!r} is not a W3C date-time (e.g. 2018-05-22T23:36:30.589Z)")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=UTC
        )
    except ValueError as exc:
        raise bad_param(name, f"{raw!r}: {exc}") from None
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    ms = int(moment.timestamp()) * 1000
    if fraction:
        ms += int((fraction + "00")[:3])
    return ms


def _int_param(call: Call, name: str, default: int, lo: int, hi: int) -> int:
    raw = call.query(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_param(name, f"{raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise bad_param(name, f"must be between {lo} and {hi}")
    return value


# --- Logs API ------------------------------------------------------------------------------------


def _string_list(body: dict[str, Any], key: str, allowed: tuple[str, ...] | None) -> list[str] | None:
    value = body.get(key.lower())
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.bad_request("INVALID_JSON", f"'{key}' must be an array of strings")
    if allowed is not None:
        for v in value:
            if v not in allowed:
                raise errors.bad_request(
                    "INVALID_JSON", f"'{key}' has an unknown value {v!r}; allowed: {', '.join(allowed)}"
                )
    return value


async def _log_query(call: Call) -> tuple[int, int, LogFilter]:
    calls.check_org(call)
    raw_from, raw_to = call.query("from"), call.query("to")
    if not raw_from or not raw_to:
        raise errors.bad_request("MISSING_PARAMETER", "Parameters 'from' and 'to' are required.")
    from_ms, to_ms = parse_w3c(raw_from, "from"), parse_w3c(raw_to, "to")
    if to_ms < from_ms:
        raise bad_param("to", "the end of the range is before its beginning")
    window = call.emu.config.log_window_days
    if to_ms - from_ms > window * 86_400_000:
        raise bad_param("to", f"the end range must be within {window} days of the beginning range")
    raw = await calls.read_body(call, call.emu.config.max_request_bytes)
    body: dict[str, Any] = {}
    if raw.strip():
        try:
            parsed = wire.loads(raw)
            if not isinstance(parsed, dict):
                raise WireError("the body must be a JSON object")
            body = wire.fold(parsed, "body")
        except WireError as exc:
            raise errors.bad_request("INVALID_JSON", exc.message) from None
    matching = (call.query("documentIdMatching") or "EXACT").upper()
    if matching not in MATCHING:
        raise bad_param("documentIdMatching", f"expected one of {', '.join(MATCHING)}")
    # The spec names the include list 'sourcesIds'; platform-client sends 'sourceIds': accept both.
    sources = _string_list(body, "sourcesIds", None)
    if sources is None:
        sources = _string_list(body, "sourceIds", None)
    flt = LogFilter(
        source_ids=sources,
        exclude_source_ids=_string_list(body, "excludeSourceIds", None),
        operations=_string_list(body, "operations", LOG_OPERATIONS),
        exclude_operations=_string_list(body, "excludeOperations", LOG_OPERATIONS),
        results=_string_list(body, "results", LOG_RESULTS),
        exclude_results=_string_list(body, "excludeResults", LOG_RESULTS),
        tasks=_string_list(body, "tasks", LOG_TASKS),
        exclude_tasks=_string_list(body, "excludeTasks", LOG_TASKS),
        resource_ids=_string_list(body, "resourceIds", None),
        exclude_resource_ids=_string_list(body, "excludeResourceIds", None),
        document_id=call.query("documentId") or None,
        matching=matching,
    )
    retention_floor = call.emu.clock.now_ms() - call.emu.config.log_retention_days * 86_400_000
    return max(from_ms, retention_floor), to_ms, flt


async def get_logs(call: Call) -> Response:
    from_ms, to_ms, flt = await _log_query(call)
    page = _int_param(call, "page", 0, 0, 1_000_000)
    per_page = _int_param(call, "perPage", 100, 1, 1000)
    skip = page * per_page
    selected: list[LogEntry] = []
    has_next = False
    for position, entry in enumerate(call.emu.state.logs.query(from_ms, to_ms, flt)):
        if position < skip:
            continue
        if len(selected) == per_page:
            has_next = True
            break
        selected.append(entry)
    org = call.emu.config.organization_id
    request_id = str(uuid.uuid4())
    base = call.emu.state.logs.guid_base
    return JSONResponse(
        {"documentLogEntries": [e.to_json(org, request_id, base) for e in selected], "hasNextPage": has_next}
    )


def _facet_counts(call: Call, from_ms: int, to_ms: int, flt: LogFilter) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {
        k: Counter() for k in ("operations", "resourceIds", "results", "sourceIds", "tasks")
    }
    for e in call.emu.state.logs.query(from_ms, to_ms, flt):
        counts["operations"][e.operation] += 1
        counts["resourceIds"][""] += 1
        counts["results"][e.result] += 1
        counts["sourceIds"][e.source_id] += 1
        counts["tasks"][e.task] += 1
    return counts


async def get_log_facets(call: Call) -> Response:
    counts = _facet_counts(call, *(await _log_query(call)))
    return JSONResponse({k: sorted(v) for k, v in counts.items()})


async def get_log_facets_stats(call: Call) -> Response:
    counts = _facet_counts(call, *(await _log_query(call)))
    return JSONResponse({k: dict(sorted(v.items())) for k, v in counts.items()})


# --- indexes and item permissions ----------------------------------------------------------------


async def list_indexes(call: Call) -> Response:
    calls.check_org(call)
    return JSONResponse([{"id": call.emu.config.index_id, "logicalIndex": "default", "online": True}])


def _indexed_item(call: Call) -> Item:
    """The item of a permissions route; platform-client encodes the documentId twice, others once."""
    calls.check_org(call)
    index_id = call.params["indexId"]
    if index_id != call.emu.config.index_id:
        raise errors.not_found("INDEX_NOT_FOUND", f"Index '{index_id}' does not exist.")
    raw_path = call.request.scope.get("raw_path") or call.request.scope["path"].encode()
    m = _PERMISSIONS_PATH.match(raw_path.decode("latin-1"))
    segment = m.group(1) if m else call.params["documentId"]
    index = call.emu.state.index
    candidate = unquote(segment)
    for _ in range(2):
        item = index.get(candidate)
        if item is not None and item.indexed:
            return item
        candidate = unquote(candidate)
    raise errors.not_found("DOCUMENT_NOT_FOUND", f"Item '{unquote(segment)}' is not in the index.")


def _entity_json(
    entity: Entity | None, *, allowed: bool | None, identity: str, identity_type: str, provider: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if allowed is not None:
        out["allowed"] = allowed
    out.update(identity=identity, identityType=identity_type, securityProvider=provider)
    if entity is None:
        out.update(additionalInfo={}, lastUpdateResult="NONE", state="UNKNOWN")
        return out
    out.update(
        additionalInfo=dict(entity.additional_info),
        lastUpdateDate=entity.last_update_ms,
        lastUpdateResult=entity.last_update_result,
        state=entity.state,
    )
    if entity.last_error:
        out["lastUpdateErrorDetail"] = entity.last_error
    return out


async def get_permissions(call: Call) -> Response:
    item = _indexed_item(call)
    cache = call.emu.state.cache
    levels_json = []
    for level in item.permissions:
        sets_json = []
        for s in level.sets:
            permissions = []
            for allowed, entries in ((True, s.allowed), (False, s.denied)):
                for p in entries:
                    keys = cache.resolve(p.provider, p.identity_type, p.identity)
                    entity = cache.get(keys[0]) if keys and not p.is_pattern else None
                    permissions.append(
                        _entity_json(
                            entity,
                            allowed=allowed,
                            identity=p.identity,
                            identity_type=p.identity_type,
                            provider=p.provider,
                        )
                    )
            sets_json.append(
                {"name": s.name, "anonymousAllowed": s.allow_anonymous, "permissions": permissions}
            )
        levels_json.append({"name": level.name, "permissionSets": sets_json})
    out: dict[str, Any] = {"lastUpdatedDate": item.permissions_updated_ms, "permissionLevels": levels_json}
    if call.emu.clock.now_ms() < item.permissions_updated_ms:
        out["state"] = "PENDING"
    else:
        verdict = model_state(cache, item.permissions)
        out["state"] = verdict.state
        if verdict.cause is not None:
            keys = cache.resolve(verdict.cause.provider, verdict.cause.identity_type, verdict.cause.identity)
            entity = cache.get(keys[0]) if keys else None
            out["permissionModelStateRootCauseModel"] = {
                "entityState": verdict.cause_state,
                "entityInformation": {
                    "name": verdict.cause.identity,
                    "type": verdict.cause.identity_type,
                    "provider": verdict.cause.provider,
                    "state": verdict.cause_state,
                    "lastUpdateResult": entity.last_update_result if entity else "NONE",
                    **({"lastUpdateErrorDetail": entity.last_error} if entity and entity.last_error else {}),
                },
            }
    return JSONResponse(out)


def effective_permissions(call: Call, item: Item) -> tuple[list[dict[str, Any]], bool]:
    """Every user the model resolves to, with allowed true/false, plus anonymous access."""
    cache = call.emu.state.cache
    rows = []
    for key in reachable_users(cache, item.permissions):
        entity = cache.get(key)
        allowed = is_allowed(item.permissions, principal_of(cache, key))
        rows.append(
            _entity_json(entity, allowed=allowed, identity=key[2], identity_type=key[1], provider=key[0])
        )
    return rows, is_allowed(item.permissions, ANONYMOUS)


def _states(call: Call) -> list[str]:
    """The `states` filter: an array of entity states (SPEC-SEC getEntities, SPEC-SRC effective
    permissions). OpenAPI's default for a query array is the repeated form (`states=A&states=B`);
    a comma-joined value (`states=A,B`) is accepted too, as Spring-style services split it. An
    unknown state is a 400."""
    states = [
        s.strip().upper()
        for v in call.request.query_params.getlist("states")
        for s in v.split(",")
        if s.strip()
    ]
    for state in states:
        if state not in ENTITY_STATES:
            raise bad_param("states", f"unknown state {state!r}; expected some of {', '.join(ENTITY_STATES)}")
    return states


async def get_effective_permissions(call: Call) -> Response:
    item = _indexed_item(call)
    included = (call.query("includedEntities") or "ALL").upper()
    if included not in ("ALL", "ALLOWED", "DENIED"):
        raise bad_param("includedEntities", "expected ALL, ALLOWED or DENIED")
    states = _states(call)
    page = _int_param(call, "page", 0, 0, 1_000_000)
    per_page = _int_param(call, "perPage", 100, 1, 1000)
    rows, anonymous = effective_permissions(call, item)
    if included != "ALL":
        rows = [r for r in rows if r["allowed"] == (included == "ALLOWED")]
    if states:
        rows = [r for r in rows if r["state"] in states]
    total = len(rows)
    return JSONResponse(
        {
            "items": rows[page * per_page : (page + 1) * per_page],
            "totalEntries": total,
            "totalPages": (total + per_page - 1) // per_page,
            "anonymousAllowed": anonymous,
        }
    )


# --- security cache ------------------------------------------------------------------------------


def cache_entity_json(entity: Entity) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": entity.name,
        "type": _CACHE_TYPES.get(entity.type, entity.type),
        "provider": entity.provider,
        "infos": [{"key": k, "value": v} for k, v in entity.additional_info.items()],
        "state": entity.state,
        "lastUpdateDate": entity.last_update_ms,
        "lastUpdateResult": entity.last_update_result,
    }
    if entity.last_error:
        out["lastUpdateErrorDetail"] = entity.last_error
    return out


async def _cache_entity_of_body(call: Call) -> Entity:
    """The entity a SecurityCacheMemberModel body {name, type, provider, infos} names; 404 if unknown."""
    calls.check_org(call)
    provider = call.params["providerId"]
    if provider not in call.emu.config.known_providers:
        raise errors.not_found(
            "SECURITY_PROVIDER_NOT_FOUND", f"Security provider '{provider}' does not exist."
        )
    raw = await calls.read_body(call, call.emu.config.max_request_bytes)
    try:
        parsed = wire.loads(raw) if raw.strip() else None
        if not isinstance(parsed, dict):
            raise WireError("the body must be a SecurityCacheMemberModel {name, type, provider, infos}")
        f = wire.fold(parsed, "body")
        name = f.get("name")
        if not isinstance(name, str) or not name:
            raise WireError("'name' must be a non-empty string")
        identity_type = wire.normalize_identity_type(f.get("type"), default="UNKNOWN")
    except WireError as exc:
        raise errors.bad_request("INVALID_JSON", exc.message) from None
    cache = call.emu.state.cache
    keys = cache.resolve(provider, identity_type, name)
    if not keys:
        raise errors.not_found(
            "SECURITY_IDENTITY_NOT_FOUND",
            f"{identity_type} '{name}' is not in the security cache of provider '{provider}'.",
        )
    entity = cache.get(keys[0])
    assert entity is not None
    return entity


async def get_cache_entity(call: Call) -> Response:
    """POST …/securitycache/entities/{providerId}/entity → DetailedSecurityCacheMemberModel."""
    return JSONResponse(cache_entity_json(await _cache_entity_of_body(call)))


async def get_cache_children(call: Call) -> Response:
    """POST …/securitycache/entities/{providerId}/members/children → a page of the entity's members.

    The members are those its last applied push declared (a group push replaces them), not users
    that name the group in their wellKnowns; `recursive=true` follows member groups down.
    """
    entity = await _cache_entity_of_body(call)
    recursive = (call.query("recursive") or "false").lower() == "true"
    page = _int_param(call, "page", 0, 0, 1_000_000)
    page_size = _int_param(call, "pageSize", 100, 1, 1000)
    cache = call.emu.state.cache
    seen: dict[EntityKey, None] = {}
    pending = list(entity.members)
    while pending:
        key = pending.pop(0)
        if key in seen or key == (entity.provider, entity.type, entity.name):
            continue
        seen[key] = None
        member = cache.get(key)
        if recursive and member is not None:
            pending.extend(member.members)
    members = [cache.get(key) for key in seen]
    found = sorted((m for m in members if m is not None), key=lambda m: (m.type, m.name))
    total = len(found)
    return JSONResponse(
        {
            "items": [cache_entity_json(m) for m in found[page * page_size : (page + 1) * page_size]],
            "totalEntries": total,
            "totalPages": (total + page_size - 1) // page_size,
        }
    )


async def list_cache_entities(call: Call) -> Response:
    calls.check_org(call)
    provider = call.params["providerId"]
    if provider not in call.emu.config.known_providers:
        raise errors.not_found(
            "SECURITY_PROVIDER_NOT_FOUND", f"Security provider '{provider}' does not exist."
        )
    states = _states(call)
    page = _int_param(call, "page", 0, 0, 1_000_000)
    per_page = _int_param(call, "perPage", 100, 1, 1000)
    # from/to: "minimum/maximum updated date" (SPEC-SEC getEntities).
    raw_from, raw_to = call.query("from"), call.query("to")
    from_ms = parse_w3c(raw_from, "from") if raw_from else None
    to_ms = parse_w3c(raw_to, "to") if raw_to else None
    entities = sorted(
        (
            e
            for e in call.emu.state.cache.entities.values()
            if e.provider == provider
            and (not states or e.state in states)
            and (from_ms is None or e.last_update_ms >= from_ms)
            and (to_ms is None or e.last_update_ms <= to_ms)
        ),
        key=lambda e: (e.type, e.name),
    )
    total = len(entities)
    return JSONResponse(
        {
            "items": [cache_entity_json(e) for e in entities[page * per_page : (page + 1) * per_page]],
            "totalEntries": total,
            "totalPages": (total + per_page - 1) // per_page,
        }
    )


# --- source --------------------------------------------------------------------------------------

# statusType pushed (SPEC-PUSH setSourceStatus) -> SourceStatus.refreshType (SPEC-SRC).
_REFRESH_TYPES = {"REBUILD": "REBUILD", "REFRESH": "FULL_REFRESH", "INCREMENTAL": "INCREMENTAL_REFRESH"}
# SourceInformation.last*EndDate per refreshType (SPEC-SRC).
_END_DATES = {
    "REBUILD": "lastRebuildEndDate",
    "REFRESH": "lastFullRefreshEndDate",
    "INCREMENTAL": "lastIncrementalRefreshEndDate",
}


def _processed_since(call: Call, log_position: int) -> int:
    """Item operations the index completed since an activity opened (its processed documents)."""
    source_id = call.emu.config.source_id
    entries = call.emu.state.logs.entries
    return sum(
        1
        for e in itertools.islice(entries, log_position, None)
        if e.task == "INDEXING" and e.result == "COMPLETED" and e.source_id == source_id and e.document_id
    )


async def get_source(call: Call) -> Response:
    """GET /rest/organizations/{org}/sources/{sourceId}: a SourceModel (SPEC-SRC getSource) with
    what a Push source shows: its activity (information.sourceStatus) and its size."""
    calls.check_org(call)
    config = call.emu.config
    source_id = call.params["sourceId"]
    if source_id != config.source_id:
        raise errors.not_found("SOURCE_NOT_FOUND", f"Source '{source_id}' does not exist.")
    status = call.emu.state.source_status
    indexed = list(call.emu.state.index.indexed())
    activity = status.activity
    source_status: dict[str, Any] = {"allowedOperations": []}
    if activity is not None:
        # An open activity (SPEC-PUSH setSourceStatus): the source is REFRESHING.
        source_status.update(
            type="REFRESHING",
            extendedCurrentStatus="REFRESHING",
            refreshType=_REFRESH_TYPES[activity.status_type],
            activityId=activity.activity_id,
            timestamp=iso_ms(activity.started_ms),
            numberOfProcessedDocuments=_processed_since(call, activity.log_position),
        )
    else:
        # No activity: "Ready to receive content" (DOC-35), i.e. PUSH_READY.
        source_status.update(type="PUSH_READY", extendedCurrentStatus="PUSH_READY")
    information: dict[str, Any] = {
        "sourceStatus": source_status,
        # Deprecated in SPEC-SRC (which names no replacement): the items the index holds now.
        "numberOfDocuments": len(indexed),
        "documentsTotalSize": sum(i.data_size for i in indexed),
    }
    last = status.last_activity
    if last is not None and last.ended_ms is not None:
        # IDLE "marks it as completed" (SPEC-PUSH): the closed activity is the last operation.
        information["lastOperation"] = {
            "id": last.activity_id,
            "operationType": _REFRESH_TYPES[last.status_type],
            "timestamp": iso_ms(last.ended_ms),
            "result": "COMPLETED",
        }
        information["lastRefreshEndDate"] = iso_ms(max(status.ended_ms.values()))
        for status_type, ended in status.ended_ms.items():
            information[_END_DATES[status_type]] = iso_ms(ended)
    return JSONResponse(
        {
            "id": config.source_id,
            "name": config.source_id,
            "sourceType": "PUSH",
            "pushEnabled": True,
            "sourceVisibility": "SECURED",
            "information": information,
        }
    )
