"""The control surface under /_emulator/ (no auth, not counted in stats, never delayed): reset,
faults, latency, stats, state, clock, API key. Documented in docs/emulator.md."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from coveo_emulator import errors, wire
from coveo_emulator.calls import Call, read_body
from coveo_emulator.core import Emulator
from coveo_emulator.faults import FaultConfigError
from coveo_emulator.latency import LatencyConfigError
from coveo_emulator.permissions import model_state
from coveo_emulator.state import Entity, Item, iso_ms
from coveo_emulator.wire import WireError

IDENTITY_LOG_TAIL = 1000


async def _json_body(call: Call) -> dict[str, Any]:
    raw = await read_body(call, 64 * 1024 * 1024)
    if not raw.strip():
        return {}
    try:
        body = wire.loads(raw)
    except WireError as exc:
        raise errors.bad_request("INVALID_JSON", exc.message) from None
    if not isinstance(body, dict):
        raise errors.bad_request("INVALID_JSON", "the body must be a JSON object")
    return body


def _seconds(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise errors.bad_request("INVALID_PARAMETER", f"'{key}' must be a number of seconds >= 0")
    return float(value)


async def reset(call: Call) -> Response:
    body = await _json_body(call)
    call.emu.reset(
        processing_delay_s=_seconds(body, "processingDelaySeconds"),
        security_refresh_delay_s=_seconds(body, "securityRefreshDelaySeconds"),
    )
    return JSONResponse({"reset": True, "processingDelaySeconds": call.emu.config.processing_delay_s})


async def put_faults(call: Call) -> Response:
    body = await _json_body(call)
    try:
        call.emu.faults.configure(body)
    except FaultConfigError as exc:
        raise errors.bad_request("INVALID_FAULT_RULES", str(exc)) from None
    return JSONResponse(call.emu.faults.to_json())


async def get_faults(call: Call) -> Response:
    return JSONResponse(call.emu.faults.to_json())


async def put_latency(call: Call) -> Response:
    """The round trip of every Coveo route from now on: `{"rttMs": 100, "jitterMs": 10, "seed": 7}`
    (`{"rttMs": 0}` turns it off). Until the next reset, which restores the configured one."""
    body = await _json_body(call)
    try:
        call.emu.latency.configure(body)
    except LatencyConfigError as exc:
        raise errors.bad_request("INVALID_LATENCY", str(exc)) from None
    return JSONResponse(call.emu.latency.to_json())


async def get_latency(call: Call) -> Response:
    return JSONResponse(call.emu.latency.to_json())


async def get_stats(call: Call) -> Response:
    return JSONResponse(call.emu.stats.to_json(call.emu.faults.injected))


async def advance_clock(call: Call) -> Response:
    """Move the emulator's clock forward (container expiry, queueDelay, log windows)."""
    body = await _json_body(call)
    seconds = _seconds(body, "advanceSeconds")
    if seconds is None:
        raise errors.bad_request("MISSING_PARAMETER", "'advanceSeconds' is required")
    call.emu.clock.offset_ms += round(seconds * 1000)
    call.emu.pipeline.apply_due()
    return JSONResponse(
        {"now": iso_ms(call.emu.clock.now_ms()), "offsetSeconds": call.emu.clock.offset_ms / 1000}
    )


async def put_api_key(call: Call) -> Response:
    """Rotate the organization's API key: from now on only `apiKey` is accepted (reset restores the
    configured one). The answer does not repeat the key."""
    body = await _json_body(call)
    api_key = body.get("apiKey")
    if not isinstance(api_key, str) or not api_key.strip() or api_key != api_key.strip():
        raise errors.bad_request(
            "INVALID_PARAMETER", "'apiKey' must be a non-empty string without surrounding spaces"
        )
    call.emu.set_api_key(api_key)
    return JSONResponse({"rotated": True})


async def health(call: Call) -> Response:
    return JSONResponse({"status": "ok", "organizationId": call.emu.config.organization_id})


def permission_state(emu: Emulator, item: Item) -> str | None:
    if not item.indexed:
        return None
    if emu.clock.now_ms() < item.permissions_updated_ms:
        return "PENDING"
    return model_state(emu.state.cache, item.permissions).state


def item_json(emu: Emulator, item: Item) -> dict[str, Any]:
    return {
        "indexed": item.indexed,
        "orderingId": item.ordering_id,
        "lastOperation": item.last_operation,
        "updated": iso_ms(item.updated_ms),
        "metadata": item.metadata,
        "permissionModel": wire.permission_model_json(item.permissions),
        "permissionState": permission_state(emu, item),
        "parentId": item.parent_id,
        "fileExtension": item.file_extension,
        "dataSize": item.data_size,
    }


def identity_json(entity: Entity) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": entity.name,
        "type": entity.type,
        "state": entity.state,
        "origin": entity.origin,
        "orderingId": entity.ordering_id,
        "additionalInfo": entity.additional_info,
        "members": [{"name": k[2], "type": k[1]} for k in entity.members],
        "wellKnowns": [{"name": k[2], "type": k[1]} for k in entity.well_knowns],
        "mappings": [{"name": k[2], "type": k[1], "provider": k[0]} for k in entity.mappings],
        "lastUpdateResult": entity.last_update_result,
    }
    if entity.last_error:
        out["lastUpdateErrorDetail"] = entity.last_error
    return out


async def get_state(call: Call) -> Response:
    """Items, identities, containers. ?documentId= and ?provider= narrow the answer."""
    emu = call.emu
    state = emu.state
    now = emu.clock.now_ms()
    document_id = call.query("documentId")
    provider_filter = call.query("provider")
    if document_id is not None:
        found = state.index.get(document_id)
        items = {document_id: item_json(emu, found)} if found else {}
    else:
        items = {did: item_json(emu, item) for did, item in state.index.items.items()}
    identities: dict[str, list[dict[str, Any]]] = {}
    for entity in state.cache.entities.values():
        if provider_filter is None or entity.provider == provider_filter:
            identities.setdefault(entity.provider, []).append(identity_json(entity))
    containers = {
        c.file_id: {
            "size": c.size,
            "uploaded": c.uploads > 0,
            "consumed": c.consumed,
            "expired": now > c.expires_ms,
            "expiresAt": iso_ms(c.expires_ms),
        }
        for c in state.containers.values()
    }
    log = state.identity_log
    return JSONResponse(
        {
            "organizationId": emu.config.organization_id,
            "sourceId": emu.config.source_id,
            "providerId": emu.config.provider_id,
            "indexId": emu.config.index_id,
            "processingDelaySeconds": emu.config.processing_delay_s,
            "now": iso_ms(now),
            "pendingOperations": emu.pipeline.pending,
            "sourceStatus": state.source_status.status_type,
            "items": items,
            "identities": identities,
            "containers": containers,
            "identityLog": [e.to_json() for e in log[-IDENTITY_LOG_TAIL:]],
            "identityLogTotal": len(log),
        }
    )
